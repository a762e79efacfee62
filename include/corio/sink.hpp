// Sinks: the writing counterpart of streams (Rust's futures::Sink), and the
// futures sink::send, send_all, flush and close.
//
// A sink accepts items in three steps so that several can be batched into
// one flush: poll_ready (room for one more item?), start_send (hand it
// over; it may only be buffered), poll_flush (push everything buffered
// out). poll_close flushes and then closes the underlying writer.
#pragma once

#include <concepts>
#include <expected>
#include <optional>
#include <utility>

#include "corio/future.hpp"
#include "corio/stream/core.hpp"

namespace corio {

/// A sink of `T` items with error type `S::Error`:
/// - `poll_ready(cx)`: Ready(ok) when start_send may be called, Pending
///   (waker stored) while the sink must flush first, or Ready(error).
/// - `start_send(item)`: hands one item over (only after poll_ready said ok).
/// - `poll_flush(cx)`: Ready(ok) once everything handed over was written out.
/// - `poll_close(cx)`: flushes, then closes; no item may be sent after.
/// A sink must not be moved while one of these returned Pending.
template <class S, class T>
concept Sink = requires(S& s, Context& cx, T&& item) {
    typename S::Error;
    { s.poll_ready(cx) } -> std::same_as<Poll<std::expected<void, typename S::Error>>>;
    { s.start_send(std::forward<T>(item)) } -> std::same_as<std::expected<void, typename S::Error>>;
    { s.poll_flush(cx) } -> std::same_as<Poll<std::expected<void, typename S::Error>>>;
    { s.poll_close(cx) } -> std::same_as<Poll<std::expected<void, typename S::Error>>>;
};

namespace sink {

/// The result of a sink operation on `S`.
template <class S>
using Result = std::expected<void, typename S::Error>;

/// The future of send(s, item); see there.
template <class S, class T>
class CORIO_NODISCARD_FUTURE Send {
public:
    using Output = Result<S>;
    Send(S& s, T item) : s_(&s), item_(std::move(item)) {}
    Poll<Output> poll(Context& cx) {
        if (item_) {
            auto ready = s_->poll_ready(cx);
            if (ready.is_pending()) return Pending;
            if (!*ready) return ready;
            auto sent = s_->start_send(std::move(*item_));
            item_.reset();
            if (!sent) return Ready(std::move(sent));
        }
        return s_->poll_flush(cx);
    }

private:
    S* s_;
    std::optional<T> item_;  // until handed to the sink
};

/// Sends one item and flushes it: Ready(ok) once it was written out, or the
/// sink's error. The sink must outlive the future. Not cancellation-safe
/// past the hand-over: dropped before the sink was ready, the item is lost
/// with the future (never half-sent); dropped after, the item is in the
/// sink's buffer and the next flush writes it.
template <class S, class T>
    requires Sink<S, std::decay_t<T>>
Send<S, std::decay_t<T>> send(S& s, T&& item) {
    return Send<S, std::decay_t<T>>(s, std::forward<T>(item));
}

/// The future of send_all(s, items); see there.
template <class S, class St>
class CORIO_NODISCARD_FUTURE SendAll {
    using Item = stream::item_t<St>;

public:
    using Output = Result<S>;
    SendAll(S& s, St&& items) : s_(&s), items_(std::forward<St>(items)) {}
    Poll<Output> poll(Context& cx) {
        for (;;) {
            if (buffered_) {
                auto ready = s_->poll_ready(cx);
                if (ready.is_pending()) return Pending;
                if (!*ready) return ready;
                auto sent = s_->start_send(std::move(*buffered_));
                buffered_.reset();
                if (!sent) return Ready(std::move(sent));
            }
            auto next = items_.poll_next(cx);
            if (next.is_pending()) {
                // Nothing more right now: push out what was handed over.
                auto flushed = s_->poll_flush(cx);
                if (flushed.is_ready() && !*flushed) return flushed;
                return Pending;
            }
            if (!*next) return s_->poll_flush(cx);
            buffered_.emplace(std::move(**next));
        }
    }

private:
    S* s_;
    St items_;
    std::optional<Item> buffered_;  // taken from the stream, waiting for poll_ready
};

/// Sends every item of `items` (a stream: an rvalue is owned, an lvalue
/// borrowed) and flushes, completing once the stream has ended and all was
/// written, or with the sink's first error. Items that are ready together
/// are handed over before one flush, so a framed writer batches them into
/// one write. Cancellation: dropping it loses the item taken from the
/// stream but not yet handed over; items handed over stay in the sink.
template <class S, stream::StreamRef St>
    requires Sink<S, stream::item_t<St>>
SendAll<S, St> send_all(S& s, St&& items) {
    return SendAll<S, St>(s, std::forward<St>(items));
}

/// The future of flush(s) and close(s); see there.
template <class S, bool kClose>
class CORIO_NODISCARD_FUTURE FlushOrClose {
public:
    using Output = Result<S>;
    explicit FlushOrClose(S& s) noexcept : s_(&s) {}
    Poll<Output> poll(Context& cx) {
        if constexpr (kClose) {
            return s_->poll_close(cx);
        } else {
            return s_->poll_flush(cx);
        }
    }

private:
    S* s_;
};

/// Writes out everything handed to `s`. Cancellation-safe: what was not
/// written yet stays buffered in the sink.
template <class S>
FlushOrClose<S, false> flush(S& s) noexcept {
    return FlushOrClose<S, false>(s);
}

/// Flushes `s`, then closes it (for a framed socket: shuts down writing, so
/// the peer reads end of stream). Cancellation-safe as flush.
template <class S>
FlushOrClose<S, true> close(S& s) noexcept {
    return FlushOrClose<S, true>(s);
}

}  // namespace sink
}  // namespace corio
