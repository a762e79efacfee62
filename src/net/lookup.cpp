// net::lookup_host and net::connect: "host:port" parsing here, getaddrinfo
// on the blocking pool (it blocks, possibly for seconds, on DNS).
#include "corio/net/lookup.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <memory>
#include <utility>

#include "sim/network.hpp"

namespace corio::net {
namespace {

using Addresses = std::vector<SocketAddr>;

std::unexpected<std::error_code> resolver_error(int rc, int saved_errno) {
    switch (rc) {
        case EAI_NONAME:
#ifdef EAI_NODATA
        case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
        case EAI_ADDRFAMILY:
#endif
            return io::error(io::errc::host_not_found);
        case EAI_MEMORY:
            return io::error(std::errc::not_enough_memory);
        case EAI_SYSTEM:
            return std::unexpected(std::error_code(saved_errno, std::generic_category()));
        default:  // EAI_AGAIN, EAI_FAIL, ...
            return io::error(io::errc::resolver_failure);
    }
}

// Runs on a blocking-pool thread.
io::Result<Addresses> resolve(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;  // one entry per address rather than one per socket type
    addrinfo* list = nullptr;
    int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
    if (rc != 0) return resolver_error(rc, errno);
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(list, &::freeaddrinfo);

    Addresses out;
    for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
        auto addr = SocketAddr::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
        if (!addr) continue;  // neither IPv4 nor IPv6
        addr->set_port(port);
        if (std::find(out.begin(), out.end(), *addr) == out.end()) out.push_back(*addr);
    }
    if (out.empty()) return io::error(io::errc::host_not_found);
    return out;
}

// RFC 6761: "invalid" and its subdomains never resolve, and resolver APIs
// should say so at once instead of asking DNS (which may merely time out).
bool is_reserved_invalid(std::string_view host) {
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    constexpr std::string_view kInvalid = "invalid";
    if (host.size() < kInvalid.size()) return false;
    std::string_view tail = host.substr(host.size() - kInvalid.size());
    bool matches = std::equal(tail.begin(), tail.end(), kInvalid.begin(),
                              [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
    return matches && (host.size() == kInvalid.size() || host[host.size() - kInvalid.size() - 1] == '.');
}

}  // namespace

LookupHost lookup_host(std::string_view host, std::uint16_t port) {
    if (host.empty() || host.find('\0') != std::string_view::npos) {
        return LookupHost(io::Result<Addresses>(io::error(std::errc::invalid_argument)));
    }
    if (auto literal = SocketAddr::from_ip(host, port)) return LookupHost(Addresses{*literal});
    if (auto* net = corio::sim::detail::current_network()) {  // a simulation: its hosts are the names
        if (auto addr = net->resolve(host, port)) return LookupHost(Addresses{*addr});
        return LookupHost(io::Result<Addresses>(io::error(io::errc::host_not_found)));
    }
    if (is_reserved_invalid(host)) return LookupHost(io::Result<Addresses>(io::error(io::errc::host_not_found)));
    return LookupHost(std::string(host), port);
}

LookupHost lookup_host(std::string_view host_port) {
    auto invalid = [] { return LookupHost(io::Result<Addresses>(io::error(std::errc::invalid_argument))); };
    std::string_view host;
    std::string_view port_text;
    if (!host_port.empty() && host_port.front() == '[') {  // "[v6]:port"
        auto close = host_port.find(']');
        if (close == std::string_view::npos || close + 1 >= host_port.size() || host_port[close + 1] != ':') {
            return invalid();
        }
        host = host_port.substr(1, close - 1);
        port_text = host_port.substr(close + 2);
    } else {
        auto colon = host_port.rfind(':');
        if (colon == std::string_view::npos) return invalid();
        host = host_port.substr(0, colon);
        port_text = host_port.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return invalid();  // an IPv6 literal needs brackets
    }
    unsigned port = 0;
    const char* begin = port_text.data();  // from_chars takes [begin, end): no terminator needed
    const char* end = begin + port_text.size();
    auto [stop, ec] = std::from_chars(begin, end, port);
    if (port_text.empty() || ec != std::errc() || stop != end || port > 65535) return invalid();
    return lookup_host(host, static_cast<std::uint16_t>(port));
}

Poll<LookupHost::Output> LookupHost::poll(Context& cx) {
    if (ready_) return Ready(std::move(*ready_));
    if (!resolving_.valid()) {
        resolving_ = task::spawn_blocking([host = std::move(host_), port = port_] { return resolve(host, port); });
    }
    try {
        return resolving_.poll(cx);
    } catch (const JoinError&) {  // the runtime shut down before the lookup ran
        return Ready(Output(io::error(std::errc::operation_canceled)));
    }
}

namespace {
Task<io::Result<TcpStream>> connect_to(std::string host_port) {
    auto addresses = co_await lookup_host(host_port);
    if (!addresses) co_return std::unexpected(addresses.error());
    std::error_code last = io::make_error_code(io::errc::host_not_found);
    for (const SocketAddr& addr : *addresses) {
        auto stream = co_await TcpStream::connect(addr);
        if (stream) co_return std::move(stream);
        last = stream.error();
    }
    co_return std::unexpected(last);
}
}  // namespace

Task<io::Result<TcpStream>> connect(std::string_view host_port) { return connect_to(std::string(host_port)); }

}  // namespace corio::net
