// Streams over the broadcast and watch receivers, whose receive futures
// each own a place in a wait queue: the stream keeps the current receive
// future in place between polls (as Tokio's BroadcastStream and
// WatchStream). The mpsc receivers, time::Interval, the listeners'
// incoming(), io::Lines and signal::Signal are streams themselves.
#pragma once

#include <expected>
#include <optional>
#include <utility>

#include "corio/future.hpp"
#include "corio/stream/core.hpp"
#include "corio/sync/broadcast.hpp"
#include "corio/sync/watch.hpp"

namespace corio::stream {

/// A broadcast receiver as a stream: each value, a lag as an error item
/// (RecvError::lagged(n); the stream goes on with the oldest value kept),
/// and the end once every sender is gone and everything was read. Owns the
/// receiver. Must not move after its first poll. Cancellation-safe: a
/// dropped stream::next loses no value (the receiver's position moves only
/// when an item is returned).
template <sync::broadcast::Broadcastable T>
class BroadcastStream {
public:
    using Item = std::expected<T, sync::broadcast::RecvError>;

    explicit BroadcastStream(sync::broadcast::Receiver<T> rx) : rx_(std::move(rx)) {}
    BroadcastStream(BroadcastStream&& other) noexcept : rx_(std::move(other.rx_)), done_(other.done_) {}

    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (done_) return detail::ready_end<Item>();
        if (!recv_) recv_.emplace(rx_);
        auto r = recv_->poll(cx);
        if (r.is_pending()) return Pending;
        recv_.reset();
        if (!*r && r->error().is_closed()) {
            done_ = true;
            return detail::ready_end<Item>();
        }
        return Poll<std::optional<Item>>(std::in_place, std::move(r).take());
    }

    /// The receiver (not while a poll is pending).
    sync::broadcast::Receiver<T>& get_ref() noexcept { return rx_; }

private:
    sync::broadcast::Receiver<T> rx_;
    std::optional<sync::broadcast::Recv<T>> recv_;  // the receive in progress, kept across Pending
    bool done_ = false;
};

/// A watch receiver as a stream of values: the current value first (marked
/// seen), then a copy of the latest value after each change (intermediate
/// values may be skipped, as with changed()), and the end once the sender
/// is gone. Owns the receiver. Must not move after its first poll.
/// Cancellation-safe: a dropped stream::next loses no change.
template <class T>
class WatchStream {
public:
    using Item = T;

    explicit WatchStream(sync::watch::Receiver<T> rx) : rx_(std::move(rx)) {}
    WatchStream(WatchStream&& other) noexcept : rx_(std::move(other.rx_)), first_(other.first_), done_(other.done_) {}

    Poll<std::optional<T>> poll_next(Context& cx) {
        if (done_) return detail::ready_end<T>();
        if (first_) {
            first_ = false;
            return detail::ready_item<T>(*rx_.borrow_and_update());
        }
        if (!changed_) changed_.emplace(Changed{rx_});
        auto r = changed_->poll(cx);
        if (r.is_pending()) return Pending;
        changed_.reset();
        if (!*r) {
            done_ = true;
            return detail::ready_end<T>();
        }
        return detail::ready_item<T>(*rx_.borrow_and_update());
    }

    /// The receiver (not while a poll is pending).
    sync::watch::Receiver<T>& get_ref() noexcept { return rx_; }

private:
    struct Changed {
        sync::watch::Receiver<T>& rx;
        operator sync::watch::Changed<T>() { return rx.changed(); }  // NOLINT: elided into changed_
    };
    sync::watch::Receiver<T> rx_;
    std::optional<sync::watch::Changed<T>> changed_;  // the wait in progress, kept across Pending
    bool first_ = true;
    bool done_ = false;
};

}  // namespace corio::stream
