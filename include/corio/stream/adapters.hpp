// Stream adapters without timers, composable with `|`:
//   map, then, filter, filter_map, take, take_while, skip, skip_while,
//   chain, merge, zip, enumerate, chunks, fuse.
//
// Each adapter is a Stream holding its upstream in place (an rvalue moved in,
// an lvalue borrowed: see core.hpp) and its function object; none allocates
// per item (chunks allocates one vector per chunk). An adapter's poll_next
// polls its upstream with the caller's context, so whichever upstream makes
// progress wakes the consumer. Cancellation safety: an adapter loses nothing
// when a stream::next on it is dropped between polls, except where noted
// (then: the item's future in flight is kept, not lost; zip: a buffered half
// is kept too). Dropping the adapter drops the upstream it owns.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "corio/future.hpp"
#include "corio/stream/core.hpp"

namespace corio::stream {

/// The stream of map(f); see there.
template <class S, class F>
class Map {
public:
    using Item = std::decay_t<std::invoke_result_t<F&, item_t<S>&&>>;
    Map(S&& s, F f) : s_(std::forward<S>(s)), f_(std::move(f)) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        auto p = s_.poll_next(cx);
        if (p.is_pending()) return Pending;
        if (!*p) return detail::ready_end<Item>();
        return detail::ready_item<Item>(std::invoke(f_, std::move(**p)));
    }

private:
    S s_;
    [[no_unique_address]] F f_;
};

/// Each item passed through `f` (called once per item, in order). Fairness
/// and cancellation safety are the upstream's.
template <class F>
auto map(F f) {
    return detail::make_adapter(
        [f = std::move(f)]<class S>(S&& s) mutable { return Map<S, F>(std::forward<S>(s), std::move(f)); });
}

/// The stream of then(f); see there.
template <class S, class F>
class Then {
    using Fut = std::invoke_result_t<F&, item_t<S>&&>;
    static_assert(Future<Fut>, "stream::then needs a function returning a corio::Future (use map otherwise)");

public:
    using Item = output_of<Fut>;
    Then(S&& s, F f) : s_(std::forward<S>(s)), f_(std::move(f)) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (!fut_) {
            auto p = s_.poll_next(cx);
            if (p.is_pending()) return Pending;
            if (!*p) return detail::ready_end<Item>();
            fut_.emplace(Make{f_, **p});  // built in place: a future is never moved once polled
        }
        auto out = fut_->poll(cx);
        if (out.is_pending()) return Pending;
        fut_.reset();
        return detail::ready_item<Item>(std::move(out).take());
    }

private:
    struct Make {
        F& f;
        item_t<S>& item;
        operator Fut() { return std::invoke(f, std::move(item)); }  // NOLINT: guaranteed elision into fut_
    };
    S s_;
    [[no_unique_address]] F f_;
    std::optional<Fut> fut_;  // the future of the current item, one at a time
};

/// Each item passed through `f`, which returns a future (a Task, say); its
/// output is the item. One future runs at a time, in order. Cancellation-
/// safe: a dropped stream::next leaves the item's future here, and the next
/// call resumes it; dropping the adapter cancels it.
template <class F>
auto then(F f) {
    return detail::make_adapter(
        [f = std::move(f)]<class S>(S&& s) mutable { return Then<S, F>(std::forward<S>(s), std::move(f)); });
}

/// The stream of filter(pred); see there.
template <class S, class P>
class Filter {
public:
    using Item = item_t<S>;
    Filter(S&& s, P pred) : s_(std::forward<S>(s)), pred_(std::move(pred)) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        for (;;) {
            auto p = s_.poll_next(cx);
            if (p.is_pending() || !*p) return p;
            if (std::invoke(pred_, std::as_const(**p))) return p;
        }
    }

private:
    S s_;
    [[no_unique_address]] P pred_;
};

/// The items for which `pred(const Item&)` is true; the others are dropped.
/// Polls the upstream until an item passes, it ends, or it is pending.
template <class P>
auto filter(P pred) {
    return detail::make_adapter(
        [p = std::move(pred)]<class S>(S&& s) mutable { return Filter<S, P>(std::forward<S>(s), std::move(p)); });
}

/// The stream of filter_map(f); see there.
template <class S, class F>
class FilterMap {
    using Mapped = std::remove_cvref_t<std::invoke_result_t<F&, item_t<S>&&>>;

public:
    using Item = typename Mapped::value_type;
    FilterMap(S&& s, F f) : s_(std::forward<S>(s)), f_(std::move(f)) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        for (;;) {
            auto p = s_.poll_next(cx);
            if (p.is_pending()) return Pending;
            if (!*p) return detail::ready_end<Item>();
            std::optional<Item> mapped = std::invoke(f_, std::move(**p));
            if (mapped) return Poll<std::optional<Item>>(std::in_place, std::move(mapped));
        }
    }

private:
    S s_;
    [[no_unique_address]] F f_;
};

/// Each item passed through `f`, which returns std::optional<U>: the engaged
/// results, the nullopt ones dropped.
template <class F>
auto filter_map(F f) {
    return detail::make_adapter(
        [f = std::move(f)]<class S>(S&& s) mutable { return FilterMap<S, F>(std::forward<S>(s), std::move(f)); });
}

/// The stream of take(n); see there.
template <class S>
class Take {
public:
    using Item = item_t<S>;
    Take(S&& s, std::size_t n) : s_(std::forward<S>(s)), left_(n) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (left_ == 0) return detail::ready_end<Item>();
        auto p = s_.poll_next(cx);
        if (p.is_ready()) left_ = *p ? left_ - 1 : 0;
        return p;
    }

private:
    S s_;
    std::size_t left_;
};

/// The first `n` items; the upstream is not polled after the n-th.
inline auto take(std::size_t n) {
    return detail::make_adapter([n]<class S>(S&& s) { return Take<S>(std::forward<S>(s), n); });
}

/// The stream of take_while(pred); see there.
template <class S, class P>
class TakeWhile {
public:
    using Item = item_t<S>;
    TakeWhile(S&& s, P pred) : s_(std::forward<S>(s)), pred_(std::move(pred)) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (done_) return detail::ready_end<Item>();
        auto p = s_.poll_next(cx);
        if (p.is_pending()) return Pending;
        if (!*p || !std::invoke(pred_, std::as_const(**p))) {
            done_ = true;
            return detail::ready_end<Item>();  // the first failing item is dropped
        }
        return p;
    }

private:
    S s_;
    [[no_unique_address]] P pred_;
    bool done_ = false;
};

/// Items while `pred(const Item&)` holds; ends at the first that fails (it
/// is dropped) and does not poll the upstream again.
template <class P>
auto take_while(P pred) {
    return detail::make_adapter(
        [p = std::move(pred)]<class S>(S&& s) mutable { return TakeWhile<S, P>(std::forward<S>(s), std::move(p)); });
}

/// The stream of skip(n); see there.
template <class S>
class Skip {
public:
    using Item = item_t<S>;
    Skip(S&& s, std::size_t n) : s_(std::forward<S>(s)), left_(n) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        for (;;) {
            auto p = s_.poll_next(cx);
            if (left_ == 0 || p.is_pending() || !*p) return p;
            --left_;
        }
    }

private:
    S s_;
    std::size_t left_;
};

/// All but the first `n` items.
inline auto skip(std::size_t n) {
    return detail::make_adapter([n]<class S>(S&& s) { return Skip<S>(std::forward<S>(s), n); });
}

/// The stream of skip_while(pred); see there.
template <class S, class P>
class SkipWhile {
public:
    using Item = item_t<S>;
    SkipWhile(S&& s, P pred) : s_(std::forward<S>(s)), pred_(std::move(pred)) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        for (;;) {
            auto p = s_.poll_next(cx);
            if (skipped_ || p.is_pending() || !*p) return p;
            if (!std::invoke(pred_, std::as_const(**p))) {
                skipped_ = true;
                return p;
            }
        }
    }

private:
    S s_;
    [[no_unique_address]] P pred_;
    bool skipped_ = false;
};

/// Drops items while `pred(const Item&)` holds, then yields the rest (the
/// predicate is not called again).
template <class P>
auto skip_while(P pred) {
    return detail::make_adapter(
        [p = std::move(pred)]<class S>(S&& s) mutable { return SkipWhile<S, P>(std::forward<S>(s), std::move(p)); });
}

/// The stream of chain(second); see there.
template <class A, class B>
class Chain {
public:
    using Item = item_t<A>;
    static_assert(std::same_as<Item, item_t<B>>, "stream::chain needs two streams of the same item type");
    Chain(A&& a, B&& b) : a_(std::forward<A>(a)), b_(std::forward<B>(b)) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (!first_done_) {
            auto p = a_.poll_next(cx);
            if (p.is_pending() || *p) return p;
            first_done_ = true;
        }
        return b_.poll_next(cx);
    }

private:
    A a_;
    B b_;
    bool first_done_ = false;
};

/// The items of the stream on the left, then (once it ended) those of
/// `second`; `second` is not polled before.
template <StreamRef B>
auto chain(B&& second) {
    return detail::make_adapter([b = detail::Hold<B>{std::forward<B>(second)}]<class A>(A&& a) mutable {
        return Chain<A, B>(std::forward<A>(a), std::forward<B>(b.value));
    });
}

/// The stream of merge(...); see there.
template <class... S>
class Merge {
    static constexpr std::size_t kCount = sizeof...(S);

public:
    using Item = std::common_type_t<item_t<S>...>;
    explicit Merge(S&&... s) : streams_(std::forward<S>(s)...) {}

    /// Polls every unfinished stream once at most, starting one further
    /// along each time an item is returned, so none can starve the others.
    Poll<std::optional<Item>> poll_next(Context& cx) {
        for (std::size_t k = 0; k < kCount; ++k) {
            std::size_t i = (start_ + k) % kCount;
            if (done_[i]) continue;
            std::optional<Item> item;
            poll_at(i, cx, item, std::index_sequence_for<S...>{});
            if (item) {
                start_ = (i + 1) % kCount;
                return Poll<std::optional<Item>>(std::in_place, std::move(item));
            }
        }
        for (bool d : done_) {
            if (!d) return Pending;
        }
        return detail::ready_end<Item>();
    }

private:
    template <std::size_t... I>
    void poll_at(std::size_t i, Context& cx, std::optional<Item>& item, std::index_sequence<I...>) {
        (void)((i == I && (poll_one<I>(cx, item), true)) || ...);
    }
    template <std::size_t I>
    void poll_one(Context& cx, std::optional<Item>& item) {
        auto p = std::get<I>(streams_).poll_next(cx);
        if (p.is_pending()) return;
        if (*p) {
            item.emplace(std::move(**p));
        } else {
            done_[I] = true;
        }
    }

    std::tuple<S...> streams_;
    bool done_[kCount] = {};
    std::size_t start_ = 0;
};

/// Merges streams of one item type: items as they come from any of them,
/// ending once all have ended. Fair: each poll starts at the stream after
/// the one that produced the last item, so a stream that is always ready
/// cannot starve the others, and one that never yields delays nobody.
/// Cancellation-safe when every stream is. `stream::merge(a, b, c)` builds
/// it from two or more streams; `a | stream::merge(b)` merges `b` into `a`.
template <StreamRef S1, StreamRef S2, StreamRef... Rest>
Merge<S1, S2, Rest...> merge(S1&& s1, S2&& s2, Rest&&... rest) {
    return Merge<S1, S2, Rest...>(std::forward<S1>(s1), std::forward<S2>(s2), std::forward<Rest>(rest)...);
}

/// `a | merge(b)`: the merge of `a` and `b` (see the overload for several).
template <StreamRef B>
auto merge(B&& other) {
    return detail::make_adapter([b = detail::Hold<B>{std::forward<B>(other)}]<class A>(A&& a) mutable {
        return Merge<A, B>(std::forward<A>(a), std::forward<B>(b.value));
    });
}

/// The stream of zip(other); see there.
template <class A, class B>
class Zip {
public:
    using Item = std::pair<item_t<A>, item_t<B>>;
    Zip(A&& a, B&& b) : a_(std::forward<A>(a)), b_(std::forward<B>(b)) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (done_) return detail::ready_end<Item>();
        if (!left_ && !fill(a_, left_, cx)) return detail::ready_end<Item>();
        if (!right_ && !fill(b_, right_, cx)) return detail::ready_end<Item>();
        if (!left_ || !right_) return Pending;
        auto out = detail::ready_item<Item>(std::move(*left_), std::move(*right_));
        left_.reset();
        right_.reset();
        return out;
    }

private:
    // Polls `s` into `slot`; false when it ended (the zip ends too).
    template <class U, class V>
    bool fill(U& s, std::optional<V>& slot, Context& cx) {
        auto p = s.poll_next(cx);
        if (p.is_pending()) return true;
        if (!*p) {
            done_ = true;
            return false;
        }
        slot.emplace(std::move(**p));
        return true;
    }

    A a_;
    B b_;
    std::optional<item_t<A>> left_;  // an item waiting for its partner
    std::optional<item_t<B>> right_;
    bool done_ = false;
};

/// Pairs of one item from the left stream and one from `other`, ending when
/// either ends. Both are polled on each poll, so both make progress; an item
/// that arrived first waits here for its partner (kept across a dropped
/// stream::next).
template <StreamRef B>
auto zip(B&& other) {
    return detail::make_adapter([b = detail::Hold<B>{std::forward<B>(other)}]<class A>(A&& a) mutable {
        return Zip<A, B>(std::forward<A>(a), std::forward<B>(b.value));
    });
}

/// The stream of enumerate(); see there.
template <class S>
class Enumerate {
public:
    using Item = std::pair<std::size_t, item_t<S>>;
    explicit Enumerate(S&& s) : s_(std::forward<S>(s)) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        auto p = s_.poll_next(cx);
        if (p.is_pending()) return Pending;
        if (!*p) return detail::ready_end<Item>();
        return detail::ready_item<Item>(index_++, std::move(**p));
    }

private:
    S s_;
    std::size_t index_ = 0;
};

/// Pairs (index, item), the index counting from 0.
inline auto enumerate() {
    return detail::make_adapter([]<class S>(S&& s) { return Enumerate<S>(std::forward<S>(s)); });
}

/// The stream of chunks(n); see there.
template <class S>
class Chunks {
public:
    using Item = std::vector<item_t<S>>;
    Chunks(S&& s, std::size_t n) : s_(std::forward<S>(s)), size_(n) {
        if (n == 0) throw std::invalid_argument("corio: stream::chunks needs a chunk size above 0");
    }
    Poll<std::optional<Item>> poll_next(Context& cx) {
        for (;;) {
            auto p = s_.poll_next(cx);
            if (p.is_pending()) return Pending;
            if (!*p) {
                if (buffer_.empty()) return detail::ready_end<Item>();
                return detail::ready_item<Item>(std::exchange(buffer_, Item()));
            }
            if (buffer_.empty()) buffer_.reserve(size_);
            buffer_.push_back(std::move(**p));
            if (buffer_.size() == size_) return detail::ready_item<Item>(std::exchange(buffer_, Item()));
        }
    }

private:
    S s_;
    std::size_t size_;
    Item buffer_;  // the chunk being filled, kept across Pending
};

/// Vectors of `n` items (the last one shorter if the upstream ends early).
/// Waits for a full chunk: see chunks_timeout to bound the wait. One vector
/// allocation per chunk. Cancellation-safe: a partial chunk stays buffered.
/// Throws std::invalid_argument when `n` is 0.
inline auto chunks(std::size_t n) {
    return detail::make_adapter([n]<class S>(S&& s) { return Chunks<S>(std::forward<S>(s), n); });
}

/// The stream of fuse(); see there.
template <class S>
class Fuse {
public:
    using Item = item_t<S>;
    explicit Fuse(S&& s) : s_(std::forward<S>(s)) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (done_) return detail::ready_end<Item>();
        auto p = s_.poll_next(cx);
        if (p.is_ready() && !*p) done_ = true;
        return p;
    }
    /// True once the upstream has ended.
    bool is_terminated() const noexcept { return done_; }

private:
    S s_;
    bool done_ = false;
};

/// After the upstream's first end, every poll is Ready(nullopt) without
/// polling the upstream again.
inline auto fuse() {
    return detail::make_adapter([]<class S>(S&& s) { return Fuse<S>(std::forward<S>(s)); });
}

}  // namespace corio::stream
