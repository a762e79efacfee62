// UdpSocket: datagram I/O over the reactor. Each operation is one system call
// run by PollEvented::poll_io, which waits for readiness and retries after
// EAGAIN, so a datagram that arrives while a task waits is never missed; the
// operation futures wait through a waiter of their own (so several tasks may
// wait at once), the poll_* functions in the direction's slot. The try_*
// functions run the call once through PollEvented::try_io, never waiting.
#include "corio/net/udp.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/socket_ops.hpp"
#include "sim/network.hpp"

namespace corio::net {
namespace {

using RecvFromResult = io::Result<std::pair<std::size_t, SocketAddr>>;

/// A received datagram's length and the sender recvfrom stored in `ss`.
RecvFromResult with_sender(ssize_t n, const sockaddr_storage& ss, socklen_t len) {
    auto peer = SocketAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
    if (!peer) return std::unexpected(peer.error());
    return RecvFromResult(std::in_place, static_cast<std::size_t>(n), *peer);
}

using corio::sim::detail::SimDatagram;

SimDatagram* sim_datagram(const corio::detail::PollEvented& io) noexcept {
    return static_cast<SimDatagram*>(corio::sim::detail::sim_socket(io));  // a UDP registration is a SimDatagram
}

// recv(2) / recvfrom(2) (with `ss`), or the same on a simulated socket:
// -1 with errno EAGAIN when nothing waits.
ssize_t receive(const corio::detail::PollEvented& io, std::span<std::byte> buf, int flags, sockaddr_storage* ss,
                socklen_t* len) {
    SimDatagram* sim = sim_datagram(io);
    if (sim == nullptr) {
        if (ss == nullptr) return ::recv(io.fd(), buf.data(), buf.size(), flags);
        *len = sizeof *ss;
        return ::recvfrom(io.fd(), buf.data(), buf.size(), flags, reinterpret_cast<sockaddr*>(ss), len);
    }
    bool truncated = false;
    auto got = sim->recv(buf, (flags & MSG_PEEK) != 0, truncated);
    if (!got) {
        errno = EAGAIN;
        return -1;
    }
    if (ss != nullptr) {
        const SocketAddr& from = got->second->from;
        std::memcpy(ss, from.as_sockaddr(), from.len());
        *len = from.len();
    }
    return static_cast<ssize_t>((flags & MSG_TRUNC) != 0 ? got->second->bytes.size() : got->first);
}

// send(2) / sendto(2) (with `target`), or the same on a simulated socket.
ssize_t send_datagram(const corio::detail::PollEvented& io, std::span<const std::byte> buf, const SocketAddr* target) {
    SimDatagram* sim = sim_datagram(io);
    if (sim == nullptr) {
        if (target == nullptr) return ::send(io.fd(), buf.data(), buf.size(), MSG_NOSIGNAL);
        return ::sendto(io.fd(), buf.data(), buf.size(), MSG_NOSIGNAL, target->as_sockaddr(), target->len());
    }
    auto sent = sim->send_to(buf, target);
    if (!sent) {
        errno = sent.error().value();
        return -1;
    }
    return static_cast<ssize_t>(*sent);
}

}  // namespace

io::Result<UdpSocket> UdpSocket::bind(const SocketAddr& addr) {
    if (auto* net = corio::sim::detail::current_network()) {
        auto fd = net->bind_udp(addr);
        if (!fd) return std::unexpected(fd.error());
        return from_fd(*fd);
    }
    int fd = ::socket(addr.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return io::last_os_error();
    if (::bind(fd, addr.as_sockaddr(), addr.len()) < 0) {
        auto err = io::last_os_error();
        ::close(fd);
        return err;
    }
    return from_fd(fd);
}

io::Result<UdpSocket> UdpSocket::bind(std::string_view addr) {
    auto parsed = SocketAddr::parse(addr);
    if (!parsed) return std::unexpected(parsed.error());
    return bind(*parsed);
}

io::Result<UdpSocket> UdpSocket::from_fd(int fd) {
    auto io = corio::detail::PollEvented::adopt(fd);
    if (!io) return std::unexpected(io.error());
    return UdpSocket(std::move(*io));
}

io::Result<void> UdpSocket::connect(const SocketAddr& addr) noexcept {
    // A UDP connect only records the peer: it never blocks, so no readiness wait.
    if (SimDatagram* sim = sim_datagram(io_)) return sim->connect(addr);
    int rc;
    do {
        rc = ::connect(io_.fd(), addr.as_sockaddr(), addr.len());
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) return io::last_os_error();
    return {};
}

io::Result<void> UdpSocket::connect(std::string_view addr) noexcept {
    auto parsed = SocketAddr::parse(addr);
    if (!parsed) return std::unexpected(parsed.error());
    return connect(*parsed);
}

Poll<io::Result<std::size_t>> UdpSocket::poll_send(Context& cx, std::span<const std::byte> buf, Waiter* waiter) {
    auto send_one = [&] { return send_datagram(io_, buf, nullptr); };
    return corio::detail::byte_count(io_.poll_io(cx, corio::detail::Direction::Write, send_one, 0, waiter));
}

Poll<io::Result<std::size_t>> UdpSocket::poll_recv(Context& cx, std::span<std::byte> buf, Waiter* waiter) {
    auto recv_one = [&] { return receive(io_, buf, 0, nullptr, nullptr); };
    return corio::detail::byte_count(io_.poll_io(cx, corio::detail::Direction::Read, recv_one, 0, waiter));
}

Poll<io::Result<std::size_t>> UdpSocket::poll_send_to(Context& cx, std::span<const std::byte> buf,
                                                      const SocketAddr& target, Waiter* waiter) {
    auto send_one = [&] { return send_datagram(io_, buf, &target); };
    return corio::detail::byte_count(io_.poll_io(cx, corio::detail::Direction::Write, send_one, 0, waiter));
}

Poll<RecvFromResult> UdpSocket::poll_recv_from_flags(Context& cx, std::span<std::byte> buf, int flags, Waiter* waiter) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    auto recv_one = [&] { return receive(io_, buf, flags, &ss, &len); };
    auto r = io_.poll_io(cx, corio::detail::Direction::Read, recv_one, 0, waiter);
    if (r.is_pending()) return Pending;
    if (!*r) return Ready(RecvFromResult(std::unexpected(r->error())));
    return Ready(with_sender(**r, ss, len));
}

Poll<io::Result<DatagramInfo>> UdpSocket::poll_recv_datagram(Context& cx, std::span<std::byte> buf, Waiter* waiter) {
    // With MSG_TRUNC, recvfrom returns the datagram's real length even when
    // it copied less.
    auto r = poll_recv_from_flags(cx, buf, MSG_TRUNC, waiter);
    if (r.is_pending()) return Pending;
    if (!*r) return Ready(io::Result<DatagramInfo>(std::unexpected(r->error())));
    auto [wire_len, peer] = **r;
    return Ready(io::Result<DatagramInfo>(DatagramInfo{std::min(wire_len, buf.size()), wire_len, peer}));
}

// ---- without waiting -------------------------------------------------------------

io::Result<std::size_t> UdpSocket::try_recv(std::span<std::byte> buf) {
    return corio::detail::byte_count(
        io_.try_io(corio::detail::Direction::Read, [&] { return receive(io_, buf, 0, nullptr, nullptr); }));
}

io::Result<std::size_t> UdpSocket::try_send(std::span<const std::byte> buf) {
    return corio::detail::byte_count(
        io_.try_io(corio::detail::Direction::Write, [&] { return send_datagram(io_, buf, nullptr); }));
}

RecvFromResult UdpSocket::try_recv_from(std::span<std::byte> buf) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    auto r = io_.try_io(corio::detail::Direction::Read, [&] { return receive(io_, buf, 0, &ss, &len); });
    if (!r) return std::unexpected(r.error());
    return with_sender(*r, ss, len);
}

io::Result<std::size_t> UdpSocket::try_send_to(std::span<const std::byte> buf, const SocketAddr& target) {
    return corio::detail::byte_count(
        io_.try_io(corio::detail::Direction::Write, [&] { return send_datagram(io_, buf, &target); }));
}

io::Result<SocketAddr> UdpSocket::local_addr() const noexcept {
    if (SimDatagram* sim = sim_datagram(io_)) return sim->local_addr();
    return detail::inet_sockname(io_.fd(), false);
}

io::Result<SocketAddr> UdpSocket::peer_addr() const noexcept {
    if (SimDatagram* sim = sim_datagram(io_)) {
        if (!sim->peer()) return io::error(std::errc::not_connected);
        return *sim->peer();
    }
    return detail::inet_sockname(io_.fd(), true);
}

io::Result<void> UdpSocket::set_broadcast(bool on) noexcept {
    if (sim_datagram(io_) != nullptr) return {};  // the simulated network has no broadcast address to reach
    int v = on ? 1 : 0;
    if (::setsockopt(io_.fd(), SOL_SOCKET, SO_BROADCAST, &v, sizeof v) < 0) return io::last_os_error();
    return {};
}

io::Result<bool> UdpSocket::broadcast() const noexcept {
    if (sim_datagram(io_) != nullptr) return false;
    int v = 0;
    socklen_t len = sizeof v;
    if (::getsockopt(io_.fd(), SOL_SOCKET, SO_BROADCAST, &v, &len) < 0) return io::last_os_error();
    return v != 0;
}

io::Result<std::error_code> UdpSocket::take_error() const noexcept {
    if (sim_datagram(io_) != nullptr) return std::error_code();
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(io_.fd(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) return io::last_os_error();
    return std::error_code(err, std::generic_category());
}

}  // namespace corio::net
