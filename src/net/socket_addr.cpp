#include "corio/net/socket_addr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <ostream>

namespace corio::net {

std::ostream& operator<<(std::ostream& os, const SocketAddr& a) { return os << a.to_string(); }

SocketAddr::SocketAddr() noexcept { storage_.ss_family = AF_INET; }

io::Result<SocketAddr> SocketAddr::from_ip(std::string_view ip, std::uint16_t port) {
    char buf[INET6_ADDRSTRLEN + 1];
    if (ip.empty() || ip.size() >= sizeof buf) return io::error(std::errc::invalid_argument);
    std::memcpy(buf, ip.data(), ip.size());
    buf[ip.size()] = '\0';
    SocketAddr addr;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr.storage_);
    if (::inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return addr;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr.storage_);
    if (::inet_pton(AF_INET6, buf, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return addr;
    }
    return io::error(std::errc::invalid_argument);
}

io::Result<SocketAddr> SocketAddr::parse(std::string_view text) {
    std::string_view host;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return io::error(std::errc::invalid_argument);
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
        if (host.find(':') == std::string_view::npos) return io::error(std::errc::invalid_argument);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return io::error(std::errc::invalid_argument);
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return io::error(std::errc::invalid_argument);  // bare IPv6
    }
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port_text.empty() || port > 65535) {
        return io::error(std::errc::invalid_argument);
    }
    return from_ip(host, static_cast<std::uint16_t>(port));
}

io::Result<SocketAddr> SocketAddr::from_sockaddr(const sockaddr* sa, socklen_t len) {
    SocketAddr addr;
    if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        std::memcpy(&addr.storage_, sa, sizeof(sockaddr_in));
        return addr;
    }
    if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        std::memcpy(&addr.storage_, sa, sizeof(sockaddr_in6));
        return addr;
    }
    return io::error(std::errc::address_family_not_supported);
}

std::uint16_t SocketAddr::port() const noexcept {
    if (is_ipv6()) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
}

void SocketAddr::set_port(std::uint16_t port) noexcept {
    if (is_ipv6()) {
        reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
    } else {
        reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
    }
}

socklen_t SocketAddr::len() const noexcept {
    return is_ipv6() ? static_cast<socklen_t>(sizeof(sockaddr_in6)) : static_cast<socklen_t>(sizeof(sockaddr_in));
}

std::string SocketAddr::ip() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (is_ipv6()) {
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
    } else {
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
    }
    return buf;
}

std::string SocketAddr::to_string() const {
    std::string port_text = std::to_string(port());
    return is_ipv6() ? "[" + ip() + "]:" + port_text : ip() + ":" + port_text;
}

bool operator==(const SocketAddr& a, const SocketAddr& b) noexcept {
    if (a.family() != b.family()) return false;
    return std::memcmp(&a.storage_, &b.storage_, a.len()) == 0;
}

}  // namespace corio::net
