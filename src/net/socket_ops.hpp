// Pieces the socket implementations share: reading an inet socket's
// addresses. (A system call's byte count: corio::detail::byte_count.)
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>

#include "corio/io/core.hpp"
#include "corio/net/socket_addr.hpp"

namespace corio::net::detail {

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
