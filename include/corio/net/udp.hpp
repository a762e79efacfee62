// UDP: UdpSocket, a datagram socket bound to a local address.
//
// Datagram semantics: each receive takes exactly one datagram off the queue.
// When the datagram is longer than the buffer, the buffer is filled and the
// rest of that datagram is discarded: the receive returns the buffer's size
// (recv_datagram reports the datagram's real length so a caller can tell). A
// datagram of length 0 is a valid datagram, not an end of stream.
//
// As with TCP, every operation returns io::Result and nothing throws for I/O
// errors. A socket must be created inside a runtime (it registers with the
// runtime's reactor); creating one outside throws std::logic_error. Any
// number of tasks may send and receive on one socket at once (share it
// through a std::shared_ptr): each operation future waits in the socket's
// wait list, and each datagram goes to one receiver. The poll_* functions,
// for hand-written futures, keep one waiting task per direction instead (the
// most recent waker wins), as AsyncRead::poll_read does.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "corio/detail/poll_evented.hpp"
#include "corio/io.hpp"
#include "corio/net/detail/readiness.hpp"
#include "corio/net/socket_addr.hpp"

namespace corio::net {

/// What recv_datagram reports about the datagram it received.
struct DatagramInfo {
    std::size_t len = 0;       ///< bytes copied into the buffer
    std::size_t wire_len = 0;  ///< the datagram's own length; larger than `len` when it was truncated
    SocketAddr peer;           ///< the sender
    bool truncated() const noexcept { return wire_len > len; }
};

/// A UDP socket. Unconnected, it sends to and receives from any address
/// (send_to / recv_from); after connect() it has a default peer (send / recv)
/// and receives only that peer's datagrams.
///
/// Besides the awaitable operations, the readiness API of Tokio: readable(),
/// writable() and ready(interest) wait until the socket may be ready, and
/// try_recv() / try_send() / try_recv_from() / try_send_to() then run one
/// operation without waiting.
class UdpSocket : public detail::ReadinessMethods<UdpSocket> {
public:
    /// Binds a new socket to `addr` (port 0 picks an ephemeral port).
    /// Errors: address_in_use, address_not_available, permission_denied, ...
    static io::Result<UdpSocket> bind(const SocketAddr& addr);
    /// Binds to "ip:port" ("127.0.0.1:0", "[::1]:0"); invalid_argument if unparsable.
    static io::Result<UdpSocket> bind(std::string_view addr);
    /// Wraps a bound, non-blocking UDP socket (takes ownership; closes it on error).
    static io::Result<UdpSocket> from_fd(int fd);

    UdpSocket() noexcept = default;
    UdpSocket(UdpSocket&&) noexcept = default;
    UdpSocket& operator=(UdpSocket&&) noexcept = default;

    /// Sets the default peer for send/recv and filters received datagrams to
    /// those from `addr`. Synchronous (no packet is sent). Errors from the
    /// kernel (address_family_not_supported for a mismatched family, ...).
    io::Result<void> connect(const SocketAddr& addr) noexcept;
    /// connect() from "ip:port"; invalid_argument if unparsable.
    io::Result<void> connect(std::string_view addr) noexcept;

    /// Sends `buf` as one datagram to the connected peer; the byte count.
    /// Errors: destination_address_required when not connected,
    /// connection_refused when an earlier datagram drew an ICMP "port
    /// unreachable", message_size when `buf` exceeds the datagram limit.
    /// Cancellation-safe (a datagram is sent whole or not at all).
    auto send(std::span<const std::byte> buf) {
        return detail::waiting_op_future<io::Result<std::size_t>>(
            io_, [this, buf](Context& cx, Waiter* w) { return poll_send(cx, buf, w); });
    }
    /// Receives one datagram from the connected peer into `buf`; its length,
    /// at most `buf.size()` (a longer datagram is truncated). Errors:
    /// connection_refused (ICMP from the peer's host). Several tasks may
    /// receive at once; each datagram goes to one of them. Cancellation-safe.
    auto recv(std::span<std::byte> buf) {
        return detail::waiting_op_future<io::Result<std::size_t>>(
            io_, [this, buf](Context& cx, Waiter* w) { return poll_recv(cx, buf, w); });
    }
    /// Sends `buf` as one datagram to `target`; the byte count. Errors:
    /// message_size when `buf` exceeds the datagram limit, permission_denied
    /// for a broadcast address without set_broadcast(true),
    /// network_unreachable, ... Cancellation-safe (a datagram is sent whole
    /// or not at all).
    auto send_to(std::span<const std::byte> buf, SocketAddr target) {
        return detail::waiting_op_future<io::Result<std::size_t>>(
            io_, [this, buf, target](Context& cx, Waiter* w) { return poll_send_to(cx, buf, target, w); });
    }
    /// send_to() an "ip:port" target (a literal IP, no name lookup: see
    /// lookup_host). Errors: invalid_argument if `target` does not parse (on
    /// the first poll, nothing sent), else those of send_to(buf, SocketAddr).
    /// Cancellation-safe (a datagram is sent whole or not at all): a future
    /// dropped before it completed has sent nothing.
    auto send_to(std::span<const std::byte> buf, std::string_view target) {
        auto parsed = SocketAddr::parse(target);
        return detail::waiting_op_future<io::Result<std::size_t>>(
            io_, [this, buf, parsed](Context& cx, Waiter* w) -> Poll<io::Result<std::size_t>> {
                if (!parsed) return Ready(io::Result<std::size_t>(std::unexpected(parsed.error())));
                return poll_send_to(cx, buf, *parsed, w);
            });
    }
    /// Receives one datagram into `buf`: its length (truncated to
    /// `buf.size()`) and its sender. Several tasks may receive at once; each
    /// datagram goes to one of them. Cancellation-safe.
    auto recv_from(std::span<std::byte> buf) {
        return detail::waiting_op_future<io::Result<std::pair<std::size_t, SocketAddr>>>(
            io_, [this, buf](Context& cx, Waiter* w) { return poll_recv_from_flags(cx, buf, 0, w); });
    }
    /// Like recv_from, but leaves the datagram queued: the next receive gets
    /// it again. Cancellation-safe.
    auto peek_from(std::span<std::byte> buf) {
        return detail::waiting_op_future<io::Result<std::pair<std::size_t, SocketAddr>>>(
            io_, [this, buf](Context& cx, Waiter* w) { return poll_recv_from_flags(cx, buf, MSG_PEEK, w); });
    }
    /// Like recv_from, and also reports the datagram's real length, so a
    /// truncated datagram can be told apart (MSG_TRUNC). Cancellation-safe.
    auto recv_datagram(std::span<std::byte> buf) {
        return detail::waiting_op_future<io::Result<DatagramInfo>>(
            io_, [this, buf](Context& cx, Waiter* w) { return poll_recv_datagram(cx, buf, w); });
    }

    /// Receives one datagram from the connected peer without waiting: its
    /// length. Error std::errc::resource_unavailable_try_again (would block)
    /// when none is queued, which also clears the readiness so the next
    /// readable() waits; otherwise the errors of recv().
    io::Result<std::size_t> try_recv(std::span<std::byte> buf);
    /// Sends `buf` as one datagram to the connected peer without waiting.
    /// Error std::errc::resource_unavailable_try_again (would block) when the
    /// send buffer is full; otherwise the errors of send().
    io::Result<std::size_t> try_send(std::span<const std::byte> buf);
    /// Receives one datagram without waiting: its length and its sender.
    /// Error std::errc::resource_unavailable_try_again (would block) when
    /// none is queued; otherwise the errors of recv_from().
    io::Result<std::pair<std::size_t, SocketAddr>> try_recv_from(std::span<std::byte> buf);
    /// Sends `buf` as one datagram to `target` without waiting. Error
    /// std::errc::resource_unavailable_try_again (would block) when the send
    /// buffer is full; otherwise the errors of send_to().
    io::Result<std::size_t> try_send_to(std::span<const std::byte> buf, const SocketAddr& target);

    // For hand-written futures: each waits in the socket's single slot for
    // its direction (the most recent waker wins), so only one task at a time
    // may wait through them in each direction.
    Poll<io::Result<std::size_t>> poll_send(Context& cx, std::span<const std::byte> buf) {
        return poll_send(cx, buf, nullptr);
    }
    Poll<io::Result<std::size_t>> poll_recv(Context& cx, std::span<std::byte> buf) {
        return poll_recv(cx, buf, nullptr);
    }
    Poll<io::Result<std::size_t>> poll_send_to(Context& cx, std::span<const std::byte> buf, const SocketAddr& target) {
        return poll_send_to(cx, buf, target, nullptr);
    }
    Poll<io::Result<std::pair<std::size_t, SocketAddr>>> poll_recv_from(Context& cx, std::span<std::byte> buf) {
        return poll_recv_from_flags(cx, buf, 0, nullptr);
    }
    Poll<io::Result<std::pair<std::size_t, SocketAddr>>> poll_peek_from(Context& cx, std::span<std::byte> buf) {
        return poll_recv_from_flags(cx, buf, MSG_PEEK, nullptr);
    }
    Poll<io::Result<DatagramInfo>> poll_recv_datagram(Context& cx, std::span<std::byte> buf) {
        return poll_recv_datagram(cx, buf, nullptr);
    }

    /// The address the socket is bound to (with the port the kernel chose).
    io::Result<SocketAddr> local_addr() const noexcept;
    /// The connected peer; not_connected when connect() was not called.
    io::Result<SocketAddr> peer_addr() const noexcept;
    /// Allows sending to broadcast addresses (SO_BROADCAST).
    io::Result<void> set_broadcast(bool on) noexcept;
    io::Result<bool> broadcast() const noexcept;
    /// The pending socket error (SO_ERROR), cleared by reading it.
    io::Result<std::error_code> take_error() const noexcept;

    int native_handle() const noexcept { return io_.fd(); }

private:
    using Waiter = corio::detail::IoWaiter;
    friend class detail::ReadinessMethods<UdpSocket>;

    explicit UdpSocket(corio::detail::PollEvented io) noexcept : io_(std::move(io)) {}

    // With a `waiter` (embedded in an operation future), each waits in the
    // registration's wait list; without one, in the direction's slot.
    Poll<io::Result<std::size_t>> poll_send(Context& cx, std::span<const std::byte> buf, Waiter* waiter);
    Poll<io::Result<std::size_t>> poll_recv(Context& cx, std::span<std::byte> buf, Waiter* waiter);
    Poll<io::Result<std::size_t>> poll_send_to(Context& cx, std::span<const std::byte> buf, const SocketAddr& target,
                                               Waiter* waiter);
    Poll<io::Result<std::pair<std::size_t, SocketAddr>>> poll_recv_from_flags(Context& cx, std::span<std::byte> buf,
                                                                              int flags, Waiter* waiter);
    Poll<io::Result<DatagramInfo>> poll_recv_datagram(Context& cx, std::span<std::byte> buf, Waiter* waiter);

    corio::detail::PollEvented io_;
};

}  // namespace corio::net
