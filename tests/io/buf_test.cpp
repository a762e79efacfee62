// Tests of <corio/io/buf_reader.hpp> and <corio/io/buf_writer.hpp>: the
// buffering rules (when the inner stream is read or written), read_line,
// read_until and lines() over streams cut at every byte boundary and
// interleaved with Pending, fill_buf / consume, and error propagation.
//
// Every test that awaits runs on a fresh current_thread runtime, bounded by
// time::timeout; the rest poll by hand with a no-op waker.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "corio/io.hpp"
#include "corio/io/buf_reader.hpp"
#include "corio/io/buf_writer.hpp"
#include "corio/io/duplex.hpp"
#include "corio/io/util.hpp"
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

using test::bytes_of;
using test::error_of;
using test::one_byte_chunks;
using test::poll_once;
using test::ScriptedReader;
using test::string_of;
using test::ZeroWriter;

/// Each test's root runs on a fresh current_thread runtime, bounded by 30 s:
/// generous, only reached when a wake-up is lost.
constexpr test::RunBounded run_bounded{30s};

/// One byte per poll, with Pending (and a self-wake) every other poll.
ScriptedReader trickle(std::string_view text) { return ScriptedReader(one_byte_chunks(text)); }

/// Records every write it gets (accepting at most `max_per_write` bytes of
/// each), every flush and the shutdown. Always ready.
class RecordingWriter {
public:
    explicit RecordingWriter(std::size_t max_per_write = SIZE_MAX) : max_(max_per_write) {}

    Poll<io::Result<std::size_t>> poll_write(Context&, std::span<const std::byte> buf) {
        std::size_t n = std::min(buf.size(), max_);
        writes.push_back(string_of(buf.first(n)));
        return Ready(io::Result<std::size_t>(n));
    }
    Poll<io::Result<void>> poll_flush(Context&) {
        ++flushes;
        return Ready(io::Result<void>());
    }
    Poll<io::Result<void>> poll_shutdown(Context&) {
        shut_down_after_writes = writes.size();
        shut_down = true;
        return Ready(io::Result<void>());
    }

    std::string all() const {
        std::string s;
        for (const auto& w : writes) s += w;
        return s;
    }

    std::vector<std::string> writes;
    int flushes = 0;
    bool shut_down = false;
    std::size_t shut_down_after_writes = 0;

private:
    std::size_t max_;
};

static_assert(io::AsyncRead<io::BufReader<ScriptedReader>> && !io::AsyncWrite<io::BufReader<ScriptedReader>>);
static_assert(io::AsyncWrite<io::BufWriter<RecordingWriter>> && !io::AsyncRead<io::BufWriter<RecordingWriter>>);
static_assert(io::AsyncRead<io::BufReader<io::BufReader<ScriptedReader>>>);

// ---- BufReader: read_line -------------------------------------------------------------

Task<void> read_line_appends_through_newline() {
    io::BufReader reader(ScriptedReader({"first line\nsecond", " line\nlast"}));
    std::string line = "> ";
    auto n = co_await reader.read_line(line);
    EXPECT_EQ(n.value_or(0), 11U);
    EXPECT_EQ(line, "> first line\n");
    line.clear();
    n = co_await reader.read_line(line);
    EXPECT_EQ(n.value_or(0), 12U);
    EXPECT_EQ(line, "second line\n");
    line.clear();
    n = co_await reader.read_line(line);
    EXPECT_EQ(n.value_or(0), 4U);
    EXPECT_EQ(line, "last");  // unterminated last line
    line.clear();
    n = co_await reader.read_line(line);
    EXPECT_EQ(n.value_or(99), 0U);  // end of stream
    EXPECT_EQ(line, "");
}

TEST(BufReader, ReadLineAppendsThroughTheNewlineAndReturnsZeroAtEnd) {
    run_bounded(read_line_appends_through_newline());
}

constexpr std::string_view kText = "alpha\nbe\n\ngamma delta\nz";

std::vector<std::string> expected_read_lines() { return {"alpha\n", "be\n", "\n", "gamma delta\n", "z"}; }

Task<std::vector<std::string>> collect_read_lines(ScriptedReader source, std::size_t capacity) {
    io::BufReader reader(std::move(source), capacity);
    std::vector<std::string> lines;
    for (;;) {
        std::string line;
        auto n = co_await reader.read_line(line);
        EXPECT_TRUE(n.has_value());
        if (n.value_or(0) == 0) break;
        EXPECT_EQ(*n, line.size());
        lines.push_back(std::move(line));
    }
    co_return lines;
}

Task<void> read_line_at_every_split_point() {
    for (std::size_t cut = 0; cut <= kText.size(); ++cut) {
        std::vector<std::string> chunks;
        if (cut > 0) chunks.emplace_back(kText.substr(0, cut));
        if (cut < kText.size()) chunks.emplace_back(kText.substr(cut));
        for (std::size_t capacity : std::vector<std::size_t>{1, 4, 8192}) {
            auto lines = co_await collect_read_lines(ScriptedReader(chunks), capacity);
            EXPECT_EQ(lines, expected_read_lines()) << "cut at " << cut << ", capacity " << capacity;
        }
    }
}

TEST(BufReader, ReadLineIsRightWhereverTheStreamIsCut) { run_bounded(read_line_at_every_split_point()); }

Task<void> read_line_one_byte_at_a_time() {
    for (std::size_t capacity : std::vector<std::size_t>{1, 3, 8192}) {
        auto lines = co_await collect_read_lines(trickle(kText), capacity);
        EXPECT_EQ(lines, expected_read_lines()) << "capacity " << capacity;
    }
}

TEST(BufReader, ReadLineAssemblesLinesFromOneBytePerPollWithPendingBetween) {
    run_bounded(read_line_one_byte_at_a_time());
}

TEST(BufReader, ReadLineDroppedMidwayKeepsWhatItConsumedAndTheNextCallContinues) {
    io::BufReader reader(trickle("ab\ncd\n"));
    std::string line;
    {
        auto fut = reader.read_line(line);
        EXPECT_TRUE(poll_once(fut).is_pending());  // the reader's Pending
        EXPECT_TRUE(poll_once(fut).is_pending());  // 'a' consumed, Pending again
    }
    EXPECT_EQ(line, "a");
    auto fut = reader.read_line(line);
    Poll<io::Result<std::size_t>> p = Pending;
    for (int i = 0; i < 10 && p.is_pending(); ++i) p = poll_once(fut);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->value_or(0), 2U);  // "b\n": this call's bytes
    EXPECT_EQ(line, "ab\n");
}

Task<void> read_until_custom_delimiter() {
    io::BufReader reader(ScriptedReader({"k1=v1;k2", "=v2;"}), 3);
    std::vector<std::byte> record;
    auto n = co_await reader.read_until(std::byte{';'}, record);
    EXPECT_EQ(n.value_or(0), 6U);
    EXPECT_EQ(string_of(record), "k1=v1;");
    record.clear();
    n = co_await reader.read_until(std::byte{';'}, record);
    EXPECT_EQ(string_of(record), "k2=v2;");
    record.clear();
    n = co_await reader.read_until(std::byte{';'}, record);
    EXPECT_EQ(n.value_or(99), 0U);
}

TEST(BufReader, ReadUntilStopsAfterTheDelimiter) { run_bounded(read_until_custom_delimiter()); }

Task<void> read_line_reports_error() {
    io::BufReader reader(ScriptedReader({"partial"}, std::make_error_code(std::errc::connection_reset)));
    std::string line;
    auto n = co_await reader.read_line(line);
    EXPECT_EQ(error_of(n), std::errc::connection_reset);
    EXPECT_EQ(line, "partial");
}

TEST(BufReader, ReadLineReportsTheInnerReadersError) { run_bounded(read_line_reports_error()); }

// ---- BufReader: lines() ---------------------------------------------------------------

Task<std::vector<std::string>> collect_lines(ScriptedReader source, std::size_t capacity) {
    io::BufReader reader(std::move(source), capacity);
    auto lines = reader.lines();
    std::vector<std::string> out;
    for (;;) {
        auto line = co_await lines.next();
        EXPECT_TRUE(line.has_value());
        if (!line) break;
        if (!line->has_value()) break;
        out.push_back(std::move(**line));
    }
    co_return out;
}

constexpr std::string_view kCrlf = "one\r\ntwo\n\r\nthree\rstill three\r\nfour\r";

std::vector<std::string> expected_crlf_lines() { return {"one", "two", "", "three\rstill three", "four\r"}; }

Task<void> lines_strip_line_endings() {
    const std::vector<std::string> expected = expected_crlf_lines();
    ScriptedReader whole_reader(std::vector<std::string>(1, std::string(kCrlf)));
    auto whole = co_await collect_lines(std::move(whole_reader), 8192);
    EXPECT_EQ(whole, expected);
    for (std::size_t capacity : std::vector<std::size_t>{1, 2, 5}) {
        auto trickled = co_await collect_lines(trickle(kCrlf), capacity);
        EXPECT_EQ(trickled, expected) << "capacity " << capacity;
    }
    for (std::size_t cut = 0; cut <= kCrlf.size(); ++cut) {
        std::vector<std::string> chunks;
        if (cut > 0) chunks.emplace_back(kCrlf.substr(0, cut));
        if (cut < kCrlf.size()) chunks.emplace_back(kCrlf.substr(cut));
        auto cut_lines = co_await collect_lines(ScriptedReader(chunks), 4);
        EXPECT_EQ(cut_lines, expected) << "cut at " << cut;
    }
}

TEST(BufReader, LinesStripNewlineAndCarriageReturnNewline) { run_bounded(lines_strip_line_endings()); }

Task<void> lines_of_empty_stream() {
    auto lines = co_await collect_lines(ScriptedReader(std::vector<std::string>()), 16);
    EXPECT_TRUE(lines.empty());
    ScriptedReader newline_only(std::vector<std::string>(1, "\n"));
    auto one_empty = co_await collect_lines(std::move(newline_only), 16);
    EXPECT_EQ(one_empty, std::vector<std::string>{""});
}

TEST(BufReader, LinesOfAnEmptyStreamEndAtOnce) { run_bounded(lines_of_empty_stream()); }

Task<void> owned_lines() {
    auto lines = io::BufReader(ScriptedReader({"x\ny\n"})).lines();
    auto x = co_await lines.next();
    EXPECT_EQ(x.value_or(std::nullopt).value_or("?"), "x");
    auto y = co_await lines.next();
    EXPECT_EQ(y.value_or(std::nullopt).value_or("?"), "y");
    auto end = co_await lines.next();
    EXPECT_TRUE(end.has_value());
    EXPECT_FALSE(end.value_or("?").has_value());
    io::BufReader<ScriptedReader> back = std::move(lines).into_inner();
    EXPECT_TRUE(back.buffer().empty());
}

TEST(BufReader, LinesCanOwnTheReaderAndGiveItBack) { run_bounded(owned_lines()); }

TEST(BufReader, LinesNextDroppedMidwayKeepsThePartialLine) {
    io::BufReader reader(trickle("hello\n"));
    auto lines = reader.lines();
    for (int i = 0; i < 4; ++i) {
        auto fut = lines.next();  // dropped after each poll
        EXPECT_TRUE(poll_once(fut).is_pending());
    }
    auto fut = lines.next();
    Poll<io::Result<std::optional<std::string>>> p = Pending;
    for (int i = 0; i < 20 && p.is_pending(); ++i) p = poll_once(fut);
    ASSERT_TRUE(p.is_ready());
    ASSERT_TRUE(p->has_value());
    EXPECT_EQ(p->value().value_or("?"), "hello");
}

// ---- BufReader: buffering ---------------------------------------------------------------

Task<void> small_reads_served_from_buffer() {
    std::string text(100, 'q');
    io::BufReader reader(ScriptedReader({text}), 64);
    std::string got;
    std::byte one{};
    for (;;) {
        auto n = co_await io::read(reader, std::span(&one, 1));
        if (n.value_or(0) == 0) break;
        got.push_back(static_cast<char>(one));
    }
    EXPECT_EQ(got, text);
    // 100 one-byte reads, but the inner reader saw 64 + 36 + end of stream.
    EXPECT_EQ(reader.get_ref().reads, 3);
    EXPECT_EQ(reader.get_ref().largest_read, 64U);
}

TEST(BufReader, ServesSmallReadsFromItsBuffer) { run_bounded(small_reads_served_from_buffer()); }

Task<void> large_reads_bypass() {
    io::BufReader reader(ScriptedReader({"0123456789abcdef"}), 4);
    std::vector<std::byte> big(16);
    auto n = co_await io::read(reader, big);
    EXPECT_EQ(n.value_or(0), 16U);
    EXPECT_EQ(string_of(big), "0123456789abcdef");
    EXPECT_EQ(reader.get_ref().largest_read, 16U);  // straight into `big`
    EXPECT_TRUE(reader.buffer().empty());
}

TEST(BufReader, LargeReadsIntoAnEmptyBufferBypassIt) { run_bounded(large_reads_bypass()); }

TEST(BufReader, FillBufShowsTheBufferedBytesAndConsumeHandsThemOut) {
    io::BufReader reader(ScriptedReader({"abcdef"}), 16);
    Waker waker = Waker::noop();
    Context cx(waker);
    EXPECT_TRUE(reader.poll_fill_buf(cx).is_pending());  // the inner reader's Pending
    auto filled = reader.poll_fill_buf(cx);
    ASSERT_TRUE(filled.is_ready());
    ASSERT_TRUE(filled->has_value());
    EXPECT_EQ(string_of(**filled), "abcdef");
    reader.consume(2);
    EXPECT_EQ(string_of(reader.buffer()), "cdef");
    auto again = reader.poll_fill_buf(cx);  // no read while bytes are buffered
    ASSERT_TRUE(again.is_ready());
    EXPECT_EQ(string_of(again->value()), "cdef");
    EXPECT_EQ(reader.get_ref().reads, 1);
    reader.consume(100);  // clamped
    EXPECT_TRUE(reader.buffer().empty());
    auto end = reader.poll_fill_buf(cx);
    if (end.is_pending()) end = reader.poll_fill_buf(cx);  // the inner reader's Pending before end of stream
    ASSERT_TRUE(end.is_ready());
    EXPECT_TRUE(end->value().empty());  // end of stream
    EXPECT_EQ(reader.capacity(), 16U);
}

Task<void> buf_reader_over_duplex_keeps_writing() {
    auto pipe = io::duplex(256);
    io::BufReader near(std::move(pipe.first));
    io::BufReader far(std::move(pipe.second));
    auto wrote = co_await io::write_all(near, "ping\n");  // writes pass through a BufReader
    EXPECT_TRUE(wrote.has_value());
    std::string line;
    auto n = co_await far.read_line(line);
    EXPECT_EQ(n.value_or(0), 5U);
    EXPECT_EQ(line, "ping\n");
    auto shut = co_await io::shutdown(far);
    EXPECT_TRUE(shut.has_value());
    line.clear();
    n = co_await near.read_line(line);
    EXPECT_EQ(n.value_or(99), 0U);
    io::DuplexStream inner = std::move(near).into_inner();
    (void)inner;
}

TEST(BufReader, PassesWritesThroughToAnInnerWriter) { run_bounded(buf_reader_over_duplex_keeps_writing()); }

// ---- BufWriter ------------------------------------------------------------------------

TEST(BufWriter, WritesOnlyWhenFullOrFlushed) {
    io::BufWriter writer(RecordingWriter(), 16);
    Waker waker = Waker::noop();
    Context cx(waker);
    for (std::string_view piece : {"aaaaa", "bbbbb", "ccccc"}) {
        auto w = writer.poll_write(cx, bytes_of(piece));
        ASSERT_TRUE(w.is_ready());
        EXPECT_EQ(w->value_or(0), 5U);
    }
    EXPECT_TRUE(writer.get_ref().writes.empty());  // 15 of 16 bytes buffered
    EXPECT_EQ(string_of(writer.buffer()), "aaaaabbbbbccccc");
    auto w = writer.poll_write(cx, bytes_of("ddddd"));  // does not fit: the buffer goes out first
    ASSERT_TRUE(w.is_ready());
    EXPECT_EQ(w->value_or(0), 5U);
    EXPECT_EQ(writer.get_ref().writes, std::vector<std::string>{"aaaaabbbbbccccc"});
    EXPECT_EQ(string_of(writer.buffer()), "ddddd");
    w = writer.poll_write(cx, bytes_of("e"));
    EXPECT_EQ(writer.get_ref().writes.size(), 1U);
    EXPECT_EQ(writer.get_ref().flushes, 0);
    auto f = writer.poll_flush(cx);
    ASSERT_TRUE(f.is_ready());
    EXPECT_TRUE(f->has_value());
    EXPECT_EQ(writer.get_ref().writes, (std::vector<std::string>{"aaaaabbbbbccccc", "ddddde"}));
    EXPECT_EQ(writer.get_ref().flushes, 1);
    EXPECT_TRUE(writer.buffer().empty());
    f = writer.poll_flush(cx);  // nothing buffered: no write, the inner flush only
    EXPECT_EQ(writer.get_ref().writes.size(), 2U);
    EXPECT_EQ(writer.get_ref().flushes, 2);
}

TEST(BufWriter, LargeWritesGoStraightThroughAfterTheBuffer) {
    io::BufWriter writer(RecordingWriter(), 8);
    Waker waker = Waker::noop();
    Context cx(waker);
    EXPECT_TRUE(writer.poll_write(cx, bytes_of("abc")).is_ready());
    auto w = writer.poll_write(cx, bytes_of("0123456789"));
    ASSERT_TRUE(w.is_ready());
    EXPECT_EQ(w->value_or(0), 10U);
    EXPECT_EQ(writer.get_ref().writes, (std::vector<std::string>{"abc", "0123456789"}));
    EXPECT_TRUE(writer.buffer().empty());
}

Task<void> buf_writer_shutdown_flushes_first() {
    io::BufWriter writer(RecordingWriter(3), 64);  // the inner writer takes 3 bytes a write
    auto wrote = co_await io::write_all(writer, "buffered text");
    EXPECT_TRUE(wrote.has_value());
    EXPECT_TRUE(writer.get_ref().writes.empty());
    auto shut = co_await writer.shutdown();
    EXPECT_TRUE(shut.has_value());
    EXPECT_EQ(writer.get_ref().all(), "buffered text");
    EXPECT_TRUE(writer.get_ref().shut_down);
    EXPECT_EQ(writer.get_ref().shut_down_after_writes, 5U);  // every short write came before the shutdown
}

TEST(BufWriter, ShutdownWritesTheBufferOutFirst) { run_bounded(buf_writer_shutdown_flushes_first()); }

Task<void> buf_writer_flush_future() {
    io::BufWriter writer(RecordingWriter(), 64);
    auto wrote = co_await io::write_all(writer, "abc");
    EXPECT_TRUE(wrote.has_value());
    auto flushed = co_await writer.flush();
    EXPECT_TRUE(flushed.has_value());
    EXPECT_EQ(writer.get_ref().writes, std::vector<std::string>{"abc"});
    EXPECT_EQ(writer.get_ref().flushes, 1);
    auto again = co_await io::flush(writer);
    EXPECT_TRUE(again.has_value());
    EXPECT_EQ(writer.get_ref().flushes, 2);
    RecordingWriter inner = std::move(writer).into_inner();
    EXPECT_EQ(inner.writes.size(), 1U);
}

TEST(BufWriter, FlushWritesTheBufferAndFlushesTheInnerWriter) { run_bounded(buf_writer_flush_future()); }

TEST(BufWriter, FailsWithWriteZeroWhenTheInnerWriterAcceptsNothing) {
    io::BufWriter writer(ZeroWriter(), 8);
    Waker waker = Waker::noop();
    Context cx(waker);
    EXPECT_TRUE(writer.poll_write(cx, bytes_of("abc")).is_ready());
    auto f = writer.poll_flush(cx);
    ASSERT_TRUE(f.is_ready());
    EXPECT_EQ(error_of(*f), io::errc::write_zero);
    EXPECT_EQ(string_of(writer.buffer()), "abc");  // kept for a retry
}

Task<std::vector<std::string>> read_lines_of(io::DuplexStream in) {
    auto lines = io::BufReader(std::move(in)).lines();
    std::vector<std::string> out;
    for (;;) {
        auto line = co_await lines.next();
        EXPECT_TRUE(line.has_value());
        if (!line) break;
        if (!line->has_value()) break;
        out.push_back(std::move(**line));
    }
    co_return out;
}

Task<void> buf_writer_to_buf_reader_over_duplex() {
    auto pipe = io::duplex(100);
    auto reader = spawn(read_lines_of(std::move(pipe.second)));
    io::BufWriter writer(std::move(pipe.first), 256);
    std::vector<std::string> expected;
    for (int i = 0; i < 2000; ++i) {
        std::string line = "line " + std::to_string(i);
        expected.push_back(line);
        line += (i % 2 == 0) ? "\n" : "\r\n";
        auto wrote = co_await io::write_all(writer, line);
        EXPECT_TRUE(wrote.has_value());
    }
    auto shut = co_await writer.shutdown();
    EXPECT_TRUE(shut.has_value());
    auto got = co_await reader;
    EXPECT_EQ(got, expected);
}

TEST(BufWriter, FeedsABufReaderThroughADuplexBetweenTwoTasks) { run_bounded(buf_writer_to_buf_reader_over_duplex()); }

}  // namespace
}  // namespace corio
