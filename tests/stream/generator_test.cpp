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

// ---- co_await stream::next lends the generator's frame to the awaiting chain

// Takes one item with co_await stream::next and records it.
Task<void> take_one(AsyncGenerator<int>& gen, std::optional<int>& out) { out = co_await stream::next(gen); }

TEST(AsyncGeneratorLent, AWaitInsideTheGeneratorSuspendsTheAwaitingTaskUntilItsLeafIsReady) {
    auto state = std::make_shared<ManualState<int>>();
    auto gen = awaiting(state);
    std::optional<int> got;
    auto first = take_one(gen, got);
    ASSERT_TRUE(poll_once(first).is_ready());
    EXPECT_EQ(got, 1);
    auto second = take_one(gen, got);
    EXPECT_TRUE(poll_once(second).is_pending());
    EXPECT_EQ(state->polls, 1);
    state->complete(7);
    ASSERT_TRUE(poll_once(second).is_ready());  // re-polls the generator's leaf directly
    EXPECT_EQ(state->polls, 2);
    EXPECT_EQ(got, 7);
}

// A generator with locals, whose second item comes from a child task
// waiting on `state`; and the item a take_one writes into.
class AsyncGeneratorLentLocals : public ::testing::Test {
protected:
    // Takes item 1 with co_await stream::next, then starts a second take into
    // `second`, which stays pending: the lent generator waits on its child's leaf.
    void take_one_and_start_the_next(AsyncGenerator<int>& gen, Task<void>& second) {
        auto first = take_one(gen, got);
        ASSERT_TRUE(poll_once(first).is_ready());
        EXPECT_EQ(got, 1);
        second = take_one(gen, got);
        EXPECT_TRUE(poll_once(second).is_pending());
    }

    DropCounts counts;
    std::shared_ptr<ManualState<int>> state = std::make_shared<ManualState<int>>();
    std::optional<int> got;
};

TEST_F(AsyncGeneratorLentLocals, DroppingTheAwaitingTaskMidAwaitHandsTheGeneratorBackWithNothingLost) {
    auto gen = holds_locals(counts, state);
    {
        Task<void> second;
        take_one_and_start_the_next(gen, second);
        EXPECT_EQ(counts.alive(), 2);
    }  // dropped mid-await: the generator's frame, its child and its locals live on
    EXPECT_EQ(counts.alive(), 2);
    EXPECT_EQ(state.use_count(), 2);
    state->complete(9);
    auto p = poll_next_once(gen);  // driven by its owner now, from the leaf it was left on
    ASSERT_TRUE(p.is_ready() && p->has_value());
    EXPECT_EQ(**p, 18);  // child_of doubles it
    EXPECT_FALSE(poll_next_once(gen)->has_value());
    EXPECT_EQ(counts.alive(), 0);
}

TEST_F(AsyncGeneratorLentLocals, AGeneratorHandedBackCanBeLentAgainAndDestroyedMidAwait) {
    {
        auto gen = holds_locals(counts, state);
        {
            Task<void> second;
            take_one_and_start_the_next(gen, second);
        }
        // It waits on its own leaf now: the next co_await polls it as a future.
        auto third = take_one(gen, got);
        EXPECT_TRUE(poll_once(third).is_pending());
        state->complete(4);
        ASSERT_TRUE(poll_once(third).is_ready());
        EXPECT_EQ(got, 8);  // child_of doubles it
        EXPECT_EQ(counts.alive(), 2);
    }  // destroyed at its last co_yield
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_EQ(state.use_count(), 1);
}

TEST_F(AsyncGeneratorLentLocals, DestroyingTheAwaitingTaskAndThenTheGeneratorRunsEveryDestructorOnce) {
    {
        auto gen = holds_locals(counts, state);
        Task<void> second;
        take_one_and_start_the_next(gen, second);
    }  // `second` goes first (declared last), then the generator
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_EQ(state.use_count(), 1);
}

// A generator drained by another generator's co_await stream::next: two lent
// frames in one chain.
AsyncGenerator<int> doubled(AsyncGenerator<int>& inner) {
    while (true) {
        auto v = co_await stream::next(inner);
        if (!v) break;
        co_yield *v * 2;
    }
}

TEST(AsyncGeneratorLent, NestedLentGeneratorsAreHandedBackInnermostFirst) {
    auto state = std::make_shared<ManualState<int>>();
    auto inner = awaiting(state);
    auto outer = doubled(inner);
    std::optional<int> got;
    {
        auto first = take_one(outer, got);
        ASSERT_TRUE(poll_once(first).is_ready());
        EXPECT_EQ(got, 2);
        auto second = take_one(outer, got);
        EXPECT_TRUE(poll_once(second).is_pending());  // outer waits on inner, inner on the leaf
    }
    state->complete(5);
    auto p = poll_next_once(outer);  // outer's leaf is its awaiter, which polls inner
    ASSERT_TRUE(p.is_ready());
    ASSERT_TRUE(p->has_value());
    EXPECT_EQ(**p, 10);
    EXPECT_FALSE(poll_next_once(outer)->has_value());
}

Task<void> nested_in_a_task() {
    auto inner = count_to(4);
    auto outer = doubled(inner);
    int sum = 0;
    while (true) {
        auto v = co_await stream::next(outer);
        if (!v) break;
        sum += *v;
    }
    EXPECT_EQ(sum, 20);
}

TEST(AsyncGeneratorLent, NestedGeneratorsDrainInATask) { run_bounded(nested_in_a_task()); }

Task<void> consume_until_throw() {
    auto gen = throws_after(2);
    int seen = 0;
    bool caught = false;
    try {
        while (true) {
            auto v = co_await stream::next(gen);
            if (!v) break;
            ++seen;
        }
    } catch (const std::runtime_error&) {
        caught = true;
    }
    EXPECT_EQ(seen, 2);
    CO_ASSERT_TRUE(caught);
    auto after = co_await stream::next(gen);
    EXPECT_FALSE(after.has_value());
    EXPECT_FALSE(gen.valid());
}

TEST(AsyncGeneratorLent, AnExceptionFromALentGeneratorReachesTheAwaitingTaskAndEndsIt) {
    run_bounded(consume_until_throw());
}

Task<void> poll_then_await(std::shared_ptr<ManualState<int>> state) {
    auto gen = awaiting(state);
    EXPECT_EQ(*poll_next_once(gen).value(), 1);
    EXPECT_TRUE(poll_next_once(gen).is_pending());  // waits on its own leaf now
    state->complete(3);
    auto v = co_await stream::next(gen);  // polled as a future: ready at once
    EXPECT_EQ(v, 3);
    auto end = co_await stream::next(gen);  // at a co_yield again: lent
    EXPECT_FALSE(end.has_value());
}

TEST(AsyncGeneratorLent, AGeneratorLastDrivenByPollNextIsPolledAsAFuture) {
    run_bounded(poll_then_await(std::make_shared<ManualState<int>>()));
}

AsyncGenerator<int> naturals_up_to(int n) {
    for (int i = 0; i < n; ++i) co_yield int{i};
}

Task<void> drain_count(int n, long& count) {
    auto gen = naturals_up_to(n);
    while (auto v = co_await stream::next(gen)) ++count;
}

// Every item is two symmetric transfers that never return to the poll: they
// must be tail calls, or a long drain would overflow the stack.
TEST(AsyncGeneratorLent, DrainsAMillionItemsInConstantStack) {
    long count = 0;
    auto task = drain_count(1'000'000, count);
    ASSERT_TRUE(poll_once(task).is_ready());
    EXPECT_EQ(count, 1'000'000);
}

TEST(AsyncGeneratorLent, AllocatesNothingPerItem) {
    if (!test::counting_is_active()) GTEST_SKIP() << "operator new is replaced elsewhere in this binary";
    auto gen = count_to(1000);
    std::optional<int> got;
    auto warm = take_one(gen, got);
    ASSERT_TRUE(poll_once(warm).is_ready());
    auto drain = [](AsyncGenerator<int>& g, int& n) -> Task<void> {
        while (true) {
            auto v = co_await stream::next(g);
            if (!v) break;
            ++n;
        }
    };
    int n = 1;
    auto task = drain(gen, n);  // the task's frame is allocated here, before counting
    test::AllocationScope scope;
    ASSERT_TRUE(poll_once(task).is_ready());
    EXPECT_EQ(n, 1000);
    EXPECT_EQ(scope.count(), 0);
}

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
