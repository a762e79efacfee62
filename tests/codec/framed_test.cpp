// Framed, FramedRead and FramedWrite over in-memory pipes and TCP loopback:
// frames in and out, batching of items sent together into one write, error
// items (over-long line, oversized length, peer closing mid-frame) that end
// the stream cleanly, a bounded read buffer, dropping a Framed mid-send,
// into_inner, and the sink futures.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "corio/codec.hpp"
#include "corio/io.hpp"
#include "corio/net.hpp"
#include "corio/runtime.hpp"
#include "corio/sink.hpp"
#include "corio/stream.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/co_assert.hpp"
#include "support/run_bounded.hpp"
#include "support/tcp_pair.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using codec::Framed;
using codec::LinesCodec;
using Strings = std::vector<std::string>;

constexpr test::RunBounded run_bounded{10s};

/// An AsyncRead + AsyncWrite that counts the poll_write calls that wrote bytes.
class CountingIo {
public:
    CountingIo(io::DuplexStream inner, int* writes) : inner_(std::move(inner)), writes_(writes) {}
    Poll<io::Result<std::size_t>> poll_read(Context& cx, std::span<std::byte> buf) { return inner_.poll_read(cx, buf); }
    Poll<io::Result<std::size_t>> poll_write(Context& cx, std::span<const std::byte> buf) {
        auto r = inner_.poll_write(cx, buf);
        if (r.is_ready() && *r) ++*writes_;
        return r;
    }
    Poll<io::Result<void>> poll_flush(Context& cx) { return inner_.poll_flush(cx); }
    Poll<io::Result<void>> poll_shutdown(Context& cx) { return inner_.poll_shutdown(cx); }

private:
    io::DuplexStream inner_;
    int* writes_;
};

static_assert(Stream<Framed<io::DuplexStream, LinesCodec>>);
static_assert(Sink<Framed<io::DuplexStream, LinesCodec>, std::string>);
static_assert(Sink<codec::FramedWrite<io::DuplexStream, codec::LengthDelimitedCodec>, std::vector<std::byte>>);
static_assert(Stream<codec::FramedRead<io::DuplexStream&, codec::BytesCodec>>);

/// Everything `r` yields until end of stream, as a string.
Task<std::string> read_all(io::DuplexStream& r) {
    std::string out;
    auto got = co_await io::read_to_end(r, out);
    EXPECT_TRUE(got.has_value());
    co_return out;
}

Task<void> lines_both_ways() {
    auto [a, b] = io::duplex(4096);
    Framed framed(std::move(a), LinesCodec(64));
    std::string text = "hello\nworld\r\n";
    CO_ASSERT_OK(co_await io::write_all(b, text));
    auto first = co_await stream::next(framed);
    CO_ASSERT_TRUE(first && *first);
    EXPECT_EQ(**first, "hello");
    auto second = co_await stream::next(framed);
    CO_ASSERT_TRUE(second && *second);
    EXPECT_EQ(**second, "world");
    CO_ASSERT_OK(co_await sink::send(framed, std::string("reply")));
    CO_ASSERT_OK(co_await sink::close(framed));
    EXPECT_EQ(co_await read_all(b), "reply\n");
    {
        auto closed = std::move(b);
    }
    auto end = co_await stream::next(framed);
    EXPECT_FALSE(end.has_value());
    EXPECT_FALSE((co_await stream::next(framed)).has_value());
}

TEST(Framed, ReadsFramesAndWritesItemsOverOneIoObject) { run_bounded(lines_both_ways()); }

Task<void> batches_send_all() {
    auto [a, b] = io::duplex(1 << 20);
    int writes = 0;
    Framed framed(CountingIo(std::move(a), &writes), LinesCodec());
    Strings items;
    for (int i = 0; i < 100; ++i) items.push_back("item " + std::to_string(i));
    CO_ASSERT_OK(co_await sink::send_all(framed, stream::iter(items)));
    EXPECT_EQ(writes, 1);  // 100 items, one write
    CO_ASSERT_OK(co_await sink::close(framed));
    std::string all = co_await read_all(b);
    EXPECT_EQ(all.substr(0, 14), "item 0\nitem 1\n");
    EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 100);
}

TEST(Framed, SendAllBatchesItemsThatAreReadyTogetherIntoOneWrite) { run_bounded(batches_send_all()); }

Task<void> batches_start_send() {
    auto [a, b] = io::duplex(4096);
    int writes = 0;
    Framed framed(CountingIo(std::move(a), &writes), LinesCodec());
    for (std::string_view w : {"a", "b", "c"}) {
        CO_ASSERT_TRUE(framed.start_send(w).has_value());
    }
    EXPECT_EQ(framed.write_buffer().view(), "a\nb\nc\n");
    CO_ASSERT_OK(co_await sink::flush(framed));
    EXPECT_EQ(writes, 1);
    EXPECT_TRUE(framed.write_buffer().empty());
}

TEST(Framed, SeveralStartSendsBeforeOneFlushGoOutInOneWrite) { run_bounded(batches_start_send()); }

Task<void> next_buffered_decodes_without_reading() {
    auto [a, b] = io::duplex(4096);
    int writes = 0;
    Framed framed(CountingIo(std::move(a), &writes), LinesCodec(16));
    CO_ASSERT_OK(co_await io::write_all(b, std::string("one\ntwo\nthr")));
    auto first = co_await stream::next(framed);  // reads all three lines' bytes at once
    CO_ASSERT_TRUE(first && *first);
    EXPECT_EQ(**first, "one");
    // Answer every whole line in the buffer, then flush once.
    Strings answered{**first};
    while (auto more = framed.next_buffered()) {
        CO_ASSERT_TRUE(more->has_value());
        answered.push_back(**more);
    }
    EXPECT_EQ(answered, (Strings{"one", "two"}));
    EXPECT_EQ(framed.read_buffer().view(), "thr");  // the partial line stays for the next read
    for (const std::string& line : answered) CO_ASSERT_TRUE(framed.start_send(line).has_value());
    CO_ASSERT_OK(co_await sink::flush(framed));
    EXPECT_EQ(writes, 1);
    CO_ASSERT_OK(co_await io::write_all(b, std::string("ee\n") + std::string(20, 'x') + "\n"));
    auto third = co_await stream::next(framed);
    CO_ASSERT_TRUE(third && *third);
    EXPECT_EQ(**third, "three");
    // A decoder error from the buffer is the stream's error item: it ends.
    auto too_long = framed.next_buffered();
    CO_ASSERT_TRUE(too_long.has_value() && !too_long->has_value());
    EXPECT_EQ(too_long->error(), codec::errc::line_too_long);
    EXPECT_FALSE(framed.next_buffered().has_value());
    EXPECT_FALSE((co_await stream::next(framed)).has_value());
}

TEST(Framed, NextBufferedDecodesTheWholeFramesAlreadyReadWithoutReadingAgain) {
    run_bounded(next_buffered_decodes_without_reading());
}

Task<void> line_too_long() {
    auto [a, b] = io::duplex(1 << 16);
    Framed framed(std::move(a), LinesCodec(16));
    std::string text = std::string(40, 'x') + "\nafter\n";
    CO_ASSERT_OK(co_await io::write_all(b, text));
    auto err = co_await stream::next(framed);
    CO_ASSERT_TRUE(err.has_value());
    CO_ASSERT_FALSE(err->has_value());
    EXPECT_EQ(err->error(), codec::errc::line_too_long);
    EXPECT_FALSE((co_await stream::next(framed)).has_value());  // the stream ended after the error
    CO_ASSERT_OK(co_await sink::send(framed, std::string("ERR line too long")));
    CO_ASSERT_OK(co_await sink::close(framed));  // closes cleanly
    EXPECT_EQ(co_await read_all(b), "ERR line too long\n");
}

TEST(Framed, ALineOverTheMaxLengthIsAnErrorItemAndTheConnectionClosesCleanly) { run_bounded(line_too_long()); }

Task<void> endless_line_bounded() {
    auto [a, b] = io::duplex(1 << 16);
    Framed framed(std::move(a), LinesCodec(100));
    auto writer = spawn([](io::DuplexStream w) -> Task<void> {
        std::string chunk(1000, 'y');
        for (int i = 0; i < 200; ++i) {
            auto written = co_await io::write_all(w, chunk);
            if (!written) co_return;  // the reader gave up
        }
    }(std::move(b)));
    auto err = co_await stream::next(framed);
    CO_ASSERT_TRUE(err.has_value() && !err->has_value());
    EXPECT_LE(framed.read_buffer().capacity(), 100 + 2 * codec::kReadChunk);
    {
        auto dropped = std::move(framed);
    }
    co_await std::move(writer);
}

TEST(Framed, AnEndlessLineNeverGrowsTheBufferPastTheLimitPlusOneRead) { run_bounded(endless_line_bounded()); }

Task<void> oversized_length_over_tcp() {
    auto pair = co_await test::connect_pair();
    CO_ASSERT_OK(pair);
    auto codec = codec::LengthDelimitedCodec().max_frame_length(1024);
    Framed framed(std::move(pair->server), codec);
    std::string header("\x00\x10\x00\x00", 4);  // 1 MiB announced
    CO_ASSERT_OK(co_await pair->client.write_all(header));
    auto err = co_await stream::next(framed);
    CO_ASSERT_TRUE(err.has_value() && !err->has_value());
    EXPECT_EQ(err->error(), codec::errc::frame_too_large);
    EXPECT_LE(framed.read_buffer().capacity(), 1024 + codec::kReadChunk);
    EXPECT_FALSE((co_await stream::next(framed)).has_value());
    CO_ASSERT_OK(co_await sink::close(framed));
}

TEST(Framed, ALengthOverTheMaxFrameIsAnErrorItemOverTcp) { run_bounded(oversized_length_over_tcp()); }

Task<void> peer_closes_mid_frame() {
    auto pair = co_await test::connect_pair();
    CO_ASSERT_OK(pair);
    codec::FramedRead frames(std::move(pair->server), codec::LengthDelimitedCodec());
    std::string data("\x00\x00\x00\x02ok\x00\x00\x00\x08half", 14);
    CO_ASSERT_OK(co_await pair->client.write_all(data));
    {
        auto closed = std::move(pair->client);
    }
    auto first = co_await stream::next(frames);
    CO_ASSERT_TRUE(first && *first);
    EXPECT_EQ(first->value().size(), 2U);
    auto err = co_await stream::next(frames);
    CO_ASSERT_TRUE(err.has_value() && !err->has_value());
    EXPECT_EQ(err->error(), codec::errc::incomplete_frame);
    EXPECT_FALSE((co_await stream::next(frames)).has_value());
}

TEST(FramedRead, APeerClosingMidFrameYieldsAnIncompleteFrameErrorThenTheEnd) { run_bounded(peer_closes_mid_frame()); }

Task<void> split_tcp_roundtrip() {
    auto pair = co_await test::connect_pair();
    CO_ASSERT_OK(pair);
    auto [rd, wr] = std::move(pair->server).into_split();
    codec::FramedRead in(std::move(rd), LinesCodec(1024));
    codec::FramedWrite out(std::move(wr), LinesCodec(1024));
    Framed client(std::move(pair->client), LinesCodec(1024));
    Strings requests{"ping 1", "ping 2", "ping 3"};
    CO_ASSERT_OK(co_await sink::send_all(client, stream::iter(requests)));
    // Echo three lines back in upper case through the write half.
    auto upper = in | stream::take(3) | stream::map([](io::Result<std::string> line) {
                     std::string s = line.value_or("?");
                     for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                     return s;
                 });
    CO_ASSERT_OK(co_await sink::send_all(out, upper));
    auto replies = co_await stream::collect<Strings>(client | stream::take(3) |
                                                     stream::map([](io::Result<std::string> l) { return *l; }));
    EXPECT_EQ(replies, (Strings{"PING 1", "PING 2", "PING 3"}));
}

TEST(FramedReadWrite, WorkOnTheTwoHalvesOfATcpStream) { run_bounded(split_tcp_roundtrip()); }

Task<void> drop_mid_send() {
    auto [a, b] = io::duplex(16);
    {
        Framed framed(std::move(a), LinesCodec());
        Strings items{"0123456789", "abcdefghij", "ABCDEFGHIJ"};
        auto sent = co_await time::timeout(20ms, sink::send_all(framed, stream::iter(items)));
        EXPECT_FALSE(sent.has_value());  // the peer reads nothing: the flush stays pending
        EXPECT_EQ(framed.write_buffer().size(), 33U - 16U);
    }  // dropped: the 17 bytes not written are lost, nothing else
    std::string got = co_await read_all(b);
    EXPECT_EQ(got, "0123456789\nabcde");
}

TEST(Framed, DroppingItWhileASendIsPendingLosesOnlyTheUnwrittenBytes) { run_bounded(drop_mid_send()); }

Task<void> send_to_gone_peer() {
    auto [a, b] = io::duplex(64);
    {
        auto gone = std::move(b);
    }
    Framed framed(std::move(a), LinesCodec());
    auto r = co_await sink::send(framed, std::string("lost"));
    CO_ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), std::errc::broken_pipe);
}

TEST(Framed, ASendToAGonePeerReportsTheIoError) { run_bounded(send_to_gone_peer()); }

Task<void> encode_error() {
    auto [a, b] = io::duplex(64);
    codec::FramedWrite out(std::move(a), codec::LengthDelimitedCodec().max_frame_length(2));
    auto r = co_await sink::send(out, std::string("too long"));
    CO_ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), codec::errc::frame_too_large);
    CO_ASSERT_OK(co_await sink::send(out, std::string("ok")));
}

TEST(FramedWrite, AnItemTheEncoderRejectsIsAnErrorAndTheSinkGoesOn) { run_bounded(encode_error()); }

Task<void> into_inner_gives_back() {
    auto [a, b] = io::duplex(64);
    Framed framed(std::move(a), LinesCodec());
    CO_ASSERT_OK(co_await sink::send(framed, std::string("x")));
    io::DuplexStream raw = std::move(framed).into_inner();
    std::string more = "y";
    CO_ASSERT_OK(co_await io::write_all(raw, more));
    CO_ASSERT_OK(co_await io::shutdown(raw));
    EXPECT_EQ(co_await read_all(b), "x\ny");
}

TEST(Framed, IntoInnerGivesTheIoObjectBack) { run_bounded(into_inner_gives_back()); }

Task<void> borrowed_io() {
    auto [a, b] = io::duplex(64);
    std::string text = "raw bytes";
    CO_ASSERT_OK(co_await io::write_all(b, text));
    CO_ASSERT_OK(co_await io::shutdown(b));
    codec::FramedRead<io::DuplexStream&, codec::BytesCodec> frames(a, codec::BytesCodec());
    std::string all;
    while (auto chunk = co_await stream::next(frames)) {
        CO_ASSERT_TRUE(chunk->has_value());
        for (std::byte c : **chunk) all.push_back(static_cast<char>(c));
    }
    EXPECT_EQ(all, "raw bytes");
}

TEST(FramedRead, CanBorrowItsReader) { run_bounded(borrowed_io()); }

}  // namespace
}  // namespace corio
