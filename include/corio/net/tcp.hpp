// TCP: TcpListener and TcpStream (and its owned halves).
//
// Every operation returns io::Result; nothing throws for I/O errors and no
// operation raises SIGPIPE (writes use MSG_NOSIGNAL). Sockets must be created
// inside a runtime (they register with its reactor); creating one outside
// throws std::logic_error.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "corio/detail/poll_evented.hpp"
#include "corio/io.hpp"
#include "corio/net/detail/incoming.hpp"
#include "corio/net/detail/readiness.hpp"
#include "corio/net/detail/stream_ops.hpp"
#include "corio/net/socket_addr.hpp"

namespace corio::net {

class TcpStream;

/// A TCP stream between a local and a remote socket. AsyncRead + AsyncWrite.
///
/// Besides read() and write(), the readiness API of Tokio: readable(),
/// writable() and ready(interest) wait (any number of tasks at once) until
/// the socket may be ready, and try_read() / try_write() then transfer what
/// they can without waiting.
class TcpStream : public detail::StreamMethods<TcpStream>, public detail::ReadinessMethods<TcpStream> {
public:
    /// Connects to `addr`. Errors: connection_refused, timed_out, network_unreachable, ...
    /// Cancellation-safe: dropping the future closes the half-open socket.
    static auto connect(SocketAddr addr) {
        return detail::op_future<io::Result<TcpStream>>(
            [addr, state = std::make_shared<ConnectState>()](Context& cx) { return poll_connect(cx, addr, *state); });
    }
    /// Connects to "ip:port" ("127.0.0.1:80", "[::1]:80"; a literal IP, no
    /// name lookup: see net::connect for host names). Errors: invalid_argument
    /// if `addr` does not parse (on the first poll, nothing opened), else those
    /// of connect(SocketAddr). Cancellation-safe: dropping the future closes
    /// the half-open socket.
    static auto connect(std::string_view addr) {
        auto parsed = SocketAddr::parse(addr);
        return detail::op_future<io::Result<TcpStream>>(
            [parsed, state = std::make_shared<ConnectState>()](Context& cx) -> Poll<io::Result<TcpStream>> {
                if (!parsed) return Ready(io::Result<TcpStream>(std::unexpected(parsed.error())));
                return poll_connect(cx, *parsed, *state);
            });
    }

    TcpStream() noexcept = default;
    TcpStream(TcpStream&&) noexcept = default;
    TcpStream& operator=(TcpStream&&) noexcept = default;

    /// Shuts down the read, write or both halves (SHUT_RD / SHUT_WR / SHUT_RDWR).
    io::Result<void> shutdown(int how = SHUT_WR) noexcept;
    io::Result<void> set_nodelay(bool on) noexcept;
    io::Result<bool> nodelay() const noexcept;
    io::Result<SocketAddr> peer_addr() const noexcept;
    io::Result<SocketAddr> local_addr() const noexcept;
    /// The pending socket error (SO_ERROR), cleared by reading it.
    io::Result<std::error_code> take_error() const noexcept;

    /// Reads what has arrived into `buf`, without waiting: how many bytes, 0
    /// at end of stream. Error std::errc::resource_unavailable_try_again
    /// (would block) when nothing is available, which also clears the
    /// readiness so the next readable() waits; bad_file_descriptor when closed.
    io::Result<std::size_t> try_read(std::span<std::byte> buf) { return io_.try_read_stream(buf); }
    /// Writes what fits of `buf` into the send buffer, without waiting: how
    /// many bytes. Error std::errc::resource_unavailable_try_again (would
    /// block) when nothing fits, which also clears the readiness so the next
    /// writable() waits; broken_pipe or connection_reset once the peer has
    /// gone; bad_file_descriptor when closed.
    io::Result<std::size_t> try_write(std::span<const std::byte> buf) { return io_.try_write_stream(buf); }

    Poll<io::Result<std::size_t>> poll_read(Context& cx, std::span<std::byte> buf);
    Poll<io::Result<std::size_t>> poll_peek(Context& cx, std::span<std::byte> buf);
    Poll<io::Result<std::size_t>> poll_write(Context& cx, std::span<const std::byte> buf);
    /// Ready once what was written has reached the kernel (at once on epoll).
    Poll<io::Result<void>> poll_flush(Context& cx) { return io_.poll_flush_stream(cx); }
    /// Flushes, then shuts the write direction down.
    Poll<io::Result<void>> poll_shutdown(Context& cx) { return io_.poll_shutdown_stream(cx); }

    using OwnedReadHalf = detail::OwnedReadHalf<TcpStream>;
    using OwnedWriteHalf = detail::OwnedWriteHalf<TcpStream>;
    /// Splits into halves that can be used from two tasks at once. Dropping
    /// the write half shuts the write direction down.
    std::pair<OwnedReadHalf, OwnedWriteHalf> into_split() &&;

    int native_handle() const noexcept { return io_.fd(); }
    /// Wraps a connected, non-blocking TCP socket (takes ownership).
    static io::Result<TcpStream> from_fd(int fd);

private:
    struct ConnectState {
        corio::detail::PollEvented io;
        bool started = false;
    };
    static Poll<io::Result<TcpStream>> poll_connect(Context& cx, const SocketAddr& addr, ConnectState& state);

    explicit TcpStream(corio::detail::PollEvented io) noexcept : io_(std::move(io)) {}
    friend class TcpListener;
    friend class detail::ReadinessMethods<TcpStream>;

    corio::detail::PollEvented io_;
};

/// A TCP socket listening for connections.
class TcpListener {
public:
    /// Binds and listens (SO_REUSEADDR; port 0 picks an ephemeral port).
    /// Errors: address_in_use, permission_denied, invalid_argument (unparsable).
    static io::Result<TcpListener> bind(const SocketAddr& addr, int backlog = 1024);
    static io::Result<TcpListener> bind(std::string_view addr, int backlog = 1024);

    TcpListener() noexcept = default;
    TcpListener(TcpListener&&) noexcept = default;
    TcpListener& operator=(TcpListener&&) noexcept = default;

    /// Waits for a connection: the stream and the peer's address. Several
    /// tasks may accept on one listener at once; each connection goes to one.
    /// Cancellation-safe: no connection is lost if the future is dropped.
    auto accept() {
        return detail::waiting_op_future<io::Result<std::pair<TcpStream, SocketAddr>>>(
            io_, [this](Context& cx, corio::detail::IoWaiter* waiter) { return poll_accept(cx, waiter); });
    }
    /// accept() for hand-written futures: the task waits in the listener's
    /// single slot (the most recent waker wins).
    Poll<io::Result<std::pair<TcpStream, SocketAddr>>> poll_accept(Context& cx) { return poll_accept(cx, nullptr); }

    /// The stream of incoming(); see there.
    using Incoming = detail::Incoming<TcpListener, TcpStream>;

    /// The accepted connections as a corio::Stream that never ends (as
    /// Tokio's TcpListenerStream): each connection, or an accept error as an
    /// error item (EMFILE, say; the stream goes on, so back off before the
    /// next poll). Borrows the listener, which must outlive it. Waits in the
    /// listener's single slot as poll_accept(). Cancellation-safe: no
    /// connection is lost when a stream::next on it is dropped.
    Incoming incoming() noexcept { return Incoming(*this); }

    io::Result<SocketAddr> local_addr() const noexcept;
    int native_handle() const noexcept { return io_.fd(); }

private:
    explicit TcpListener(corio::detail::PollEvented io) noexcept : io_(std::move(io)) {}
    // With a `waiter`, waits in the registration's wait list; without, in its slot.
    Poll<io::Result<std::pair<TcpStream, SocketAddr>>> poll_accept(Context& cx, corio::detail::IoWaiter* waiter);

    corio::detail::PollEvented io_;
};

static_assert(io::AsyncRead<TcpStream> && io::AsyncWrite<TcpStream>);
static_assert(io::AsyncRead<TcpStream::OwnedReadHalf> && io::AsyncWrite<TcpStream::OwnedWriteHalf>);

}  // namespace corio::net
