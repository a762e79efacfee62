// Tests of <corio/io/duplex.hpp>: bytes flow both ways, a full buffer makes
// the writer wait (and a read wakes it), end of stream after the peer shut
// down or went away, broken_pipe for writes to a peer that is gone, wakers
// (the most recent one is stored, woken once), and use from two threads.
//
// Poll-level tests drive the ends by hand with counting wakers; the others
// run on a fresh current_thread runtime bounded by time::timeout.
#include "corio/io/duplex.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "corio/detail/coop.hpp"
#include "corio/io.hpp"
#include "corio/io/util.hpp"
#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/byte_streams.hpp"
#include "support/counting_waker.hpp"
#include "support/poll.hpp"
#include "support/run_bounded.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using test::bounded;
using test::bytes_of;
using test::error_of;
using test::make_counting_waker;
using test::string_of;
using test::WakeCounts;

// Generous: only reached when a wake-up is lost.
constexpr std::chrono::milliseconds kBound = 30s;

/// Each test's root runs on a fresh current_thread runtime, bounded by kBound.
constexpr test::RunBounded run_bounded{kBound};

/// Polls one read of up to `max` bytes with `waker`: the text read, or
/// std::nullopt-like "<pending>" / "<error: ...>".
std::string poll_read_text(io::DuplexStream& s, const Waker& waker, std::size_t max = 64) {
    Context cx(waker);
    std::vector<std::byte> buf(max);
    auto r = s.poll_read(cx, buf);
    if (r.is_pending()) return "<pending>";
    if (!*r) return "<error: " + r->error().message() + ">";
    return string_of(std::span(buf).first(**r));
}

/// Polls one write of `text` with `waker`: bytes written, -1 for Pending,
/// -2 for an error (stored in `err`).
long poll_write_text(io::DuplexStream& s, const Waker& waker, std::string_view text, std::error_code* err = nullptr) {
    Context cx(waker);
    auto r = s.poll_write(cx, bytes_of(text));
    if (r.is_pending()) return -1;
    if (!*r) {
        if (err != nullptr) *err = r->error();
        return -2;
    }
    return static_cast<long>(**r);
}

TEST(Duplex, WhatOneEndWritesTheOtherReadsInBothDirections) {
    auto [a, b] = io::duplex(64);
    Waker noop = Waker::noop();
    EXPECT_EQ(poll_write_text(a, noop, "to b"), 4);
    EXPECT_EQ(poll_write_text(b, noop, "to a"), 4);
    EXPECT_EQ(poll_read_text(b, noop), "to b");
    EXPECT_EQ(poll_read_text(a, noop), "to a");
    EXPECT_EQ(poll_read_text(a, noop), "<pending>");  // nothing more, nobody gone
}

TEST(Duplex, KeepsByteOrderAcrossTheRingsWrapAround) {
    auto [a, b] = io::duplex(8);
    Waker noop = Waker::noop();
    std::string sent;
    std::string got;
    for (int round = 0; round < 50; ++round) {
        std::string piece = std::to_string(round * 7919 % 1000);  // 1 to 3 bytes
        long n = poll_write_text(a, noop, piece);
        if (n == -1) {  // full: drain, then the write goes through
            got += poll_read_text(b, noop);
            n = poll_write_text(a, noop, piece);
        }
        ASSERT_GT(n, 0);
        sent += piece.substr(0, static_cast<std::size_t>(n));
        got += poll_read_text(b, noop, 2);  // reads lag behind writes: the ring wraps
    }
    for (std::string more = poll_read_text(b, noop); more != "<pending>"; more = poll_read_text(b, noop)) got += more;
    EXPECT_EQ(got, sent);
}

TEST(Duplex, AWriteWaitsWhileThePeersBufferIsFullAndAReadWakesIt) {
    auto [a, b] = io::duplex(4);
    WakeCounts writer_counts;
    Waker writer = make_counting_waker(writer_counts);
    Waker noop = Waker::noop();
    EXPECT_EQ(poll_write_text(a, writer, "abcdefgh"), 4);  // only the room there was
    EXPECT_EQ(poll_write_text(a, writer, "efgh"), -1);     // full: Pending
    EXPECT_EQ(writer_counts.total_wakes(), 0);
    EXPECT_EQ(poll_read_text(b, noop, 2), "ab");
    EXPECT_EQ(writer_counts.total_wakes(), 1);  // room was made
    EXPECT_EQ(poll_write_text(a, writer, "efgh"), 2);
    EXPECT_EQ(poll_read_text(b, noop), "cdef");
    EXPECT_EQ(writer_counts.total_wakes(), 1);  // no writer waiting any more: no wake
}

TEST(Duplex, APendingReadIsWokenOnceWithTheMostRecentWaker) {
    auto [a, b] = io::duplex(16);
    WakeCounts first_counts;
    WakeCounts second_counts;
    {
        Waker first = make_counting_waker(first_counts);
        Waker second = make_counting_waker(second_counts);
        EXPECT_EQ(poll_read_text(b, first), "<pending>");
        EXPECT_EQ(poll_read_text(b, second), "<pending>");  // replaces the first
        Waker noop = Waker::noop();
        EXPECT_EQ(poll_write_text(a, noop, "x"), 1);
        EXPECT_EQ(poll_write_text(a, noop, "y"), 1);  // nobody waiting any more
    }
    EXPECT_EQ(first_counts.total_wakes(), 0);
    EXPECT_EQ(second_counts.total_wakes(), 1);
    EXPECT_EQ(first_counts.live.load(), 0);  // every clone was released
    EXPECT_EQ(second_counts.live.load(), 0);
}

TEST(Duplex, ReadingAfterThePeerWasDroppedReturnsTheBufferedBytesThenZero) {
    auto pipe = io::duplex(16);
    Waker noop = Waker::noop();
    EXPECT_EQ(poll_write_text(pipe.first, noop, "last words"), 10);
    pipe.first = io::DuplexStream();
    EXPECT_EQ(poll_read_text(pipe.second, noop, 4), "last");
    EXPECT_EQ(poll_read_text(pipe.second, noop), " words");
    EXPECT_EQ(poll_read_text(pipe.second, noop), "");
    EXPECT_EQ(poll_read_text(pipe.second, noop), "");  // and stays at end of stream
}

TEST(Duplex, DroppingThePeerWakesAPendingReaderWithEndOfStream) {
    auto pipe = io::duplex(16);
    WakeCounts counts;
    Waker reader = make_counting_waker(counts);
    EXPECT_EQ(poll_read_text(pipe.second, reader), "<pending>");
    pipe.first = io::DuplexStream();
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_EQ(poll_read_text(pipe.second, reader), "");
}

TEST(Duplex, ReadingAfterThePeerShutDownReturnsZeroOnceDrainedWhileTheOtherWayStaysOpen) {
    auto [a, b] = io::duplex(16);
    Waker noop = Waker::noop();
    Context cx(noop);
    EXPECT_EQ(poll_write_text(a, noop, "bye"), 3);
    auto shut = a.poll_shutdown(cx);
    ASSERT_TRUE(shut.is_ready());
    EXPECT_TRUE(shut->has_value());
    EXPECT_EQ(poll_read_text(b, noop), "bye");
    EXPECT_EQ(poll_read_text(b, noop), "");
    std::error_code err;
    EXPECT_EQ(poll_write_text(a, noop, "more", &err), -2);  // a shut its writing side down
    EXPECT_EQ(err, std::errc::broken_pipe);
    EXPECT_EQ(poll_write_text(b, noop, "reply"), 5);  // b -> a still open
    EXPECT_EQ(poll_read_text(a, noop), "reply");
}

TEST(Duplex, WritingAfterThePeerWasDroppedFailsWithBrokenPipe) {
    auto pipe = io::duplex(16);
    Waker noop = Waker::noop();
    pipe.second = io::DuplexStream();
    std::error_code err;
    EXPECT_EQ(poll_write_text(pipe.first, noop, "anyone?", &err), -2);
    EXPECT_EQ(err, std::errc::broken_pipe);
    EXPECT_EQ(poll_read_text(pipe.first, noop), "");  // and reads end of stream
}

TEST(Duplex, DroppingThePeerWakesAWriterBlockedOnAFullBufferWithBrokenPipe) {
    auto pipe = io::duplex(2);
    WakeCounts counts;
    Waker writer = make_counting_waker(counts);
    EXPECT_EQ(poll_write_text(pipe.first, writer, "full"), 2);
    EXPECT_EQ(poll_write_text(pipe.first, writer, "ll"), -1);
    pipe.second = io::DuplexStream();
    EXPECT_EQ(counts.total_wakes(), 1);
    std::error_code err;
    EXPECT_EQ(poll_write_text(pipe.first, writer, "ll", &err), -2);
    EXPECT_EQ(err, std::errc::broken_pipe);
}

TEST(Duplex, ADefaultOrMovedFromEndIsNotConnected) {
    io::DuplexStream unconnected;
    auto [a, b] = io::duplex(8);
    io::DuplexStream moved = std::move(a);
    Waker noop = Waker::noop();
    Context cx(noop);
    std::error_code err;
    EXPECT_EQ(poll_write_text(unconnected, noop, "x", &err), -2);
    EXPECT_EQ(err, std::errc::not_connected);
    EXPECT_EQ(poll_write_text(a, noop, "x", &err), -2);  // NOLINT(bugprone-use-after-move): tested on purpose
    EXPECT_EQ(err, std::errc::not_connected);
    EXPECT_EQ(poll_read_text(a, noop), "<error: " + std::make_error_code(std::errc::not_connected).message() + ">");
    auto shut = unconnected.poll_shutdown(cx);
    ASSERT_TRUE(shut.is_ready());
    EXPECT_EQ(error_of(*shut), std::errc::not_connected);
    EXPECT_EQ(poll_write_text(moved, noop, "ok"), 2);  // the moved-to end works
    EXPECT_EQ(poll_read_text(b, noop), "ok");
}

TEST(Duplex, EmptyReadsAndWritesAreReadyWithZero) {
    auto [a, b] = io::duplex(1);
    Waker noop = Waker::noop();
    EXPECT_EQ(poll_write_text(a, noop, "x"), 1);
    EXPECT_EQ(poll_write_text(a, noop, ""), 0);  // full, but nothing to write
    EXPECT_EQ(poll_read_text(b, noop, 0), "");
}

TEST(Duplex, ReadsAndWritesSpendTheCooperativeBudget) {
    auto [a, b] = io::duplex(1024);
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    Context cx(waker);
    std::byte one{1};
    int writes = 0;
    {
        detail::BudgetScope budget;  // as inside a task poll
        while (writes < 1000 && a.poll_write(cx, std::span<const std::byte>(&one, 1)).is_ready()) ++writes;
    }
    EXPECT_EQ(writes, static_cast<int>(detail::kTaskBudget));
    EXPECT_EQ(counts.total_wakes(), 1);  // woken to run again after the other tasks
    int reads = 0;
    {
        detail::BudgetScope budget;
        while (reads < 1000 && b.poll_read(cx, std::span<std::byte>(&one, 1)).is_ready()) ++reads;
    }
    EXPECT_EQ(reads, static_cast<int>(detail::kTaskBudget));
    EXPECT_EQ(counts.total_wakes(), 2);
}

TEST(Duplex, ZeroCapacityIsRejected) { EXPECT_THROW((void)io::duplex(0), std::invalid_argument); }

Task<void> write_numbers(io::DuplexStream out, int count) {
    for (int i = 0; i < count; ++i) {
        std::string line = std::to_string(i) + "\n";
        auto wrote = co_await io::write_all(out, line);
        EXPECT_TRUE(wrote.has_value());
    }
}

Task<void> tasks_exchange_through_small_buffer() {
    auto pipe = io::duplex(7);
    auto writer = spawn(write_numbers(std::move(pipe.first), 5000));
    std::string all;
    auto n = co_await io::read_to_end(pipe.second, all);  // ends when the writer's end is dropped
    co_await writer;
    std::string expected;
    for (int i = 0; i < 5000; ++i) expected += std::to_string(i) + "\n";
    EXPECT_EQ(n.value_or(0), expected.size());
    EXPECT_EQ(all, expected);
}

TEST(Duplex, TwoTasksExchangeThroughASmallBuffer) { run_bounded(tasks_exchange_through_small_buffer()); }

Task<std::string> read_everything(io::DuplexStream in) {
    std::string all;
    auto n = co_await io::read_to_end(in, all);
    EXPECT_TRUE(n.has_value());
    co_return all;
}

TEST(Duplex, EndsOnTwoThreadsWithTheirOwnRuntimesExchangeBytes) {
    auto pipe = io::duplex(64);
    std::string got;
    std::thread reader([&got, in = std::move(pipe.second)]() mutable {
        auto rt = Builder::new_current_thread().build();
        auto r = rt.block_on(bounded(read_everything(std::move(in)), kBound));
        EXPECT_TRUE(r.has_value());
        if (r) got = std::move(*r);
    });
    {
        auto rt = Builder::new_current_thread().build();
        auto r = rt.block_on(bounded(write_numbers(std::move(pipe.first), 20000), kBound));
        EXPECT_TRUE(r.has_value());
    }
    reader.join();
    std::string expected;
    for (int i = 0; i < 20000; ++i) expected += std::to_string(i) + "\n";
    EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace corio
