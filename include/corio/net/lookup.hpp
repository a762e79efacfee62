// Name resolution: net::lookup_host ("host:port" -> addresses, resolved with
// getaddrinfo on the blocking pool) and net::connect (resolve, then connect
// to the first address that accepts).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "corio/future.hpp"
#include "corio/io.hpp"
#include "corio/net/socket_addr.hpp"
#include "corio/net/tcp.hpp"
#include "corio/runtime.hpp"
#include "corio/task.hpp"

namespace corio::net {

/// The future of lookup_host(): every address the name resolves to.
///
/// A literal IP ("127.0.0.1:80", "[::1]:80") and an unparsable argument are
/// answered without the resolver. Otherwise the first poll starts
/// getaddrinfo on the current runtime's blocking pool (std::logic_error
/// outside a runtime). Cancellation-safe: dropping it abandons the lookup
/// (the pool thread finishes it and discards the answer).
class CORIO_NODISCARD_FUTURE LookupHost {
public:
    using Output = io::Result<std::vector<SocketAddr>>;

    /// The addresses, in the resolver's order (IPv4 and IPv6 mixed as it
    /// prefers), without duplicates. Errors: io::errc::host_not_found,
    /// io::errc::resolver_failure, operation_canceled (the runtime shut
    /// down), invalid_argument (from lookup_host's parsing).
    Poll<Output> poll(Context& cx);

private:
    friend LookupHost lookup_host(std::string_view host, std::uint16_t port);
    friend LookupHost lookup_host(std::string_view host_port);
    explicit LookupHost(Output ready) : ready_(std::move(ready)) {}
    LookupHost(std::string host, std::uint16_t port) : host_(std::move(host)), port_(port) {}

    std::optional<Output> ready_;  // answered without the resolver
    std::string host_;
    std::uint16_t port_ = 0;
    JoinHandle<Output> resolving_;  // the getaddrinfo call, once started
};

/// Resolves "host:port" ("example.com:443", "localhost:80", "[::1]:80",
/// "10.0.0.1:53") to socket addresses. The port is a decimal number; IPv6
/// literals need brackets. Error invalid_argument (from the future) when the
/// string has no port, a bad port or an empty host; names under the reserved
/// ".invalid" domain (RFC 6761) fail with host_not_found without a query;
/// the resolver's errors are those of LookupHost::poll. Nothing starts
/// before the first poll. Cancellation-safe: dropping the future abandons
/// the lookup (the pool thread finishes getaddrinfo and discards the
/// answer); nothing but the answer is lost.
LookupHost lookup_host(std::string_view host_port);

/// Resolves `host` (a name or a literal IP, without brackets) with `port`.
/// Error invalid_argument (from the future) when `host` is empty or holds a
/// NUL; ".invalid" names and the resolver's errors as lookup_host(host_port).
/// Nothing starts before the first poll. Cancellation-safe: dropping the
/// future abandons the lookup (the pool thread finishes getaddrinfo and
/// discards the answer); nothing but the answer is lost.
LookupHost lookup_host(std::string_view host, std::uint16_t port);

/// Resolves `host_port` like lookup_host, then connects to each address in
/// turn until one accepts. The result is the stream, or the error of the
/// last attempt (or of the lookup). Cancellation-safe: dropping it closes
/// any half-open socket.
Task<io::Result<TcpStream>> connect(std::string_view host_port);

}  // namespace corio::net
