// mpsc sender side: SenderBase (the counted handle, closed(), is_closed()),
// which Sender and UnboundedSender derive from, and ClosedFuture.
//
// Invariant: every live sender (and Permit) holds one count in the
// channel's `senders_`; whoever drops the last one closes the sending side
// (the receiver then sees the end once it drained the buffer) and releases
// the senders' hold on the channel.
#pragma once

#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/future.hpp"
#include "corio/sync/mpsc/detail/chan.hpp"

namespace corio::sync::mpsc::detail {

template <class Chan>
void drop_sender(Chan* chan) {
    if (chan->drop_sender()) {
        chan->close_tx();
        if (chan->unref()) delete chan;
    }
}

/// The future of Sender::closed() / UnboundedSender::closed().
class CORIO_NODISCARD_FUTURE ClosedFuture {
public:
    using Output = void;
    explicit ClosedFuture(ChanBase* chan) noexcept : chan_(chan) {}
    /// Only before the first poll (futures are not moved once polled).
    ClosedFuture(ClosedFuture&& other) noexcept : chan_(std::exchange(other.chan_, nullptr)) {}
    ClosedFuture(const ClosedFuture&) = delete;
    ClosedFuture& operator=(const ClosedFuture&) = delete;
    ~ClosedFuture() {
        if (chan_ != nullptr) chan_->cancel_closed(waiter_);
    }
    Poll<void> poll(Context& cx) {
        if (chan_ == nullptr) return Ready();
        if (!corio::detail::poll_proceed(cx)) return Pending;
        if (!chan_->poll_closed(waiter_, cx.waker())) return Pending;
        return Ready();
    }

private:
    ChanBase* chan_;
    Waiter waiter_;
};

/// What the bounded and unbounded senders share: a counted handle on the
/// channel (copyable: each copy is a sender; the receiver sees the channel
/// end once every copy is gone), closed() and is_closed().
template <class Chan>
class SenderBase {
public:
    SenderBase(const SenderBase& other) noexcept : chan_(other.chan_) {
        if (chan_ != nullptr) chan_->add_sender();
    }
    SenderBase(SenderBase&& other) noexcept : chan_(std::exchange(other.chan_, nullptr)) {}
    SenderBase& operator=(SenderBase other) noexcept {
        std::swap(chan_, other.chan_);
        return *this;
    }
    ~SenderBase() {
        if (chan_ != nullptr) drop_sender(chan_);
    }

    /// Completes once the receiver is closed or dropped. Cancellation-safe:
    /// dropping it loses nothing. The sender must outlive the future.
    ClosedFuture closed() noexcept { return ClosedFuture(chan_); }

    /// True once the receiver is closed or dropped (sends fail).
    bool is_closed() const noexcept { return chan_->rx_closed(); }

protected:
    explicit SenderBase(Chan* chan) noexcept : chan_(chan) {}

    Chan* chan_;
};

static_assert(Future<ClosedFuture>);

}  // namespace corio::sync::mpsc::detail
