// AsyncGenerator: laziness, co_yield and co_await inside, the end of the
// stream, exceptions reaching the consumer, cancellation by destruction, and
// no allocation per item.
#include "corio/stream/generator.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "corio/stream.hpp"
#include "corio/task.hpp"
#include "support/allocation_counter.hpp"
#include "support/co_assert.hpp"
#include "support/counting_waker.hpp"
#include "support/drop_counter.hpp"
#include "support/manual_future.hpp"
#include "support/poll.hpp"
#include "support/run_bounded.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using test::DropCounter;
using test::DropCounts;
using test::ManualFuture;
using test::ManualState;
using test::poll_once;

constexpr test::RunBounded run_bounded{10s};

AsyncGenerator<int> count_to(int n, int* started = nullptr) {
    if (started != nullptr) ++*started;
    for (int i = 1; i <= n; ++i) co_yield i;
}

template <class S>
Poll<std::optional<stream::item_t<S>>> poll_next_once(S& s) {
    Waker waker = Waker::noop();
    Context cx(waker);
    return s.poll_next(cx);
}

TEST(AsyncGenerator, RunsNothingUntilFirstPolled) {
    int started = 0;
    auto gen = count_to(3, &started);
    EXPECT_EQ(started, 0);
    auto p = poll_next_once(gen);
    EXPECT_EQ(started, 1);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(**p, 1);
}

TEST(AsyncGenerator, YieldsEachValueThenKeepsReturningNullopt) {
    auto gen = count_to(3);
    for (int want = 1; want <= 3; ++want) {
        auto p = poll_next_once(gen);
        ASSERT_TRUE(p.is_ready() && p->has_value());
        EXPECT_EQ(**p, want);
    }
    for (int i = 0; i < 3; ++i) {
        auto p = poll_next_once(gen);
        ASSERT_TRUE(p.is_ready());
        EXPECT_FALSE(p->has_value());
    }
    EXPECT_FALSE(gen.valid());
}

AsyncGenerator<int> awaiting(std::shared_ptr<ManualState<int>> state) {
    co_yield 1;
    int v = co_await ManualFuture<int>(state);
    co_yield v;
}

TEST(AsyncGenerator, AwaitsAFuturePendingUntilItsWakerIsWoken) {
    test::WakeCounts counts;  // first: it outlives the clones of the waker below
    auto state = std::make_shared<ManualState<int>>();
    auto gen = awaiting(state);
    Waker waker = test::make_counting_waker(counts);
    Context cx(waker);
    auto first = gen.poll_next(cx);
    ASSERT_TRUE(first.is_ready());
    EXPECT_EQ(**first, 1);
    EXPECT_TRUE(gen.poll_next(cx).is_pending());
    EXPECT_TRUE(gen.poll_next(cx).is_pending());
    EXPECT_EQ(state->polls, 2);  // a re-poll goes straight to the leaf future
    state->complete(42);
    EXPECT_GE(counts.total_wakes(), 1);
    auto second = gen.poll_next(cx);
    ASSERT_TRUE(second.is_ready());
    EXPECT_EQ(**second, 42);
    auto end = gen.poll_next(cx);
    ASSERT_TRUE(end.is_ready());
    EXPECT_FALSE(end->has_value());
}

Task<int> child_of(std::shared_ptr<ManualState<int>> state) {
    int v = co_await ManualFuture<int>(std::move(state));
    co_return v * 2;
}

AsyncGenerator<int> awaiting_child(std::shared_ptr<ManualState<int>> state) {
    int v = co_await child_of(std::move(state));
    co_yield v;
    co_yield v + 1;
}

TEST(AsyncGenerator, AwaitsAChildTask) {
    auto state = std::make_shared<ManualState<int>>();
    auto gen = awaiting_child(state);
    EXPECT_TRUE(poll_next_once(gen).is_pending());
    state->complete(5);
    auto p = poll_next_once(gen);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(**p, 10);
    EXPECT_EQ(*poll_next_once(gen).value(), 11);
}

AsyncGenerator<std::string> copies(std::string s) {  // by value: the body runs after the call
    std::string local = s;
    co_yield local;  // an lvalue: copied
    co_yield local;
    co_yield "literal";
}

TEST(AsyncGenerator, YieldingAnLvalueCopiesIt) {
    auto gen = copies("abc");
    EXPECT_EQ(*poll_next_once(gen).value(), "abc");
    EXPECT_EQ(*poll_next_once(gen).value(), "abc");
    EXPECT_EQ(*poll_next_once(gen).value(), "literal");
}

AsyncGenerator<int> throws_after(int n) {
    for (int i = 0; i < n; ++i) co_yield i;
    throw std::runtime_error("boom");
}

TEST(AsyncGenerator, AnExceptionReachesTheConsumerAndFinishesTheGenerator) {
    auto gen = throws_after(1);
    EXPECT_EQ(*poll_next_once(gen).value(), 0);
    EXPECT_THROW((void)poll_next_once(gen), std::runtime_error);
    auto p = poll_next_once(gen);
    ASSERT_TRUE(p.is_ready());
    EXPECT_FALSE(p->has_value());
}

Task<int> throwing_child() {
    co_await task::yield_now();
    throw std::logic_error("child failed");
}

AsyncGenerator<int> awaits_throwing_child() { co_yield co_await throwing_child(); }

Task<void> consume_throwing() {
    auto gen = awaits_throwing_child();
    bool caught = false;
    try {
        (void)co_await stream::next(gen);
    } catch (const std::logic_error&) {
        caught = true;
    }
    CO_ASSERT_TRUE(caught);
    auto after = co_await stream::next(gen);
    EXPECT_FALSE(after.has_value());
}

TEST(AsyncGenerator, AnExceptionOfAnAwaitedTaskReachesTheConsumerThroughNext) { run_bounded(consume_throwing()); }

AsyncGenerator<int> holds_locals(DropCounts& counts, std::shared_ptr<ManualState<int>> state) {
    DropCounter outer(counts, 1);
    co_yield 1;
    DropCounter inner(counts, 2);
    co_yield co_await child_of(std::move(state));
}

TEST(AsyncGenerator, DestroyingItWhileAwaitingRunsTheDestructorsOfItsLocals) {
    DropCounts counts;
    auto state = std::make_shared<ManualState<int>>();
    {
        auto gen = holds_locals(counts, state);
        EXPECT_EQ(*poll_next_once(gen).value(), 1);
        EXPECT_TRUE(poll_next_once(gen).is_pending());
        EXPECT_EQ(counts.alive(), 2);
        EXPECT_EQ(state.use_count(), 2);  // the child's ManualFuture holds it
    }
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_EQ(state.use_count(), 1);
}

TEST(AsyncGenerator, DestroyingItBetweenItemsRunsTheDestructorsOfItsLocals) {
    DropCounts counts;
    {
        auto gen = holds_locals(counts, std::make_shared<ManualState<int>>());
        EXPECT_EQ(*poll_next_once(gen).value(), 1);
        EXPECT_EQ(counts.alive(), 1);
    }
    EXPECT_EQ(counts.alive(), 0);
}

TEST(AsyncGenerator, CanBeMovedBetweenPolls) {
    auto gen = count_to(3);
    EXPECT_EQ(*poll_next_once(gen).value(), 1);
    AsyncGenerator<int> moved = std::move(gen);
    EXPECT_FALSE(gen.valid());  // NOLINT(bugprone-use-after-move): checks the moved-from state
    EXPECT_EQ(*poll_next_once(moved).value(), 2);
    auto ended = poll_next_once(gen);
    ASSERT_TRUE(ended.is_ready());
    EXPECT_FALSE(ended->has_value());
}

Task<void> drain_with_next() {
    auto gen = count_to(100);
    int sum = 0;
    while (auto v = co_await stream::next(gen)) sum += *v;
    EXPECT_EQ(sum, 5050);
    EXPECT_FALSE((co_await stream::next(gen)).has_value());
}

TEST(AsyncGenerator, DrainsThroughStreamNextInATask) { run_bounded(drain_with_next()); }

AsyncGenerator<int> yields_around_sleeps() {
    for (int i = 0; i < 3; ++i) {
        co_await time::sleep(1ms);
        co_yield i;
    }
}

Task<void> sleeps_inside() {
    auto items = co_await stream::collect<std::vector<int>>(yields_around_sleeps());
    EXPECT_EQ(items, (std::vector<int>{0, 1, 2}));
}

TEST(AsyncGenerator, AwaitsTimersOnARuntime) { run_bounded(sleeps_inside()); }

TEST(AsyncGenerator, AllocatesNothingPerItem) {
    if (!test::counting_is_active()) GTEST_SKIP() << "operator new is replaced elsewhere in this binary";
    auto gen = count_to(1000);
    (void)poll_next_once(gen);  // the frame exists from the call; warm up
    test::AllocationScope scope;
    int n = 1;
    while (auto p = poll_next_once(gen)) {
        if (!p->has_value()) break;
        ++n;
    }
    EXPECT_EQ(n, 1000);
    EXPECT_EQ(scope.count(), 0);
}

}  // namespace
}  // namespace corio
