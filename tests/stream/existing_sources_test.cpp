// What already existed, read as streams: mpsc, broadcast and watch
// receivers, time::Interval, TcpListener/UnixListener::incoming(),
// io::BufReader::lines() and signal::Signal.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "corio/io.hpp"
#include "corio/net.hpp"
#include "corio/runtime.hpp"
#include "corio/signal.hpp"
#include "corio/stream.hpp"
#include "corio/sync.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/co_assert.hpp"
#include "support/run_bounded.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using Ints = std::vector<int>;

constexpr test::RunBounded run_bounded{10s};

static_assert(Stream<sync::mpsc::Receiver<int>>);
static_assert(Stream<sync::mpsc::UnboundedReceiver<int>>);
static_assert(Stream<stream::BroadcastStream<int>>);
static_assert(Stream<stream::WatchStream<int>>);
static_assert(Stream<time::Interval>);
static_assert(Stream<net::TcpListener::Incoming>);
static_assert(Stream<net::UnixListener::Incoming>);
static_assert(Stream<io::Lines<io::BufReader<io::DuplexStream>>>);
static_assert(Stream<signal::Signal>);

Task<void> mpsc_stream() {
    auto [tx, rx] = sync::mpsc::channel<int>(8);
    for (int i = 1; i <= 3; ++i) CO_ASSERT_TRUE((co_await tx.send(i)).has_value());
    {
        auto dropped = std::move(tx);
    }
    auto doubled = co_await stream::collect<Ints>(rx | stream::map([](int v) { return v * 2; }));
    EXPECT_EQ(doubled, (Ints{2, 4, 6}));
    EXPECT_FALSE((co_await stream::next(rx)).has_value());  // still ended
}

TEST(StreamFromMpsc, ABoundedReceiverYieldsEachValueThenEndsWhenSendersAreGone) { run_bounded(mpsc_stream()); }

Task<void> unbounded_stream() {
    auto [tx, rx] = sync::mpsc::unbounded_channel<int>();
    auto producer = spawn([](sync::mpsc::UnboundedSender<int> tx) -> Task<void> {
        for (int i = 0; i < 5; ++i) {
            co_await task::yield_now();
            (void)tx.send(i);
        }
    }(std::move(tx)));
    auto n = co_await stream::count(rx);
    EXPECT_EQ(n, 5U);
    co_await std::move(producer);
}

TEST(StreamFromMpsc, AnUnboundedReceiverWaitsForValuesSentLater) { run_bounded(unbounded_stream()); }

Task<void> produce(sync::mpsc::Sender<int> tx, int first, int n) {
    for (int i = first; i < first + n; ++i) {
        auto sent = co_await tx.send(i);
        if (!sent) co_return;
    }
}

Task<void> merge_across_threads() {
    auto [tx1, rx1] = sync::mpsc::channel<int>(4);
    auto [tx2, rx2] = sync::mpsc::channel<int>(4);
    auto p1 = spawn(produce(std::move(tx1), 0, 500));
    auto p2 = spawn(produce(std::move(tx2), 1000, 500));
    auto sum = co_await stream::fold(stream::merge(rx1, rx2), 0L, [](long acc, int v) { return acc + v; });
    EXPECT_EQ(sum, 124750L + 624750L);
    co_await std::move(p1);
    co_await std::move(p2);
}

TEST(StreamFromMpsc, MergedReceiversFedFromOtherWorkersYieldEveryValue) {
    constexpr auto run_multi = test::RunBounded::multi_thread(10s, 2);
    run_multi(merge_across_threads());
}

Task<void> broadcast_stream() {
    auto [tx, rx] = sync::broadcast::channel<int>(2);
    for (int i = 1; i <= 4; ++i) (void)tx.send(i);
    stream::BroadcastStream<int> s(std::move(rx));
    auto first = co_await stream::next(s);
    CO_ASSERT_TRUE(first.has_value());
    CO_ASSERT_FALSE(first->has_value());
    EXPECT_TRUE(first->error().is_lagged());
    EXPECT_EQ(first->error().missed(), 2U);
    auto third = co_await stream::next(s);
    CO_ASSERT_TRUE(third.has_value() && third->has_value());
    EXPECT_EQ(**third, 3);
    {
        auto dropped = std::move(tx);
    }
    auto rest = co_await stream::count(s);
    EXPECT_EQ(rest, 1U);  // 4, then the end
    EXPECT_FALSE((co_await stream::next(s)).has_value());
}

TEST(StreamFromBroadcast, YieldsValuesReportsALagAndEndsWhenSendersAreGone) { run_bounded(broadcast_stream()); }

Task<void> watch_stream() {
    auto [tx, rx] = sync::watch::channel<int>(0);
    stream::WatchStream<int> s(std::move(rx));
    EXPECT_EQ(co_await stream::next(s), std::optional<int>(0));  // the current value first
    auto sender = spawn([](sync::watch::Sender<int> tx) -> Task<void> {
        co_await task::yield_now();
        (void)tx.send(5);
    }(std::move(tx)));
    EXPECT_EQ(co_await stream::next(s), std::optional<int>(5));
    co_await std::move(sender);  // the sender is dropped with its task
    EXPECT_EQ(co_await stream::next(s), std::nullopt);
}

TEST(StreamFromWatch, YieldsTheCurrentValueThenEachChangeThenEnds) { run_bounded(watch_stream()); }

Task<void> interval_stream() {
    time::Instant start = time::Instant::now();
    auto ticks = co_await stream::collect<std::vector<time::Instant>>(time::interval(10ms) | stream::take(3));
    EXPECT_EQ(ticks, (std::vector<time::Instant>{start, start + 10ms, start + 20ms}));
}

TEST(StreamFromInterval, YieldsTheScheduledInstantOfEachTick) {
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto r = rt.block_on(time::timeout(1000h, interval_stream()));
    EXPECT_TRUE(r.has_value());
}

Task<void> connect_times(net::SocketAddr addr, int n) {
    for (int i = 0; i < n; ++i) {
        auto c = co_await net::TcpStream::connect(addr);
        EXPECT_TRUE(c.has_value());
    }
}

Task<void> tcp_incoming() {
    auto listener = net::TcpListener::bind("127.0.0.1:0");
    CO_ASSERT_OK(listener);
    auto addr = listener->local_addr();
    CO_ASSERT_OK(addr);
    auto client = spawn(connect_times(*addr, 3));
    auto ok = co_await stream::count(listener->incoming() | stream::take(3) |
                                     stream::filter([](const io::Result<net::TcpStream>& c) { return c.has_value(); }));
    EXPECT_EQ(ok, 3U);
    co_await std::move(client);
}

TEST(StreamFromTcpListener, IncomingYieldsEachAcceptedConnection) { run_bounded(tcp_incoming()); }

Task<void> unix_incoming() {
    std::string path = "/tmp/corio-stream-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path.c_str());
    auto listener = net::UnixListener::bind(path);
    CO_ASSERT_OK(listener);
    auto client = spawn([](std::string path) -> Task<void> {
        auto c = co_await net::UnixStream::connect(path);
        EXPECT_TRUE(c.has_value());
    }(path));
    auto incoming = listener->incoming();
    auto first = co_await stream::next(incoming);
    ::unlink(path.c_str());
    CO_ASSERT_TRUE(first.has_value());
    EXPECT_TRUE(first->has_value());
    co_await std::move(client);
}

TEST(StreamFromUnixListener, IncomingYieldsEachAcceptedConnection) { run_bounded(unix_incoming()); }

Task<void> lines_stream() {
    auto [a, b] = io::duplex(64);
    auto writer = spawn([](io::DuplexStream w) -> Task<void> {
        std::string text = "one\r\ntwo\nthree";
        auto r = co_await io::write_all(w, text);
        EXPECT_TRUE(r.has_value());
    }(std::move(a)));
    auto lines = io::BufReader(std::move(b)).lines();
    auto got = co_await stream::collect<std::vector<std::string>>(
        lines | stream::map([](io::Result<std::string> l) { return l.value_or("<error>"); }));
    EXPECT_EQ(got, (std::vector<std::string>{"one", "two", "three"}));
    co_await std::move(writer);
}

TEST(StreamFromLines, YieldsEachLineThenEndsAtEndOfStream) { run_bounded(lines_stream()); }

Task<void> raise_soon(int signum) {
    co_await task::yield_now();
    ::raise(signum);
}

Task<void> signal_stream() {
    auto sig = signal::signal(SIGUSR2);
    auto raiser = spawn(raise_soon(SIGUSR2));
    auto first = co_await stream::next(sig);
    CO_ASSERT_TRUE(first.has_value());
    EXPECT_TRUE(first->has_value());
    co_await std::move(raiser);
}

TEST(StreamFromSignal, YieldsAnItemPerArrival) { run_bounded(signal_stream()); }

}  // namespace
}  // namespace corio
