// UnixListener and UnixStream: Unix-domain stream sockets over the reactor,
// and the conversions between paths and sockaddr_un.
//
// A connecting socket is registered with the reactor only after connect()
// has succeeded: an unconnected stream socket polls as EPOLLHUP, and that
// readiness must never be recorded for the stream that follows.
#include "corio/net/unix.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "net/socket_ops.hpp"

namespace corio::net {
namespace {

/// A sockaddr_un and the length that goes with it.
struct UnixAddr {
    sockaddr_un sun{};
    socklen_t len = 0;
    const sockaddr* as_sockaddr() const noexcept { return reinterpret_cast<const sockaddr*>(&sun); }
};

constexpr std::size_t kPathOffset = offsetof(sockaddr_un, sun_path);

// A path names a file (no NUL inside, room left for the terminator) or, when
// it begins with '\0', an abstract socket (its length is the address length).
io::Result<UnixAddr> to_unix_addr(std::string_view path) {
    UnixAddr addr;
    addr.sun.sun_family = AF_UNIX;
    bool abstract = !path.empty() && path.front() == '\0';
    std::size_t room = sizeof addr.sun.sun_path - (abstract ? 0 : 1);
    if (path.empty() || path.size() > room) return io::error(std::errc::invalid_argument);
    if (path.find('\0', abstract ? 1 : 0) != std::string_view::npos) return io::error(std::errc::invalid_argument);
    std::memcpy(addr.sun.sun_path, path.data(), path.size());
    addr.len = static_cast<socklen_t>(kPathOffset + path.size() + (abstract ? 0 : 1));
    return addr;
}

// The inverse of to_unix_addr; "" for an unnamed socket.
std::string path_of(const sockaddr_un& sun, socklen_t len) {
    if (len <= static_cast<socklen_t>(kPathOffset)) return {};
    std::size_t n = static_cast<std::size_t>(len) - kPathOffset;
    if (sun.sun_path[0] == '\0') return std::string(sun.sun_path, n);  // abstract: every byte counts
    return std::string(sun.sun_path, ::strnlen(sun.sun_path, n));
}

io::Result<std::string> sockname(int fd, bool peer) {
    sockaddr_un sun{};
    socklen_t len = sizeof sun;
    int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&sun), &len)
                  : ::getsockname(fd, reinterpret_cast<sockaddr*>(&sun), &len);
    if (rc < 0) return io::last_os_error();
    return path_of(sun, len);
}

io::Result<int> new_socket() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return io::last_os_error();
    return fd;
}

}  // namespace

// ---- UnixStream ----------------------------------------------------------------

io::Result<UnixStream> UnixStream::from_fd(int fd) {
    auto io = corio::detail::PollEvented::adopt(fd);
    if (!io) return std::unexpected(io.error());
    return UnixStream(std::move(*io));
}

io::Result<std::pair<UnixStream, UnixStream>> UnixStream::pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) return io::last_os_error();
    auto first = from_fd(fds[0]);
    if (!first) {
        ::close(fds[1]);
        return std::unexpected(first.error());
    }
    auto second = from_fd(fds[1]);
    if (!second) return std::unexpected(second.error());
    return std::pair<UnixStream, UnixStream>(std::move(*first), std::move(*second));
}

Poll<io::Result<UnixStream>> UnixStream::poll_connect(Context& cx, const std::string& path, ConnectState& state) {
    using Out = io::Result<UnixStream>;
    if (!state.started) {
        state.started = true;
        auto addr = to_unix_addr(path);
        if (!addr) return Ready(Out(std::unexpected(addr.error())));
        auto fd = new_socket();
        if (!fd) return Ready(Out(std::unexpected(fd.error())));
        int rc;
        do {
            rc = ::connect(*fd, addr->as_sockaddr(), addr->len);
        } while (rc < 0 && errno == EINTR);
        // Linux completes a Unix connect at once (or fails with EAGAIN when
        // the backlog is full); EINPROGRESS is handled for other kernels.
        if (rc < 0 && errno != EINPROGRESS) {
            auto err = io::last_os_error();
            ::close(*fd);
            return Ready(Out(err));
        }
        auto io = corio::detail::PollEvented::adopt(*fd);
        if (!io) return Ready(Out(std::unexpected(io.error())));
        if (rc == 0) return Ready(Out(UnixStream(std::move(*io))));
        state.io = std::move(*io);
    }
    auto ready = state.io.poll_ready(cx, corio::detail::Direction::Write);
    if (ready.is_pending()) return Pending;
    if (!*ready) return Ready(Out(std::unexpected(ready->error())));
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(state.io.fd(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) return Ready(Out(io::last_os_error()));
    if (err != 0) return Ready(Out(std::unexpected(std::error_code(err, std::generic_category()))));
    return Ready(Out(UnixStream(std::move(state.io))));
}

Poll<io::Result<std::size_t>> UnixStream::poll_read(Context& cx, std::span<std::byte> buf) {
    return io_.poll_read_stream(cx, buf);
}

Poll<io::Result<std::size_t>> UnixStream::poll_peek(Context& cx, std::span<std::byte> buf) {
    return io_.poll_peek_stream(cx, buf);
}

Poll<io::Result<std::size_t>> UnixStream::poll_write(Context& cx, std::span<const std::byte> buf) {
    return io_.poll_write_stream(cx, buf);
}

io::Result<void> UnixStream::shutdown(int how) noexcept { return io_.shutdown_stream(how); }

io::Result<std::string> UnixStream::local_addr() const { return sockname(io_.fd(), false); }
io::Result<std::string> UnixStream::peer_addr() const { return sockname(io_.fd(), true); }

io::Result<UCred> UnixStream::peer_cred() const noexcept {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(io_.fd(), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return io::last_os_error();
    return UCred{cred.pid, cred.uid, cred.gid};
}

io::Result<std::error_code> UnixStream::take_error() const noexcept {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(io_.fd(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) return io::last_os_error();
    return std::error_code(err, std::generic_category());
}

std::pair<UnixStream::OwnedReadHalf, UnixStream::OwnedWriteHalf> UnixStream::into_split() && {
    auto shared = std::make_shared<UnixStream>(std::move(*this));
    return {OwnedReadHalf(shared), OwnedWriteHalf(shared)};
}

// ---- UnixListener -----------------------------------------------------------------

io::Result<UnixListener> UnixListener::bind(std::string_view path, int backlog) {
    auto addr = to_unix_addr(path);
    if (!addr) return std::unexpected(addr.error());
    auto fd = new_socket();
    if (!fd) return std::unexpected(fd.error());
    if (::bind(*fd, addr->as_sockaddr(), addr->len) < 0 || ::listen(*fd, backlog) < 0) {
        auto err = io::last_os_error();
        ::close(*fd);
        return err;
    }
    auto io = corio::detail::PollEvented::adopt(*fd);
    if (!io) return std::unexpected(io.error());
    return UnixListener(std::move(*io));
}

Poll<io::Result<std::pair<UnixStream, std::string>>> UnixListener::poll_accept(Context& cx,
                                                                               corio::detail::IoWaiter* waiter) {
    using Out = io::Result<std::pair<UnixStream, std::string>>;
    sockaddr_un sun{};
    socklen_t len = sizeof sun;
    int lfd = io_.fd();
    auto accept_one = [&] {
        len = sizeof sun;
        return ::accept4(lfd, reinterpret_cast<sockaddr*>(&sun), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    };
    auto r = io_.poll_io(cx, corio::detail::Direction::Read, accept_one, 0, waiter);
    if (r.is_pending()) return Pending;
    if (!*r) return Ready(Out(std::unexpected(r->error())));
    std::string peer = path_of(sun, len);
    auto stream = UnixStream::from_fd(**r);
    if (!stream) return Ready(Out(std::unexpected(stream.error())));
    return Ready(Out(std::in_place, std::move(*stream), std::move(peer)));
}

io::Result<std::string> UnixListener::local_addr() const { return sockname(io_.fd(), false); }

}  // namespace corio::net
