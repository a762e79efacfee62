// Pieces every socket type shares: turning a system call's ssize_t into a
// byte count, reading an inet socket's addresses, and the write-all /
// read-exact loops over a stream's poll_write / poll_read.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <span>

#include "corio/io.hpp"
#include "corio/net/socket_addr.hpp"

namespace corio::net::socket_ops {

/// A byte count from a system call's ssize_t result.
inline Poll<io::Result<std::size_t>> byte_count(Poll<io::Result<ssize_t>> r) {
    if (r.is_pending()) return Pending;
    if (!*r) return Ready(io::Result<std::size_t>(std::unexpected(r->error())));
    return Ready(io::Result<std::size_t>(static_cast<std::size_t>(**r)));
}

/// The local (or, with `peer`, the remote) address of an inet socket.
inline io::Result<SocketAddr> inet_sockname(int fd, bool peer) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                  : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    if (rc < 0) return io::last_os_error();
    return SocketAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

/// Writes `buf[done..]` through `stream.poll_write`; io::errc::write_zero if a write accepts nothing.
template <class Stream>
Poll<io::Result<void>> poll_write_all(Stream& stream, Context& cx, std::span<const std::byte> buf,
                                      std::size_t& done) {
    while (done < buf.size()) {
        auto r = stream.poll_write(cx, buf.subspan(done));
        if (r.is_pending()) return Pending;
        if (!*r) return Ready(io::Result<void>(std::unexpected(r->error())));
        if (**r == 0) return Ready(io::Result<void>(io::error(io::errc::write_zero)));
        done += **r;
    }
    return Ready(io::Result<void>());
}

/// Fills `buf[done..]` through `stream.poll_read`; io::errc::unexpected_eof if the stream ends first.
template <class Stream>
Poll<io::Result<void>> poll_read_exact(Stream& stream, Context& cx, std::span<std::byte> buf, std::size_t& done) {
    while (done < buf.size()) {
        auto r = stream.poll_read(cx, buf.subspan(done));
        if (r.is_pending()) return Pending;
        if (!*r) return Ready(io::Result<void>(std::unexpected(r->error())));
        if (**r == 0) return Ready(io::Result<void>(io::error(io::errc::unexpected_eof)));
        done += **r;
    }
    return Ready(io::Result<void>());
}

}  // namespace corio::net::socket_ops
