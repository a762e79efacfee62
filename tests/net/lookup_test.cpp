// Tests of <corio/net/lookup.hpp>: lookup_host on names (localhost, through
// getaddrinfo on the blocking pool), on literal addresses (answered without
// the resolver), on reserved ".invalid" names and on malformed "host:port"
// strings; and net::connect resolving a name and connecting to a listener.
//
// Nothing here needs a network: localhost comes from /etc/hosts, ".invalid"
// never reaches DNS. Every root is bounded by time::timeout on a real clock.
#include "corio/net/lookup.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <expected>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "corio/io.hpp"
#include "corio/net/socket_addr.hpp"
#include "corio/net/tcp.hpp"
#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"

namespace corio::net {
namespace {

using namespace std::chrono_literals;

constexpr auto kBound = 10s;

/// `root` under time::timeout(kBound).
template <class T>
Task<std::expected<T, time::Elapsed>> bounded(Task<T> root) {
    auto result = co_await time::timeout(kBound, std::move(root));
    co_return std::move(result);
}

/// Resolves `host_port` on a fresh runtime, bounded.
io::Result<std::vector<SocketAddr>> resolve(std::string_view host_port) {
    Runtime rt = Builder::new_current_thread().build();
    auto result = rt.block_on(time::timeout(kBound, lookup_host(host_port)));
    if (!result) {
        ADD_FAILURE() << "lookup_host(" << host_port << ") did not finish within the bound";
        return std::unexpected(std::make_error_code(std::errc::timed_out));
    }
    return std::move(*result);
}

TEST(LookupHost, LocalhostResolvesToLoopbackAddressesWithThePort) {
    auto addrs = resolve("localhost:80");
    ASSERT_TRUE(addrs.has_value()) << addrs.error().message();
    ASSERT_FALSE(addrs->empty());
    SocketAddr v4 = *SocketAddr::parse("127.0.0.1:80");
    SocketAddr v6 = *SocketAddr::parse("[::1]:80");
    for (const SocketAddr& a : *addrs) {
        EXPECT_TRUE(a == v4 || a == v6) << a;
    }
}

TEST(LookupHost, LiteralAddressesResolveToThemselves) {
    auto v4 = resolve("10.1.2.3:8080");
    ASSERT_TRUE(v4.has_value());
    EXPECT_EQ(*v4, std::vector<SocketAddr>{*SocketAddr::parse("10.1.2.3:8080")});
    auto v6 = resolve("[::1]:443");
    ASSERT_TRUE(v6.has_value());
    EXPECT_EQ(*v6, std::vector<SocketAddr>{*SocketAddr::parse("[::1]:443")});
}

TEST(LookupHost, TheHostAndPortFormResolvesLikeTheStringForm) {
    Runtime rt = Builder::new_current_thread().build();
    auto result = rt.block_on(time::timeout(kBound, lookup_host("localhost", 8443)));
    ASSERT_TRUE(result.has_value());
    ASSERT_TRUE(result->has_value());
    ASSERT_FALSE((*result)->empty());
    for (const SocketAddr& a : **result) EXPECT_EQ(a.port(), 8443);
}

TEST(LookupHost, ANameUnderDotInvalidFailsWithHostNotFound) {
    for (std::string_view name : {"nonexistent.invalid:80", "INVALID:1", "a.b.Invalid.:443"}) {
        auto addrs = resolve(name);
        ASSERT_FALSE(addrs.has_value()) << name;
        EXPECT_EQ(addrs.error(), io::errc::host_not_found) << name << ": " << addrs.error().message();
    }
}

TEST(LookupHost, AMalformedHostPortIsInvalidArgument) {
    for (std::string_view text :
         {"no-port", "localhost:", ":80", "localhost:99999", "localhost:8x", "::1:80", "[::1]80", "[::1"}) {
        auto addrs = resolve(text);
        ASSERT_FALSE(addrs.has_value()) << text;
        EXPECT_EQ(addrs.error(), std::errc::invalid_argument) << text;
    }
}

TEST(LookupHost, HostNotFoundHasAReadableMessage) {
    std::error_code ec = io::errc::host_not_found;
    EXPECT_EQ(ec.message(), "host not found");
    EXPECT_STREQ(ec.category().name(), "corio.io");
}

TEST(LookupHost, ConnectResolvesTheNameAndConnectsToTheListener) {
    Runtime rt = Builder::new_current_thread().build();
    auto result = rt.block_on(bounded([]() -> Task<bool> {
        auto listener = TcpListener::bind("127.0.0.1:0");
        if (!listener) co_return false;
        std::uint16_t port = listener->local_addr()->port();
        auto accepted = spawn([](TcpListener* l) -> Task<bool> {
            auto conn = co_await l->accept();
            co_return conn.has_value();
        }(&*listener));
        // "localhost" may list ::1 first, where nothing listens: connect moves on.
        auto stream = co_await net::connect("localhost:" + std::to_string(port));
        if (!stream) {
            ADD_FAILURE() << stream.error().message();
            co_return false;
        }
        EXPECT_EQ(stream->peer_addr()->port(), port);
        co_return co_await std::move(accepted);
    }()));
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(*result);
}

TEST(LookupHost, ConnectReportsTheLookupError) {
    Runtime rt = Builder::new_current_thread().build();
    auto result = rt.block_on(time::timeout(kBound, net::connect("nonexistent.invalid:80")));
    ASSERT_TRUE(result.has_value());
    ASSERT_FALSE(result->has_value());
    EXPECT_EQ(result->error(), io::errc::host_not_found);
}

}  // namespace
}  // namespace corio::net
