// Tests of <corio/io/util.hpp> (read, read_exact, read_to_end, write_all,
// flush, shutdown, copy, copy_bidirectional) and <corio/io/split.hpp>.
//
// Every test runs on a fresh current_thread runtime (real clock), bounded by
// time::timeout, so a lost wake-up fails the test instead of hanging it.
// Streams are io::duplex pipes, a loopback TCP connection, or small custom
// readers and writers that script short reads, short writes and Pending.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "corio/io.hpp"
#include "corio/io/util.hpp"
#include "corio/net/tcp.hpp"
#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/byte_streams.hpp"
#include "support/poll.hpp"
#include "support/run_bounded.hpp"
#include "support/scripted_streams.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;

using test::bounded;
using test::bytes_of;
using test::error_of;
using test::one_byte_chunks;
using test::ScriptedReader;
using test::string_of;
using test::ZeroWriter;

// Generous: only reached when a wake-up is lost.
constexpr std::chrono::milliseconds kBound = 30s;

/// Each test's root runs on a fresh current_thread runtime, bounded by kBound.
constexpr test::RunBounded run_bounded{kBound};

/// Like run_bounded, on a multi-thread runtime with two workers, so the
/// tasks that the root spawns run on different threads.
constexpr auto run_bounded_multi_thread = test::RunBounded::multi_thread(kBound, 2);

// ---- scripted streams -------------------------------------------------------------

/// Accepts at most `max_per_write` bytes per write, returning Pending (after
/// waking its task) before every other write. Records what it got.
class ShortWriter {
public:
    explicit ShortWriter(std::size_t max_per_write) : max_(max_per_write) {}

    Poll<io::Result<std::size_t>> poll_write(Context& cx, std::span<const std::byte> buf) {
        if ((writes_++ % 2) == 0) {
            cx.waker().wake_by_ref();
            return Pending;
        }
        std::size_t n = std::min(buf.size(), max_);
        data.append(string_of(buf.first(n)));
        return Ready(io::Result<std::size_t>(n));
    }
    Poll<io::Result<void>> poll_flush(Context&) {
        ++flushes;
        return Ready(io::Result<void>());
    }
    Poll<io::Result<void>> poll_shutdown(Context&) {
        shut_down = true;
        return Ready(io::Result<void>());
    }

    std::string data;
    int flushes = 0;
    bool shut_down = false;

private:
    std::size_t max_;
    std::size_t writes_ = 0;
};

/// Pseudo-random bytes (xorshift64), the same sequence for the same seed.
class ByteGenerator {
public:
    explicit ByteGenerator(std::uint64_t seed) : state_(seed) {}
    std::byte next() {
        if (left_ == 0) {
            state_ ^= state_ << 13;
            state_ ^= state_ >> 7;
            state_ ^= state_ << 17;
            word_ = state_;
            left_ = 8;
        }
        auto b = static_cast<std::byte>(word_ & 0xff);
        word_ >>= 8;
        --left_;
        return b;
    }

private:
    std::uint64_t state_;
    std::uint64_t word_ = 0;
    int left_ = 0;
};

/// FNV-1a over a byte stream.
class Checksum {
public:
    void add(std::span<const std::byte> bytes) {
        for (std::byte b : bytes) hash_ = (hash_ ^ static_cast<std::uint64_t>(b)) * 0x100000001b3ULL;
    }
    std::uint64_t value() const noexcept { return hash_; }

private:
    std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

/// `size` pseudo-random bytes, always ready.
class PatternReader {
public:
    explicit PatternReader(std::uint64_t size, std::uint64_t seed = 7) : remaining_(size), gen_(seed) {}
    Poll<io::Result<std::size_t>> poll_read(Context&, std::span<std::byte> buf) {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), remaining_));
        for (std::byte& b : buf.first(n)) b = gen_.next();
        remaining_ -= n;
        return Ready(io::Result<std::size_t>(n));
    }

private:
    std::uint64_t remaining_;
    ByteGenerator gen_;
};

/// The checksum of the bytes PatternReader(size, seed) yields.
std::uint64_t pattern_checksum(std::uint64_t size, std::uint64_t seed = 7) {
    ByteGenerator gen(seed);
    Checksum sum;
    for (std::uint64_t i = 0; i < size; ++i) {
        std::byte b = gen.next();
        sum.add(std::span(&b, 1));
    }
    return sum.value();
}

/// Counts and checksums what is written; always ready.
struct ChecksumWriter {
    Poll<io::Result<std::size_t>> poll_write(Context&, std::span<const std::byte> buf) {
        sum.add(buf);
        bytes += buf.size();
        return Ready(io::Result<std::size_t>(buf.size()));
    }
    Poll<io::Result<void>> poll_flush(Context&) {
        ++flushes;
        return Ready(io::Result<void>());
    }
    Poll<io::Result<void>> poll_shutdown(Context&) {
        shut_down = true;
        return Ready(io::Result<void>());
    }

    Checksum sum;
    std::uint64_t bytes = 0;
    int flushes = 0;
    bool shut_down = false;
};

// ---- compile-time: the helpers accept any AsyncRead / AsyncWrite ------------------

static_assert(io::AsyncRead<ScriptedReader> && io::AsyncWrite<ShortWriter> && io::AsyncWrite<ZeroWriter>);
static_assert(Future<io::ReadFuture<net::TcpStream>>);
static_assert(Future<io::CopyFuture<net::TcpStream, net::TcpStream>>);
static_assert(Future<io::CopyFuture<net::TcpStream::OwnedReadHalf, net::TcpStream::OwnedWriteHalf>>);
static_assert(Future<io::CopyBidirectionalFuture<net::TcpStream, io::DuplexStream>>);
static_assert(requires(net::TcpStream& s, std::span<std::byte> buf, std::vector<std::byte>& v, std::string& text) {
    { io::read(s, buf) } -> Future;
    { io::read_exact(s, buf) } -> Future;
    { io::read_to_end(s, v) } -> Future;
    { io::read_to_end(s, text) } -> Future;
    { io::write_all(s, std::span<const std::byte>(buf)) } -> Future;
    { io::write_all(s, "text") } -> Future;
    { io::flush(s) } -> Future;
    { io::shutdown(s) } -> Future;
    { io::copy(s, s) } -> Future;
    { io::copy_bidirectional(s, s) } -> Future;
    { io::split(std::move(s)) };
});
static_assert(io::AsyncRead<io::BufReader<net::TcpStream>> && io::AsyncWrite<io::BufReader<net::TcpStream>>);
static_assert(io::AsyncRead<io::BufWriter<net::TcpStream>> && io::AsyncWrite<io::BufWriter<net::TcpStream>>);
static_assert(io::AsyncRead<io::ReadHalf<net::TcpStream>> && io::AsyncWrite<io::WriteHalf<net::TcpStream>>);

// The io/ utilities compose over an in-memory stream too.
static_assert(io::AsyncRead<io::DuplexStream> && io::AsyncWrite<io::DuplexStream>);
static_assert(io::AsyncRead<io::BufReader<io::DuplexStream>> && io::AsyncWrite<io::BufReader<io::DuplexStream>>);
static_assert(io::AsyncRead<io::BufWriter<io::DuplexStream>> && io::AsyncWrite<io::BufWriter<io::DuplexStream>>);
static_assert(io::AsyncRead<io::BufReader<io::BufWriter<io::DuplexStream>>> &&
              io::AsyncWrite<io::BufReader<io::BufWriter<io::DuplexStream>>>);
static_assert(io::AsyncRead<io::ReadHalf<io::DuplexStream>> && !io::AsyncWrite<io::ReadHalf<io::DuplexStream>>);
static_assert(io::AsyncWrite<io::WriteHalf<io::DuplexStream>> && !io::AsyncRead<io::WriteHalf<io::DuplexStream>>);
static_assert(Future<io::CopyFuture<io::ReadHalf<io::DuplexStream>, io::BufWriter<io::DuplexStream>>>);
static_assert(Future<io::CopyBidirectionalFuture<io::DuplexStream, io::BufReader<io::DuplexStream>>>);
static_assert(Future<io::NextLineFuture<io::BufReader<io::DuplexStream>&>>);
static_assert(Future<io::ReadUntilFuture<io::BufReader<io::DuplexStream>, std::string>>);
static_assert(Future<io::ReadToEndFuture<io::DuplexStream, std::string>>);

// ---- read ---------------------------------------------------------------------------

Task<void> read_returns_available_bytes_then_zero() {
    auto pipe = io::duplex(64);
    auto wrote = co_await io::write_all(pipe.first, "hello");
    EXPECT_TRUE(wrote.has_value());
    pipe.first = io::DuplexStream();  // dropped: end of stream after "hello"
    std::vector<std::byte> buf(16);
    auto n = co_await io::read(pipe.second, buf);
    EXPECT_EQ(n.value_or(0), 5U);
    EXPECT_EQ(string_of(std::span(buf).first(5)), "hello");
    auto end = co_await io::read(pipe.second, buf);
    EXPECT_EQ(end.value_or(99), 0U);
}

TEST(IoRead, ReturnsTheBytesAvailableAndZeroAtEndOfStream) { run_bounded(read_returns_available_bytes_then_zero()); }

Task<void> write_after_yield(io::DuplexStream out, std::string text) {
    co_await task::yield_now();
    co_await task::yield_now();
    auto wrote = co_await io::write_all(out, text);
    EXPECT_TRUE(wrote.has_value());
}

Task<void> read_waits_for_bytes() {
    auto pipe = io::duplex(64);
    auto writer = spawn(write_after_yield(std::move(pipe.first), "late"));
    std::vector<std::byte> buf(16);
    auto n = co_await io::read(pipe.second, buf);
    EXPECT_EQ(n.value_or(0), 4U);
    EXPECT_EQ(string_of(std::span(buf).first(4)), "late");
    co_await writer;
}

TEST(IoRead, WaitsUntilBytesArrive) { run_bounded(read_waits_for_bytes()); }

Task<void> read_reports_reader_error() {
    ScriptedReader reader({}, std::make_error_code(std::errc::connection_reset));
    std::vector<std::byte> buf(4);
    auto n = co_await io::read(reader, buf);
    EXPECT_EQ(error_of(n), std::errc::connection_reset);
}

TEST(IoRead, ReportsTheReadersError) { run_bounded(read_reports_reader_error()); }

// ---- read_exact ---------------------------------------------------------------------

Task<void> read_exact_fills_across_short_reads() {
    ScriptedReader reader(one_byte_chunks("exactly twenty bytes"));
    std::vector<std::byte> buf(20);
    auto r = co_await io::read_exact(reader, buf);
    EXPECT_TRUE(r.has_value());
    EXPECT_EQ(string_of(buf), "exactly twenty bytes");
}

TEST(IoReadExact, FillsTheWholeBufferAcrossManyOneByteReads) { run_bounded(read_exact_fills_across_short_reads()); }

Task<void> read_exact_fails_on_early_end() {
    ScriptedReader reader({"abc", "de"});
    std::vector<std::byte> buf(8);
    auto r = co_await io::read_exact(reader, buf);
    EXPECT_EQ(error_of(r), io::errc::unexpected_eof);
    EXPECT_EQ(string_of(std::span(buf).first(5)), "abcde");  // what did arrive is there
}

TEST(IoReadExact, FailsWithUnexpectedEofWhenTheStreamEndsEarly) { run_bounded(read_exact_fails_on_early_end()); }

Task<void> read_exact_of_nothing_is_ready() {
    ScriptedReader reader({});
    auto r = co_await io::read_exact(reader, std::span<std::byte>());
    EXPECT_TRUE(r.has_value());
}

TEST(IoReadExact, OfAnEmptyBufferSucceedsWithoutReading) { run_bounded(read_exact_of_nothing_is_ready()); }

// ---- read_to_end --------------------------------------------------------------------

Task<std::uint64_t> write_pattern(io::DuplexStream out, std::uint64_t size) {
    PatternReader source(size);
    auto copied = co_await io::copy(source, out);
    EXPECT_TRUE(copied.has_value());
    auto shut = co_await io::shutdown(out);
    EXPECT_TRUE(shut.has_value());
    co_return copied.value_or(0);
}

Task<void> read_to_end_collects_everything() {
    constexpr std::uint64_t kSize = 1 << 20;
    auto pipe = io::duplex(4096);
    auto writer = spawn(write_pattern(std::move(pipe.first), kSize));
    std::vector<std::byte> all = {std::byte{1}, std::byte{2}};  // appended to, not replaced
    auto n = co_await io::read_to_end(pipe.second, all);
    EXPECT_EQ(n.value_or(0), kSize);
    EXPECT_EQ(all.size(), kSize + 2);
    EXPECT_EQ(all[0], std::byte{1});
    Checksum sum;
    sum.add(std::span(all).subspan(2));
    EXPECT_EQ(sum.value(), pattern_checksum(kSize));
    std::uint64_t sent = co_await writer;
    EXPECT_EQ(sent, kSize);
}

TEST(IoReadToEnd, AppendsEveryByteUntilEndOfStream) { run_bounded(read_to_end_collects_everything()); }

Task<void> read_to_end_into_string() {
    ScriptedReader reader({"one ", "two ", "three"});
    std::string text = "zero ";
    auto n = co_await io::read_to_end(reader, text);
    EXPECT_EQ(n.value_or(0), 13U);
    EXPECT_EQ(text, "zero one two three");
}

TEST(IoReadToEnd, AppendsToAStringAndCountsOnlyTheNewBytes) { run_bounded(read_to_end_into_string()); }

Task<void> read_to_end_reports_error() {
    ScriptedReader reader({"kept"}, std::make_error_code(std::errc::io_error));
    std::vector<std::byte> all;
    auto n = co_await io::read_to_end(reader, all);
    EXPECT_EQ(error_of(n), std::errc::io_error);
    EXPECT_EQ(string_of(all), "kept");
}

TEST(IoReadToEnd, ReportsTheReadersErrorKeepingTheBytesReadBefore) { run_bounded(read_to_end_reports_error()); }

// ---- write_all ----------------------------------------------------------------------

Task<void> write_all_through_short_writes() {
    ShortWriter writer(3);
    std::string text = "a write that needs many short writes";
    auto r = co_await io::write_all(writer, std::span<const std::byte>(bytes_of(text)));
    EXPECT_TRUE(r.has_value());
    EXPECT_EQ(writer.data, text);
    EXPECT_EQ(writer.flushes, 0);  // write_all does not flush
}

TEST(IoWriteAll, WritesEveryByteThroughShortWritesAndPending) { run_bounded(write_all_through_short_writes()); }

Task<void> write_all_string_view() {
    ShortWriter writer(100);
    auto r = co_await io::write_all(writer, std::string_view("text"));
    EXPECT_TRUE(r.has_value());
    EXPECT_EQ(writer.data, "text");
}

TEST(IoWriteAll, AcceptsAStringView) { run_bounded(write_all_string_view()); }

Task<void> write_all_write_zero() {
    ZeroWriter writer;
    auto r = co_await io::write_all(writer, "lost");
    EXPECT_EQ(error_of(r), io::errc::write_zero);
    auto empty = co_await io::write_all(writer, "");
    EXPECT_TRUE(empty.has_value());  // nothing to write: no write at all
}

TEST(IoWriteAll, FailsWithWriteZeroWhenAWriteAcceptsNoBytes) { run_bounded(write_all_write_zero()); }

Task<void> write_all_broken_pipe() {
    auto pipe = io::duplex(64);
    pipe.second = io::DuplexStream();
    auto r = co_await io::write_all(pipe.first, "nobody reads this");
    EXPECT_EQ(error_of(r), std::errc::broken_pipe);
}

TEST(IoWriteAll, FailsWithBrokenPipeWhenTheDuplexPeerIsGone) { run_bounded(write_all_broken_pipe()); }

// ---- copy ---------------------------------------------------------------------------

Task<ChecksumWriter> drain_into_checksum(io::DuplexStream in) {
    ChecksumWriter sink;
    auto copied = co_await io::copy(in, sink);
    EXPECT_TRUE(copied.has_value());
    EXPECT_EQ(copied.value_or(0), sink.bytes);
    co_return sink;
}

Task<void> copy_ten_megabytes_through_duplex() {
    constexpr std::uint64_t kSize = 10 * 1000 * 1000;
    auto pipe = io::duplex(64 * 1024);
    auto producer = spawn(write_pattern(std::move(pipe.first), kSize));
    auto consumer = spawn(drain_into_checksum(std::move(pipe.second)));
    std::uint64_t sent = co_await producer;
    ChecksumWriter sink = co_await consumer;
    EXPECT_EQ(sent, kSize);
    EXPECT_EQ(sink.bytes, kSize);
    EXPECT_EQ(sink.sum.value(), pattern_checksum(kSize));
    EXPECT_GE(sink.flushes, 1);
    EXPECT_FALSE(sink.shut_down);  // copy flushes, never shuts down
}

TEST(Copy, CopiesTenMegabytesThroughADuplexBetweenTwoTasks) { run_bounded(copy_ten_megabytes_through_duplex()); }

Task<void> copy_through_short_writes() {
    const std::string text = "copied one byte at a time, written three at a time";
    ScriptedReader reader(one_byte_chunks(text));
    ShortWriter writer(3);
    auto n = co_await io::copy(reader, writer);
    EXPECT_EQ(n.value_or(0), text.size());
    EXPECT_EQ(writer.data, text);
    EXPECT_GE(writer.flushes, 1);
}

TEST(Copy, CopiesTenMegabytesThroughADuplexBetweenTasksOnAMultiThreadRuntime) {
    run_bounded_multi_thread(copy_ten_megabytes_through_duplex());
}

TEST(Copy, KeepsOrderThroughShortReadsShortWritesAndPending) { run_bounded(copy_through_short_writes()); }

Task<void> copy_write_zero() {
    ScriptedReader reader({"data"});
    ZeroWriter writer;
    auto n = co_await io::copy(reader, writer);
    EXPECT_EQ(error_of(n), io::errc::write_zero);
}

TEST(Copy, FailsWithWriteZeroWhenTheWriterAcceptsNoBytes) { run_bounded(copy_write_zero()); }

Task<void> copy_read_error() {
    ScriptedReader reader({"some"}, std::make_error_code(std::errc::connection_reset));
    ShortWriter writer(100);
    auto n = co_await io::copy(reader, writer);
    EXPECT_EQ(error_of(n), std::errc::connection_reset);
    EXPECT_EQ(writer.data, "some");
}

TEST(Copy, ReportsTheReadersError) { run_bounded(copy_read_error()); }

Task<void> copy_empty() {
    ScriptedReader reader({});
    ChecksumWriter sink;
    auto n = co_await io::copy(reader, sink);
    EXPECT_EQ(n.value_or(99), 0U);
    EXPECT_EQ(sink.flushes, 1);
}

TEST(Copy, OfAnEmptyStreamCopiesNothingAndFlushes) { run_bounded(copy_empty()); }

// ---- copy over TCP ------------------------------------------------------------------

Task<ChecksumWriter> tcp_sink(net::TcpListener listener) {
    ChecksumWriter sink;
    auto accepted = co_await listener.accept();
    EXPECT_TRUE(accepted.has_value());
    if (!accepted) co_return sink;
    auto copied = co_await io::copy(accepted->first, sink);
    EXPECT_TRUE(copied.has_value()) << error_of(copied).message();
    co_return sink;
}

Task<std::uint64_t> tcp_source(net::SocketAddr addr, std::uint64_t size) {
    auto stream = co_await net::TcpStream::connect(addr);
    EXPECT_TRUE(stream.has_value());
    if (!stream) co_return 0;
    PatternReader source(size);
    auto copied = co_await io::copy(source, *stream);
    EXPECT_TRUE(copied.has_value()) << error_of(copied).message();
    auto shut = co_await io::shutdown(*stream);
    EXPECT_TRUE(shut.has_value());
    co_return copied.value_or(0);
}

Task<void> copy_hundred_megabytes_over_tcp() {
    constexpr std::uint64_t kSize = 100 * 1000 * 1000;
    auto listener = net::TcpListener::bind("127.0.0.1:0");
    EXPECT_TRUE(listener.has_value());
    if (!listener) co_return;
    auto addr = listener->local_addr();
    EXPECT_TRUE(addr.has_value());
    if (!addr) co_return;
    auto server = spawn(tcp_sink(std::move(*listener)));
    auto client = spawn(tcp_source(*addr, kSize));
    std::uint64_t sent = co_await client;
    ChecksumWriter sink = co_await server;
    EXPECT_EQ(sent, kSize);
    EXPECT_EQ(sink.bytes, kSize);
    EXPECT_EQ(sink.sum.value(), pattern_checksum(kSize));
}

TEST(CopyOverTcp, CopiesOneHundredMegabytesBetweenTwoTasksOnLoopback) {
    run_bounded(copy_hundred_megabytes_over_tcp(), 120s);
}

// ---- copy_bidirectional -------------------------------------------------------------

Task<void> write_pattern_then_shutdown(io::WriteHalf<io::DuplexStream> out, std::uint64_t size, std::uint64_t seed) {
    PatternReader source(size, seed);
    auto copied = co_await io::copy(source, out);
    EXPECT_EQ(copied.value_or(0), size);
    auto shut = co_await io::shutdown(out);
    EXPECT_TRUE(shut.has_value());
}

Task<ChecksumWriter> read_all(io::ReadHalf<io::DuplexStream> in) {
    ChecksumWriter sink;
    auto copied = co_await io::copy(in, sink);
    EXPECT_TRUE(copied.has_value());
    co_return sink;
}

Task<io::Result<std::pair<std::uint64_t, std::uint64_t>>> proxy(io::DuplexStream a, io::DuplexStream b) {
    auto r = co_await io::copy_bidirectional(a, b);
    co_return r;
}

Task<void> copy_bidirectional_between_two_pairs() {
    constexpr std::uint64_t kAToB = 300 * 1000;
    constexpr std::uint64_t kBToA = 170 * 1000;
    // client_a <-> proxy_a   proxy (copy_bidirectional)   proxy_b <-> client_b
    auto left = io::duplex(1024);
    auto right = io::duplex(4096);
    auto relay = spawn(proxy(std::move(left.second), std::move(right.first)));
    auto client_a = io::split(std::move(left.first));
    auto client_b = io::split(std::move(right.second));
    auto send_a = spawn(write_pattern_then_shutdown(std::move(client_a.second), kAToB, 11));
    auto send_b = spawn(write_pattern_then_shutdown(std::move(client_b.second), kBToA, 22));
    auto recv_a = spawn(read_all(std::move(client_a.first)));
    auto recv_b = spawn(read_all(std::move(client_b.first)));
    co_await send_a;
    co_await send_b;
    ChecksumWriter got_a = co_await recv_a;  // reaches its end only because the proxy shut down proxy_a
    ChecksumWriter got_b = co_await recv_b;
    auto totals = co_await relay;
    EXPECT_TRUE(totals.has_value());
    EXPECT_EQ(totals.value_or(std::pair<std::uint64_t, std::uint64_t>()),
              (std::pair<std::uint64_t, std::uint64_t>(kAToB, kBToA)));
    EXPECT_EQ(got_b.bytes, kAToB);
    EXPECT_EQ(got_b.sum.value(), pattern_checksum(kAToB, 11));
    EXPECT_EQ(got_a.bytes, kBToA);
    EXPECT_EQ(got_a.sum.value(), pattern_checksum(kBToA, 22));
}

TEST(CopyBidirectional, CopiesBothWaysBetweenTwoDuplexPairsAndPropagatesEndOfStream) {
    run_bounded(copy_bidirectional_between_two_pairs());
}

TEST(CopyBidirectional, CopiesBothWaysWithItsTasksSpreadOverWorkerThreads) {
    run_bounded_multi_thread(copy_bidirectional_between_two_pairs());
}

Task<void> copy_bidirectional_error() {
    auto left = io::duplex(1024);
    auto right = io::duplex(1024);
    right.second = io::DuplexStream();  // the far end is gone: proxy -> right fails
    auto relay = spawn(proxy(std::move(left.second), std::move(right.first)));
    auto wrote = co_await io::write_all(left.first, "for nobody");
    EXPECT_TRUE(wrote.has_value());
    auto r = co_await relay;
    EXPECT_EQ(error_of(r), std::errc::broken_pipe);
}

TEST(CopyBidirectional, FailsWithTheFirstErrorOfEitherDirection) { run_bounded(copy_bidirectional_error()); }

Task<void> copy_bidirectional_both_ended() {
    auto left = io::duplex(64);
    auto right = io::duplex(64);
    left.first = io::DuplexStream();
    right.second = io::DuplexStream();
    auto r = co_await proxy(std::move(left.second), std::move(right.first));
    // Both peers gone before anything was written: each direction reads end
    // of stream at once, so nothing is written and shutdown succeeds.
    EXPECT_EQ(r.value_or(std::pair<std::uint64_t, std::uint64_t>(9, 9)),
              (std::pair<std::uint64_t, std::uint64_t>(0, 0)));
}

TEST(CopyBidirectional, FinishesAtOnceWhenBothSidesAreAlreadyAtEndOfStream) {
    run_bounded(copy_bidirectional_both_ended());
}

// ---- split --------------------------------------------------------------------------

Task<void> echo(io::DuplexStream s) {
    auto copied = co_await io::copy(s, s);  // one stream as reader and writer at once
    EXPECT_TRUE(copied.has_value());
    auto shut = co_await io::shutdown(s);
    EXPECT_TRUE(shut.has_value());
}

Task<void> split_halves_from_two_tasks() {
    constexpr std::uint64_t kSize = 512 * 1024;
    // A 64-byte pipe: the writer can only go on while the reader drains the
    // echo, so the halves must really run at the same time.
    auto pipe = io::duplex(64);
    auto echoer = spawn(echo(std::move(pipe.second)));
    auto halves = io::split(std::move(pipe.first));
    auto writer = spawn(write_pattern_then_shutdown(std::move(halves.second), kSize, 5));
    auto reader = spawn(read_all(std::move(halves.first)));
    ChecksumWriter got = co_await reader;
    co_await writer;
    co_await echoer;
    EXPECT_EQ(got.bytes, kSize);
    EXPECT_EQ(got.sum.value(), pattern_checksum(kSize, 5));
}

TEST(Split, HalvesAreUsedFromTwoTasksConcurrently) { run_bounded(split_halves_from_two_tasks()); }

Task<void> join(JoinHandle<void> handle) { co_await handle; }

TEST(Split, HalvesWorkFromTwoThreadsEachWithItsOwnRuntime) {
    constexpr std::uint64_t kSize = 256 * 1024;
    auto pipe = io::duplex(256);
    auto halves = io::split(std::move(pipe.first));
    ChecksumWriter got;
    std::thread reader_thread([&got, half = std::move(halves.first)]() mutable {
        auto rt = Builder::new_current_thread().build();
        auto r = rt.block_on(bounded(read_all(std::move(half)), kBound));
        EXPECT_TRUE(r.has_value());
        if (r) got = std::move(*r);
    });
    {
        auto rt = Builder::new_current_thread().build();
        auto echoer = rt.spawn(echo(std::move(pipe.second)));
        auto r = rt.block_on(bounded(write_pattern_then_shutdown(std::move(halves.second), kSize, 9), kBound));
        EXPECT_TRUE(r.has_value());
        auto e = rt.block_on(bounded(join(std::move(echoer)), kBound));
        EXPECT_TRUE(e.has_value());
    }
    reader_thread.join();
    EXPECT_EQ(got.bytes, kSize);
    EXPECT_EQ(got.sum.value(), pattern_checksum(kSize, 9));
}

TEST(Split, HalvesAreUsedFromTasksOnDifferentWorkerThreads) { run_bounded_multi_thread(split_halves_from_two_tasks()); }

Task<void> unsplit_gives_stream_back() {
    auto pipe = io::duplex(64);
    auto halves = io::split(std::move(pipe.first));
    auto other = io::split(std::move(pipe.second));
    EXPECT_TRUE(halves.first.is_pair_of(halves.second));
    EXPECT_FALSE(halves.first.is_pair_of(other.second));
    EXPECT_THROW((void)std::move(halves.first).unsplit(std::move(other.second)), std::invalid_argument);
    io::DuplexStream a = std::move(halves.first).unsplit(std::move(halves.second));
    io::DuplexStream b = std::move(other.first).unsplit(std::move(other.second));
    auto wrote = co_await io::write_all(a, "whole again");
    EXPECT_TRUE(wrote.has_value());
    std::string text(11, '\0');
    auto got = co_await io::read_exact(b, std::as_writable_bytes(std::span(text)));
    EXPECT_TRUE(got.has_value());
    EXPECT_EQ(text, "whole again");
}

TEST(Split, UnsplitGivesTheStreamBackAndRefusesHalvesOfAnotherStream) { run_bounded(unsplit_gives_stream_back()); }

}  // namespace
}  // namespace corio
