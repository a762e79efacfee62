// Readiness as the socket types report it (Tokio's `Interest` and `Ready`):
// what a task may wait for on a socket (io::Interest), and what a wait found
// (io::Readiness; Tokio's `Ready`, renamed because corio::Ready(value) already
// makes a ready Poll, and a type of that name in corio::io would hide it).
//
// Both are plain values. Readiness is a hint, never a promise: a socket
// reported readable may still have nothing to read (the operation then says
// "would block" and the next wait waits again), so code that waits for
// readiness always tries the operation and handles would-block.
#pragma once

#include <cstdint>

namespace corio::io {

/// What to wait for on a socket: Readable, Writable, or both
/// (`Interest::Readable | Interest::Writable`).
enum class Interest : std::uint8_t {
    Readable = 1,  ///< data, end of stream or an error can be read
    Writable = 2,  ///< data can be written, or the write side closed or failed
};

/// Both interests of `a` and `b`.
constexpr Interest operator|(Interest a, Interest b) noexcept {
    return static_cast<Interest>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}

/// True when `interest` includes Readable.
constexpr bool is_readable(Interest interest) noexcept {
    return (static_cast<std::uint8_t>(interest) & static_cast<std::uint8_t>(Interest::Readable)) != 0;
}

/// True when `interest` includes Writable.
constexpr bool is_writable(Interest interest) noexcept {
    return (static_cast<std::uint8_t>(interest) & static_cast<std::uint8_t>(Interest::Writable)) != 0;
}

/// The readiness a socket's `ready(interest)` reported (Tokio's `Ready`): a set of flags.
/// As in Tokio, `is_readable()` also holds once the read side closed, and
/// `is_writable()` once the write side closed, since the operation then
/// completes (with end of stream or an error) instead of waiting.
class Readiness {
public:
    /// No readiness.
    constexpr Readiness() noexcept = default;

    /// Single flags, combined with `|`.
    static constexpr Readiness readable() noexcept { return Readiness(kReadable); }
    static constexpr Readiness writable() noexcept { return Readiness(kWritable); }
    static constexpr Readiness read_closed() noexcept { return Readiness(kReadClosed); }
    static constexpr Readiness write_closed() noexcept { return Readiness(kWriteClosed); }
    static constexpr Readiness error() noexcept { return Readiness(kError); }

    constexpr Readiness operator|(Readiness other) const noexcept { return Readiness(bits_ | other.bits_); }
    constexpr bool operator==(const Readiness&) const noexcept = default;

    /// No flag is set.
    constexpr bool is_empty() const noexcept { return bits_ == 0; }
    /// A read would not wait: data, or end of stream (read_closed).
    constexpr bool is_readable() const noexcept { return (bits_ & (kReadable | kReadClosed)) != 0; }
    /// A write would not wait: room, or the write side closed (write_closed).
    constexpr bool is_writable() const noexcept { return (bits_ & (kWritable | kWriteClosed)) != 0; }
    /// The peer closed its write side (or the connection is gone): reads
    /// return end of stream once the buffered data is read.
    constexpr bool is_read_closed() const noexcept { return (bits_ & kReadClosed) != 0; }
    /// The connection can no longer be written to (hung up, or shut down).
    constexpr bool is_write_closed() const noexcept { return (bits_ & kWriteClosed) != 0; }
    /// The socket has a pending error, which the next operation (or
    /// take_error()) reports.
    constexpr bool is_error() const noexcept { return (bits_ & kError) != 0; }

private:
    static constexpr std::uint8_t kReadable = 1u << 0;
    static constexpr std::uint8_t kWritable = 1u << 1;
    static constexpr std::uint8_t kReadClosed = 1u << 2;
    static constexpr std::uint8_t kWriteClosed = 1u << 3;
    static constexpr std::uint8_t kError = 1u << 4;

    constexpr explicit Readiness(std::uint8_t bits) noexcept : bits_(bits) {}

    std::uint8_t bits_ = 0;
};

}  // namespace corio::io
