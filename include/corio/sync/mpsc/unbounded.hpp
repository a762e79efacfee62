// mpsc unbounded channel: unbounded_channel<T>() and its handles,
// UnboundedSender and UnboundedReceiver. The state they share is
// detail::UnboundedChan (Vyukov's intrusive list; see
// detail/unbounded_chan.hpp).
//
// Invariant: a send never waits; it fails (with the value back) only once
// the receiver is closed or dropped.
#pragma once

#include <expected>
#include <utility>

#include "corio/future.hpp"
#include "corio/sync/mpsc/detail/receiver_base.hpp"
#include "corio/sync/mpsc/detail/sender_base.hpp"
#include "corio/sync/mpsc/detail/unbounded_chan.hpp"
#include "corio/sync/mpsc/error.hpp"

namespace corio::sync::mpsc {

template <class T>
class UnboundedSender;
template <class T>
class UnboundedReceiver;

template <class T>
std::pair<UnboundedSender<T>, UnboundedReceiver<T>> unbounded_channel();

/// The sending half of an unbounded channel. Copyable: each copy is a
/// sender; the receiver sees the channel end once every copy is gone.
template <class T>
class UnboundedSender : public detail::SenderBase<detail::UnboundedChan<T>> {
    using Chan = detail::UnboundedChan<T>;
    using detail::SenderBase<Chan>::chan_;

public:
    /// Sends `value`; never waits (one allocation). Fails, giving the value
    /// back, when the receiver is closed or dropped. A send that races with
    /// close() may still be buffered; it is then received or destroyed with
    /// the channel.
    std::expected<void, SendError<T>> send(T value) {
        if (chan_->push(value)) return {};
        return std::unexpected(SendError<T>{std::move(value)});
    }

    /// True when both send on the same channel.
    bool same_channel(const UnboundedSender& other) const noexcept { return chan_ == other.chan_; }

private:
    friend std::pair<UnboundedSender<T>, UnboundedReceiver<T>> unbounded_channel<T>();
    explicit UnboundedSender(Chan* chan) noexcept : detail::SenderBase<Chan>(chan) {}
};

/// The receiving half of an unbounded channel; as Receiver.
template <class T>
class UnboundedReceiver : public detail::ReceiverBase<detail::UnboundedChan<T>, T> {
    friend std::pair<UnboundedSender<T>, UnboundedReceiver<T>> unbounded_channel<T>();
    explicit UnboundedReceiver(detail::UnboundedChan<T>* chan) noexcept
        : detail::ReceiverBase<detail::UnboundedChan<T>, T>(chan) {}
};

/// Creates an unbounded channel: sends never wait, each buffered value
/// costs one allocation. Throws std::bad_alloc.
template <class T>
std::pair<UnboundedSender<T>, UnboundedReceiver<T>> unbounded_channel() {
    auto* chan = new detail::UnboundedChan<T>();
    return {UnboundedSender<T>(chan), UnboundedReceiver<T>(chan)};
}

static_assert(Future<UnboundedReceiver<int>::Recv>);

}  // namespace corio::sync::mpsc
