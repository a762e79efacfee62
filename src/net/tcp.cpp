#include "corio/net/tcp.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "net/socket_ops.hpp"
#include "sim/network.hpp"

namespace corio::net {
namespace {

using corio::sim::detail::current_network;
using corio::sim::detail::SimListener;
using corio::sim::detail::SimStream;

SimStream* sim_stream(const corio::detail::PollEvented& io) noexcept {
    return static_cast<SimStream*>(corio::sim::detail::sim_socket(io));  // a stream's registration is a SimStream
}

io::Result<int> new_socket(int family) {
    int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return io::last_os_error();
    return fd;
}

}  // namespace

// ---- TcpStream -----------------------------------------------------------------

io::Result<TcpStream> TcpStream::from_fd(int fd) {
    auto io = corio::detail::PollEvented::adopt(fd);
    if (!io) return std::unexpected(io.error());
    return TcpStream(std::move(*io));
}

Poll<io::Result<TcpStream>> TcpStream::poll_connect(Context& cx, const SocketAddr& addr, ConnectState& state) {
    if (!state.started && current_network() != nullptr) {
        state.started = true;
        auto fd = current_network()->connect(addr);
        if (!fd) return Ready(io::Result<TcpStream>(std::unexpected(fd.error())));
        auto io = corio::detail::PollEvented::adopt(*fd);
        if (!io) return Ready(io::Result<TcpStream>(std::unexpected(io.error())));
        state.io = std::move(*io);
    }
    if (!state.started) {
        state.started = true;
        auto fd = new_socket(addr.family());
        if (!fd) return Ready(io::Result<TcpStream>(std::unexpected(fd.error())));
        int rc;
        do {
            rc = ::connect(*fd, addr.as_sockaddr(), addr.len());
        } while (rc < 0 && errno == EINTR);
        if (rc < 0 && errno != EINPROGRESS) {
            auto err = io::last_os_error();
            ::close(*fd);
            return Ready(io::Result<TcpStream>(err));
        }
        // Registered only now: a socket not yet connecting polls as writable
        // and hung up, and that stale readiness must not reach the reactor.
        // (Registration reports the current state, so a connect that already
        // finished is seen.)
        auto io = corio::detail::PollEvented::adopt(*fd);
        if (!io) return Ready(io::Result<TcpStream>(std::unexpected(io.error())));
        state.io = std::move(*io);
        if (rc == 0) return Ready(io::Result<TcpStream>(TcpStream(std::move(state.io))));
    }
    // In progress: writable (or an error) means the handshake finished.
    auto ready = state.io.poll_ready(cx, corio::detail::Direction::Write);
    if (ready.is_pending()) return Pending;
    if (!*ready) return Ready(io::Result<TcpStream>(std::unexpected(ready->error())));
    if (SimStream* sim = sim_stream(state.io)) {
        if (auto err = sim->take_error()) return Ready(io::Result<TcpStream>(std::unexpected(err)));
        return Ready(io::Result<TcpStream>(TcpStream(std::move(state.io))));
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(state.io.fd(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        return Ready(io::Result<TcpStream>(io::last_os_error()));
    }
    if (err != 0) return Ready(io::Result<TcpStream>(std::unexpected(std::error_code(err, std::generic_category()))));
    return Ready(io::Result<TcpStream>(TcpStream(std::move(state.io))));
}

Poll<io::Result<std::size_t>> TcpStream::poll_read(Context& cx, std::span<std::byte> buf) {
    return io_.poll_read_stream(cx, buf);
}

Poll<io::Result<std::size_t>> TcpStream::poll_peek(Context& cx, std::span<std::byte> buf) {
    return io_.poll_peek_stream(cx, buf);
}

Poll<io::Result<std::size_t>> TcpStream::poll_write(Context& cx, std::span<const std::byte> buf) {
    return io_.poll_write_stream(cx, buf);
}

io::Result<void> TcpStream::shutdown(int how) noexcept { return io_.shutdown_stream(how); }

io::Result<void> TcpStream::set_nodelay(bool on) noexcept {
    if (sim_stream(io_) != nullptr) return {};  // a simulated segment is never delayed
    int v = on ? 1 : 0;
    if (::setsockopt(io_.fd(), IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0) return io::last_os_error();
    return {};
}

io::Result<bool> TcpStream::nodelay() const noexcept {
    if (sim_stream(io_) != nullptr) return true;
    int v = 0;
    socklen_t len = sizeof v;
    if (::getsockopt(io_.fd(), IPPROTO_TCP, TCP_NODELAY, &v, &len) < 0) return io::last_os_error();
    return v != 0;
}

io::Result<SocketAddr> TcpStream::peer_addr() const noexcept {
    if (SimStream* sim = sim_stream(io_)) return sim->peer_addr();
    return detail::inet_sockname(io_.fd(), true);
}

io::Result<SocketAddr> TcpStream::local_addr() const noexcept {
    if (SimStream* sim = sim_stream(io_)) return sim->local_addr();
    return detail::inet_sockname(io_.fd(), false);
}

io::Result<std::error_code> TcpStream::take_error() const noexcept {
    if (SimStream* sim = sim_stream(io_)) return sim->take_error();
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(io_.fd(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) return io::last_os_error();
    return std::error_code(err, std::generic_category());
}

std::pair<TcpStream::OwnedReadHalf, TcpStream::OwnedWriteHalf> TcpStream::into_split() && {
    auto shared = std::make_shared<TcpStream>(std::move(*this));
    return {OwnedReadHalf(shared), OwnedWriteHalf(shared)};
}

// ---- TcpListener ------------------------------------------------------------------

io::Result<TcpListener> TcpListener::bind(const SocketAddr& addr, int backlog) {
    if (current_network() != nullptr) {
        auto fd = current_network()->listen(addr);
        if (!fd) return std::unexpected(fd.error());
        auto io = corio::detail::PollEvented::adopt(*fd);
        if (!io) return std::unexpected(io.error());
        return TcpListener(std::move(*io));
    }
    auto fd = new_socket(addr.family());
    if (!fd) return std::unexpected(fd.error());
    int one = 1;
    ::setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(*fd, addr.as_sockaddr(), addr.len()) < 0 || ::listen(*fd, backlog) < 0) {
        auto err = io::last_os_error();
        ::close(*fd);
        return err;
    }
    auto io = corio::detail::PollEvented::adopt(*fd);
    if (!io) return std::unexpected(io.error());
    return TcpListener(std::move(*io));
}

io::Result<TcpListener> TcpListener::bind(std::string_view addr, int backlog) {
    auto parsed = SocketAddr::parse(addr);
    if (!parsed) return std::unexpected(parsed.error());
    return bind(*parsed, backlog);
}

Poll<io::Result<std::pair<TcpStream, SocketAddr>>> TcpListener::poll_accept(Context& cx,
                                                                            corio::detail::IoWaiter* waiter) {
    using Out = io::Result<std::pair<TcpStream, SocketAddr>>;
    if (auto* sim = static_cast<SimListener*>(corio::sim::detail::sim_socket(io_))) {
        for (;;) {
            if (auto conn = sim->accept()) {
                auto stream = TcpStream::from_fd(conn->first);
                if (!stream) return Ready(Out(std::unexpected(stream.error())));
                return Ready(Out(std::in_place, std::move(*stream), conn->second));
            }
            std::error_code error;
            if (waiter != nullptr) {
                auto ready =
                    io_.poll_ready(cx, corio::detail::readiness::mask_for(corio::detail::Direction::Read), *waiter);
                if (ready.is_pending()) return Pending;
                if (!*ready) error = ready->error();
            } else {
                auto ready = io_.poll_ready(cx, corio::detail::Direction::Read);
                if (ready.is_pending()) return Pending;
                if (!*ready) error = ready->error();
            }
            if (error) return Ready(Out(std::unexpected(error)));
        }
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int lfd = io_.fd();
    auto accept_one = [&] {
        len = sizeof ss;
        return ::accept4(lfd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    };
    auto r = io_.poll_io(cx, corio::detail::Direction::Read, accept_one, 0, waiter);
    if (r.is_pending()) return Pending;
    if (!*r) return Ready(Out(std::unexpected(r->error())));
    int fd = **r;
    auto peer = SocketAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    if (!peer) {
        ::close(fd);
        return Ready(Out(std::unexpected(peer.error())));
    }
    auto stream = TcpStream::from_fd(fd);
    if (!stream) return Ready(Out(std::unexpected(stream.error())));
    return Ready(Out(std::in_place, std::move(*stream), *peer));
}

io::Result<SocketAddr> TcpListener::local_addr() const noexcept {
    if (auto* sim = corio::sim::detail::sim_socket(io_)) return sim->local_addr();
    return detail::inet_sockname(io_.fd(), false);
}

}  // namespace corio::net
