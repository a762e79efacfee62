// Tests of <corio/net/socket_addr.hpp>: parsing and printing IPv4 and IPv6
// socket addresses, the inputs that must be refused, and the conversions to
// and from sockaddr. Pure functions: no runtime needed.
#include "corio/net/socket_addr.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/un.h>

#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

namespace corio::net {
namespace {

SocketAddr parsed(std::string_view text) {
    auto addr = SocketAddr::parse(text);
    EXPECT_TRUE(addr.has_value()) << text << ": " << addr.error().message();
    return addr.value_or(SocketAddr());
}

TEST(SocketAddr, ParsesAndPrintsIpv4) {
    SocketAddr addr = parsed("127.0.0.1:8080");
    EXPECT_TRUE(addr.is_ipv4());
    EXPECT_FALSE(addr.is_ipv6());
    EXPECT_EQ(addr.family(), AF_INET);
    EXPECT_EQ(addr.ip(), "127.0.0.1");
    EXPECT_EQ(addr.port(), 8080);
    EXPECT_EQ(addr.to_string(), "127.0.0.1:8080");
    EXPECT_EQ(addr.len(), static_cast<socklen_t>(sizeof(sockaddr_in)));
}

TEST(SocketAddr, ParsesTheExtremePorts) {
    EXPECT_EQ(parsed("0.0.0.0:0").port(), 0);
    EXPECT_EQ(parsed("255.255.255.255:65535").port(), 65535);
    EXPECT_EQ(parsed("255.255.255.255:65535").to_string(), "255.255.255.255:65535");
}

TEST(SocketAddr, ParsesAndPrintsIpv6InBrackets) {
    SocketAddr addr = parsed("[::1]:443");
    EXPECT_TRUE(addr.is_ipv6());
    EXPECT_EQ(addr.family(), AF_INET6);
    EXPECT_EQ(addr.ip(), "::1");
    EXPECT_EQ(addr.port(), 443);
    EXPECT_EQ(addr.to_string(), "[::1]:443");
    EXPECT_EQ(addr.len(), static_cast<socklen_t>(sizeof(sockaddr_in6)));
}

TEST(SocketAddr, PrintsIpv6InItsCanonicalShortForm) {
    EXPECT_EQ(parsed("[2001:0db8:0000:0000:0000:0000:0000:0001]:80").to_string(), "[2001:db8::1]:80");
    EXPECT_EQ(parsed("[::]:0").to_string(), "[::]:0");
    EXPECT_EQ(parsed("[::ffff:10.0.0.1]:7").to_string(), "[::ffff:10.0.0.1]:7");
}

TEST(SocketAddr, PrintsThroughAnOstream) {
    std::ostringstream os;
    os << parsed("10.1.2.3:4") << ' ' << parsed("[fe80::2]:5");
    EXPECT_EQ(os.str(), "10.1.2.3:4 [fe80::2]:5");
}

TEST(SocketAddr, PrintedTextParsesBackToTheSameAddress) {
    for (std::string_view text : {"1.2.3.4:5", "[::1]:65535", "[2001:db8::8:800:200c:417a]:1"}) {
        SocketAddr addr = parsed(text);
        EXPECT_EQ(parsed(addr.to_string()), addr) << text;
    }
}

TEST(SocketAddr, RefusesInputsThatAreNotAnAddressWithAPort) {
    for (std::string_view text : {
             "",                 // empty
             "127.0.0.1",        // no port
             "127.0.0.1:",       // empty port
             ":80",              // no address
             "127.0.0.1:65536",  // port too large
             "127.0.0.1:99999999999",
             "127.0.0.1:-1",    // negative port
             "127.0.0.1:+80",   // signed port
             "127.0.0.1:8o",    // trailing garbage in the port
             "127.0.0.1:80 ",   // trailing space
             " 127.0.0.1:80",   // leading space
             "256.0.0.1:80",    // octet out of range
             "1.2.3:80",        // too few octets
             "localhost:80",    // a host name, not an address
             "garbage",         //
             "::1:80",          // bare IPv6 without brackets
             "::1",             //
             "[::1]",           // IPv6 without a port
             "[::1]:",          // empty port
             "[::1]80",         // no colon after the bracket
             "[::1:80",         // unclosed bracket
             "[]:80",           // empty brackets
             "[127.0.0.1]:80",  // IPv4 in brackets
             "[::1]:65536",     // port too large
             "[::g]:80",        // not hexadecimal
         }) {
        auto addr = SocketAddr::parse(text);
        ASSERT_FALSE(addr.has_value()) << '"' << text << "\" parsed as " << addr->to_string();
        EXPECT_EQ(addr.error(), std::errc::invalid_argument) << text;
    }
}

TEST(SocketAddr, BuildsFromAnIpAndAPort) {
    auto v4 = SocketAddr::from_ip("192.168.0.1", 53);
    ASSERT_TRUE(v4.has_value());
    EXPECT_EQ(v4->to_string(), "192.168.0.1:53");
    auto v6 = SocketAddr::from_ip("::1", 53);
    ASSERT_TRUE(v6.has_value());
    EXPECT_EQ(v6->to_string(), "[::1]:53");
    EXPECT_EQ(SocketAddr::from_ip("", 1).error(), std::errc::invalid_argument);
    EXPECT_EQ(SocketAddr::from_ip("[::1]", 1).error(), std::errc::invalid_argument);
    EXPECT_EQ(SocketAddr::from_ip("not an ip", 1).error(), std::errc::invalid_argument);
    EXPECT_EQ(SocketAddr::from_ip(std::string(100, '1'), 1).error(), std::errc::invalid_argument);
}

TEST(SocketAddr, DefaultIsTheUnspecifiedIpv4AddressWithPortZero) {
    SocketAddr addr;
    EXPECT_TRUE(addr.is_ipv4());
    EXPECT_EQ(addr.to_string(), "0.0.0.0:0");
}

TEST(SocketAddr, SetPortChangesOnlyThePort) {
    SocketAddr v4 = parsed("127.0.0.1:1");
    v4.set_port(65535);
    EXPECT_EQ(v4.to_string(), "127.0.0.1:65535");
    SocketAddr v6 = parsed("[::1]:1");
    v6.set_port(2);
    EXPECT_EQ(v6.to_string(), "[::1]:2");
}

TEST(SocketAddr, EqualityComparesFamilyAddressAndPort) {
    EXPECT_EQ(parsed("1.2.3.4:5"), parsed("1.2.3.4:5"));
    EXPECT_NE(parsed("1.2.3.4:5"), parsed("1.2.3.4:6"));
    EXPECT_NE(parsed("1.2.3.4:5"), parsed("1.2.3.5:5"));
    EXPECT_NE(parsed("[::ffff:1.2.3.4]:5"), parsed("1.2.3.4:5"));
    EXPECT_EQ(parsed("[::1]:5"), parsed("[0:0:0:0:0:0:0:1]:5"));
}

TEST(SocketAddr, ConvertsFromSockaddrOfEitherFamily) {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_port = htons(9);
    v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto a = SocketAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->to_string(), "127.0.0.1:9");

    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(10);
    v6.sin6_addr = in6addr_loopback;
    auto b = SocketAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->to_string(), "[::1]:10");
}

TEST(SocketAddr, RefusesASockaddrOfAnotherFamilyOrTooShort) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    EXPECT_EQ(SocketAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&un), sizeof un).error(),
              std::errc::address_family_not_supported);
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    EXPECT_EQ(SocketAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&v4), sizeof v4 - 1).error(),
              std::errc::address_family_not_supported);
}

TEST(SocketAddr, RoundTripsThroughItsSockaddr) {
    SocketAddr addr = parsed("[2001:db8::1]:1234");
    auto back = SocketAddr::from_sockaddr(addr.as_sockaddr(), addr.len());
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, addr);
}

}  // namespace
}  // namespace corio::net
