// mpsc errors: what the operations of both channel kinds return on failure.
//
// Invariant: an error of an operation that was handed a value (SendError,
// TrySendError, SendTimeoutError) holds that value back, so a failed send
// never loses or destroys it; the others (Closed, TryReserveError,
// TryRecvError) only say why.
#pragma once

namespace corio::sync::mpsc {

/// The error of send(): the receiver was closed or dropped; holds the value back.
template <class T>
struct SendError {
    T value;
};

/// The error of reserve() and of a closed channel when there is no value to
/// give back: the receiver was closed or dropped.
struct Closed {
    friend bool operator==(Closed, Closed) noexcept = default;
};

/// Why try_send failed.
enum class TrySendErrorKind {
    Full,    ///< no free slot now (or senders are queued for one)
    Closed,  ///< the receiver was closed or dropped
};

/// The error of try_send(): why, and the value back.
template <class T>
struct TrySendError {
    TrySendErrorKind kind;
    T value;
    bool is_full() const noexcept { return kind == TrySendErrorKind::Full; }
    bool is_closed() const noexcept { return kind == TrySendErrorKind::Closed; }
};

/// Why send_timeout failed.
enum class SendTimeoutErrorKind {
    Timeout,  ///< no slot freed before the timeout
    Closed,   ///< the receiver was closed or dropped
};

/// The error of send_timeout(): why, and the value back.
template <class T>
struct SendTimeoutError {
    SendTimeoutErrorKind kind;
    T value;
    bool is_timeout() const noexcept { return kind == SendTimeoutErrorKind::Timeout; }
    bool is_closed() const noexcept { return kind == SendTimeoutErrorKind::Closed; }
};

/// Why try_reserve failed.
enum class TryReserveError {
    Full,    ///< no free slot now (or senders are queued for one)
    Closed,  ///< the receiver was closed or dropped
};

/// Why try_recv returned no value.
enum class TryRecvError {
    Empty,         ///< nothing buffered now; some sender is still alive
    Disconnected,  ///< nothing buffered and nothing can come: every sender is gone, or close() was called
};

}  // namespace corio::sync::mpsc
