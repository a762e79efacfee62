// The timed stream adapters (timeout, throttle, chunks_timeout) on a runtime
// whose clock starts paused, so every instant is exact and nothing sleeps.
#include "corio/stream/timed.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <expected>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/stream.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/co_assert.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using time::Duration;
using time::Instant;
using Ints = std::vector<int>;

/// Runs `root` on a fresh runtime with a paused clock, bounded in virtual time.
void run_paused(Task<void> root) {
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto r = rt.block_on(time::timeout(1000h, std::move(root)));
    EXPECT_TRUE(r.has_value()) << "the root hit its virtual-time bound: a wake-up was lost";
}

/// Yields each (delay, value): sleeps `delay` then yields `value`.
AsyncGenerator<int> paced(std::vector<std::pair<Duration, int>> script) {
    for (auto [delay, value] : script) {
        co_await time::sleep(delay);
        co_yield value;
    }
}

Task<void> chunks_at_deadline() {
    Instant start = Instant::now();
    std::vector<std::pair<Duration, int>> script{{0ms, 1}, {1ms, 2}, {50ms, 3}, {0ms, 4}};
    auto s = paced(std::move(script)) | stream::chunks_timeout(3, 10ms);
    auto first = co_await stream::next(s);
    CO_ASSERT_TRUE(first.has_value());
    EXPECT_EQ(*first, (Ints{1, 2}));
    EXPECT_EQ(Instant::now() - start, Duration(10ms));  // the deadline of the chunk's first item
    auto second = co_await stream::next(s);
    CO_ASSERT_TRUE(second.has_value());
    EXPECT_EQ(*second, (Ints{3, 4}));  // the upstream ended before the chunk filled
    EXPECT_EQ(Instant::now() - start, Duration(51ms));
    EXPECT_FALSE((co_await stream::next(s)).has_value());
}

TEST(StreamChunksTimeout, EmitsAPartialChunkAtTheDeadline) { run_paused(chunks_at_deadline()); }

Task<void> chunks_full_before_deadline() {
    Instant start = Instant::now();
    auto s = stream::iter(Ints{1, 2, 3, 4, 5}) | stream::chunks_timeout(2, 10ms);
    auto all = co_await stream::collect<std::vector<Ints>>(s);
    EXPECT_EQ(all, (std::vector<Ints>{{1, 2}, {3, 4}, {5}}));
    EXPECT_EQ(Instant::now(), start);  // no wait: full chunks, then the end
}

TEST(StreamChunksTimeout, EmitsFullChunksWithoutWaiting) { run_paused(chunks_full_before_deadline()); }

Task<void> chunks_never_empty() {
    Instant start = Instant::now();
    std::vector<std::pair<Duration, int>> script{{100ms, 1}};
    auto s = paced(std::move(script)) | stream::chunks_timeout(4, 10ms);
    auto first = co_await stream::next(s);
    CO_ASSERT_TRUE(first.has_value());
    EXPECT_EQ(*first, (Ints{1}));
    EXPECT_EQ(Instant::now() - start, Duration(100ms));  // no empty chunk at 10 ms
}

TEST(StreamChunksTimeout, NeverEmitsAnEmptyChunk) { run_paused(chunks_never_empty()); }

TEST(StreamChunksTimeout, ThrowsForAChunkSizeOfZero) {
    EXPECT_THROW((void)(stream::iter(Ints{1}) | stream::chunks_timeout(0, 1ms)), std::invalid_argument);
}

Task<void> timeout_goes_on() {
    Instant start = Instant::now();
    std::vector<std::pair<Duration, int>> script{{0ms, 1}, {35ms, 2}, {5ms, 3}};
    auto s = paced(std::move(script)) | stream::timeout(10ms);
    using Item = std::expected<int, time::Elapsed>;
    auto items = co_await stream::collect<std::vector<Item>>(s);
    std::vector<Item> want{Item(1), Item(std::unexpect), Item(2), Item(3)};
    EXPECT_EQ(items, want);  // one Elapsed for the 35 ms gap, none for the 5 ms one
    EXPECT_EQ(Instant::now() - start, Duration(40ms));
}

TEST(StreamTimeout, YieldsAnElapsedItemAndGoesOn) { run_paused(timeout_goes_on()); }

Task<void> timeout_elapsed_at_deadline() {
    Instant start = Instant::now();
    auto s = stream::pending<int>() | stream::timeout(25ms);
    auto first = co_await stream::next(s);
    CO_ASSERT_TRUE(first.has_value());
    EXPECT_FALSE(first->has_value());
    EXPECT_EQ(Instant::now() - start, Duration(25ms));
}

TEST(StreamTimeout, ReportsElapsedWhenNoItemComesInTime) { run_paused(timeout_elapsed_at_deadline()); }

Task<void> throttle_spaces_items() {
    Instant start = Instant::now();
    auto s = stream::iter(Ints{1, 2, 3}) | stream::throttle(10ms);
    std::vector<Duration> at;
    while (auto v = co_await stream::next(s)) at.push_back(Instant::now() - start);
    EXPECT_EQ(at, (std::vector<Duration>{0ms, 10ms, 20ms}));
}

TEST(StreamThrottle, SpacesItemsByThePeriod) { run_paused(throttle_spaces_items()); }

/// Yields `value` at `start + offset` for each (offset, value) (absolute times).
AsyncGenerator<int> at_instants(Instant start, std::vector<std::pair<Duration, int>> script) {
    for (auto [offset, value] : script) {
        co_await time::sleep_until(start + offset);
        co_yield value;
    }
}

Task<void> throttle_no_extra_wait() {
    Instant start = Instant::now();
    std::vector<std::pair<Duration, int>> script{{0ms, 1}, {30ms, 2}};
    auto s = at_instants(start, std::move(script)) | stream::throttle(10ms);
    std::vector<Duration> at;
    while (auto v = co_await stream::next(s)) at.push_back(Instant::now() - start);
    // The gap was already longer than the period: item 2 comes when it is due.
    EXPECT_EQ(at, (std::vector<Duration>{0ms, 30ms}));
}

TEST(StreamThrottle, AddsNoWaitWhenItemsComeSlowerThanThePeriod) { run_paused(throttle_no_extra_wait()); }

}  // namespace
}  // namespace corio
