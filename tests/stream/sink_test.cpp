// The Sink concept and the sink:: futures (send, send_all, flush, close)
// over a hand-written sink that holds at most a few items before it must
// flush, and that can be told to fail.
#include "corio/sink.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <expected>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "corio/stream.hpp"
#include "corio/task.hpp"
#include "support/co_assert.hpp"
#include "support/run_bounded.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using Ints = std::vector<int>;

constexpr test::RunBounded run_bounded{10s};

/// Buffers up to `capacity` items; poll_flush moves them to `written` (one
/// "write" per flush that had something to write).
struct Recorder {
    using Error = std::error_code;
    using Result = std::expected<void, Error>;

    std::size_t capacity = 3;
    std::vector<int> buffer;
    std::vector<int> written;
    int writes = 0;
    int flushes = 0;
    bool closed = false;
    std::error_code fail_sends;  // when set, start_send reports it

    Poll<Result> poll_ready(Context& cx) {
        if (buffer.size() < capacity) return Ready(Result());
        return poll_flush(cx);
    }
    Result start_send(int v) {
        if (fail_sends) return std::unexpected(fail_sends);
        buffer.push_back(v);
        return {};
    }
    Poll<Result> poll_flush(Context&) {
        ++flushes;
        if (!buffer.empty()) ++writes;
        written.insert(written.end(), buffer.begin(), buffer.end());
        buffer.clear();
        return Ready(Result());
    }
    Poll<Result> poll_close(Context& cx) {
        auto r = poll_flush(cx);
        closed = true;
        return r;
    }
};

static_assert(Sink<Recorder, int>);
static_assert(!Sink<Recorder, std::string>);

Task<void> send_one() {
    Recorder r;
    CO_ASSERT_TRUE((co_await sink::send(r, 7)).has_value());
    EXPECT_EQ(r.written, (Ints{7}));
    EXPECT_EQ(r.writes, 1);
}

TEST(Sink, SendHandsOverOneItemAndFlushesIt) { run_bounded(send_one()); }

Task<void> send_all_batches() {
    Recorder r;
    r.capacity = 100;
    Ints items{1, 2, 3, 4, 5};  // named: GCC 12 rejects a braced temporary in a co_await operand
    CO_ASSERT_TRUE((co_await sink::send_all(r, stream::iter(items))).has_value());
    EXPECT_EQ(r.written, (Ints{1, 2, 3, 4, 5}));
    EXPECT_EQ(r.writes, 1);  // all ready together: one flush
}

TEST(Sink, SendAllHandsOverEveryReadyItemBeforeOneFlush) { run_bounded(send_all_batches()); }

Task<void> send_all_backpressure() {
    Recorder r;
    r.capacity = 2;
    Ints items{1, 2, 3, 4, 5};
    CO_ASSERT_TRUE((co_await sink::send_all(r, stream::iter(items))).has_value());
    EXPECT_EQ(r.written, items);
    EXPECT_EQ(r.writes, 3);  // a full sink flushes before taking more: 2 + 2 + 1
}

TEST(Sink, SendAllFlushesWhenTheSinkIsFull) { run_bounded(send_all_backpressure()); }

AsyncGenerator<int> slow_items() {
    co_yield 1;
    co_yield 2;
    co_await task::yield_now();  // nothing ready for a moment
    co_yield 3;
}

Task<void> send_all_flushes_while_waiting() {
    Recorder r;
    r.capacity = 100;
    CO_ASSERT_TRUE((co_await sink::send_all(r, slow_items())).has_value());
    EXPECT_EQ(r.written, (Ints{1, 2, 3}));
    EXPECT_EQ(r.writes, 2);  // 1 and 2 went out while the stream had nothing ready
}

TEST(Sink, SendAllFlushesWhatItHasWhileTheStreamIsPending) { run_bounded(send_all_flushes_while_waiting()); }

Task<void> send_errors() {
    Recorder r;
    r.fail_sends = std::make_error_code(std::errc::io_error);
    auto one = co_await sink::send(r, 1);
    CO_ASSERT_FALSE(one.has_value());
    EXPECT_EQ(one.error(), std::errc::io_error);
    Ints items{1, 2};
    auto all = co_await sink::send_all(r, stream::iter(items));
    CO_ASSERT_FALSE(all.has_value());
    EXPECT_EQ(all.error(), std::errc::io_error);
    EXPECT_TRUE(r.written.empty());
}

TEST(Sink, SendAndSendAllReportTheSinksError) { run_bounded(send_errors()); }

Task<void> flush_and_close() {
    Recorder r;
    CO_ASSERT_TRUE(r.start_send(1).has_value());
    CO_ASSERT_TRUE((co_await sink::flush(r)).has_value());
    EXPECT_EQ(r.written, (Ints{1}));
    CO_ASSERT_TRUE(r.start_send(2).has_value());
    CO_ASSERT_TRUE((co_await sink::close(r)).has_value());
    EXPECT_EQ(r.written, (Ints{1, 2}));
    EXPECT_TRUE(r.closed);
}

TEST(Sink, FlushWritesOutAndCloseFlushesThenCloses) { run_bounded(flush_and_close()); }

}  // namespace
}  // namespace corio
