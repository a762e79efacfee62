// Tests of <corio/sync/once_cell.hpp>: get / set / initialized, a cell built
// with a value, get_or_init run once by concurrent callers (both runtimes),
// an initialiser that throws (propagates; the next caller initialises), one
// whose caller is cancelled mid-way (the next caller initialises),
// get_or_try_init errors, and a DropCounter value destroyed exactly once.
#include "corio/sync/once_cell.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/counting_waker.hpp"
#include "support/drop_counter.hpp"
#include "support/manual_future.hpp"
#include "support/poll.hpp"
#include "support/runtime_flavors.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using sync::OnceCell;
using test::bounded;
using test::DropCounter;
using test::DropCounts;
using test::make_counting_waker;
using test::poll_with;
using test::WakeCounts;

class OnceCellOnRuntime : public test::RuntimeFlavorTest {};

INSTANTIATE_TEST_SUITE_P(Runtimes, OnceCellOnRuntime, test::all_flavors(), test::flavor_name);

Task<int> ready_value(int v) { co_return v; }

Task<int> value_after_yield(int v, std::atomic<int>* calls) {
    calls->fetch_add(1);
    co_await task::yield_now();
    co_return v;
}

/// An initialiser that waits for a hand-completed value.
Task<int> value_from(std::shared_ptr<test::ManualState<int>> state) {
    int v = co_await test::ManualFuture<int>(std::move(state));
    co_return v;
}

TEST(OnceCell, AnEmptyCellHasNoValueAndSetStoresOne) {
    OnceCell<int> cell;
    EXPECT_EQ(cell.get(), nullptr);
    EXPECT_FALSE(cell.initialized());
    EXPECT_TRUE(cell.set(5).has_value());
    ASSERT_NE(cell.get(), nullptr);
    EXPECT_EQ(*cell.get(), 5);
    EXPECT_TRUE(cell.initialized());
    auto again = cell.set(6);
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error(), 6) << "the value comes back";
    EXPECT_EQ(*cell.get(), 5);
    *cell.get_mut() = 7;
    EXPECT_EQ(*cell.get(), 7);
}

TEST(OnceCell, ACellBuiltWithAValueIsInitialized) {
    OnceCell<std::string> cell(std::string("x"));
    ASSERT_TRUE(cell.initialized());
    EXPECT_EQ(*cell.get(), "x");
    EXPECT_FALSE(cell.set("y").has_value());
}

TEST(OnceCell, GetOrInitOnAnInitializedCellReturnsTheValueWithoutCallingF) {
    OnceCell<int> cell(3);
    bool called = false;
    auto fut = cell.get_or_init([&] {
        called = true;
        return ready_value(9);
    });
    auto r = poll_with(fut, Waker::noop());
    ASSERT_TRUE(r.is_ready());
    EXPECT_EQ(r->get(), 3);
    EXPECT_EQ(&r->get(), cell.get());
    EXPECT_FALSE(called);
}

TEST(OnceCell, SetFailsWhileAnInitialiserRuns) {
    OnceCell<int> cell;
    auto state = std::make_shared<test::ManualState<int>>();
    auto fut = cell.get_or_init([state] { return value_from(state); });
    EXPECT_TRUE(poll_with(fut, Waker::noop()).is_pending());
    EXPECT_EQ(cell.set(1).error(), 1);
    state->complete(2);
    auto r = poll_with(fut, Waker::noop());
    ASSERT_TRUE(r.is_ready());
    EXPECT_EQ(r->get(), 2);
}

TEST(OnceCell, WaitersAreWokenAndSeeTheValueWhenTheInitialiserSucceeds) {
    OnceCell<int> cell;
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto state = std::make_shared<test::ManualState<int>>();
    auto first = cell.get_or_init([state] { return value_from(state); });
    auto second = cell.get_or_init([] { return ready_value(99); });
    EXPECT_TRUE(poll_with(first, Waker::noop()).is_pending());
    EXPECT_TRUE(poll_with(second, waker).is_pending());
    state->complete(8);
    auto r1 = poll_with(first, Waker::noop());
    ASSERT_TRUE(r1.is_ready());
    EXPECT_EQ(counts.total_wakes(), 1);
    auto r2 = poll_with(second, waker);
    ASSERT_TRUE(r2.is_ready());
    EXPECT_EQ(r2->get(), 8) << "the second initialiser ran";
}

TEST(OnceCell, ACancelledInitialiserLetsTheNextCallerInitialise) {
    OnceCell<int> cell;
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto state = std::make_shared<test::ManualState<int>>();
    auto second = cell.get_or_init([] { return ready_value(5); });
    {
        auto first = cell.get_or_init([state] { return value_from(state); });
        EXPECT_TRUE(poll_with(first, Waker::noop()).is_pending());
        EXPECT_TRUE(poll_with(second, waker).is_pending());
    }  // cancelled mid-way: its initialiser is destroyed
    EXPECT_EQ(counts.total_wakes(), 1);
    auto r = poll_with(second, waker);
    ASSERT_TRUE(r.is_ready());
    EXPECT_EQ(r->get(), 5);
    EXPECT_EQ(state.use_count(), 1) << "the cancelled initialiser was destroyed";
}

TEST(OnceCell, AnInitialiserThatThrowsAtOnceLeavesTheCellEmpty) {
    OnceCell<int> cell;
    auto fut = cell.get_or_init([]() -> Task<int> { throw std::runtime_error("no"); });
    EXPECT_THROW((void)poll_with(fut, Waker::noop()), std::runtime_error);
    EXPECT_FALSE(cell.initialized());
    EXPECT_TRUE(cell.set(1).has_value()) << "the permit came back";
}

TEST(OnceCell, GetOrTryInitReturnsTheErrorAndLetsTheNextCallerTry) {
    OnceCell<int> cell;
    auto failing = cell.get_or_try_init(
        []() -> Task<std::expected<int, std::string>> { co_return std::unexpected(std::string("bad")); });
    auto r1 = poll_with(failing, Waker::noop());
    ASSERT_TRUE(r1.is_ready());
    ASSERT_FALSE(r1->has_value());
    EXPECT_EQ(r1->error(), "bad");
    EXPECT_FALSE(cell.initialized());
    auto working = cell.get_or_try_init([]() -> Task<std::expected<int, std::string>> { co_return 4; });
    auto r2 = poll_with(working, Waker::noop());
    ASSERT_TRUE(r2.is_ready());
    ASSERT_TRUE(r2->has_value());
    EXPECT_EQ((*r2)->get(), 4);
    auto done = cell.get_or_try_init([]() -> Task<std::expected<int, std::string>> { co_return 5; });
    auto r3 = poll_with(done, Waker::noop());
    ASSERT_TRUE(r3.is_ready() && r3->has_value());
    EXPECT_EQ((*r3)->get(), 4);
}

TEST(OnceCell, TheValueIsDestroyedExactlyOnce) {
    DropCounts counts;
    {
        OnceCell<DropCounter> cell;
        EXPECT_TRUE(cell.set(DropCounter(counts, 1)).has_value());
        auto rejected = cell.set(DropCounter(counts, 2));
        ASSERT_FALSE(rejected.has_value());
        EXPECT_EQ(rejected.error().value(), 2);
    }
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_EQ(counts.constructed.load(), 2);
    DropCounts init_counts;
    {
        OnceCell<DropCounter> cell;
        auto fut = cell.get_or_init([&]() -> Task<DropCounter> { co_return DropCounter(init_counts, 3); });
        auto r = poll_with(fut, Waker::noop());
        ASSERT_TRUE(r.is_ready());
        EXPECT_EQ(r->get().value(), 3);
        EXPECT_EQ(init_counts.alive(), 1);
    }
    EXPECT_EQ(init_counts.alive(), 0);
    EXPECT_EQ(init_counts.constructed.load(), 1);
}

// ---- on the runtimes ---------------------------------------------------------------------------

Task<int> read_through(OnceCell<int>& cell, std::atomic<int>* calls) {
    auto get = cell.get_or_init([calls] { return value_after_yield(42, calls); });
    const int& v = co_await get;
    co_return v;
}

TEST_P(OnceCellOnRuntime, ConcurrentGetOrInitRunsTheInitialiserOnce) {
    Runtime rt = build();
    OnceCell<int> cell;
    std::atomic<int> calls{0};
    constexpr int kCallers = 32;
    auto body = [&]() -> Task<int> {
        std::vector<JoinHandle<int>> handles;
        for (int i = 0; i < kCallers; ++i) handles.push_back(spawn(read_through(cell, &calls)));
        int sum = 0;
        for (auto& h : handles) sum += co_await h;
        co_return sum;
    };
    auto r = rt.block_on(bounded(body()));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 42 * kCallers);
    EXPECT_EQ(calls.load(), 1);
}

/// An initialiser that throws when `fail`, after a yield either way.
Task<int> maybe_throw_after_yield(bool fail, int value, std::atomic<int>* calls) {
    calls->fetch_add(1);
    co_await task::yield_now();
    if (fail) throw std::runtime_error("initialiser failed");
    co_return value;
}

/// -1 when the initialiser this caller ran threw; else the cell's value.
Task<int> init_or_report_throw(OnceCell<int>& cell, bool fail, int value, std::atomic<int>* calls) {
    try {
        auto get = cell.get_or_init([=] { return maybe_throw_after_yield(fail, value, calls); });
        const int& v = co_await get;
        co_return v;
    } catch (const std::runtime_error&) {
        co_return -1;
    }
}

TEST_P(OnceCellOnRuntime, ThrowingInitialisersPropagateToTheirCallersAndALaterCallerSucceeds) {
    Runtime rt = build();
    OnceCell<int> cell;
    std::atomic<int> calls{0};
    constexpr int kCallers = 16;
    auto body = [&]() -> Task<std::vector<int>> {
        std::vector<JoinHandle<int>> handles;
        // The first half fail: the cell can only be set by one of the rest.
        for (int i = 0; i < kCallers; ++i) {
            handles.push_back(spawn(init_or_report_throw(cell, i < kCallers / 2, 100 + i, &calls)));
        }
        std::vector<int> results;
        for (auto& h : handles) results.push_back(co_await h);
        co_return results;
    };
    auto r = rt.block_on(bounded(body()));
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(cell.initialized());
    int value = *cell.get();
    EXPECT_GE(value, 100 + kCallers / 2);
    int threw = 0;
    for (int v : *r) {
        if (v == -1) {
            ++threw;
        } else {
            EXPECT_EQ(v, value);
        }
    }
    EXPECT_EQ(threw + 1, calls.load()) << "every initialiser but the successful one threw to its own caller";
}

Task<int> init_with(OnceCell<int>& cell, int value) {
    auto get = cell.get_or_init([value] { return ready_value(value); });
    const int& v = co_await get;
    co_return v;
}

/// Pending for ever (stores no waker: only cancellation ends it).
struct Forever {
    using Output = void;
    Poll<void> poll(Context&) { return Pending; }
};

Task<int> start_then_hang(std::atomic<bool>* started) {
    started->store(true);
    Forever forever;
    co_await forever;
    co_return 0;
}

Task<int> init_and_hang(OnceCell<int>& cell, std::atomic<bool>* started) {
    auto get = cell.get_or_init([started] { return start_then_hang(started); });
    const int& v = co_await get;
    co_return v;
}

TEST_P(OnceCellOnRuntime, AnInitialiserWhoseTaskIsAbortedMidWayLetsTheNextCallerInitialise) {
    Runtime rt = build();
    OnceCell<int> cell;
    std::atomic<bool> started{false};
    auto body = [&]() -> Task<int> {
        auto hung = spawn(init_and_hang(cell, &started));
        while (!started.load()) co_await task::yield_now();  // it holds the right to initialise
        auto next = spawn(init_with(cell, 11));
        hung.abort();
        bool aborted = false;
        try {
            (void)co_await hung;
        } catch (const JoinError&) {
            aborted = true;
        }
        EXPECT_TRUE(aborted);
        int v = co_await next;
        co_return v;
    };
    auto r = rt.block_on(bounded(body()));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 11);
    EXPECT_EQ(*cell.get(), 11);
}

/// An initialiser that throws once the hand-completed value arrives.
Task<int> throw_when_completed(std::shared_ptr<test::ManualState<int>> state) {
    (void)co_await test::ManualFuture<int>(std::move(state));
    throw std::runtime_error("initialiser failed");
}

TEST(OnceCell, AnInitialiserThatThrowsLetsTheNextWaitingCallerInitialise) {
    OnceCell<int> cell;
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto state = std::make_shared<test::ManualState<int>>();
    auto first = cell.get_or_init([state] { return throw_when_completed(state); });
    auto second = cell.get_or_init([] { return ready_value(11); });
    EXPECT_TRUE(poll_with(first, Waker::noop()).is_pending());
    EXPECT_TRUE(poll_with(second, waker).is_pending());
    state->complete(0);
    EXPECT_THROW((void)poll_with(first, Waker::noop()), std::runtime_error);
    EXPECT_EQ(counts.total_wakes(), 1);
    auto r = poll_with(second, waker);
    ASSERT_TRUE(r.is_ready());
    EXPECT_EQ(r->get(), 11);
}

}  // namespace
}  // namespace corio
