// Tests of the sockets' readiness API (net/detail/readiness.hpp, io/ready.hpp):
// readable(), writable() and ready(interest) on TcpStream, UnixStream and
// UdpSocket; try_read / try_write (try_recv / try_send / try_recv_from /
// try_send_to for UDP) that never wait; any number of tasks waiting on one
// socket at once (three readable() waiters, two UDP receivers, two
// acceptors), on the current_thread and the multi-thread runtime; dropped
// waiters that must not disturb the others; closed and empty sockets.
//
// The socket-generic tests are typed over Tcp, Unix and Udp, each a
// connected pair on loopback (or a socketpair). Every root is bounded by
// time::timeout; "stays pending" is checked with a short timeout of its own.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "corio/io/ready.hpp"
#include "corio/net/tcp.hpp"
#include "corio/net/udp.hpp"
#include "corio/net/unix.hpp"
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

using io::Interest;
using io::Readiness;
using test::bytes_of;
using test::string_of;

/// Each root runs on a fresh current_thread runtime, bounded by 5 s.
constexpr test::RunBounded run_bounded{5s};
/// The same on a multi-thread runtime, so waiters park and wake on different threads.
constexpr test::RunBounded run_bounded_mt = test::RunBounded::multi_thread(5s, 4);

/// How long a wait that must not complete is given.
constexpr auto kNoEvent = 30ms;

constexpr std::errc kWouldBlock = std::errc::resource_unavailable_try_again;

// ---- socket kinds -----------------------------------------------------------------

/// Two connected TCP streams on 127.0.0.1 (the listener is gone once both exist).
struct Tcp {
    using Socket = TcpStream;

    static Task<io::Result<std::pair<TcpStream, TcpStream>>> pair() {
        auto listener = TcpListener::bind("127.0.0.1:0");
        if (!listener) co_return std::unexpected(listener.error());
        auto local = listener->local_addr();
        if (!local) co_return std::unexpected(local.error());
        auto client = co_await TcpStream::connect(*local);
        if (!client) co_return std::unexpected(client.error());
        auto accepted = co_await listener->accept();
        if (!accepted) co_return std::unexpected(accepted.error());
        co_return std::pair<TcpStream, TcpStream>(std::move(*client), std::move(accepted->first));
    }
    static io::Result<std::size_t> try_take(TcpStream& s, std::span<std::byte> buf) { return s.try_read(buf); }
    static io::Result<std::size_t> try_put(TcpStream& s, std::span<const std::byte> buf) { return s.try_write(buf); }
};

/// Two connected Unix streams (a socketpair).
struct Unix {
    using Socket = UnixStream;

    static Task<io::Result<std::pair<UnixStream, UnixStream>>> pair() { co_return UnixStream::pair(); }
    static io::Result<std::size_t> try_take(UnixStream& s, std::span<std::byte> buf) { return s.try_read(buf); }
    static io::Result<std::size_t> try_put(UnixStream& s, std::span<const std::byte> buf) { return s.try_write(buf); }
};

/// Two UDP sockets on 127.0.0.1, each connected to the other.
struct Udp {
    using Socket = UdpSocket;

    static Task<io::Result<std::pair<UdpSocket, UdpSocket>>> pair() {
        auto a = UdpSocket::bind("127.0.0.1:0");
        if (!a) co_return std::unexpected(a.error());
        auto b = UdpSocket::bind("127.0.0.1:0");
        if (!b) co_return std::unexpected(b.error());
        if (auto r = a->connect(*b->local_addr()); !r) co_return std::unexpected(r.error());
        if (auto r = b->connect(*a->local_addr()); !r) co_return std::unexpected(r.error());
        co_return std::pair<UdpSocket, UdpSocket>(std::move(*a), std::move(*b));
    }
    static io::Result<std::size_t> try_take(UdpSocket& s, std::span<std::byte> buf) { return s.try_recv(buf); }
    static io::Result<std::size_t> try_put(UdpSocket& s, std::span<const std::byte> buf) { return s.try_send(buf); }
};

/// Sends `text` whole (one datagram on UDP). `text` must outlive the task.
template <class Socket>
Task<io::Result<void>> send_text(Socket* s, std::string_view text) {
    if constexpr (std::is_same_v<Socket, UdpSocket>) {
        auto n = co_await s->send(bytes_of(text));
        if (!n) co_return std::unexpected(n.error());
        co_return io::Result<void>();
    } else {
        co_return co_await s->write_all(bytes_of(text));
    }
}

/// Waits for readable(), then takes what try_read / try_recv gives.
template <class Kind>
Task<io::Result<std::string>> take_text(typename Kind::Socket* s) {
    std::array<std::byte, 256> buf{};
    for (;;) {
        auto ready = co_await s->readable();
        if (!ready) co_return std::unexpected(ready.error());
        auto n = Kind::try_take(*s, buf);
        if (n) co_return string_of(std::span(buf).first(*n));
        if (n.error() != kWouldBlock) co_return std::unexpected(n.error());
    }
}

// ---- waiting tasks ------------------------------------------------------------------

/// Waits until `*parked` reaches `n`: yields at first, then sleeps a
/// millisecond at a time, so that a waiter that never parks cannot keep the
/// runtime from turning its timers (the test's bound must still fire).
Task<void> until_parked(const std::atomic<int>* parked, int n) {
    for (int i = 0; parked->load() < n; ++i) {
        if (i < 100) {
            co_await task::yield_now();
        } else {
            co_await time::sleep(1ms);
        }
    }
}

/// Awaits `s->readable()`, counted in `*parked` once it waits.
template <class Socket>
Task<io::Result<void>> await_readable(Socket* s, std::atomic<int>* parked) {
    co_return co_await test::CountParked(s->readable(), parked);
}

/// Awaits `s->writable()`, counted in `*parked` once it waits.
template <class Socket>
Task<io::Result<void>> await_writable(Socket* s, std::atomic<int>* parked) {
    co_return co_await test::CountParked(s->writable(), parked);
}

// ---- typed tests over Tcp, Unix and Udp ------------------------------------------------

template <class Kind>
class SocketReadiness : public ::testing::Test {};

using Kinds = ::testing::Types<Tcp, Unix, Udp>;

class KindName {
public:
    template <class Kind>
    static std::string GetName(int) {
        if constexpr (std::is_same_v<Kind, Tcp>) return "Tcp";
        if constexpr (std::is_same_v<Kind, Unix>) return "Unix";
        return "Udp";
    }
};

TYPED_TEST_SUITE(SocketReadiness, Kinds, KindName);

template <class Kind>
Task<void> readable_waits_for_data() {
    auto p = co_await Kind::pair();
    CO_ASSERT_OK(p);
    auto& [a, b] = *p;
    auto early = co_await time::timeout(kNoEvent, b.readable());
    EXPECT_FALSE(early.has_value()) << "readable() completed with nothing sent";
    CO_ASSERT_OK(co_await send_text(&a, "hello"));
    auto ready = co_await time::timeout(2s, b.readable());
    CO_ASSERT_TRUE(ready.has_value());
    CO_ASSERT_OK(*ready);
    auto again = co_await b.readable();  // nothing consumed the readiness: still ready
    CO_ASSERT_OK(again);
}

TYPED_TEST(SocketReadiness, ReadableCompletesWhenDataArrivesAndStaysPendingWithoutIt) {
    run_bounded(readable_waits_for_data<TypeParam>());
}

template <class Kind>
Task<void> writable_at_once() {
    auto p = co_await Kind::pair();
    CO_ASSERT_OK(p);
    auto& [a, b] = *p;
    auto wa = co_await time::timeout(2s, a.writable());
    CO_ASSERT_TRUE(wa.has_value());
    CO_ASSERT_OK(*wa);
    auto wb = co_await time::timeout(2s, b.writable());
    CO_ASSERT_TRUE(wb.has_value());
    CO_ASSERT_OK(*wb);
}

TYPED_TEST(SocketReadiness, WritableIsReadyOnAFreshSocket) { run_bounded(writable_at_once<TypeParam>()); }

template <class Kind>
Task<void> try_read_then_readable() {
    auto p = co_await Kind::pair();
    CO_ASSERT_OK(p);
    auto& [a, b] = *p;
    std::array<std::byte, 64> buf{};
    auto empty = Kind::try_take(b, buf);
    CO_ASSERT_FALSE(empty.has_value());
    EXPECT_EQ(empty.error(), kWouldBlock) << empty.error().message();
    CO_ASSERT_OK(co_await send_text(&a, "payload"));
    CO_ASSERT_OK(co_await b.readable());
    auto n = Kind::try_take(b, buf);
    CO_ASSERT_OK(n);
    EXPECT_EQ(string_of(std::span(buf).first(*n)), "payload");
    // Drained: the next try gets would-block, which clears the readiness, so
    // readable() waits again.
    auto drained = Kind::try_take(b, buf);
    CO_ASSERT_FALSE(drained.has_value());
    EXPECT_EQ(drained.error(), kWouldBlock) << drained.error().message();
    auto waits = co_await time::timeout(kNoEvent, b.readable());
    EXPECT_FALSE(waits.has_value()) << "readable() completed after would-block cleared the readiness";
    CO_ASSERT_OK(co_await send_text(&a, "more"));
    auto more = co_await take_text<Kind>(&b);
    CO_ASSERT_OK(more);
    EXPECT_EQ(*more, "more");
}

TYPED_TEST(SocketReadiness, TryReadWouldBlockWhenEmptyAndReturnsTheDataOnceReadable) {
    run_bounded(try_read_then_readable<TypeParam>());
}

template <class Kind>
Task<void> try_write_sends() {
    auto p = co_await Kind::pair();
    CO_ASSERT_OK(p);
    auto& [a, b] = *p;
    CO_ASSERT_OK(co_await a.writable());
    auto n = Kind::try_put(a, bytes_of("ping"));
    CO_ASSERT_OK(n);
    EXPECT_EQ(*n, 4u);
    auto got = co_await take_text<Kind>(&b);
    CO_ASSERT_OK(got);
    EXPECT_EQ(*got, "ping");
}

TYPED_TEST(SocketReadiness, TryWriteSendsWhatThePeerReceives) { run_bounded(try_write_sends<TypeParam>()); }

template <class Kind>
Task<void> ready_reports_flags() {
    auto p = co_await Kind::pair();
    CO_ASSERT_OK(p);
    auto& [a, b] = *p;
    CO_ASSERT_OK(co_await b.writable());
    auto fresh = co_await b.ready(Interest::Readable | Interest::Writable);
    CO_ASSERT_OK(fresh);
    EXPECT_TRUE(fresh->is_writable());
    EXPECT_FALSE(fresh->is_readable()) << "nothing was sent yet";
    EXPECT_FALSE(fresh->is_read_closed());
    auto write_only = co_await b.ready(Interest::Writable);
    CO_ASSERT_OK(write_only);
    EXPECT_TRUE(write_only->is_writable());
    CO_ASSERT_OK(co_await send_text(&a, "x"));
    auto read_only = co_await b.ready(Interest::Readable);
    CO_ASSERT_OK(read_only);
    EXPECT_TRUE(read_only->is_readable());
    EXPECT_FALSE(read_only->is_writable()) << "only the flags asked for are reported";
    auto both = co_await b.ready(Interest::Readable | Interest::Writable);
    CO_ASSERT_OK(both);
    EXPECT_TRUE(both->is_readable());
    EXPECT_TRUE(both->is_writable());
    EXPECT_FALSE(both->is_empty());
}

TYPED_TEST(SocketReadiness, ReadyReportsTheFlagsOfTheInterestAskedFor) {
    run_bounded(ready_reports_flags<TypeParam>());
}

template <class Kind>
Task<void> three_readable_waiters() {
    auto p = co_await Kind::pair();
    CO_ASSERT_OK(p);
    auto& [a, b] = *p;
    std::atomic<int> parked{0};
    std::vector<JoinHandle<io::Result<void>>> waiters;
    for (int i = 0; i < 3; ++i) waiters.push_back(spawn(await_readable(&b, &parked)));
    co_await until_parked(&parked, 3);
    CO_ASSERT_OK(co_await send_text(&a, "wake"));
    for (auto& w : waiters) {
        auto r = co_await w;
        CO_ASSERT_OK(r);
    }
    auto got = co_await take_text<Kind>(&b);  // the waiters consumed nothing
    CO_ASSERT_OK(got);
    EXPECT_EQ(*got, "wake");
}

TYPED_TEST(SocketReadiness, ThreeTasksAwaitingReadableOnOneSocketAllWake) {
    run_bounded(three_readable_waiters<TypeParam>());
}

TYPED_TEST(SocketReadiness, ThreeTasksAwaitingReadableOnOneSocketAllWakeOnTheMultiThreadRuntime) {
    run_bounded_mt(three_readable_waiters<TypeParam>());
}

template <class Kind>
Task<void> dropped_waiter_leaves_others() {
    auto p = co_await Kind::pair();
    CO_ASSERT_OK(p);
    auto& [a, b] = *p;
    std::atomic<int> parked{0};
    auto before = spawn(await_readable(&b, &parked));
    co_await until_parked(&parked, 1);
    // A waiter queued after `before`, dropped by its timeout while `before` waits.
    auto dropped = co_await time::timeout(kNoEvent, b.readable());
    EXPECT_FALSE(dropped.has_value());
    auto after = spawn(await_readable(&b, &parked));
    co_await until_parked(&parked, 2);
    CO_ASSERT_OK(co_await send_text(&a, "still here"));
    auto r1 = co_await before;
    CO_ASSERT_OK(r1);
    auto r2 = co_await after;
    CO_ASSERT_OK(r2);
    auto got = co_await take_text<Kind>(&b);
    CO_ASSERT_OK(got);
    EXPECT_EQ(*got, "still here");
}

TYPED_TEST(SocketReadiness, ADroppedReadableLeavesTheSocketUsableAndOtherWaitersStillWake) {
    run_bounded(dropped_waiter_leaves_others<TypeParam>());
}

TYPED_TEST(SocketReadiness, ADroppedReadableLeavesOtherWaitersWakingOnTheMultiThreadRuntime) {
    run_bounded_mt(dropped_waiter_leaves_others<TypeParam>());
}

/// Peeks through the socket's poll function (poll_peek / poll_peek_from),
/// which waits in the socket's single slot for reading, not in its wait list.
template <class Socket>
class SlotPeek {
public:
    using Output = io::Result<std::size_t>;
    SlotPeek(Socket* s, std::span<std::byte> buf) : s_(s), buf_(buf) {}
    Poll<Output> poll(Context& cx) {
        if constexpr (std::is_same_v<Socket, UdpSocket>) {
            auto r = s_->poll_peek_from(cx, buf_);
            if (r.is_pending()) return Pending;
            if (!*r) return Ready(Output(std::unexpected(r->error())));
            return Ready(Output((*r)->first));
        } else {
            return s_->poll_peek(cx, buf_);
        }
    }

private:
    Socket* s_;
    std::span<std::byte> buf_;
};

/// Peeks through the slot, counted in `*parked` once it waits.
template <class Socket>
Task<io::Result<std::string>> peek_in_slot(Socket* s, std::atomic<int>* parked) {
    std::array<std::byte, 64> buf{};
    auto n = co_await test::CountParked(SlotPeek<Socket>(s, buf), parked);
    if (!n) co_return std::unexpected(n.error());
    co_return string_of(std::span(buf).first(*n));
}

/// A task peeking through the socket's slot and one awaiting readable()
/// through the wait list, at once: one event wakes both. (Peeking consumes
/// nothing, so whichever runs first leaves the readiness to the other.)
template <class Kind>
Task<void> slot_and_list_waiters() {
    auto p = co_await Kind::pair();
    CO_ASSERT_OK(p);
    auto& [a, b] = *p;
    std::atomic<int> parked{0};
    auto watcher = spawn(await_readable(&b, &parked));
    auto reader = spawn(peek_in_slot(&b, &parked));
    co_await until_parked(&parked, 2);
    CO_ASSERT_OK(co_await send_text(&a, "both"));
    auto got = co_await reader;
    CO_ASSERT_OK(got);
    EXPECT_EQ(*got, "both");
    auto w = co_await watcher;
    CO_ASSERT_OK(w);
}

TYPED_TEST(SocketReadiness, APeekInTheSlotAndAReadableInTheListBothWake) {
    run_bounded(slot_and_list_waiters<TypeParam>());
}

template <class Kind>
Task<void> empty_socket_fails() {
    typename Kind::Socket s;
    std::array<std::byte, 8> buf{};
    auto r = co_await s.readable();
    CO_ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), std::errc::bad_file_descriptor);
    auto w = co_await s.writable();
    CO_ASSERT_FALSE(w.has_value());
    EXPECT_EQ(w.error(), std::errc::bad_file_descriptor);
    auto rd = co_await s.ready(Interest::Readable | Interest::Writable);
    CO_ASSERT_FALSE(rd.has_value());
    EXPECT_EQ(rd.error(), std::errc::bad_file_descriptor);
    auto taken = Kind::try_take(s, buf);
    CO_ASSERT_FALSE(taken.has_value());
    EXPECT_EQ(taken.error(), std::errc::bad_file_descriptor);
    auto put = Kind::try_put(s, bytes_of("x"));
    CO_ASSERT_FALSE(put.has_value());
    EXPECT_EQ(put.error(), std::errc::bad_file_descriptor);
}

TYPED_TEST(SocketReadiness, OperationsOnADefaultConstructedSocketFailWithBadFileDescriptor) {
    run_bounded(empty_socket_fails<TypeParam>());
}

/// Closing the socket (assigning an empty one, as tcp_test.cpp describes)
/// wakes a task waiting in readable(); the closed socket then fails at once.
template <class Kind>
Task<void> close_under_readable() {
    auto p = co_await Kind::pair();
    CO_ASSERT_OK(p);
    auto& b = p->second;
    std::atomic<int> parked{0};
    auto waiter = spawn(await_readable(&b, &parked));
    co_await until_parked(&parked, 1);
    b = typename Kind::Socket();
    auto r = co_await waiter;
    CO_ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), std::errc::bad_file_descriptor) << r.error().message();
    std::array<std::byte, 8> buf{};
    auto taken = Kind::try_take(b, buf);
    CO_ASSERT_FALSE(taken.has_value());
    EXPECT_EQ(taken.error(), std::errc::bad_file_descriptor);
}

TYPED_TEST(SocketReadiness, ClosingTheSocketWakesAPendingReadableWithBadFileDescriptor) {
    run_bounded(close_under_readable<TypeParam>());
}

// ---- streams: end of stream and a full send buffer ----------------------------------------

template <class Kind>
class StreamReadiness : public ::testing::Test {};

using StreamKinds = ::testing::Types<Tcp, Unix>;
TYPED_TEST_SUITE(StreamReadiness, StreamKinds, KindName);

template <class Kind>
Task<void> read_closed_after_peer_closes() {
    auto p = co_await Kind::pair();
    CO_ASSERT_OK(p);
    auto& [a, b] = *p;
    CO_ASSERT_OK(co_await send_text(&a, "last words"));
    a = typename Kind::Socket();  // the peer closes
    // Readiness is a hint: a try may still find nothing (would block) and
    // wait again, but read-closed must be seen before end of stream.
    std::array<std::byte, 64> buf{};
    std::string got;
    bool saw_read_closed = false;
    for (;;) {
        auto ready = co_await b.ready(Interest::Readable);
        CO_ASSERT_OK(ready);
        EXPECT_TRUE(ready->is_readable());
        if (ready->is_read_closed()) saw_read_closed = true;
        auto n = Kind::try_take(b, buf);
        if (!n && n.error() == kWouldBlock) continue;
        CO_ASSERT_OK(n);
        if (*n == 0) break;
        got += string_of(std::span(buf).first(*n));
    }
    EXPECT_EQ(got, "last words");
    EXPECT_TRUE(saw_read_closed);
    auto still = co_await time::timeout(2s, b.readable());  // end of stream keeps it readable
    CO_ASSERT_TRUE(still.has_value());
    CO_ASSERT_OK(*still);
    auto eof = Kind::try_take(b, buf);
    CO_ASSERT_OK(eof);
    EXPECT_EQ(*eof, 0u);
}

TYPED_TEST(StreamReadiness, ReadyReportsReadClosedOnceThePeerClosesAndTryReadReturnsEndOfStream) {
    run_bounded(read_closed_after_peer_closes<TypeParam>());
}

/// Writes with try_write until it would block; how many bytes it took.
template <class Kind>
io::Result<std::size_t> write_until_would_block(typename Kind::Socket& s) {
    static const std::vector<std::byte> chunk(64 * 1024, std::byte{'z'});
    std::size_t total = 0;
    for (;;) {
        auto n = Kind::try_put(s, chunk);
        if (!n) {
            if (n.error() == kWouldBlock) return total;
            return std::unexpected(n.error());
        }
        total += *n;
    }
}

/// Fills everything between `s` and a peer that does not read: writes until
/// would-block, until writable() then stays pending (on io_uring a
/// would-block only means corio's own send queue is full, which drains into
/// the kernel's buffers). How many bytes were written.
template <class Kind>
Task<io::Result<std::size_t>> fill_send_buffers(typename Kind::Socket* s) {
    std::size_t total = 0;
    for (int round = 0; round < 10000; ++round) {  // bounded: 64 KiB or more a round, far beyond any loopback buffer
        auto n = write_until_would_block<Kind>(*s);
        if (!n) co_return std::unexpected(n.error());
        total += *n;
        auto room = co_await time::timeout(kNoEvent, s->writable());
        if (!room.has_value()) co_return total;  // full: writable() waits
    }
    co_return io::error(std::errc::no_buffer_space);
}

template <class Kind>
Task<void> writable_after_drain() {
    auto p = co_await Kind::pair();
    CO_ASSERT_OK(p);
    auto& [a, b] = *p;
    CO_ASSERT_OK(co_await a.writable());
    auto filled = co_await fill_send_buffers<Kind>(&a);
    CO_ASSERT_OK(filled);
    EXPECT_GT(*filled, 0u);
    std::atomic<int> parked{0};
    auto write_waiter = spawn(await_writable(&a, &parked));
    co_await until_parked(&parked, 1);
    std::string drained = co_await test::read_string(b, *filled);
    EXPECT_EQ(drained.size(), *filled);
    auto w = co_await write_waiter;
    CO_ASSERT_OK(w);
    auto more = Kind::try_put(a, bytes_of("more"));
    CO_ASSERT_OK(more);
}

TYPED_TEST(StreamReadiness, WritableWaitsWhileTheSendBufferIsFullAndWakesOnceThePeerDrainsIt) {
    run_bounded(writable_after_drain<TypeParam>());
}

template <class Kind>
Task<void> split_halves_readiness() {
    auto p = co_await Kind::pair();
    CO_ASSERT_OK(p);
    auto [reader, writer] = std::move(p->first).into_split();
    auto& peer = p->second;
    CO_ASSERT_OK(co_await writer.writable());
    CO_ASSERT_OK(writer.try_write(bytes_of("out")));
    CO_ASSERT_OK(co_await send_text(&peer, "in"));
    CO_ASSERT_OK(co_await reader.readable());
    std::array<std::byte, 8> buf{};
    auto n = reader.try_read(buf);
    CO_ASSERT_OK(n);
    EXPECT_EQ(string_of(std::span(buf).first(*n)), "in");
    auto got = co_await test::read_string(peer, 3);
    EXPECT_EQ(got, "out");
}

TYPED_TEST(StreamReadiness, SplitHalvesOfferTheReadinessApiOfTheirDirection) {
    run_bounded(split_halves_readiness<TypeParam>());
}

// ---- UDP: several receivers, try_recv_from / try_send_to ------------------------------------

Task<io::Result<std::string>> recv_one(UdpSocket* s, std::atomic<int>* parked) {
    std::array<std::byte, 64> buf{};
    auto got = co_await test::CountParked(s->recv_from(buf), parked);
    if (!got) co_return std::unexpected(got.error());
    co_return string_of(std::span(buf).first(got->first));
}

Task<void> two_udp_receivers() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    auto b = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(b);
    std::atomic<int> parked{0};
    auto first = spawn(recv_one(&*b, &parked));
    auto second = spawn(recv_one(&*b, &parked));
    co_await until_parked(&parked, 2);
    auto to = b->local_addr();
    CO_ASSERT_OK(to);
    CO_ASSERT_OK(co_await a->send_to(bytes_of("one"), *to));
    CO_ASSERT_OK(co_await a->send_to(bytes_of("two"), *to));
    auto r1 = co_await first;
    CO_ASSERT_OK(r1);
    auto r2 = co_await second;
    CO_ASSERT_OK(r2);
    EXPECT_NE(*r1, *r2) << "each datagram goes to one receiver";
    EXPECT_TRUE((*r1 == "one" || *r1 == "two") && (*r2 == "one" || *r2 == "two"));
}

TEST(UdpReadiness, TwoTasksReceivingOnOneSocketEachGetOneDatagram) { run_bounded(two_udp_receivers()); }

TEST(UdpReadiness, TwoTasksReceivingOnOneSocketEachGetOneDatagramOnTheMultiThreadRuntime) {
    run_bounded_mt(two_udp_receivers());
}

Task<void> udp_try_to_and_from() {
    auto a = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(a);
    auto b = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(b);
    std::array<std::byte, 64> buf{};
    auto nothing = b->try_recv_from(buf);
    CO_ASSERT_FALSE(nothing.has_value());
    EXPECT_EQ(nothing.error(), kWouldBlock);
    CO_ASSERT_OK(co_await a->writable());
    auto sent = a->try_send_to(bytes_of("hi"), *b->local_addr());
    CO_ASSERT_OK(sent);
    EXPECT_EQ(*sent, 2u);
    for (;;) {
        CO_ASSERT_OK(co_await b->readable());
        auto got = b->try_recv_from(buf);
        if (!got && got.error() == kWouldBlock) continue;  // a readiness that was not for us
        CO_ASSERT_OK(got);
        EXPECT_EQ(string_of(std::span(buf).first(got->first)), "hi");
        EXPECT_EQ(got->second, *a->local_addr());
        break;
    }
    auto unconnected = a->try_send(bytes_of("x"));
    CO_ASSERT_FALSE(unconnected.has_value());
    EXPECT_EQ(unconnected.error(), std::errc::destination_address_required);
}

TEST(UdpReadiness, TryRecvFromAndTrySendToWorkWithoutWaiting) { run_bounded(udp_try_to_and_from()); }

// ---- listeners: several acceptors -----------------------------------------------------------

template <class Listener>
Task<bool> accept_one(Listener* l, std::atomic<int>* parked) {
    auto accepted = co_await test::CountParked(l->accept(), parked);
    co_return accepted.has_value();
}

Task<void> two_tcp_acceptors() {
    auto listener = TcpListener::bind("127.0.0.1:0");
    CO_ASSERT_OK(listener);
    std::atomic<int> parked{0};
    auto first = spawn(accept_one(&*listener, &parked));
    auto second = spawn(accept_one(&*listener, &parked));
    co_await until_parked(&parked, 2);
    auto c1 = co_await TcpStream::connect(*listener->local_addr());
    CO_ASSERT_OK(c1);
    auto c2 = co_await TcpStream::connect(*listener->local_addr());
    CO_ASSERT_OK(c2);
    auto ok1 = co_await first;
    auto ok2 = co_await second;
    EXPECT_TRUE(ok1);
    EXPECT_TRUE(ok2);
}

TEST(ListenerReadiness, TwoTasksAcceptingOnOneTcpListenerEachGetAConnection) { run_bounded(two_tcp_acceptors()); }

TEST(ListenerReadiness, TwoTasksAcceptingOnOneTcpListenerEachGetAConnectionOnTheMultiThreadRuntime) {
    run_bounded_mt(two_tcp_acceptors());
}

Task<void> two_unix_acceptors() {
    std::string name = std::string(1, '\0') + "corio-readiness-" + std::to_string(::getpid());
    auto listener = UnixListener::bind(name);
    CO_ASSERT_OK(listener);
    std::atomic<int> parked{0};
    auto first = spawn(accept_one(&*listener, &parked));
    auto second = spawn(accept_one(&*listener, &parked));
    co_await until_parked(&parked, 2);
    auto c1 = co_await UnixStream::connect(name);
    CO_ASSERT_OK(c1);
    auto c2 = co_await UnixStream::connect(name);
    CO_ASSERT_OK(c2);
    auto ok1 = co_await first;
    auto ok2 = co_await second;
    EXPECT_TRUE(ok1);
    EXPECT_TRUE(ok2);
}

TEST(ListenerReadiness, TwoTasksAcceptingOnOneUnixListenerEachGetAConnection) { run_bounded(two_unix_acceptors()); }

// ---- the value types -----------------------------------------------------------------------

TEST(InterestAndReadiness, CombineAsSetsOfFlags) {
    static_assert(io::is_readable(Interest::Readable) && !io::is_writable(Interest::Readable));
    static_assert(io::is_readable(Interest::Readable | Interest::Writable));
    static_assert(io::is_writable(Interest::Readable | Interest::Writable));
    static_assert(Readiness().is_empty());
    static_assert(Readiness::read_closed().is_readable(), "end of stream makes a read complete");
    static_assert(Readiness::write_closed().is_writable());
    constexpr Readiness both = Readiness::readable() | Readiness::writable();
    static_assert(both.is_readable() && both.is_writable() && !both.is_read_closed() && !both.is_error());
    static_assert((both | Readiness::error()).is_error());
    EXPECT_EQ(Readiness::readable() | Readiness::writable(), both);
    EXPECT_NE(Readiness::readable(), Readiness::writable());
}

}  // namespace
}  // namespace corio::net
