// mpsc bounded channel: channel<T>(cap) and its handles, Sender, Receiver
// and Permit. The state they share is detail::BoundedChan (a ring and one
// atomic permit word; see detail/bounded_chan.hpp).
//
// Invariant: at most `cap` values are buffered or reserved at once; a
// sender that finds the channel full waits, FIFO, and a Permit holds one
// slot (and counts as a sender) until it sends or is dropped.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <stdexcept>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/future.hpp"
#include "corio/sync/mpsc/detail/bounded_chan.hpp"
#include "corio/sync/mpsc/detail/receiver_base.hpp"
#include "corio/sync/mpsc/detail/sender_base.hpp"
#include "corio/sync/mpsc/error.hpp"
#include "corio/time.hpp"

namespace corio::sync::mpsc {

template <class T>
class Sender;
template <class T>
class Receiver;
template <class T>
class Permit;

template <class T>
std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity);

// ---- Permit -----------------------------------------------------------------------------

/// One reserved slot of a bounded channel (from Sender::reserve). send()
/// fills it and never fails or waits; dropping it unused frees the slot.
/// While it lives it counts as a sender (the receiver does not see the
/// channel end). Move-only.
template <class T>
class Permit {
public:
    Permit() noexcept = default;
    Permit(Permit&& other) noexcept : chan_(std::exchange(other.chan_, nullptr)) {}
    Permit& operator=(Permit&& other) noexcept {
        if (this != &other) {
            reset();
            chan_ = std::exchange(other.chan_, nullptr);
        }
        return *this;
    }
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { reset(); }

    /// Puts `value` in the reserved slot (received even if the receiver
    /// closes meanwhile; destroyed with the channel if it was dropped). The
    /// Permit is used up. Throws std::logic_error on an empty Permit.
    void send(T value) {
        if (chan_ == nullptr) throw std::logic_error("corio::mpsc::Permit::send on an empty Permit");
        detail::BoundedChan<T>* chan = std::exchange(chan_, nullptr);
        chan->write(chan->claim(), std::move(value));
        detail::drop_sender(chan);
    }

    /// False for a default-constructed, moved-from or used Permit.
    bool valid() const noexcept { return chan_ != nullptr; }

private:
    friend class Sender<T>;
    explicit Permit(detail::BoundedChan<T>* chan) noexcept : chan_(chan) { chan_->add_sender(); }
    void reset() {
        if (chan_ == nullptr) return;
        detail::BoundedChan<T>* chan = std::exchange(chan_, nullptr);
        chan->release_permit();
        detail::drop_sender(chan);
    }

    detail::BoundedChan<T>* chan_ = nullptr;
};

// ---- Sender -----------------------------------------------------------------------------

/// The sending half of a bounded channel. Copyable: each copy is a sender;
/// the receiver sees the channel end once every copy (and every Permit) is
/// gone. A Sender is used from one task at a time; its copies from any.
template <class T>
class Sender : public detail::SenderBase<detail::BoundedChan<T>> {
    using Chan = detail::BoundedChan<T>;
    using detail::SenderBase<Chan>::chan_;

public:
    /// The future of send().
    class CORIO_NODISCARD_FUTURE Send {
    public:
        using Output = std::expected<void, SendError<T>>;
        Send(Chan* chan, T value) : chan_(chan), value_(std::move(value)) {}
        /// Only before the first poll (futures are not moved once polled).
        Send(Send&& other) noexcept
            : chan_(other.chan_), value_(std::move(other.value_)), phase_(std::exchange(other.phase_, Phase::Done)) {}
        Send(const Send&) = delete;
        Send& operator=(const Send&) = delete;
        ~Send() {
            if (phase_ == Phase::Waiting) chan_->cancel(waiter_);
        }

        Poll<Output> poll(Context& cx) {
            if (!corio::detail::poll_proceed(cx)) return Pending;
            if (phase_ == Phase::Start) {
                std::uint32_t pos = 0;
                detail::Acquire a = chan_->try_claim(pos);
                if (a == detail::Acquire::Acquired) return Ready(finish_at(pos));
                if (a == detail::Acquire::Closed) return Ready(fail());
                a = chan_->acquire_slow(waiter_, cx.waker());
                if (a == detail::Acquire::Acquired) return Ready(finish_at(chan_->claim()));
                if (a == detail::Acquire::Closed) return Ready(fail());
                phase_ = Phase::Waiting;
                return Pending;
            }
            if (phase_ == Phase::Done) throw std::logic_error("corio::mpsc::Sender::send polled after it completed");
            std::uint8_t s = chan_->refresh(waiter_, cx.waker());
            if (s == detail::Waiter::Granted) return Ready(finish_at(chan_->claim()));
            if (s == detail::Waiter::Closed) return Ready(fail());
            return Pending;
        }

        /// Gives up (as if dropped) and returns the value, if it was not sent.
        std::optional<T> cancel() {
            if (phase_ == Phase::Done) return std::nullopt;
            if (phase_ == Phase::Waiting) chan_->cancel(waiter_);
            phase_ = Phase::Done;
            return std::optional<T>(std::move(value_));
        }

    private:
        enum class Phase : std::uint8_t { Start, Waiting, Done };

        Output finish_at(std::uint32_t pos) {
            phase_ = Phase::Done;
            chan_->write(pos, std::move(value_));
            return {};
        }
        Output fail() {
            phase_ = Phase::Done;
            return std::unexpected(SendError<T>{std::move(value_)});
        }

        Chan* chan_;
        T value_;
        detail::Waiter waiter_;
        Phase phase_ = Phase::Start;
    };

    /// Sends `value`, waiting while the channel is full. Waiting senders are
    /// served in FIFO order. Fails, giving the value back in SendError, when
    /// the receiver is closed or dropped.
    ///
    /// Cancellation: dropping the future before it completes destroys the
    /// value (use send_timeout or reserve to get it back) and gives up its
    /// place in the queue; a slot it had already been granted goes to the
    /// next waiting sender. The Sender must outlive the future.
    Send send(T value) { return Send(chan_, std::move(value)); }

    /// Sends `value` if a slot is free now and no sender is queued for one.
    /// Never waits. Errors, with the value back: Full, or Closed when the
    /// receiver is closed or dropped.
    std::expected<void, TrySendError<T>> try_send(T value) {
        std::uint32_t pos = 0;
        detail::Acquire a = chan_->try_claim(pos);
        if (a == detail::Acquire::Acquired) {
            chan_->write(pos, std::move(value));
            return {};
        }
        TrySendErrorKind kind = a == detail::Acquire::Closed ? TrySendErrorKind::Closed : TrySendErrorKind::Full;
        return std::unexpected(TrySendError<T>{kind, std::move(value)});
    }

    /// The future of reserve().
    class CORIO_NODISCARD_FUTURE Reserve {
    public:
        using Output = std::expected<Permit<T>, Closed>;
        explicit Reserve(Chan* chan) noexcept : chan_(chan) {}
        /// Only before the first poll (futures are not moved once polled).
        Reserve(Reserve&& other) noexcept : chan_(other.chan_), phase_(std::exchange(other.phase_, Phase::Done)) {}
        Reserve(const Reserve&) = delete;
        Reserve& operator=(const Reserve&) = delete;
        ~Reserve() {
            if (phase_ == Phase::Waiting) chan_->cancel(waiter_);
        }

        Poll<Output> poll(Context& cx) {
            if (!corio::detail::poll_proceed(cx)) return Pending;
            detail::Acquire a;
            if (phase_ == Phase::Start) {
                a = chan_->try_acquire_permit();
                if (a == detail::Acquire::Queued) a = chan_->acquire_slow(waiter_, cx.waker());
            } else if (phase_ == Phase::Waiting) {
                std::uint8_t s = chan_->refresh(waiter_, cx.waker());
                a = s == detail::Waiter::Granted  ? detail::Acquire::Acquired
                    : s == detail::Waiter::Closed ? detail::Acquire::Closed
                                                  : detail::Acquire::Queued;
            } else {
                throw std::logic_error("corio::mpsc::Sender::reserve polled after it completed");
            }
            if (a == detail::Acquire::Queued) {
                phase_ = Phase::Waiting;
                return Pending;
            }
            phase_ = Phase::Done;
            if (a == detail::Acquire::Closed) return Ready(Output(std::unexpect, Closed{}));
            return Ready(Output(std::in_place, Permit<T>(chan_)));
        }

    private:
        enum class Phase : std::uint8_t { Start, Waiting, Done };
        Chan* chan_;
        detail::Waiter waiter_;
        Phase phase_ = Phase::Start;
    };

    /// Waits for a free slot (FIFO among waiting senders) and reserves it:
    /// the Permit fills it later without waiting. Fails with Closed when the
    /// receiver is closed or dropped. Cancellation-safe: a future dropped
    /// before it completed holds nothing (a slot granted to it just then
    /// goes to the next waiter). The Sender must outlive the future.
    Reserve reserve() noexcept { return Reserve(chan_); }

    /// Reserves a slot if one is free now and no sender is queued. Errors:
    /// Full, or Closed when the receiver is closed or dropped.
    std::expected<Permit<T>, TryReserveError> try_reserve() {
        detail::Acquire a = chan_->try_acquire_permit();
        if (a == detail::Acquire::Acquired) return Permit<T>(chan_);
        return std::unexpected(a == detail::Acquire::Closed ? TryReserveError::Closed : TryReserveError::Full);
    }

    /// The future of send_timeout().
    class CORIO_NODISCARD_FUTURE SendTimeout {
    public:
        using Output = std::expected<void, SendTimeoutError<T>>;
        SendTimeout(Chan* chan, T value, time::Instant deadline) : send_(chan, std::move(value)), delay_(deadline) {}

        Poll<Output> poll(Context& cx) {
            Poll<typename Send::Output> r = send_.poll(cx);
            if (r.is_ready()) {
                if (r->has_value()) return Ready(Output());
                return Ready(Output(std::unexpect,
                                    SendTimeoutError<T>{SendTimeoutErrorKind::Closed, std::move(r->error().value)}));
            }
            if (delay_.poll(cx).is_pending()) return Pending;
            std::optional<T> back = send_.cancel();
            if (!back) throw std::logic_error("corio::mpsc::Sender::send_timeout polled after it completed");
            return Ready(Output(std::unexpect, SendTimeoutError<T>{SendTimeoutErrorKind::Timeout, std::move(*back)}));
        }

    private:
        Send send_;
        time::Sleep delay_;
    };

    /// Like send(), but gives up after `timeout` (measured from this call,
    /// on the runtime's clock): the error then says Timeout and holds the
    /// value back. Needs a runtime with timers when it has to wait.
    /// Cancellation: dropping it destroys the value and gives up its queue
    /// place (a slot granted to it goes to the next waiter).
    template <class Rep, class Period>
    SendTimeout send_timeout(T value, std::chrono::duration<Rep, Period> timeout) {
        return SendTimeout(chan_, std::move(value), time::Instant::now() + timeout);
    }

    /// Free slots now (max_capacity() minus buffered values and outstanding permits).
    std::size_t capacity() const noexcept { return chan_->free_permits(); }

    /// The capacity the channel was created with.
    std::size_t max_capacity() const noexcept { return chan_->max_capacity(); }

    /// True when both send on the same channel.
    bool same_channel(const Sender& other) const noexcept { return chan_ == other.chan_; }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(std::size_t);
    explicit Sender(Chan* chan) noexcept : detail::SenderBase<Chan>(chan) {}
};

// ---- Receiver ---------------------------------------------------------------------------

/// The receiving half of a bounded channel. Move-only. Dropping it closes
/// the channel (senders fail from then on) and destroys the values still
/// buffered.
template <class T>
class Receiver : public detail::ReceiverBase<detail::BoundedChan<T>, T> {
public:
    /// The capacity the channel was created with.
    std::size_t max_capacity() const noexcept { return this->chan_->max_capacity(); }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(std::size_t);
    explicit Receiver(detail::BoundedChan<T>* chan) noexcept : detail::ReceiverBase<detail::BoundedChan<T>, T>(chan) {}
};

/// Creates a bounded channel holding at most `capacity` values (one
/// allocation for the shared state and one for the ring). Throws
/// std::invalid_argument when `capacity` is 0 or above 2^29 - 1.
template <class T>
std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity) {
    if (capacity == 0) throw std::invalid_argument("corio::mpsc::channel: capacity must be at least 1");
    if (capacity > detail::word::kMaxPermits)
        throw std::invalid_argument("corio::mpsc::channel: capacity must be below 2^29");
    auto* chan = new detail::BoundedChan<T>(capacity);
    return {Sender<T>(chan), Receiver<T>(chan)};
}

static_assert(Future<Receiver<int>::Recv>);
static_assert(Future<Sender<int>::Send>);
static_assert(Future<Sender<int>::Reserve>);
static_assert(Future<Sender<int>::SendTimeout>);

}  // namespace corio::sync::mpsc
