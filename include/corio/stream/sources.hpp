// Streams that are not built on anything asynchronous: iter, once, empty,
// repeat and pending. None of them ever registers a waker except pending(),
// which stores nothing because it never wakes; all are cancellation-safe
// (dropping a stream::next on them loses nothing).
#pragma once

#include <iterator>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>

#include "corio/future.hpp"
#include "corio/stream/core.hpp"

namespace corio::stream {

/// The stream of iter(); see there.
template <class R>
class Iter {
    using Range = std::remove_reference_t<R>;
    using Iterator = std::ranges::iterator_t<Range>;

public:
    using Item = std::ranges::range_value_t<Range>;

    explicit Iter(R range) : range_(std::forward<R>(range)) {}

    /// The next element: moved out of an owned range, copied from a borrowed one.
    Poll<std::optional<Item>> poll_next(Context&) {
        if (!it_) it_.emplace(std::ranges::begin(range_));  // only now: the stream may move before
        if (*it_ == std::ranges::end(range_)) return detail::ready_end<Item>();
        auto current = (*it_)++;
        if constexpr (std::is_reference_v<R>) {
            return detail::ready_item<Item>(*current);
        } else {
            return detail::ready_item<Item>(std::ranges::iter_move(current));
        }
    }

private:
    R range_;
    std::optional<Iterator> it_;  // set at the first poll
};

/// A stream of the elements of `range`, always ready. An rvalue range is
/// moved in and its elements moved out; an lvalue range is borrowed (it must
/// outlive the stream) and its elements copied. Allocates nothing.
template <std::ranges::input_range R>
Iter<R> iter(R&& range) {
    return Iter<R>(std::forward<R>(range));
}

/// The stream of once(); see there.
template <class T>
class Once {
public:
    using Item = T;
    explicit Once(T value) : value_(std::move(value)) {}
    Poll<std::optional<T>> poll_next(Context&) {
        return Poll<std::optional<T>>(std::in_place, std::exchange(value_, std::nullopt));
    }

private:
    std::optional<T> value_;
};

/// A stream of exactly one item, `value`, then the end.
template <class T>
Once<std::decay_t<T>> once(T&& value) {
    return Once<std::decay_t<T>>(std::forward<T>(value));
}

/// The stream of empty(); see there.
template <class T>
class Empty {
public:
    using Item = T;
    Poll<std::optional<T>> poll_next(Context&) { return detail::ready_end<T>(); }
};

/// A stream that ends at once: its first poll is Ready(nullopt).
template <class T>
Empty<T> empty() noexcept {
    return {};
}

/// The stream of repeat(); see there.
template <class T>
class Repeat {
public:
    using Item = T;
    explicit Repeat(T value) : value_(std::move(value)) {}
    Poll<std::optional<T>> poll_next(Context&) { return detail::ready_item<T>(value_); }

private:
    T value_;
};

/// A stream that yields copies of `value` forever, always ready (bound it
/// with take or take_while).
template <class T>
Repeat<std::decay_t<T>> repeat(T&& value) {
    return Repeat<std::decay_t<T>>(std::forward<T>(value));
}

/// The stream of pending(); see there.
template <class T>
class PendingStream {
public:
    using Item = T;
    Poll<std::optional<T>> poll_next(Context&) { return Pending; }
};

/// A stream that never yields and never ends: every poll is Pending and it
/// never wakes its task (as Tokio's stream::pending).
template <class T>
PendingStream<T> pending() noexcept {
    return {};
}

}  // namespace corio::stream
