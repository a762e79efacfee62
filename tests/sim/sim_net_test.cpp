// corio::sim's network: net::TcpListener, TcpStream, UdpSocket and
// net::lookup_host inside simulated hosts (addresses, errors, ordering, flow
// control, latency, datagram loss). Faults (partition, hold, crash) are
// tested in sim_test.cpp.
//
// Hosts get 10.0.0.1, 10.0.0.2, ... in the order they are added (hosts and
// clients alike). Every simulation ends by itself or at its time limit.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <corio/net.hpp>
#include <corio/sim.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/sim_tasks.hpp"

using namespace std::chrono_literals;

namespace corio {
namespace {

using test::connect_to;
using test::resolve;
using test::sleep_forever;
using test::software;
using test::task_of;

// ---- helpers -----------------------------------------------------------------------

net::TcpListener listen_on(const char* addr) {
    auto listener = net::TcpListener::bind(addr);
    if (!listener) throw std::runtime_error(std::string("bind ") + addr + ": " + listener.error().message());
    return std::move(*listener);
}

net::UdpSocket udp_on(const char* addr) {
    auto socket = net::UdpSocket::bind(addr);
    if (!socket) throw std::runtime_error(std::string("udp bind ") + addr + ": " + socket.error().message());
    return std::move(*socket);
}

/// Reads until the end of the stream; throws on an error.
Task<std::string> read_to_end(net::TcpStream& s) {
    std::string out;
    std::byte buf[4096];
    for (;;) {
        auto n = co_await s.read(buf);
        if (!n) throw std::runtime_error("read: " + n.error().message());
        if (*n == 0) co_return out;
        out.append(reinterpret_cast<const char*>(buf), *n);
    }
}

/// A server on port 7000 that echoes each connection until it ends, then closes it.
Task<void> echo_like_server() {
    net::TcpListener listener = listen_on("0.0.0.0:7000");
    for (;;) {
        auto conn = co_await listener.accept();
        if (!conn) continue;
        spawn(task_of([s = std::move(conn->first)]() mutable -> Task<void> {
            std::byte buf[256];
            for (;;) {
                auto n = co_await s.read(buf);
                if (!n || *n == 0) co_return;
                auto ok1 = co_await s.write_all(std::span(buf, *n));
                if (!ok1) co_return;
            }
        }));
    }
}

std::span<const std::byte> bytes_of(std::string_view text) {
    return std::as_bytes(std::span(text.data(), text.size()));
}

// ---- lookup_host and addresses --------------------------------------------------------

TEST(SimNetLookup, LookupHostFindsSimulatedHostsByNameAndLocalhost) {
    std::vector<std::string> found;
    std::optional<std::error_code> unknown;
    auto sim = sim::Builder().seed(1).build();
    sim.host("server", sleep_forever);
    sim.host("db", sleep_forever);
    sim.client("client", task_of([&]() -> Task<void> {
                   for (const char* name : {"server:7000", "db:5432", "client:1", "localhost:80", "10.0.0.9:9"}) {
                       auto addrs = co_await net::lookup_host(name);
                       if (!addrs) throw std::runtime_error(std::string("lookup_host ") + name);
                       for (const auto& a : *addrs) found.push_back(a.to_string());
                   }
                   auto by_parts = co_await net::lookup_host("server", 443);
                   if (by_parts) {
                       for (const auto& a : *by_parts) found.push_back(a.to_string());
                   }
                   auto none = co_await net::lookup_host("nowhere:80");
                   if (!none) unknown = none.error();
               }));
    sim.run();
    EXPECT_EQ(found, (std::vector<std::string>{"10.0.0.1:7000", "10.0.0.2:5432", "10.0.0.3:1", "127.0.0.1:80",
                                               "10.0.0.9:9", "10.0.0.1:443"}));
    ASSERT_TRUE(unknown);
    EXPECT_EQ(*unknown, io::errc::host_not_found) << unknown->message();
}

TEST(SimNetTcp, LocalAndPeerAddressesAreTheHostsTenZeroAddresses) {
    std::string listener_addr, server_local, server_peer, accepted_from, client_local, client_peer;
    auto sim = sim::Builder().seed(2).build();
    sim.host("server", software([&]() -> Task<void> {  // 10.0.0.1
                 net::TcpListener listener = listen_on("0.0.0.0:7000");
                 listener_addr = listener.local_addr()->to_string();
                 auto conn = co_await listener.accept();
                 if (!conn) throw std::runtime_error("accept");
                 accepted_from = conn->second.to_string();
                 server_local = conn->first.local_addr()->to_string();
                 server_peer = conn->first.peer_addr()->to_string();
                 co_await sleep_forever();
             }));
    sim.client("client", task_of([&]() -> Task<void> {  // 10.0.0.2
                   net::TcpStream s = co_await connect_to("server:7000");
                   client_local = s.local_addr()->to_string();
                   client_peer = s.peer_addr()->to_string();
                   co_await time::sleep(100ms);
               }));
    sim.run();
    EXPECT_EQ(listener_addr, "10.0.0.1:7000");
    EXPECT_EQ(server_local, "10.0.0.1:7000");
    EXPECT_EQ(client_peer, "10.0.0.1:7000");
    EXPECT_EQ(client_local.rfind("10.0.0.2:", 0), 0u) << client_local;
    EXPECT_EQ(server_peer, client_local);
    EXPECT_EQ(accepted_from, client_local);
}

TEST(SimNetTcp, BindingATakenPortGivesAddressInUseAndPortZeroPicksAFreePort) {
    std::optional<std::error_code> taken;
    std::vector<std::uint16_t> picked;
    std::optional<std::error_code> foreign;
    std::string loopback;
    auto sim = sim::Builder().seed(3).build();
    sim.host("other", sleep_forever);                   // 10.0.0.1
    sim.client("client", task_of([&]() -> Task<void> {  // 10.0.0.2
                   net::TcpListener first = listen_on("0.0.0.0:7000");
                   auto second = net::TcpListener::bind("0.0.0.0:7000");
                   if (!second) taken = second.error();
                   net::TcpListener any1 = listen_on("0.0.0.0:0");
                   net::TcpListener any2 = listen_on("10.0.0.2:0");
                   picked.push_back(any1.local_addr()->port());
                   picked.push_back(any2.local_addr()->port());
                   auto other_host = net::TcpListener::bind("10.0.0.1:7001");
                   if (!other_host) foreign = other_host.error();
                   net::TcpListener local = listen_on("127.0.0.1:7002");
                   loopback = local.local_addr()->to_string();
                   co_return;
               }));
    sim.run();
    ASSERT_TRUE(taken);
    EXPECT_EQ(*taken, std::errc::address_in_use) << taken->message();
    ASSERT_EQ(picked.size(), 2u);
    EXPECT_NE(picked[0], 0);
    EXPECT_NE(picked[1], 0);
    EXPECT_NE(picked[0], picked[1]);
    ASSERT_TRUE(foreign);
    EXPECT_EQ(*foreign, std::errc::address_not_available) << foreign->message();
    EXPECT_EQ(loopback, "127.0.0.1:7002");
}

TEST(SimNetTcp, AClosedListenersPortCanBeBoundAgain) {
    bool rebound = false;
    auto sim = sim::Builder().seed(4).build();
    sim.client("client", task_of([&]() -> Task<void> {
                   {
                       net::TcpListener first = listen_on("0.0.0.0:7000");
                   }
                   co_await time::sleep(1ms);
                   rebound = net::TcpListener::bind("0.0.0.0:7000").has_value();
               }));
    sim.run();
    EXPECT_TRUE(rebound);
}

// ---- connecting -------------------------------------------------------------------------

TEST(SimNetTcp, ConnectingToAPortWithNoListenerIsRefused) {
    std::optional<std::error_code> error;
    auto sim = sim::Builder().seed(5).build();
    sim.host("server", software([]() -> Task<void> {
                 net::TcpListener listener = listen_on("0.0.0.0:7000");
                 co_await sleep_forever();
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   auto s = co_await net::TcpStream::connect(co_await resolve("server:7999"));
                   if (!s) error = s.error();
               }));
    sim.run();
    ASSERT_TRUE(error);
    EXPECT_EQ(*error, std::errc::connection_refused) << error->message();
}

TEST(SimNetTcp, ConnectingToAnAddressNoHostHasFails) {
    std::optional<std::error_code> error;
    auto sim = sim::Builder().seed(6).build();
    sim.client("client", task_of([&]() -> Task<void> {
                   auto s = co_await net::TcpStream::connect("10.0.7.7:80");
                   if (!s) error = s.error();
               }));
    sim.run();
    ASSERT_TRUE(error) << "connected to an address no host has";
}

TEST(SimNetTcp, AConnectTakesOneRoundTripAndASegmentOneLatency) {
    std::chrono::nanoseconds connect_took{0};
    std::optional<time::Instant> sent_at;
    std::optional<time::Instant> arrived_at;
    auto sim = sim::Builder().seed(7).latency(20ms, 30ms).build();
    sim.host("server", software([&]() -> Task<void> {
                 net::TcpListener listener = listen_on("0.0.0.0:7000");
                 auto conn = co_await listener.accept();
                 if (!conn) throw std::runtime_error("accept");
                 std::byte buf[8];
                 auto n = co_await conn->first.read(buf);
                 if (n && *n > 0) arrived_at = time::Instant::now();
                 co_await sleep_forever();
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   co_await time::sleep(1ms);
                   net::SocketAddr addr = co_await resolve("server:7000");
                   time::Instant start = time::Instant::now();
                   auto s = co_await net::TcpStream::connect(addr);
                   if (!s) throw std::runtime_error("connect");
                   connect_took = time::Instant::now() - start;
                   sent_at = time::Instant::now();
                   auto ok2 = co_await s->write_all(std::string_view("x"));
                   if (!ok2) throw std::runtime_error("write");
                   co_await time::sleep(1s);
               }));
    sim.run();
    EXPECT_GE(connect_took, 40ms);
    EXPECT_LE(connect_took, 60ms);
    ASSERT_TRUE(sent_at && arrived_at);
    EXPECT_GE(*arrived_at - *sent_at, 20ms);
    EXPECT_LE(*arrived_at - *sent_at, 30ms);
}

TEST(SimNetTcp, AHostCanConnectToItselfThroughLoopbackAndItsOwnName) {
    std::vector<std::string> got;
    auto sim = sim::Builder().seed(8).build();
    sim.client("solo", task_of([&]() -> Task<void> {
                   net::TcpListener listener = listen_on("0.0.0.0:7000");
                   for (const char* target : {"localhost:7000", "solo:7000"}) {
                       net::TcpStream out = co_await connect_to(target);
                       auto in = co_await listener.accept();
                       if (!in) throw std::runtime_error("accept");
                       auto ok3 = co_await out.write_all(std::string_view(target));
                       if (!ok3) throw std::runtime_error("write");
                       out.shutdown(SHUT_WR);
                       got.push_back(co_await read_to_end(in->first));
                   }
               }));
    sim.run();
    EXPECT_EQ(got, (std::vector<std::string>{"localhost:7000", "solo:7000"}));
}

// On Linux, a connection to 127.0.0.1:P has the local and peer address
// 127.0.0.1 on both sides, even when the listener is bound to 0.0.0.0.
TEST(SimNetTcp, ALoopbackConnectionHasLoopbackAddressesOnBothSides) {
    std::string client_peer, server_local;
    auto sim = sim::Builder().seed(9).build();
    sim.client("solo", task_of([&]() -> Task<void> {
                   net::TcpListener listener = listen_on("0.0.0.0:7000");
                   net::TcpStream out = co_await connect_to("127.0.0.1:7000");
                   auto in = co_await listener.accept();
                   if (!in) throw std::runtime_error("accept");
                   client_peer = out.peer_addr()->to_string();
                   server_local = in->first.local_addr()->to_string();
               }));
    sim.run();
    EXPECT_EQ(client_peer, "127.0.0.1:7000");
    EXPECT_EQ(server_local, "127.0.0.1:7000");
}

TEST(SimNetTcp, AListenerBoundToLoopbackIsNotReachableFromAnotherHost) {
    std::optional<std::error_code> error;
    bool connected = false;
    auto sim = sim::Builder().seed(10).build();
    sim.host("server", software([]() -> Task<void> {
                 net::TcpListener listener = listen_on("127.0.0.1:7000");
                 std::vector<net::TcpStream> kept;
                 for (;;) {
                     auto conn = co_await listener.accept();
                     if (conn) kept.push_back(std::move(conn->first));
                 }
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   co_await time::sleep(1ms);
                   auto s = co_await net::TcpStream::connect(co_await resolve("server:7000"));
                   if (s) {
                       connected = true;
                   } else {
                       error = s.error();
                   }
               }));
    sim.run();
    EXPECT_FALSE(connected) << "reached a listener bound to 127.0.0.1 from another host";
    if (error) {
        EXPECT_EQ(*error, std::errc::connection_refused) << error->message();
    }
}

// ---- streams ------------------------------------------------------------------------------

TEST(SimNetTcp, ShutdownWriteGivesThePeerEndOfStreamAndKeepsTheOtherDirection) {
    std::string server_got;
    std::string client_got;
    std::optional<std::error_code> write_after_shutdown;
    auto sim = sim::Builder().seed(11).latency(1ms, 20ms).build();
    sim.host("server", software([&]() -> Task<void> {
                 net::TcpListener listener = listen_on("0.0.0.0:7000");
                 auto conn = co_await listener.accept();
                 if (!conn) throw std::runtime_error("accept");
                 server_got = co_await read_to_end(conn->first);
                 co_await time::sleep(100ms);  // the half-closed connection still carries this way
                 auto ok4 = co_await conn->first.write_all(std::string_view("ABC"));
                 if (!ok4) throw std::runtime_error("write");
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   net::TcpStream s = co_await connect_to("server:7000");
                   auto ok5 = co_await s.write_all(std::string_view("abc"));
                   if (!ok5) throw std::runtime_error("write");
                   if (!s.shutdown(SHUT_WR)) throw std::runtime_error("shutdown");
                   auto w = co_await s.write(bytes_of("more"));
                   if (!w) write_after_shutdown = w.error();
                   client_got = co_await read_to_end(s);
               }));
    sim.run();
    EXPECT_EQ(server_got, "abc");
    EXPECT_EQ(client_got, "ABC");
    ASSERT_TRUE(write_after_shutdown);
    EXPECT_EQ(*write_after_shutdown, std::errc::broken_pipe) << write_after_shutdown->message();
}

TEST(SimNetTcp, WritingToAPeerThatClosedEventuallyFails) {
    std::optional<std::error_code> error;
    std::optional<std::size_t> read_at_close;
    int writes = 0;
    auto sim = sim::Builder().seed(12).latency(1ms, 20ms).build();
    sim.host("server", software([]() -> Task<void> {
                 net::TcpListener listener = listen_on("0.0.0.0:7000");
                 {
                     auto conn = co_await listener.accept();
                     co_await time::sleep(100ms);  // then closed
                 }
                 co_await sleep_forever();
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   net::TcpStream s = co_await connect_to("server:7000");
                   std::byte buf[8];
                   auto n = co_await s.read(buf);
                   if (n) read_at_close = *n;
                   for (int i = 0; i < 100; ++i) {
                       auto w = co_await s.write(bytes_of("data"));
                       if (!w) {
                           error = w.error();
                           co_return;
                       }
                       ++writes;
                       co_await time::sleep(30ms);
                   }
               }));
    sim.run();
    EXPECT_EQ(read_at_close, std::optional<std::size_t>(0));
    ASSERT_TRUE(error) << "100 writes to a closed peer succeeded";
    EXPECT_TRUE(*error == std::errc::connection_reset || *error == std::errc::broken_pipe) << error->message();
    EXPECT_GE(writes, 1);
    EXPECT_LE(writes, 3);
}

// As on a real network, the handshake is complete before accept() returns:
// a server that closes what it accepted at once gives the client a
// connection that ends, not a failed connect.
TEST(SimNetTcp, AConnectionTheServerClosesAtOnceConnectsAndThenEnds) {
    std::optional<std::error_code> connect_error;
    std::optional<std::size_t> read_at_close;
    auto sim = sim::Builder().seed(12).latency(1ms, 20ms).build();
    sim.host("server", software([]() -> Task<void> {
                 net::TcpListener listener = listen_on("0.0.0.0:7000");
                 {
                     auto conn = co_await listener.accept();  // closed at once
                 }
                 co_await sleep_forever();
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   auto s = co_await net::TcpStream::connect(co_await resolve("server:7000"));
                   if (!s) {
                       connect_error = s.error();
                       co_return;
                   }
                   std::byte buf[8];
                   auto n = co_await s->read(buf);
                   if (n) read_at_close = *n;
               }));
    sim.run();
    EXPECT_FALSE(connect_error) << "connect failed: " << connect_error->message();
    EXPECT_EQ(read_at_close, std::optional<std::size_t>(0));
}

/// Byte `i` of a test stream: no short period, so a reordered or repeated
/// segment shows.
std::byte pattern_at(std::size_t i) {
    std::uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    return static_cast<std::byte>(x >> 56);
}

std::vector<std::byte> pattern(std::size_t n) {
    std::vector<std::byte> out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = pattern_at(i);
    return out;
}

constexpr std::size_t kMiB = 1 << 20;

TEST(SimNetTcp, AMebibyteArrivesIntactAndInOrderWithLatencyFrom1To50Ms) {
    std::size_t received = 0;
    std::optional<std::size_t> first_mismatch;
    std::string ack;
    auto sim = sim::Builder().seed(13).latency(1ms, 50ms).time_limit(10min).build();
    sim.host("server", software([&]() -> Task<void> {
                 net::TcpListener listener = listen_on("0.0.0.0:7000");
                 auto conn = co_await listener.accept();
                 if (!conn) throw std::runtime_error("accept");
                 std::vector<std::byte> buf(64 * 1024);
                 for (;;) {
                     auto n = co_await conn->first.read(buf);
                     if (!n) throw std::runtime_error("read: " + n.error().message());
                     if (*n == 0) break;
                     for (std::size_t i = 0; i < *n; ++i) {
                         if (!first_mismatch && buf[i] != pattern_at(received + i)) first_mismatch = received + i;
                     }
                     received += *n;
                 }
                 auto ok6 = co_await conn->first.write_all(std::string_view("done"));
                 if (!ok6) throw std::runtime_error("ack");
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   net::TcpStream s = co_await connect_to("server:7000");
                   std::vector<std::byte> data = pattern(kMiB);
                   auto w = co_await s.write_all(data);
                   if (!w) throw std::runtime_error("write_all: " + w.error().message());
                   if (!s.shutdown(SHUT_WR)) throw std::runtime_error("shutdown");
                   ack = co_await read_to_end(s);
               }));
    sim.run();
    EXPECT_EQ(received, kMiB);
    EXPECT_FALSE(first_mismatch) << "first wrong byte at " << *first_mismatch;
    EXPECT_EQ(ack, "done");
}

TEST(SimNetTcp, ManySmallWritesArriveInOrderDespiteVariableLatency) {
    std::string expected;
    std::string got;
    auto sim = sim::Builder().seed(14).latency(1ms, 50ms).build();
    sim.host("server", software([&]() -> Task<void> {
                 net::TcpListener listener = listen_on("0.0.0.0:7000");
                 auto conn = co_await listener.accept();
                 if (!conn) throw std::runtime_error("accept");
                 got = co_await read_to_end(conn->first);
             }));
    for (int i = 0; i < 300; ++i) expected += std::to_string(i) + ",";
    sim.client("client", task_of([&]() -> Task<void> {
                   net::TcpStream s = co_await connect_to("server:7000");
                   for (int i = 0; i < 300; ++i) {
                       std::string piece = std::to_string(i) + ",";
                       auto ok7 = co_await s.write_all(std::string_view(piece));
                       if (!ok7) throw std::runtime_error("write");
                       if (i % 7 == 0) co_await time::sleep(1ms);
                   }
                   s.shutdown(SHUT_WR);
                   co_await time::sleep(1s);
               }));
    sim.run();
    EXPECT_EQ(got, expected);
}

TEST(SimNetTcp, AWriterGetsAtMost256KiBAheadOfAReaderThatDoesNotRead) {
    std::size_t accepted_while_stalled = 0;
    std::size_t received = 0;
    auto sim = sim::Builder().seed(15).latency(1ms, 10ms).build();
    sim.host("server", software([&]() -> Task<void> {
                 net::TcpListener listener = listen_on("0.0.0.0:7000");
                 auto conn = co_await listener.accept();
                 if (!conn) throw std::runtime_error("accept");
                 co_await time::sleep(5s);  // not reading yet
                 std::vector<std::byte> buf(64 * 1024);
                 for (;;) {
                     auto n = co_await conn->first.read(buf);
                     if (!n || *n == 0) co_return;
                     received += *n;
                 }
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   net::TcpStream s = co_await connect_to("server:7000");
                   std::vector<std::byte> chunk(16 * 1024, std::byte{7});
                   for (;;) {
                       auto w = co_await time::timeout(1s, s.write(chunk));
                       if (!w) break;  // blocked for a second: the window is full
                       if (!*w) throw std::runtime_error("write: " + w->error().message());
                       accepted_while_stalled += **w;
                   }
                   std::vector<std::byte> rest(kMiB - accepted_while_stalled, std::byte{7});
                   auto ok8 = co_await s.write_all(rest);
                   if (!ok8) throw std::runtime_error("write_all");
                   s.shutdown(SHUT_WR);
                   co_await time::sleep(10s);
               }));
    sim.run();
    EXPECT_EQ(accepted_while_stalled, 256u * 1024);
    EXPECT_EQ(received, kMiB);
}

TEST(SimNetTcp, AConnectAcrossAPartitionWaitsUntilRepairAndCanTimeOut) {
    std::optional<bool> first_timed_out;
    std::optional<std::error_code> second_error;
    std::chrono::nanoseconds second_waited{0};
    auto sim = sim::Builder().seed(16).latency(1ms, 10ms).build();
    sim.host("server", echo_like_server);
    sim.client("client", task_of([&]() -> Task<void> {
                   co_await time::sleep(1ms);
                   net::SocketAddr addr = co_await resolve("server:7000");
                   sim::partition("client", "server");
                   auto first = co_await time::timeout(2s, net::TcpStream::connect(addr));
                   first_timed_out = !first.has_value();
                   spawn(task_of([]() -> Task<void> {
                       co_await time::sleep(1s);
                       sim::repair("client", "server");
                   }));
                   time::Instant start = time::Instant::now();
                   auto second = co_await net::TcpStream::connect(addr);
                   second_waited = time::Instant::now() - start;
                   second_error = second ? std::error_code() : second.error();
               }));
    sim.run();
    EXPECT_EQ(first_timed_out, std::optional<bool>(true));
    ASSERT_TRUE(second_error);
    EXPECT_FALSE(*second_error) << second_error->message();
    EXPECT_GE(second_waited, 1s);
    EXPECT_LE(second_waited, 1s + 20ms);
}

TEST(SimNetTcp, ClosingAListenerResetsTheConnectionsItHadNotAccepted) {
    std::optional<std::error_code> read_error;
    std::optional<std::size_t> read_bytes;
    auto sim = sim::Builder().seed(17).build();
    sim.host("server", software([]() -> Task<void> {
                 {
                     net::TcpListener listener = listen_on("0.0.0.0:7000");
                     co_await time::sleep(200ms);  // never accepts
                 }
                 co_await sleep_forever();
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   co_await time::sleep(1ms);
                   auto s = co_await net::TcpStream::connect(co_await resolve("server:7000"));
                   if (!s) co_return;  // refused is also fine: the handshake never finished
                   std::byte buf[8];
                   auto n = co_await s->read(buf);
                   if (n) {
                       read_bytes = *n;
                   } else {
                       read_error = n.error();
                   }
               }));
    sim.run();
    EXPECT_FALSE(read_bytes) << "read " << *read_bytes << " bytes from a connection nobody accepted";
    if (read_error) {
        EXPECT_EQ(*read_error, std::errc::connection_reset) << read_error->message();
    }
}

/// Reads `half` until the end of the stream; throws on an error.
Task<std::string> read_half_to_end(net::TcpStream::OwnedReadHalf& half) {
    std::string out;
    std::byte buf[64];
    for (;;) {
        auto n = co_await half.read(buf);
        if (!n) throw std::runtime_error("read: " + n.error().message());
        if (*n == 0) co_return out;
        out.append(reinterpret_cast<const char*>(buf), *n);
    }
}

TEST(SimNetTcp, SplitHalvesReadAndWriteFromTwoTasks) {
    std::string got;
    auto sim = sim::Builder().seed(18).latency(1ms, 20ms).build();
    sim.host("server", echo_like_server);
    sim.client("client", task_of([&]() -> Task<void> {
                   net::TcpStream s = co_await connect_to("server:7000");
                   auto [reader, writer] = std::move(s).into_split();
                   auto writing = spawn(task_of([w = std::move(writer)]() mutable -> Task<void> {
                       for (int i = 0; i < 10; ++i) {
                           auto ok9 = co_await w.write_all(std::string_view("abc"));
                           if (!ok9) throw std::runtime_error("write");
                           co_await time::sleep(3ms);
                       }
                   }));  // dropping the write half at its end shuts the write direction down
                   got = co_await read_half_to_end(reader);
                   co_await std::move(writing);
               }));
    sim.run();
    std::string expected;
    for (int i = 0; i < 10; ++i) expected += "abc";
    EXPECT_EQ(got, expected);
}

TEST(SimNetTcp, ReadableAndTryReadWorkOnSimulatedStreams) {
    std::string got;
    std::optional<std::error_code> second_try;
    auto sim = sim::Builder().seed(19).build();
    sim.host("server", software([]() -> Task<void> {
                 net::TcpListener listener = listen_on("0.0.0.0:7000");
                 auto conn = co_await listener.accept();
                 if (!conn) throw std::runtime_error("accept");
                 co_await time::sleep(50ms);
                 auto ok10 = co_await conn->first.write_all(std::string_view("hello"));
                 if (!ok10) throw std::runtime_error("write");
                 co_await sleep_forever();
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   net::TcpStream s = co_await connect_to("server:7000");
                   std::byte buf[16];
                   for (;;) {
                       auto ok11 = co_await s.readable();
                       if (!ok11) throw std::runtime_error("readable");
                       auto n = s.try_read(buf);
                       if (n) {
                           got.assign(reinterpret_cast<const char*>(buf), *n);
                           break;
                       }
                       if (n.error() != std::errc::resource_unavailable_try_again) throw std::runtime_error("try_read");
                   }
                   auto again = s.try_read(buf);
                   if (!again) second_try = again.error();
               }));
    sim.run();
    EXPECT_EQ(got, "hello");
    ASSERT_TRUE(second_try);
    EXPECT_EQ(*second_try, std::errc::resource_unavailable_try_again) << second_try->message();
}

// ---- UDP -------------------------------------------------------------------------------

TEST(SimNetUdp, SendToAndRecvFromCarryDatagramsBetweenHostsWithTheSendersAddress) {
    std::string server_got, server_saw_from, client_got, client_saw_from, client_local;
    auto sim = sim::Builder().seed(20).build();
    sim.host("server", software([&]() -> Task<void> {  // 10.0.0.1
                 net::UdpSocket socket = udp_on("0.0.0.0:5000");
                 std::byte buf[64];
                 auto r = co_await socket.recv_from(buf);
                 if (!r) throw std::runtime_error("recv_from");
                 server_got.assign(reinterpret_cast<const char*>(buf), r->first);
                 server_saw_from = r->second.to_string();
                 auto ok12 = co_await socket.send_to(bytes_of("pong"), r->second);
                 if (!ok12) throw std::runtime_error("send_to");
             }));
    sim.client("client", task_of([&]() -> Task<void> {  // 10.0.0.2
                   co_await time::sleep(1ms);
                   net::UdpSocket socket = udp_on("0.0.0.0:0");
                   client_local = socket.local_addr()->to_string();
                   auto addr13 = co_await resolve("server:5000");
                   auto ok14 = co_await socket.send_to(bytes_of("ping"), addr13);
                   if (!ok14) {
                       throw std::runtime_error("send_to");
                   }
                   std::byte buf[64];
                   auto r = co_await socket.recv_from(buf);
                   if (!r) throw std::runtime_error("recv_from");
                   client_got.assign(reinterpret_cast<const char*>(buf), r->first);
                   client_saw_from = r->second.to_string();
               }));
    sim.run();
    EXPECT_EQ(server_got, "ping");
    EXPECT_EQ(server_saw_from, client_local);
    EXPECT_EQ(client_local.rfind("10.0.0.2:", 0), 0u) << client_local;
    EXPECT_EQ(client_got, "pong");
    EXPECT_EQ(client_saw_from, "10.0.0.1:5000");
}

TEST(SimNetUdp, AConnectedSocketTalksToItsPeerOnly) {
    std::vector<std::string> got;
    auto sim = sim::Builder().seed(21).latency(1ms, 5ms).build();
    sim.host("peer", software([]() -> Task<void> {
                 net::UdpSocket socket = udp_on("0.0.0.0:5000");
                 co_await time::sleep(50ms);
                 auto addr15 = co_await resolve("client:6000");
                 auto ok16 = co_await socket.send_to(bytes_of("from peer"), addr15);
                 if (!ok16) {
                     throw std::runtime_error("send_to");
                 }
                 co_await sleep_forever();
             }));
    sim.host("stranger", software([]() -> Task<void> {
                 net::UdpSocket socket = udp_on("0.0.0.0:5000");
                 co_await time::sleep(20ms);
                 auto addr17 = co_await resolve("client:6000");
                 auto ok18 = co_await socket.send_to(bytes_of("from stranger"), addr17);
                 if (!ok18) {
                     throw std::runtime_error("send_to");
                 }
                 co_await sleep_forever();
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   net::UdpSocket socket = udp_on("0.0.0.0:6000");
                   auto addr19 = co_await resolve("peer:5000");
                   if (!socket.connect(addr19)) throw std::runtime_error("connect");
                   for (;;) {
                       std::byte buf[64];
                       auto r = co_await time::timeout(500ms, socket.recv(buf));
                       if (!r) co_return;
                       if (!*r) throw std::runtime_error("recv");
                       got.emplace_back(reinterpret_cast<const char*>(buf), **r);
                   }
               }));
    sim.run();
    EXPECT_EQ(got, (std::vector<std::string>{"from peer"}));
}

TEST(SimNetUdp, BindingATakenUdpPortGivesAddressInUse) {
    std::optional<std::error_code> error;
    auto sim = sim::Builder().seed(22).build();
    sim.client("client", task_of([&]() -> Task<void> {
                   net::UdpSocket first = udp_on("0.0.0.0:5000");
                   auto second = net::UdpSocket::bind("0.0.0.0:5000");
                   if (!second) error = second.error();
                   co_return;
               }));
    sim.run();
    ASSERT_TRUE(error);
    EXPECT_EQ(*error, std::errc::address_in_use) << error->message();
}

TEST(SimNetUdp, ADatagramLongerThanTheBufferIsTruncated) {
    std::optional<net::DatagramInfo> info;
    std::string got;
    auto sim = sim::Builder().seed(23).build();
    sim.host("server", software([&]() -> Task<void> {
                 net::UdpSocket socket = udp_on("0.0.0.0:5000");
                 std::byte buf[4];
                 auto r = co_await socket.recv_datagram(buf);
                 if (!r) throw std::runtime_error("recv_datagram");
                 info = *r;
                 got.assign(reinterpret_cast<const char*>(buf), r->len);
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   co_await time::sleep(1ms);
                   net::UdpSocket socket = udp_on("0.0.0.0:0");
                   auto addr20 = co_await resolve("server:5000");
                   auto ok21 = co_await socket.send_to(bytes_of("truncated"), addr20);
                   if (!ok21) {
                       throw std::runtime_error("send_to");
                   }
                   co_await time::sleep(1s);
               }));
    sim.run();
    ASSERT_TRUE(info);
    EXPECT_EQ(info->len, 4u);
    EXPECT_EQ(info->wire_len, 9u);
    EXPECT_EQ(got, "trun");
}

/// How many of `count` datagrams reach the server with the given loss.
int datagrams_delivered(double loss, int count, std::uint64_t seed) {
    int received = 0;
    auto sim = sim::Builder().seed(seed).udp_loss(loss).build();
    sim.host("server", software([&]() -> Task<void> {
                 net::UdpSocket socket = udp_on("0.0.0.0:5000");
                 std::byte buf[16];
                 for (;;) {
                     auto ok22 = co_await socket.recv_from(buf);
                     if (ok22) ++received;
                 }
             }));
    sim.client("client", task_of([&, count]() -> Task<void> {
                   co_await time::sleep(1ms);
                   net::UdpSocket socket = udp_on("0.0.0.0:0");
                   net::SocketAddr to = co_await resolve("server:5000");
                   for (int i = 0; i < count; ++i) {
                       auto ok23 = co_await socket.send_to(bytes_of("datagram"), to);
                       if (!ok23) throw std::runtime_error("send_to");
                   }
                   co_await time::sleep(1s);
               }));
    sim.run();
    return received;
}

TEST(SimNetUdp, WithoutLossEveryDatagramArrives) { EXPECT_EQ(datagrams_delivered(0.0, 200, 24), 200); }

TEST(SimNetUdp, UdpLossOfOneLosesEveryDatagram) { EXPECT_EQ(datagrams_delivered(1.0, 200, 25), 0); }

TEST(SimNetUdp, UdpLossOfOneHalfLosesSomeButNotAll) {
    int got = datagrams_delivered(0.5, 400, 26);
    EXPECT_GT(got, 120);
    EXPECT_LT(got, 280);
}

TEST(SimNetUdp, ADatagramToAPortWithNoSocketIsDroppedSilently) {
    std::optional<std::error_code> error;
    auto sim = sim::Builder().seed(27).build();
    sim.host("server", sleep_forever);
    sim.client("client", task_of([&]() -> Task<void> {
                   net::UdpSocket socket = udp_on("0.0.0.0:0");
                   net::SocketAddr to = co_await resolve("server:5999");
                   for (int i = 0; i < 3; ++i) {
                       auto sent = co_await socket.send_to(bytes_of("nobody"), to);
                       if (!sent) error = sent.error();
                       co_await time::sleep(10ms);
                   }
               }));
    sim.run();
    EXPECT_FALSE(error) << error->message();
}

TEST(SimNetUdp, ASocketBoundToLoopbackGetsNoDatagramsFromOtherHosts) {
    std::optional<std::string> got;
    auto sim = sim::Builder().seed(28).build();
    sim.host("server", software([&]() -> Task<void> {
                 net::UdpSocket socket = udp_on("127.0.0.1:5000");
                 std::byte buf[64];
                 auto r = co_await socket.recv_from(buf);
                 if (r) got = std::string(reinterpret_cast<const char*>(buf), r->first);
             }));
    sim.client("client", task_of([&]() -> Task<void> {
                   co_await time::sleep(1ms);
                   net::UdpSocket socket = udp_on("0.0.0.0:0");
                   auto addr24 = co_await resolve("server:5000");
                   auto ok25 = co_await socket.send_to(bytes_of("outside"), addr24);
                   if (!ok25) {
                       throw std::runtime_error("send_to");
                   }
                   co_await time::sleep(1s);
               }));
    sim.run();
    EXPECT_FALSE(got) << "a socket bound to 127.0.0.1 received '" << *got << "' from another host";
}

}  // namespace
}  // namespace corio
