// Stream adapters driven by the runtime's clock: timeout, throttle and
// chunks_timeout. Each owns one time::Sleep (which may move, so these
// adapters may move before their first poll like the others) and needs a
// runtime with timers once it has to wait; with a paused clock they follow
// virtual time. Cancellation-safe: nothing is lost when a stream::next on
// them is dropped (a partial chunk stays buffered, a deadline stays armed).
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "corio/future.hpp"
#include "corio/stream/core.hpp"
#include "corio/time.hpp"

namespace corio::stream {

/// The stream of timeout(d); see there.
template <class S>
class TimeoutStream {
public:
    using Item = std::expected<item_t<S>, time::Elapsed>;
    TimeoutStream(S&& s, time::Duration d) : s_(std::forward<S>(s)), period_(d), delay_(time::Instant()) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (!armed_) rearm();
        auto p = s_.poll_next(cx);
        if (p.is_ready()) {
            if (!*p) return detail::ready_end<Item>();
            rearm();
            return detail::ready_item<Item>(std::in_place, std::move(**p));
        }
        if (!watching_ || delay_.poll(cx).is_pending()) return Pending;
        watching_ = false;  // one Elapsed per gap; the next item restarts the clock
        return detail::ready_item<Item>(std::unexpect, time::Elapsed{});
    }

private:
    void rearm() {
        delay_.reset(time::Instant::now() + period_);
        armed_ = true;
        watching_ = true;
    }

    S s_;
    time::Duration period_;
    time::Sleep delay_;
    bool armed_ = false;     // the first poll starts the clock
    bool watching_ = false;  // an Elapsed has not been reported for this gap yet
};

/// Items wrapped in std::expected: each item as a value, and
/// `std::unexpected(time::Elapsed{})` when `d` passes with no item (counted
/// from the first poll and from each item). The stream goes on after an
/// Elapsed: the next item comes through as usual, and at most one Elapsed
/// is reported per gap. Ends when the upstream ends.
template <class Rep, class Period>
auto timeout(std::chrono::duration<Rep, Period> d) {
    auto period = std::chrono::duration_cast<time::Duration>(d);
    return detail::make_adapter([period]<class S>(S&& s) { return TimeoutStream<S>(std::forward<S>(s), period); });
}

/// The stream of throttle(d); see there.
template <class S>
class Throttle {
public:
    using Item = item_t<S>;
    Throttle(S&& s, time::Duration d) : s_(std::forward<S>(s)), period_(d), delay_(time::Instant()) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (waiting_) {
            if (delay_.poll(cx).is_pending()) return Pending;
            waiting_ = false;
        }
        auto p = s_.poll_next(cx);
        if (p.is_ready() && *p) {
            delay_.reset(time::Instant::now() + period_);
            waiting_ = true;
        }
        return p;
    }

private:
    S s_;
    time::Duration period_;
    time::Sleep delay_;
    bool waiting_ = false;  // the upstream is not polled before delay_
};

/// The same items, at most one per `d`: after an item, the upstream is not
/// polled again until `d` has passed (items wait in the upstream, none is
/// dropped).
template <class Rep, class Period>
auto throttle(std::chrono::duration<Rep, Period> d) {
    auto period = std::chrono::duration_cast<time::Duration>(d);
    return detail::make_adapter([period]<class S>(S&& s) { return Throttle<S>(std::forward<S>(s), period); });
}

/// The stream of chunks_timeout(n, d); see there.
template <class S>
class ChunksTimeout {
public:
    using Item = std::vector<item_t<S>>;
    ChunksTimeout(S&& s, std::size_t n, time::Duration d)
        : s_(std::forward<S>(s)), size_(n), period_(d), delay_(time::Instant()) {
        if (n == 0) throw std::invalid_argument("corio: stream::chunks_timeout needs a chunk size above 0");
    }
    Poll<std::optional<Item>> poll_next(Context& cx) {
        for (;;) {
            auto p = s_.poll_next(cx);
            if (p.is_pending()) break;
            if (!*p) {
                if (buffer_.empty()) return detail::ready_end<Item>();
                return detail::ready_item<Item>(std::exchange(buffer_, Item()));
            }
            if (buffer_.empty()) {
                buffer_.reserve(size_);
                delay_.reset(time::Instant::now() + period_);  // the chunk's deadline
            }
            buffer_.push_back(std::move(**p));
            if (buffer_.size() == size_) return detail::ready_item<Item>(std::exchange(buffer_, Item()));
        }
        if (buffer_.empty() || delay_.poll(cx).is_pending()) return Pending;
        return detail::ready_item<Item>(std::exchange(buffer_, Item()));
    }

private:
    S s_;
    std::size_t size_;
    time::Duration period_;
    time::Sleep delay_;
    Item buffer_;  // the chunk being filled; its deadline is delay_
};

/// Vectors of up to `n` items: a chunk is emitted when it is full, or when
/// `d` has passed since its first item arrived (then partial, never empty),
/// or when the upstream ends. Throws std::invalid_argument when `n` is 0.
template <class Rep, class Period>
auto chunks_timeout(std::size_t n, std::chrono::duration<Rep, Period> d) {
    auto period = std::chrono::duration_cast<time::Duration>(d);
    return detail::make_adapter(
        [n, period]<class S>(S&& s) { return ChunksTimeout<S>(std::forward<S>(s), n, period); });
}

}  // namespace corio::stream
