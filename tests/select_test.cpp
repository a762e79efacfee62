// Tests of <corio/select.hpp>: join, try_join, select and select_biased
// (when() branches and select_with are tested in select_when_test.cpp).
//
// Most properties are checked by polling a combinator by hand with a
// counting waker (what is polled, when branches are destroyed); the rest run
// on a runtime: on the paused clock for timer races (exact win counts), and
// on both schedulers with completions from other threads.
#include "corio/select.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <expected>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/allocation_counter.hpp"
#include "support/counting_waker.hpp"
#include "support/drop_counter.hpp"
#include "support/fixed_futures.hpp"
#include "support/manual_future.hpp"
#include "support/poll.hpp"
#include "support/runtime_flavors.hpp"
#include "support/simple_tasks.hpp"
#include "support/thread_safe_manual_future.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using test::AllocationScope;
using test::AlwaysReady;
using test::DropCounts;
using test::make_counting_waker;
using test::ManualFuture;
using test::ManualState;
using test::NeverReady;
using test::poll_with;
using test::ThreadSafeManualFuture;
using test::ThreadSafeManualState;
using test::Throwing;
using test::Tracked;
using test::value_after_yield;
using test::value_task;
using test::WakeCounts;

constexpr auto kBound = 10s;  // only reached when a wake-up is lost

/// A Notify-like permit counter for one thread: `notify()` adds a permit and
/// wakes the waiter; the future of `notified()` consumes one permit, only when
/// it returns Ready (so a dropped, losing one loses nothing).
struct Permits {
    int available = 0;
    Waker waker;
    void notify() {
        ++available;
        waker.wake_by_ref();
    }
    struct Notified {
        using Output = void;
        Permits* permits;
        Poll<void> poll(Context& cx) {
            if (permits->available > 0) {
                --permits->available;
                return Ready();
            }
            permits->waker.clone_from(cx.waker());
            return Pending;
        }
    };
    Notified notified() { return Notified{this}; }
};

Task<void> void_after_yield() { co_await task::yield_now(); }

Task<void> complete_after(std::shared_ptr<ManualState<int>> state, time::Duration d, int v) {
    co_await time::sleep(d);
    state->complete(v);
}

// ---- static properties -------------------------------------------------------------

static_assert(Future<Join<AlwaysReady<int>, NeverReady<void>&>>);
static_assert(std::is_same_v<output_of<Join<AlwaysReady<int>, NeverReady<void>>>, std::tuple<int, std::monostate>>);
static_assert(std::is_same_v<output_of<Select<false, AlwaysReady<int>, AlwaysReady<int>>>, std::variant<int, int>>);
static_assert(std::is_same_v<output_of<Select<true, NeverReady<void>, AlwaysReady<std::string>&>>,
                             std::variant<std::monostate, std::string>>);
static_assert(
    std::is_same_v<
        output_of<TryJoin<AlwaysReady<std::expected<int, std::string>>, AlwaysReady<std::expected<void, std::string>>>>,
        std::expected<std::tuple<int, std::monostate>, std::string>>);
// Futures live inside the combinator; a borrowed one is a pointer.
static_assert(sizeof(Select<false, NeverReady<int>&, NeverReady<int>&>) <= 3 * sizeof(void*));
static_assert(sizeof(Join<AlwaysReady<int>, AlwaysReady<int>>) <= 10 * sizeof(int));

// ---- join ------------------------------------------------------------------------------

TEST(Join, CollectsTheOutputsOfMixedFuturesInArgumentOrder) {
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto result = rt.block_on([]() -> Task<std::tuple<int, int, int, std::monostate, std::monostate, time::Duration>> {
        auto start = time::Instant::now();
        auto state = std::make_shared<ManualState<int>>();
        JoinHandle<void> completer = spawn(complete_after(state, 5ms, 1));
        JoinHandle<int> handle = spawn(value_after_yield(3));
        auto [manual, task, joined, slept, done] = co_await join(ManualFuture<int>(state), value_after_yield(2), handle,
                                                                 time::sleep(10ms), void_after_yield());
        co_await completer;
        co_return std::tuple(manual, task, joined, slept, done, start.elapsed());
    }());
    EXPECT_EQ(std::get<0>(result), 1);
    EXPECT_EQ(std::get<1>(result), 2);
    EXPECT_EQ(std::get<2>(result), 3);
    EXPECT_EQ(std::get<5>(result), 10ms);  // the slowest branch, on the paused clock
}

TEST(Join, OfNoFuturesIsReadyAtOnceWithAnEmptyTuple) {
    auto j = join();
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    EXPECT_TRUE(poll_with(j, waker).is_ready());
}

TEST(Join, PollsOnlyUnfinishedBranchesAndFinishesWhenAllHave) {
    auto a = std::make_shared<ManualState<int>>();
    auto b = std::make_shared<ManualState<std::string>>();
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    {
        auto j = join(ManualFuture<int>(a), ManualFuture<std::string>(b));
        EXPECT_TRUE(poll_with(j, waker).is_pending());
        EXPECT_TRUE(a->waker.will_wake(waker));  // each branch got the caller's waker
        EXPECT_TRUE(b->waker.will_wake(waker));
        a->complete(4);
        EXPECT_EQ(counts.total_wakes(), 1);
        EXPECT_TRUE(poll_with(j, waker).is_pending());
        EXPECT_EQ(a->polls, 2);
        EXPECT_EQ(b->polls, 2);
        EXPECT_TRUE(poll_with(j, waker).is_pending());
        EXPECT_EQ(a->polls, 2);  // finished: not polled again
        EXPECT_EQ(b->polls, 3);
        b->complete("four");
        auto p = poll_with(j, waker);
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(*p, std::tuple(4, std::string("four")));
        EXPECT_THROW((void)poll_with(j, waker), std::logic_error);
    }
    a.reset();
    b.reset();
    EXPECT_EQ(counts.live.load(), 1);  // every stored waker clone was dropped
}

TEST(Join, DestroysAnOwnedBranchAsSoonAsItFinished) {
    DropCounts counts;
    auto a = std::make_shared<ManualState<int>>();
    Waker waker = Waker::noop();
    auto j = join(Tracked(ManualFuture<int>(a), counts), NeverReady<int>{});
    EXPECT_TRUE(poll_with(j, waker).is_pending());
    a->complete(1);
    EXPECT_TRUE(poll_with(j, waker).is_pending());
    EXPECT_EQ(counts.alive(), 0);
}

TEST(Join, PropagatesABranchExceptionAndTheOthersAreDestroyedWithIt) {
    DropCounts counts;
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    EXPECT_THROW(rt.block_on([](DropCounts* c) -> Task<void> {
        auto joined = join(Tracked(NeverReady<int>{}, *c), Throwing{}, value_task(1));
        co_await joined;
    }(&counts)),
                 std::runtime_error);
    EXPECT_EQ(counts.constructed.load(), 1);
    EXPECT_EQ(counts.alive(), 0);
}

TEST(Join, BorrowsAnLvalueFutureAndLeavesItAlive) {
    DropCounts counts;
    Tracked borrowed(AlwaysReady<int>{7}, counts);
    Waker waker = Waker::noop();
    {
        auto j = join(borrowed, AlwaysReady<int>{8});
        auto p = poll_with(j, waker);
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(*p, std::tuple(7, 8));
    }
    EXPECT_EQ(counts.alive(), 1);
}

// ---- try_join ------------------------------------------------------------------------------

using Res = std::expected<int, std::string>;
using VoidRes = std::expected<void, std::string>;

Task<Res> ok_after_yield(int v) {
    co_await task::yield_now();
    co_return Res(v);
}
Task<VoidRes> void_ok() { co_return VoidRes(); }

TEST(TryJoin, ReturnsEveryValueWhenAllSucceed) {
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto r = rt.block_on(try_join(ok_after_yield(1), void_ok(), AlwaysReady<Res>{Res(3)}));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(std::get<0>(*r), 1);
    EXPECT_EQ(std::get<2>(*r), 3);
}

TEST(TryJoin, TheFirstErrorWinsAndTheOthersAreDestroyedBeforeItReturns) {
    DropCounts counts;
    auto a = std::make_shared<ManualState<Res>>();
    auto b = std::make_shared<ManualState<Res>>();
    Waker waker = Waker::noop();
    auto j = try_join(Tracked(ManualFuture<Res>(a), counts), Tracked(ManualFuture<Res>(b), counts),
                      Tracked(NeverReady<Res>{}, counts));
    EXPECT_TRUE(poll_with(j, waker).is_pending());
    a->complete(Res(1));
    EXPECT_TRUE(poll_with(j, waker).is_pending());
    EXPECT_EQ(counts.alive(), 2);  // the finished branch is gone already
    b->complete(Res(std::unexpect, "b failed"));
    auto p = poll_with(j, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(counts.alive(), 0);  // before the try_join itself is destroyed
    ASSERT_FALSE(p->has_value());
    EXPECT_EQ(p->error(), "b failed");
    EXPECT_THROW((void)poll_with(j, waker), std::logic_error);
}

TEST(TryJoin, AnErrorOnTheFirstPollStopsBeforeTheLaterBranches) {
    NeverReady<Res> later;
    Waker waker = Waker::noop();
    auto j = try_join(AlwaysReady<Res>{Res(std::unexpect, "early")}, later);
    auto p = poll_with(j, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->error(), "early");
    EXPECT_EQ(later.polls, 0);
}

// ---- select --------------------------------------------------------------------------------

TEST(Select, ReturnsTheWinnerIndexAndDestroysTheLosersBeforeReturning) {
    DropCounts counts;
    auto a = std::make_shared<ManualState<int>>();
    auto b = std::make_shared<ManualState<std::string>>();
    WakeCounts wakes;
    Waker waker = make_counting_waker(wakes);
    {
        auto s = select(Tracked(ManualFuture<int>(a), counts), Tracked(ManualFuture<std::string>(b), counts),
                        Tracked(NeverReady<void>{}, counts));
        EXPECT_TRUE(poll_with(s, waker).is_pending());
        EXPECT_TRUE(a->waker.will_wake(waker));
        EXPECT_TRUE(b->waker.will_wake(waker));
        b->complete("b");
        auto p = poll_with(s, waker);
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(counts.alive(), 0);  // losers and winner gone before the select is
        ASSERT_EQ(p->index(), 1u);
        EXPECT_EQ(std::get<1>(*p), "b");
        EXPECT_THROW((void)poll_with(s, waker), std::logic_error);
    }
    a.reset();
    b.reset();
    EXPECT_EQ(wakes.live.load(), 1);
}

TEST(Select, BranchesOfTheSameTypeAreToldApartByIndex) {
    Waker waker = Waker::noop();
    auto first = select_biased(AlwaysReady<int>{1}, AlwaysReady<int>{2});
    auto p = poll_with(first, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->index(), 0u);
    EXPECT_EQ(std::get<0>(*p), 1);

    auto second = select(NeverReady<int>{}, AlwaysReady<int>{2});
    auto q = poll_with(second, waker);
    ASSERT_TRUE(q.is_ready());
    EXPECT_EQ(q->index(), 1u);
    EXPECT_EQ(std::get<1>(*q), 2);

    auto voids = select(NeverReady<void>{}, AlwaysReady<std::monostate>{});
    auto v = poll_with(voids, waker);
    ASSERT_TRUE(v.is_ready());
    EXPECT_EQ(v->index(), 1u);
}

TEST(Select, IsFairBetweenTwoAlwaysReadyBranches) {
    constexpr int kRounds = 10'000;
    Waker waker = Waker::noop();
    int wins[2] = {0, 0};
    for (int i = 0; i < kRounds; ++i) {
        auto s = select(AlwaysReady<int>{0}, AlwaysReady<int>{1});
        auto p = poll_with(s, waker);
        ASSERT_TRUE(p.is_ready());
        ++wins[p->index()];
    }
    EXPECT_GT(wins[0], kRounds * 4 / 10);
    EXPECT_GT(wins[1], kRounds * 4 / 10);
}

TEST(SelectBiased, AlwaysPicksTheFirstReadyBranchInArgumentOrder) {
    Waker waker = Waker::noop();
    for (int i = 0; i < 10'000; ++i) {
        auto s = select_biased(NeverReady<int>{}, AlwaysReady<int>{1}, AlwaysReady<int>{2});
        auto p = poll_with(s, waker);
        ASSERT_TRUE(p.is_ready());
        ASSERT_EQ(p->index(), 1u);
    }
}

TEST(Select, ABorrowedFutureIsNotDestroyedAndCanWinALaterSelect) {
    DropCounts counts;
    auto state = std::make_shared<ManualState<int>>();
    Tracked borrowed(ManualFuture<int>(state), counts);
    Waker waker = Waker::noop();
    {
        auto s = select(borrowed, AlwaysReady<int>{1});
        auto p = poll_with(s, waker);
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(p->index(), 1u);
    }
    EXPECT_EQ(counts.alive(), 1);
    state->complete(5);
    auto s = select(borrowed, NeverReady<int>{});
    auto p = poll_with(s, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->index(), 0u);
    EXPECT_EQ(std::get<0>(*p), 5);
    EXPECT_EQ(counts.alive(), 1);
}

/// Notifies `permits` at every multiple of 30 ms until `end`.
Task<void> notify_every_30ms(Permits* permits, time::Instant start, time::Instant end) {
    for (int i = 1;; ++i) {
        time::Instant at = start + std::chrono::milliseconds(30 * i);
        if (at > end) co_return;
        co_await time::sleep_until(at);
        permits->notify();
    }
}

TEST(Select, InALoopABorrowedDeadlineAndANotificationEachWinTheirShare) {
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto [notified, timed] = rt.block_on([]() -> Task<std::pair<int, int>> {
        Permits permits;
        auto start = time::Instant::now();
        auto end = start + 1000ms;
        JoinHandle<void> notifier = spawn(notify_every_30ms(&permits, start, end));
        int notified = 0;
        int timed = 0;
        auto deadline = time::sleep_until(start + 100ms);
        while (timed < 10) {
            auto r = co_await select(permits.notified(), deadline);
            if (r.index() == 0) {
                ++notified;
            } else {
                ++timed;
                deadline.reset(start + std::chrono::milliseconds(100 * (timed + 1)));
            }
        }
        co_await notifier;
        co_return std::pair(notified, timed);
    }());
    EXPECT_EQ(notified, 33);  // 30, 60, ..., 990 ms: none lost to a losing notified()
    EXPECT_EQ(timed, 10);     // 100, 200, ..., 1000 ms
}

Task<int> value_after_sleep(time::Duration d, int v) {
    co_await time::sleep(d);
    co_return v;
}

TEST(Select, ABorrowedTaskKeepsItsProgressAcrossLosingSelects) {
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto [losses, value] = rt.block_on([]() -> Task<std::pair<int, int>> {
        Task<int> slow = value_after_sleep(10ms, 42);  // started by the first select, never restarted
        int losses = 0;
        for (;;) {
            auto r = co_await select(slow, time::sleep(3ms));
            if (r.index() == 0) co_return std::pair(losses, std::get<0>(r));
            ++losses;
        }
    }());
    EXPECT_EQ(losses, 3);  // the short timers at 3, 6 and 9 ms
    EXPECT_EQ(value, 42);
}

// ---- nesting and composition -------------------------------------------------------------------

TEST(Combinators, NestInsideEachOther) {
    auto a = std::make_shared<ManualState<int>>();
    auto b = std::make_shared<ManualState<int>>();
    Waker waker = Waker::noop();
    auto nested =
        join(select(ManualFuture<int>(a), ManualFuture<int>(b)), join(AlwaysReady<int>{1}, ManualFuture<int>(a)));
    EXPECT_TRUE(poll_with(nested, waker).is_pending());
    b->complete(2);
    EXPECT_TRUE(poll_with(nested, waker).is_pending());  // the inner join still waits for `a`
    a->complete(3);
    auto p = poll_with(nested, waker);
    ASSERT_TRUE(p.is_ready());
    auto& [sel, inner] = *p;
    EXPECT_EQ(sel.index(), 1u);
    EXPECT_EQ(std::get<1>(sel), 2);
    EXPECT_EQ(inner, std::tuple(1, 3));
}

TEST(Combinators, WorkWithTimeoutAndSpawn) {
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto r = rt.block_on([]() -> Task<bool> {
        auto raced = time::timeout(5ms, select(NeverReady<int>{}, time::sleep(10ms)));
        auto timed_out = co_await raced;
        JoinHandle<std::tuple<int, int>> h = spawn(join(value_after_yield(1), value_task(2)));
        auto both = co_await h;
        co_return !timed_out.has_value() && both == std::tuple(1, 2);
    }());
    EXPECT_TRUE(r);
}

TEST(Combinators, DoNotAllocate) {
    if (!test::counting_is_active()) GTEST_SKIP() << "operator new is replaced elsewhere in this binary";
    auto a = std::make_shared<ManualState<int>>();
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    AllocationScope scope;
    for (int i = 0; i < 1000; ++i) {
        auto s = select(join(AlwaysReady<int>{i}, NeverReady<void>{}), ManualFuture<int>(a), AlwaysReady<int>{i});
        auto p = poll_with(s, waker);
        ASSERT_TRUE(p.is_ready());
        auto t = try_join(AlwaysReady<Res>{Res(i)}, AlwaysReady<Res>{Res(i + 1)});
        auto q = poll_with(t, waker);
        ASSERT_TRUE(q.is_ready());
        auto w = select_biased(when(i % 2 == 0, ManualFuture<int>(a)), when(true, AlwaysReady<int>{i}));
        auto r = poll_with(w, waker);
        ASSERT_TRUE(r.is_ready());
        int total = 0;
        auto h = select_with(on(when(false, AlwaysReady<int>{i}), [&](int v) { return total += v; }),
                             on(AlwaysReady<int>{i}, [](int v) { return v; }),
                             on(NeverReady<void>{}, [&total] { return total; }));
        auto u = poll_with(h, waker);
        ASSERT_TRUE(u.is_ready());
    }
    EXPECT_EQ(scope.count(), 0);
}

// ---- on both schedulers, across threads -------------------------------------------------------

class CombinatorsOnRuntime : public test::RuntimeFlavorTest {};

Task<int> await_thread_safe(std::shared_ptr<ThreadSafeManualState<int>> state) {
    int v = co_await ThreadSafeManualFuture<int>(state);
    co_return v;
}

/// Selects between a future completed by another thread and a far timer, many times.
Task<int> race_foreign_completions(int rounds) {
    int won = 0;
    for (int i = 0; i < rounds; ++i) {
        auto state = std::make_shared<ThreadSafeManualState<int>>();
        std::thread completer([state, i] {
            state->wait_for_pending_poll(kBound);
            state->complete(i);
        });
        auto r = co_await select(await_thread_safe(state), time::sleep(kBound));
        completer.join();
        if (r.index() == 0 && std::get<0>(r) == i) ++won;
    }
    co_return won;
}

TEST_P(CombinatorsOnRuntime, SelectWokenFromAnotherThreadPicksTheCompletedBranch) {
    Runtime rt = build();
    auto r = rt.block_on(time::timeout(kBound, rt.spawn(race_foreign_completions(20))));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 20);
}

Task<int> sum_of_joined_spawns(int n) {
    int total = 0;
    for (int i = 0; i < n; ++i) {
        JoinHandle<int> a = spawn(value_after_yield(i));
        JoinHandle<int> b = spawn(value_after_yield(1));
        auto [x, y, z] = co_await join(std::move(a), b, value_after_yield(0));
        total += x + y + z;
    }
    co_return total;
}

TEST_P(CombinatorsOnRuntime, JoinOfSpawnedTasksCollectsEveryOutput) {
    Runtime rt = build();
    auto r = rt.block_on(time::timeout(kBound, rt.spawn(sum_of_joined_spawns(200))));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 199 * 200 / 2 + 200);
}

INSTANTIATE_TEST_SUITE_P(Schedulers, CombinatorsOnRuntime, test::all_flavors(), test::flavor_name);

}  // namespace
}  // namespace corio
