// Unix-domain stream sockets: UnixListener and UnixStream (and its owned halves).
//
// A socket is named by a path in the file system; a path that begins with
// '\0' names one in Linux's abstract namespace instead (no file, gone with
// the last socket). As with TCP, every operation returns io::Result, nothing
// throws for I/O errors and no write raises SIGPIPE (MSG_NOSIGNAL). Sockets
// must be created inside a runtime; creating one outside throws
// std::logic_error.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "corio/detail/poll_evented.hpp"
#include "corio/io.hpp"
#include "corio/net/detail/incoming.hpp"
#include "corio/net/detail/readiness.hpp"
#include "corio/net/detail/stream_ops.hpp"

namespace corio::net {

/// The credentials of the process at the other end of a Unix socket, as they
/// were when it connected (SO_PEERCRED).
struct UCred {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

/// A connected Unix-domain stream socket. AsyncRead + AsyncWrite.
///
/// Besides read() and write(), the readiness API of Tokio: readable(),
/// writable() and ready(interest) wait (any number of tasks at once) until
/// the socket may be ready, and try_read() / try_write() then transfer what
/// they can without waiting.
class UnixStream : public detail::StreamMethods<UnixStream>, public detail::ReadinessMethods<UnixStream> {
public:
    /// Connects to the listener bound at `path`. Errors:
    /// no_such_file_or_directory (nothing at `path`), connection_refused (no
    /// listener there), resource_unavailable_try_again (the listener's
    /// backlog is full, as in Tokio), invalid_argument (empty or too long a
    /// path). Cancellation-safe: dropping the future closes the socket.
    static auto connect(std::string_view path) {
        return detail::op_future<io::Result<UnixStream>>(
            [path = std::string(path), state = std::make_shared<ConnectState>()](Context& cx) {
                return poll_connect(cx, path, *state);
            });
    }
    /// A pair of streams connected to each other (socketpair).
    static io::Result<std::pair<UnixStream, UnixStream>> pair();
    /// Wraps a connected, non-blocking Unix stream socket (takes ownership; closes it on error).
    static io::Result<UnixStream> from_fd(int fd);

    UnixStream() noexcept = default;
    UnixStream(UnixStream&&) noexcept = default;
    UnixStream& operator=(UnixStream&&) noexcept = default;

    /// Shuts down the read, write or both halves (SHUT_RD / SHUT_WR / SHUT_RDWR).
    io::Result<void> shutdown(int how = SHUT_WR) noexcept;
    /// The path this end is bound to; "" when unnamed (the usual case for a
    /// connecting client or a socketpair).
    io::Result<std::string> local_addr() const;
    /// The path the peer is bound to ("" when unnamed).
    io::Result<std::string> peer_addr() const;
    /// The peer process's credentials.
    io::Result<UCred> peer_cred() const noexcept;
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

    using OwnedReadHalf = detail::OwnedReadHalf<UnixStream>;
    using OwnedWriteHalf = detail::OwnedWriteHalf<UnixStream>;
    /// Splits into halves that can be used from two tasks at once. Dropping
    /// the write half shuts the write direction down.
    std::pair<OwnedReadHalf, OwnedWriteHalf> into_split() &&;

    int native_handle() const noexcept { return io_.fd(); }

private:
    struct ConnectState {
        corio::detail::PollEvented io;
        bool started = false;
    };
    static Poll<io::Result<UnixStream>> poll_connect(Context& cx, const std::string& path, ConnectState& state);

    explicit UnixStream(corio::detail::PollEvented io) noexcept : io_(std::move(io)) {}
    friend class UnixListener;
    friend class detail::ReadinessMethods<UnixStream>;

    corio::detail::PollEvented io_;
};

/// A Unix-domain socket listening for connections at a path.
///
/// Like Tokio's, it neither removes an existing file at the path before
/// binding (bind fails with address_in_use) nor removes its own file when
/// destroyed: the owner unlinks the path.
class UnixListener {
public:
    /// Binds to `path` and listens. Errors: address_in_use (something exists
    /// at `path`), no_such_file_or_directory (a missing directory),
    /// permission_denied, invalid_argument (empty, too long for sockaddr_un,
    /// or holding '\0' anywhere but first).
    static io::Result<UnixListener> bind(std::string_view path, int backlog = 1024);

    UnixListener() noexcept = default;
    UnixListener(UnixListener&&) noexcept = default;
    UnixListener& operator=(UnixListener&&) noexcept = default;

    /// Waits for a connection: the stream and the peer's path ("" for the
    /// usual unnamed client). Several tasks may accept on one listener at
    /// once; each connection goes to one. Cancellation-safe: no connection is
    /// lost if the future is dropped.
    auto accept() {
        return detail::waiting_op_future<io::Result<std::pair<UnixStream, std::string>>>(
            io_, [this](Context& cx, corio::detail::IoWaiter* waiter) { return poll_accept(cx, waiter); });
    }
    /// accept() for hand-written futures: the task waits in the listener's
    /// single slot (the most recent waker wins).
    Poll<io::Result<std::pair<UnixStream, std::string>>> poll_accept(Context& cx) { return poll_accept(cx, nullptr); }

    /// The stream of incoming(); see there.
    using Incoming = detail::Incoming<UnixListener, UnixStream>;

    /// The accepted connections as a corio::Stream that never ends (as
    /// Tokio's TcpListenerStream): each connection, or an accept error as an
    /// error item (EMFILE, say; the stream goes on, so back off before the
    /// next poll). Borrows the listener, which must outlive it. Waits in the
    /// listener's single slot as poll_accept(). Cancellation-safe: no
    /// connection is lost when a stream::next on it is dropped.
    Incoming incoming() noexcept { return Incoming(*this); }

    /// The path it is bound to.
    io::Result<std::string> local_addr() const;
    int native_handle() const noexcept { return io_.fd(); }

private:
    explicit UnixListener(corio::detail::PollEvented io) noexcept : io_(std::move(io)) {}
    // With a `waiter`, waits in the registration's wait list; without, in its slot.
    Poll<io::Result<std::pair<UnixStream, std::string>>> poll_accept(Context& cx, corio::detail::IoWaiter* waiter);

    corio::detail::PollEvented io_;
};

static_assert(io::AsyncRead<UnixStream> && io::AsyncWrite<UnixStream>);
static_assert(io::AsyncRead<UnixStream::OwnedReadHalf> && io::AsyncWrite<UnixStream::OwnedWriteHalf>);

}  // namespace corio::net
