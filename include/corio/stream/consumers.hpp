// Stream consumers, each a future: collect, fold, for_each and count.
//
// A consumer holds its stream like an adapter does (an rvalue moved in, an
// lvalue borrowed) and drains it inside one poll while items are ready, so a
// stream that is always ready is drained without returning to the
// scheduler. None of them allocates per item (collect's container grows as
// containers do). Cancellation: dropping a consumer mid-way loses nothing
// the stream still holds, but the items already consumed are gone (collect's
// partial container and fold's accumulator are dropped with it).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "corio/future.hpp"
#include "corio/stream/core.hpp"

namespace corio::stream {

/// The future of collect<C>(s); see there.
template <class C, class S>
class CORIO_NODISCARD_FUTURE Collect {
public:
    using Output = C;
    explicit Collect(S&& s) : s_(std::forward<S>(s)) {}
    Poll<C> poll(Context& cx) {
        for (;;) {
            auto p = s_.poll_next(cx);
            if (p.is_pending()) return Pending;
            if (!*p) return Ready(std::move(out_));
            if constexpr (requires { out_.push_back(std::move(**p)); }) {
                out_.push_back(std::move(**p));
            } else {
                out_.insert(std::move(**p));
            }
        }
    }

private:
    S s_;
    C out_;
};

/// Every item of `s`, in order, in a `C` (push_back, or insert for sets and
/// maps), once `s` has ended.
template <class C, StreamRef S>
Collect<C, S> collect(S&& s) {
    return Collect<C, S>(std::forward<S>(s));
}

/// The future of fold(s, init, f); see there.
template <class S, class Acc, class F>
class CORIO_NODISCARD_FUTURE Fold {
public:
    using Output = Acc;
    Fold(S&& s, Acc init, F f) : s_(std::forward<S>(s)), acc_(std::move(init)), f_(std::move(f)) {}
    Poll<Acc> poll(Context& cx) {
        for (;;) {
            auto p = s_.poll_next(cx);
            if (p.is_pending()) return Pending;
            if (!*p) return Ready(std::move(acc_));
            acc_ = std::invoke(f_, std::move(acc_), std::move(**p));
        }
    }

private:
    S s_;
    Acc acc_;
    [[no_unique_address]] F f_;
};

/// `f(...f(f(init, item0), item1)...)` over every item of `s`, once it ended.
template <StreamRef S, class Acc, class F>
Fold<S, Acc, F> fold(S&& s, Acc init, F f) {
    return Fold<S, Acc, F>(std::forward<S>(s), std::move(init), std::move(f));
}

/// The future of for_each(s, f); see there.
template <class S, class F>
class CORIO_NODISCARD_FUTURE ForEach {
    using Result = std::invoke_result_t<F&, item_t<S>&&>;
    static constexpr bool kAsync = Future<Result>;
    struct NoFuture {};
    using Pending_ = std::conditional_t<kAsync, std::optional<Result>, NoFuture>;

public:
    using Output = void;
    ForEach(S&& s, F f) : s_(std::forward<S>(s)), f_(std::move(f)) {}
    Poll<void> poll(Context& cx) {
        for (;;) {
            if constexpr (kAsync) {
                if (running_) {
                    if (running_->poll(cx).is_pending()) return Pending;
                    running_.reset();
                }
            }
            auto p = s_.poll_next(cx);
            if (p.is_pending()) return Pending;
            if (!*p) return Ready();
            if constexpr (kAsync) {
                running_.emplace(Make{f_, **p});
            } else {
                std::invoke(f_, std::move(**p));
            }
        }
    }

private:
    struct Make {
        F& f;
        item_t<S>& item;
        operator Result() { return std::invoke(f, std::move(item)); }  // NOLINT: elided into running_
    };
    S s_;
    [[no_unique_address]] F f_;
    [[no_unique_address]] Pending_ running_;
};

/// Calls `f(item)` for every item of `s`; completes when `s` has ended. When
/// `f` returns a future (a Task), each is awaited before the next item is
/// taken. Dropping it mid-way cancels the future of the current item.
template <StreamRef S, class F>
ForEach<S, F> for_each(S&& s, F f) {
    return ForEach<S, F>(std::forward<S>(s), std::move(f));
}

/// The future of count(s); see there.
template <class S>
class CORIO_NODISCARD_FUTURE Count {
public:
    using Output = std::size_t;
    explicit Count(S&& s) : s_(std::forward<S>(s)) {}
    Poll<std::size_t> poll(Context& cx) {
        for (;;) {
            auto p = s_.poll_next(cx);
            if (p.is_pending()) return Pending;
            if (!*p) return Ready(n_);
            ++n_;
        }
    }

private:
    S s_;
    std::size_t n_ = 0;
};

/// The number of items of `s` (each dropped), once it has ended.
template <StreamRef S>
Count<S> count(S&& s) {
    return Count<S>(std::forward<S>(s));
}

}  // namespace corio::stream
