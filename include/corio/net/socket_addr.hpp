// SocketAddr: an IPv4 or IPv6 address with a port.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "corio/io.hpp"

namespace corio::net {

/// An IPv4 or IPv6 socket address. Parses "1.2.3.4:80" and "[::1]:80".
class SocketAddr {
public:
    /// 0.0.0.0:0
    SocketAddr() noexcept;

    /// Parses "ip:port" (IPv4) or "[ip]:port" (IPv6). Error: invalid_argument.
    static io::Result<SocketAddr> parse(std::string_view text);
    /// An address from a textual IP and a port. Error: invalid_argument.
    static io::Result<SocketAddr> from_ip(std::string_view ip, std::uint16_t port);
    /// From a sockaddr of family AF_INET or AF_INET6. Error: address_family_not_supported.
    static io::Result<SocketAddr> from_sockaddr(const sockaddr* sa, socklen_t len);

    bool is_ipv4() const noexcept { return storage_.ss_family == AF_INET; }
    bool is_ipv6() const noexcept { return storage_.ss_family == AF_INET6; }
    std::uint16_t port() const noexcept;
    void set_port(std::uint16_t port) noexcept;
    /// The IP part as text ("127.0.0.1", "::1").
    std::string ip() const;
    /// "127.0.0.1:80" or "[::1]:80".
    std::string to_string() const;

    const sockaddr* as_sockaddr() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    socklen_t len() const noexcept;
    int family() const noexcept { return storage_.ss_family; }

    friend bool operator==(const SocketAddr& a, const SocketAddr& b) noexcept;
    friend std::ostream& operator<<(std::ostream& os, const SocketAddr& a);

private:
    sockaddr_storage storage_{};
};

}  // namespace corio::net
