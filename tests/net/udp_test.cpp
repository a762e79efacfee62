// Tests of <corio/net/udp.hpp>: UdpSocket on loopback. Datagrams sent with
// send_to arrive whole with their sender's address; a connected socket sends
// and receives with its default peer; an over-long datagram is truncated to
// the buffer (and recv_datagram says so); an ICMP "port unreachable" comes
// back as connection_refused; two tasks receiving on one socket at once each
// get a datagram.
//
// Every test runs on a fresh current_thread runtime on the real clock, its
// root bounded by time::timeout, on 127.0.0.1 / ::1 with ephemeral ports.
#include "corio/net/udp.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "corio/net/socket_addr.hpp"
#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/byte_streams.hpp"
#include "support/co_assert.hpp"
#include "support/counted.hpp"
#include "support/run_bounded.hpp"

namespace corio::net {
namespace {

using namespace std::chrono_literals;

using test::bytes_of;
using test::Counted;
using test::string_of;

/// Each test's root runs on a fresh current_thread runtime, bounded by 5 s.
constexpr test::RunBounded run_bounded{5s};

bool ipv6_loopback_available() {
    int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

/// An address on `ip` where nothing listens: a socket bound there is closed again.
SocketAddr closed_port(std::string_view ip) {
    auto sock = UdpSocket::bind(std::string(ip) + ":0");
    EXPECT_TRUE(sock.has_value());
    return sock ? sock->local_addr().value_or(SocketAddr()) : SocketAddr();
}

// ---- unconnected -----------------------------------------------------------------

Task<void> send_to_recv_from(std::string any) {
    auto a = UdpSocket::bind(any);
    CO_ASSERT_OK(a);
    auto b = UdpSocket::bind(any);
    CO_ASSERT_OK(b);
    SocketAddr a_addr = *a->local_addr();
    SocketAddr b_addr = *b->local_addr();
    EXPECT_NE(a_addr.port(), 0);

    auto sent = co_await a->send_to(bytes_of("ping"), b_addr);
    CO_ASSERT_OK(sent);
    EXPECT_EQ(*sent, 4u);
    std::array<std::byte, 64> buf{};
    auto got = co_await b->recv_from(buf);
    CO_ASSERT_OK(got);
    EXPECT_EQ(string_of(std::span(buf).first(got->first)), "ping");
    EXPECT_EQ(got->second, a_addr) << "the sender's address comes with the datagram";

    // Reply to whoever sent it, through the "ip:port" overload.
    auto replied = co_await b->send_to(bytes_of("pong"), got->second.to_string());
    CO_ASSERT_OK(replied);
    auto back = co_await a->recv_from(buf);
    CO_ASSERT_OK(back);
    EXPECT_EQ(string_of(std::span(buf).first(back->first)), "pong");
    EXPECT_EQ(back->second, b_addr);
}

TEST(UdpSocket, SendToAndRecvFromRoundTripWithTheSendersAddress) { run_bounded(send_to_recv_from("127.0.0.1:0")); }

TEST(UdpSocket, SendToAndRecvFromRoundTripOverIpv6) {
    if (!ipv6_loopback_available()) GTEST_SKIP() << "::1 is not available here";
    run_bounded(send_to_recv_from("[::1]:0"));
}

Task<void> datagrams_keep_boundaries() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    auto b = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(b);
    SocketAddr to = *b->local_addr();
    const std::vector<std::string> messages = {"one", "", "three", std::string(1000, 'x')};
    for (const auto& m : messages) CO_ASSERT_OK(co_await a->send_to(bytes_of(m), to));
    std::array<std::byte, 2048> buf{};
    for (const auto& m : messages) {
        auto got = co_await b->recv_from(buf);
        CO_ASSERT_OK(got);
        EXPECT_EQ(string_of(std::span(buf).first(got->first)), m) << "one receive, one whole datagram";
    }
}

TEST(UdpSocket, EachReceiveGetsExactlyOneWholeDatagramEvenAnEmptyOne) { run_bounded(datagrams_keep_boundaries()); }

Task<void> recv_waits_for_a_datagram() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    auto b = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(b);
    auto sender = [](UdpSocket* from, SocketAddr to) -> Task<bool> {
        co_await time::sleep(20ms);
        auto r = co_await from->send_to(bytes_of("late"), to);
        co_return r.has_value();
    };
    JoinHandle<bool> send_task = spawn(sender(&*a, *b->local_addr()));
    std::array<std::byte, 16> buf{};
    auto got = co_await b->recv_from(buf);  // parks until the datagram arrives
    CO_ASSERT_OK(got);
    EXPECT_EQ(string_of(std::span(buf).first(got->first)), "late");
    EXPECT_TRUE(co_await send_task);
}

TEST(UdpSocket, ARecvParksUntilADatagramArrives) { run_bounded(recv_waits_for_a_datagram()); }

Task<void> cancelled_recv_loses_nothing() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    auto b = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(b);
    std::array<std::byte, 16> buf{};
    auto timed_out = co_await time::timeout(20ms, b->recv_from(buf));
    EXPECT_FALSE(timed_out.has_value());
    CO_ASSERT_OK(co_await a->send_to(bytes_of("next"), *b->local_addr()));
    auto got = co_await b->recv_from(buf);
    CO_ASSERT_OK(got);
    EXPECT_EQ(string_of(std::span(buf).first(got->first)), "next");
}

TEST(UdpSocket, ARecvCancelledByATimeoutLosesNoDatagram) { run_bounded(cancelled_recv_loses_nothing()); }

Task<void> peek_from_keeps_the_datagram() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    auto b = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(b);
    CO_ASSERT_OK(co_await a->send_to(bytes_of("first"), *b->local_addr()));
    CO_ASSERT_OK(co_await a->send_to(bytes_of("second"), *b->local_addr()));
    std::array<std::byte, 16> buf{};
    for (int i = 0; i < 2; ++i) {
        auto peeked = co_await b->peek_from(buf);
        CO_ASSERT_OK(peeked);
        EXPECT_EQ(string_of(std::span(buf).first(peeked->first)), "first");
        EXPECT_EQ(peeked->second, *a->local_addr());
    }
    auto got = co_await b->recv_from(buf);
    CO_ASSERT_OK(got);
    EXPECT_EQ(string_of(std::span(buf).first(got->first)), "first");
    got = co_await b->recv_from(buf);
    CO_ASSERT_OK(got);
    EXPECT_EQ(string_of(std::span(buf).first(got->first)), "second");
}

TEST(UdpSocket, PeekFromDoesNotConsumeTheDatagram) { run_bounded(peek_from_keeps_the_datagram()); }

// ---- truncation -------------------------------------------------------------------

Task<void> truncation() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    auto b = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(b);
    SocketAddr to = *b->local_addr();
    CO_ASSERT_OK(co_await a->send_to(bytes_of("0123456789"), to));
    CO_ASSERT_OK(co_await a->send_to(bytes_of("abcdefghij"), to));
    CO_ASSERT_OK(co_await a->send_to(bytes_of("ABC"), to));

    std::array<std::byte, 4> small{};
    auto got = co_await b->recv_from(small);
    CO_ASSERT_OK(got);
    EXPECT_EQ(got->first, small.size()) << "a truncated receive returns the buffer's size";
    EXPECT_EQ(string_of(small), "0123");

    auto info = co_await b->recv_datagram(small);
    CO_ASSERT_OK(info);
    EXPECT_EQ(info->len, 4u);
    EXPECT_EQ(info->wire_len, 10u);
    EXPECT_TRUE(info->truncated());
    EXPECT_EQ(string_of(small), "abcd");
    EXPECT_EQ(info->peer, *a->local_addr());

    // The rest of a truncated datagram is gone: the next receive is the next datagram.
    auto whole = co_await b->recv_datagram(small);
    CO_ASSERT_OK(whole);
    EXPECT_EQ(whole->len, 3u);
    EXPECT_EQ(whole->wire_len, 3u);
    EXPECT_FALSE(whole->truncated());
    EXPECT_EQ(string_of(std::span(small).first(3)), "ABC");
}

TEST(UdpSocket, AnOverlongDatagramIsTruncatedToTheBufferAndItsRestDiscarded) { run_bounded(truncation()); }

Task<void> connected_truncation() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    auto b = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(b);
    CO_ASSERT_OK(a->connect(*b->local_addr()));
    CO_ASSERT_OK(b->connect(*a->local_addr()));
    CO_ASSERT_OK(co_await a->send(bytes_of("too long for it")));
    CO_ASSERT_OK(co_await a->send(bytes_of("ok")));
    std::array<std::byte, 3> small{};
    auto n = co_await b->recv(small);
    CO_ASSERT_OK(n);
    EXPECT_EQ(*n, 3u);
    EXPECT_EQ(string_of(small), "too");
    n = co_await b->recv(small);
    CO_ASSERT_OK(n);
    EXPECT_EQ(string_of(std::span(small).first(*n)), "ok");
}

TEST(UdpSocket, ConnectedRecvTruncatesAnOverlongDatagramToo) { run_bounded(connected_truncation()); }

// ---- connected -------------------------------------------------------------------

Task<void> connected_send_recv() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    auto b = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(b);
    auto stranger = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(stranger);
    EXPECT_EQ(a->peer_addr().error(), std::errc::not_connected);
    CO_ASSERT_OK(a->connect(*b->local_addr()));
    CO_ASSERT_OK(b->connect(b->local_addr().value().ip() + ":" + std::to_string(a->local_addr()->port())));
    EXPECT_EQ(*a->peer_addr(), *b->local_addr());
    EXPECT_EQ(*b->peer_addr(), *a->local_addr());

    // A connected socket only receives from its peer: the stranger's datagram is filtered out.
    CO_ASSERT_OK(co_await stranger->send_to(bytes_of("intruder"), *b->local_addr()));
    auto sent = co_await a->send(bytes_of("hello"));
    CO_ASSERT_OK(sent);
    EXPECT_EQ(*sent, 5u);
    std::array<std::byte, 16> buf{};
    auto n = co_await b->recv(buf);
    CO_ASSERT_OK(n);
    EXPECT_EQ(string_of(std::span(buf).first(*n)), "hello");

    CO_ASSERT_OK(co_await b->send(bytes_of("world")));
    n = co_await a->recv(buf);
    CO_ASSERT_OK(n);
    EXPECT_EQ(string_of(std::span(buf).first(*n)), "world");
}

TEST(UdpSocket, ConnectedSocketsSendAndRecvWithTheirPeerOnly) { run_bounded(connected_send_recv()); }

Task<void> send_needs_a_peer() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    auto sent = co_await a->send(bytes_of("nowhere"));
    CO_ASSERT_FALSE(sent.has_value());
    EXPECT_EQ(sent.error(), std::errc::destination_address_required) << sent.error().message();
    EXPECT_EQ(a->connect("not an address").error(), std::errc::invalid_argument);
    auto bad = co_await a->send_to(bytes_of("x"), std::string_view("nope"));
    CO_ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error(), std::errc::invalid_argument);
    EXPECT_EQ(UdpSocket::bind("127.0.0.1").error(), std::errc::invalid_argument);
}

TEST(UdpSocket, SendWithoutAPeerAndUnparsableAddressesFail) { run_bounded(send_needs_a_peer()); }

Task<void> bind_in_use() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    auto b = UdpSocket::bind(*a->local_addr());
    CO_ASSERT_FALSE(b.has_value());
    EXPECT_EQ(b.error(), std::errc::address_in_use);
}

TEST(UdpSocket, BindToAPortInUseFailsWithAddressInUse) { run_bounded(bind_in_use()); }

/// Sends one datagram to a port where nothing listens, then receives: the
/// ICMP "port unreachable" that loopback returns surfaces as
/// connection_refused. Where ICMP is filtered nothing comes back, and the
/// receive simply times out; both are accepted.
Task<void> connected_to_closed_port(std::string ip) {
    SocketAddr closed = closed_port(ip);
    auto a = UdpSocket::bind(ip + ":0");
    CO_ASSERT_OK(a);
    CO_ASSERT_OK(a->connect(closed));
    CO_ASSERT_OK(co_await a->send(bytes_of("anyone there")));
    std::array<std::byte, 16> buf{};
    auto got = co_await time::timeout(1s, a->recv(buf));
    if (!got.has_value()) co_return;    // no ICMP: acceptable
    CO_ASSERT_FALSE(got->has_value());  // else a datagram came from a closed port
    EXPECT_EQ(got->error(), std::errc::connection_refused) << got->error().message();
}

TEST(UdpSocket, RecvOnASocketConnectedToAClosedPortReportsConnectionRefused) {
    run_bounded(connected_to_closed_port("127.0.0.1"));
}

TEST(UdpSocket, RecvOnASocketConnectedToAClosedIpv6PortReportsConnectionRefused) {
    if (!ipv6_loopback_available()) GTEST_SKIP() << "::1 is not available here";
    run_bounded(connected_to_closed_port("[::1]"));
}

/// After a receive has reported the ICMP error, the socket is usable again:
/// a new receive must park until a datagram comes (here from the peer, once
/// it is bound).
///
/// DISABLED: it hangs the runtime thread. The reactor records EPOLLERR as the
/// readiness bit kError, which IoRegistration::clear_readiness never clears
/// (it clears only kReadable / kWritable) and which mask_for(Read) counts as
/// "ready". Once the error has been consumed by the first recv, the next
/// recv gets EAGAIN, clears kReadable, finds kError still set and retries:
/// PollEvented::poll_io loops forever without returning Pending, so not even
/// the test's timeout can fire. See the report on io_registration.hpp.
Task<void> recv_after_icmp_error() {
    SocketAddr closed = closed_port("127.0.0.1");
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    CO_ASSERT_OK(a->connect(closed));
    CO_ASSERT_OK(co_await a->send(bytes_of("anyone there")));
    std::array<std::byte, 16> buf{};
    auto first = co_await time::timeout(1s, a->recv(buf));
    if (!first.has_value()) co_return;  // ICMP filtered here: nothing to test
    CO_ASSERT_FALSE(first->has_value());
    EXPECT_EQ(first->error(), std::errc::connection_refused);
    // Nothing is queued now: a receive must park (and time out), not spin.
    auto second = co_await time::timeout(50ms, a->recv(buf));
    EXPECT_FALSE(second.has_value()) << "a receive completed with nothing sent";
    // The peer appears; its datagram arrives.
    auto peer = UdpSocket::bind(closed);
    CO_ASSERT_OK(peer);
    CO_ASSERT_OK(co_await peer->send_to(bytes_of("here"), *a->local_addr()));
    auto third = co_await a->recv(buf);
    CO_ASSERT_OK(third);
    EXPECT_EQ(string_of(std::span(buf).first(*third)), "here");
}

TEST(UdpSocket, ASocketStaysUsableAfterReportingAnIcmpError) { run_bounded(recv_after_icmp_error()); }

// ---- options and sharing ---------------------------------------------------------

Task<io::Result<std::string>> recv_text(UdpSocket* s, int* polls) {
    std::array<std::byte, 64> buf{};
    auto got = co_await Counted(s->recv_from(buf), polls);
    if (!got) co_return std::unexpected(got.error());
    co_return string_of(std::span(buf).first(got->first));
}

/// Two tasks receiving on one socket at once, as Tokio allows with an
/// Arc<UdpSocket>: each gets one of the two datagrams. Each recv_from future
/// waits in the registration's wait list through a waiter of its own, so
/// the second receiver does not displace the first.
Task<void> two_receivers() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    auto b = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(b);
    int polls1 = 0;
    int polls2 = 0;
    JoinHandle<io::Result<std::string>> first = spawn(recv_text(&*b, &polls1));
    JoinHandle<io::Result<std::string>> second = spawn(recv_text(&*b, &polls2));
    while (polls1 + polls2 < 2) {  // until both are parked
        co_await task::yield_now();
    }
    CO_ASSERT_OK(co_await a->send_to(bytes_of("one"), *b->local_addr()));
    CO_ASSERT_OK(co_await a->send_to(bytes_of("two"), *b->local_addr()));
    auto r1 = co_await first;
    auto r2 = co_await second;
    CO_ASSERT_OK(r1);
    CO_ASSERT_OK(r2);
    EXPECT_NE(*r1, *r2);
}

TEST(UdpSocket, TwoTasksCanReceiveOnOneSocketAtOnce) { run_bounded(two_receivers()); }

Task<void> sender_and_receiver_share_a_socket() {
    auto shared = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(shared);
    auto peer = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(peer);
    CO_ASSERT_OK(shared->connect(*peer->local_addr()));
    CO_ASSERT_OK(peer->connect(*shared->local_addr()));
    // One task receives on `shared` while this one sends on it: a reader and
    // a writer waiting on one registration at once.
    int polls = 0;
    JoinHandle<io::Result<std::string>> receiver = spawn(recv_text(&*shared, &polls));
    while (polls == 0) co_await task::yield_now();
    CO_ASSERT_OK(co_await shared->send(bytes_of("out")));
    std::array<std::byte, 16> buf{};
    auto n = co_await peer->recv(buf);
    CO_ASSERT_OK(n);
    EXPECT_EQ(string_of(std::span(buf).first(*n)), "out");
    CO_ASSERT_OK(co_await peer->send(bytes_of("in")));
    auto got = co_await receiver;
    CO_ASSERT_OK(got);
    EXPECT_EQ(*got, "in");
}

TEST(UdpSocket, OneTaskCanSendWhileAnotherReceivesOnTheSameSocket) {
    run_bounded(sender_and_receiver_share_a_socket());
}

Task<void> broadcast_option() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    EXPECT_EQ(a->broadcast().value_or(true), false);
    CO_ASSERT_OK(a->set_broadcast(true));
    EXPECT_EQ(a->broadcast().value_or(false), true);
    CO_ASSERT_OK(a->set_broadcast(false));
    EXPECT_EQ(a->broadcast().value_or(true), false);
    EXPECT_FALSE(a->take_error().value()) << "no pending socket error";
    co_return;
}

TEST(UdpSocket, BroadcastCanBeSetAndReadBack) { run_bounded(broadcast_option()); }

constexpr int kPingPongs = 500;

Task<int> echo_datagrams(UdpSocket* s, int count) {
    std::array<std::byte, 64> buf{};
    int echoed = 0;
    for (int i = 0; i < count; ++i) {
        auto got = co_await s->recv_from(buf);
        if (!got) co_return echoed;
        auto sent = co_await s->send_to(std::span(buf).first(got->first), got->second);
        if (!sent) co_return echoed;
        ++echoed;
    }
    co_return echoed;
}

Task<void> many_round_trips() {
    auto server = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(server);
    auto client = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(client);
    CO_ASSERT_OK(client->connect(*server->local_addr()));
    JoinHandle<int> echo = spawn(echo_datagrams(&*server, kPingPongs));
    std::array<std::byte, 64> buf{};
    for (int i = 0; i < kPingPongs; ++i) {
        std::string message = "datagram " + std::to_string(i);
        CO_ASSERT_OK(co_await client->send(bytes_of(message)));
        auto n = co_await client->recv(buf);
        CO_ASSERT_OK(n);
        CO_ASSERT_TRUE(string_of(std::span(buf).first(*n)) == message);
    }
    EXPECT_EQ(co_await echo, kPingPongs);
}

TEST(UdpSocket, ManyRoundTripsBetweenTwoTasksLoseNothing) { run_bounded(many_round_trips()); }

Task<void> default_socket_fails() {
    UdpSocket none;
    std::array<std::byte, 4> buf{};
    auto r = co_await none.recv_from(buf);
    CO_ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), std::errc::bad_file_descriptor);
    auto s = co_await none.send(buf);
    CO_ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error(), std::errc::bad_file_descriptor);
}

TEST(UdpSocket, ADefaultConstructedSocketFailsWithBadDescriptor) { run_bounded(default_socket_fails()); }

}  // namespace
}  // namespace corio::net
