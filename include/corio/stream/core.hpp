// The Stream concept, stream::next, and the plumbing every adapter shares:
// the `|` operator and how an adapter holds its upstream.
//
// A stream is a value with `poll_next(Context&)` returning
// `Poll<std::optional<Item>>`: Ready(item), Ready(nullopt) at the end, or
// Pending after storing the waker. Like a future, a stream is never moved
// after its first poll (adapters hold their upstream in place), and
// destroying it cancels whatever it was doing.
//
// Ownership convention (as select/join): an adapter or consumer given an
// rvalue stream moves it in and owns it; given an lvalue, it borrows it (the
// stream must outlive the adapter). So `rx | stream::map(f)` reads a
// receiver that stays usable afterwards, and `std::move(gen) | ...` owns it.
#pragma once

#include <concepts>
#include <optional>
#include <type_traits>
#include <utility>

#include "corio/future.hpp"

namespace corio {

/// A source of items polled like a future: `poll_next` returns Ready(item),
/// Ready(std::nullopt) once the stream has ended, or Pending after storing
/// the waker of the context. A stream must not be moved after its first
/// poll; destroying it cancels it. What a stream does when polled again after
/// its end depends on the stream (every stream of corio keeps returning
/// nullopt; `stream::fuse` guarantees it for any other).
template <class S>
concept Stream = requires(S& s, Context& cx) {
    typename S::Item;
    { s.poll_next(cx) } -> std::same_as<Poll<std::optional<typename S::Item>>>;
};

namespace stream {

/// The item type of stream `S` (references and cv-qualifiers removed first).
template <class S>
using item_t = typename std::remove_cvref_t<S>::Item;

/// A stream given as a forwarding reference: a Stream once cv-ref is removed.
template <class S>
concept StreamRef = Stream<std::remove_cvref_t<S>>;

namespace detail {

/// Ready with an item built in place.
template <class Item, class... Args>
Poll<std::optional<Item>> ready_item(Args&&... args) {
    return Poll<std::optional<Item>>(std::in_place, std::in_place, std::forward<Args>(args)...);
}

/// Ready with the end of the stream (nullopt).
template <class Item>
Poll<std::optional<Item>> ready_end() {
    return Poll<std::optional<Item>>(std::in_place);
}

/// A partly applied adapter: `s | adapter` calls `fn(s)`.
template <class Fn>
struct Adapter {
    Fn fn;
};

/// A stream captured by an adapter: `B` is `T&` for a borrowed lvalue
/// (held by reference) and `T` for an rvalue (moved in).
template <class B>
struct Hold {
    B value;
};

template <class Fn>
Adapter<Fn> make_adapter(Fn fn) {
    return Adapter<Fn>{std::move(fn)};
}

/// Applies an adapter to a stream: an lvalue stream is borrowed, an rvalue
/// moved in (see the header comment).
template <StreamRef S, class Fn>
auto operator|(S&& s, Adapter<Fn> adapter) {
    return std::move(adapter.fn)(std::forward<S>(s));
}

}  // namespace detail

/// The future of next(); see there.
template <Stream S>
class CORIO_NODISCARD_FUTURE Next {
public:
    using Output = std::optional<typename S::Item>;
    explicit Next(S& s) noexcept : s_(&s) {}
    Poll<Output> poll(Context& cx) { return s_->poll_next(cx); }

private:
    S* s_;
};

/// The next item of `s`, or std::nullopt once it has ended:
/// `while (auto v = co_await stream::next(s)) use(*v);`. The stream must
/// outlive the future. Cancellation-safe exactly when `s`'s poll_next is
/// (every corio source and adapter documents it): dropping the future
/// between polls loses nothing the stream has not handed out.
template <Stream S>
Next<S> next(S& s) noexcept {
    return Next<S>(s);
}

/// A borrowed stream as a stream (what adapters hold for an lvalue).
template <Stream S>
class ByRef {
public:
    using Item = typename S::Item;
    explicit ByRef(S& s) noexcept : s_(&s) {}
    Poll<std::optional<Item>> poll_next(Context& cx) { return s_->poll_next(cx); }

private:
    S* s_;
};

/// `s` borrowed: a stream forwarding to `s`, which must outlive it.
template <Stream S>
ByRef<S> by_ref(S& s) noexcept {
    return ByRef<S>(s);
}

}  // namespace stream
}  // namespace corio
