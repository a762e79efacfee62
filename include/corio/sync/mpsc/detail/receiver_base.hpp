// mpsc receiver side: ReceiverBase (recv, try_recv, close, len), which
// Receiver and UnboundedReceiver derive from, over either channel state.
//
// Invariant: one receiver per channel. Its drop closes the channel and
// destroys the values buffered then; values that arrive later are destroyed
// with the channel, so each value is destroyed exactly once.
#pragma once

#include <atomic>
#include <cstddef>
#include <expected>
#include <optional>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/future.hpp"
#include "corio/sync/mpsc/error.hpp"

namespace corio::sync::mpsc::detail {

/// Receives from `chan`: a value, nullopt once drained and closed, or
/// Pending after parking.
template <class Chan>
auto poll_recv(Chan& chan, Context& cx) -> Poll<decltype(chan.try_pop(std::memory_order_acquire))> {
    using Out = decltype(chan.try_pop(std::memory_order_acquire));
    if (!corio::detail::poll_proceed(cx)) return Pending;
    if (auto v = chan.try_pop(std::memory_order_acquire)) return Ready(std::move(v));
    if (chan.drained_and_closed(std::memory_order_acquire)) return Ready(Out());
    chan.park_rx(cx.waker());
    if (auto v = chan.try_pop(std::memory_order_seq_cst)) {
        chan.unpark_rx();
        return Ready(std::move(v));
    }
    if (chan.drained_and_closed(std::memory_order_seq_cst)) {
        chan.unpark_rx();
        return Ready(Out());
    }
    return Pending;
}

template <class Chan>
void drop_receiver(Chan* chan) {
    chan->unpark_rx();  // its own releases below must not wake the task dropping it
    chan->close();
    // Destroy what is buffered now; later arrivals go with the channel.
    while (chan->try_pop(std::memory_order_acquire)) {
    }
    if (chan->unref()) delete chan;
}

/// What the bounded and unbounded receivers share: sole ownership of the
/// receiving side (move-only; dropping it closes the channel and destroys
/// the values still buffered), recv, try_recv, close and len.
template <class Chan, class T>
class ReceiverBase {
public:
    ReceiverBase(ReceiverBase&& other) noexcept : chan_(std::exchange(other.chan_, nullptr)) {}
    ReceiverBase& operator=(ReceiverBase&& other) noexcept {
        if (this != &other) {
            reset();
            chan_ = std::exchange(other.chan_, nullptr);
        }
        return *this;
    }
    ReceiverBase(const ReceiverBase&) = delete;
    ReceiverBase& operator=(const ReceiverBase&) = delete;
    ~ReceiverBase() { reset(); }

    /// The future of recv().
    class CORIO_NODISCARD_FUTURE Recv {
    public:
        using Output = std::optional<T>;
        explicit Recv(Chan* chan) noexcept : chan_(chan) {}
        Poll<Output> poll(Context& cx) { return detail::poll_recv(*chan_, cx); }

    private:
        Chan* chan_;
    };

    /// The next value, in send order per sender; std::nullopt once every
    /// sender (and Permit) is gone, or close() was called, and the buffer is
    /// drained. Cancellation-safe: a future dropped before it completed took
    /// no value. The receiver must outlive the future.
    Recv recv() noexcept { return Recv(chan_); }

    /// recv() for hand-written futures: a value, nullopt at the end, or
    /// Pending after storing cx's waker.
    Poll<std::optional<T>> poll_recv(Context& cx) { return detail::poll_recv(*chan_, cx); }

    /// The receiver as a corio::Stream (`stream::next(rx)`, `rx | stream::map(f)`):
    /// each value, then the end once recv() would yield nullopt. Cancellation-
    /// safe as recv().
    using Item = T;
    /// poll_recv under the Stream name.
    Poll<std::optional<T>> poll_next(Context& cx) { return detail::poll_recv(*chan_, cx); }

    /// A value if one is buffered; else Empty, or Disconnected when nothing
    /// more can come (every sender gone, or closed and no permit out).
    std::expected<T, TryRecvError> try_recv() {
        if (auto v = chan_->try_pop(std::memory_order_acquire)) return std::move(*v);
        if (chan_->drained_and_closed(std::memory_order_acquire)) return std::unexpected(TryRecvError::Disconnected);
        return std::unexpected(TryRecvError::Empty);
    }

    /// Closes the channel: sends fail from now on (queued senders are woken
    /// with the error) but what is buffered, and what outstanding Permits
    /// send, can still be received; then recv() yields nullopt.
    void close() { chan_->close(); }

    /// Values buffered now (including ones being written; O(len) for an
    /// unbounded channel, which walks its queue).
    std::size_t len() const noexcept { return chan_->len(); }
    bool is_empty() const noexcept { return len() == 0; }

protected:
    explicit ReceiverBase(Chan* chan) noexcept : chan_(chan) {}

    Chan* chan_;

private:
    void reset() {
        if (chan_ != nullptr) drop_receiver(std::exchange(chan_, nullptr));
    }
};

}  // namespace corio::sync::mpsc::detail
