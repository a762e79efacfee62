// Pieces the socket implementations share: turning a system call's ssize_t
// into a byte count and reading an inet socket's addresses.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>

#include "corio/io/core.hpp"
#include "corio/net/socket_addr.hpp"

namespace corio::net::detail {

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

}  // namespace corio::net::detail
