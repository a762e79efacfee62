// Tests of <corio/cancel.hpp>: CancellationToken, its tree of child tokens,
// the cancelled() future, DropGuard and run_until_cancelled.
//
// Single-thread properties are checked by polling by hand with counting
// wakers; cross-thread wake-ups run on both schedulers (and under TSan),
// bounded by time::timeout on the real clock.
#include "corio/cancel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/select.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/counting_waker.hpp"
#include "support/drop_counter.hpp"
#include "support/manual_future.hpp"
#include "support/parking_waker.hpp"
#include "support/poll.hpp"
#include "support/runtime_flavors.hpp"
#include "support/spin_until.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using test::DropCounter;
using test::DropCounts;
using test::make_counting_waker;
using test::ManualFuture;
using test::ManualState;
using test::ParkingWaker;
using test::poll_with;
using test::WakeCounts;

constexpr auto kBound = 10s;  // only reached when a wake-up is lost

static_assert(Future<Cancelled>);
static_assert(std::is_same_v<output_of<RunUntilCancelled<ManualFuture<int>>>, std::optional<int>>);
static_assert(std::is_same_v<output_of<RunUntilCancelled<Cancelled&>>, std::optional<std::monostate>>);

// ---- a single token --------------------------------------------------------------------

TEST(CancellationToken, StartsUncancelledAndCancelIsSeenByEveryCopy) {
    CancellationToken token;
    CancellationToken copy = token;
    EXPECT_FALSE(token.is_cancelled());
    copy.cancel();
    EXPECT_TRUE(token.is_cancelled());
    EXPECT_TRUE(copy.is_cancelled());
    copy.cancel();  // idempotent
    EXPECT_TRUE(token.is_cancelled());
}

TEST(CancellationToken, CancelledIsPendingUntilCancelThenWakesAndIsReady) {
    CancellationToken token;
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    {
        Cancelled fut = token.cancelled();
        EXPECT_TRUE(poll_with(fut, waker).is_pending());
        EXPECT_TRUE(poll_with(fut, waker).is_pending());
        EXPECT_EQ(counts.clones.load(), 1);  // the stored waker is reused when it would wake the same task
        token.cancel();
        EXPECT_EQ(counts.total_wakes(), 1);
        EXPECT_TRUE(poll_with(fut, waker).is_ready());
        EXPECT_TRUE(poll_with(fut, waker).is_ready());  // stays ready
    }
    EXPECT_EQ(counts.live.load(), 1);
}

TEST(CancellationToken, CancelledOfAnAlreadyCancelledTokenIsReadyAtOnce) {
    CancellationToken token;
    token.cancel();
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    Cancelled fut = token.cancelled();
    EXPECT_TRUE(poll_with(fut, waker).is_ready());
    EXPECT_EQ(counts.clones.load(), 0);
}

TEST(CancellationToken, AWaiterMovedWhileRegisteredIsStillWoken) {
    CancellationToken token;
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto first = std::make_unique<Cancelled>(token.cancelled());
    EXPECT_TRUE(poll_with(*first, waker).is_pending());
    Cancelled moved(std::move(*first));
    first.reset();
    token.cancel();
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(moved, waker).is_ready());
}

TEST(CancellationToken, RandomlyDroppedWaitersDeregisterAndTheRestAreWokenOnce) {
    constexpr int kWaiters = 500;
    CancellationToken token;
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    std::vector<std::unique_ptr<Cancelled>> waiters;
    for (int i = 0; i < kWaiters; ++i) {
        waiters.push_back(std::make_unique<Cancelled>(token.cancelled()));
        EXPECT_TRUE(poll_with(*waiters.back(), waker).is_pending());
    }
    std::mt19937 rng(12345);
    int kept = 0;
    for (auto& w : waiters) {
        if (rng() % 2 == 0) {
            w.reset();
        } else {
            ++kept;
        }
    }
    token.cancel();  // more than one wake batch
    EXPECT_EQ(counts.total_wakes(), kept);
    for (auto& w : waiters) {
        if (w) {
            EXPECT_TRUE(poll_with(*w, waker).is_ready());
        }
    }
    waiters.clear();
    EXPECT_EQ(counts.live.load(), 1);
}

TEST(CancellationToken, CancelFromAnotherThreadWakesAWaiterParkedHere) {
    CancellationToken token;
    ParkingWaker parker;
    {
        Waker waker = parker.waker();
        Cancelled fut = token.cancelled();
        EXPECT_TRUE(poll_with(fut, waker).is_pending());
        std::thread canceller([token] { token.cancel(); });
        EXPECT_TRUE(parker.wait_for_wake(kBound));
        canceller.join();
        EXPECT_TRUE(poll_with(fut, waker).is_ready());
    }
    EXPECT_EQ(parker.live(), 0);
}

// ---- the tree ------------------------------------------------------------------------------

TEST(CancellationToken, CancellingTheParentCancelsItsChildrenAndGrandchildren) {
    CancellationToken parent;
    CancellationToken child = parent.child_token();
    CancellationToken grandchild = child.child_token();
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    Cancelled waiting = grandchild.cancelled();
    EXPECT_TRUE(poll_with(waiting, waker).is_pending());
    parent.cancel();
    EXPECT_TRUE(child.is_cancelled());
    EXPECT_TRUE(grandchild.is_cancelled());
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(waiting, waker).is_ready());
}

TEST(CancellationToken, CancellingAChildReachesNeitherItsParentNorItsSiblings) {
    CancellationToken parent;
    CancellationToken a = parent.child_token();
    CancellationToken b = parent.child_token();
    CancellationToken a_child = a.child_token();
    a.cancel();
    EXPECT_TRUE(a.is_cancelled());
    EXPECT_TRUE(a_child.is_cancelled());
    EXPECT_FALSE(parent.is_cancelled());
    EXPECT_FALSE(b.is_cancelled());
    parent.cancel();
    EXPECT_TRUE(b.is_cancelled());
}

TEST(CancellationToken, AChildMadeAfterTheParentWasCancelledStartsCancelled) {
    CancellationToken parent;
    parent.cancel();
    CancellationToken child = parent.child_token();
    EXPECT_TRUE(child.is_cancelled());
    EXPECT_EQ(parent.child_count(), 0u);
    Cancelled fut = child.cancelled();
    EXPECT_TRUE(poll_with(fut, Waker::noop()).is_ready());
}

TEST(CancellationToken, AGrandchildIsCancelledThroughAMiddleTokenWhoseCopiesWereDropped) {
    CancellationToken root;
    std::optional<CancellationToken> middle = root.child_token();
    CancellationToken grandchild = middle->child_token();
    middle.reset();
    root.cancel();
    EXPECT_TRUE(grandchild.is_cancelled());
}

TEST(CancellationToken, ThousandsOfDroppedChildrenLeaveNothingInTheParent) {
    CancellationToken parent;
    for (int i = 0; i < 5000; ++i) {
        CancellationToken child = parent.child_token();
        CancellationToken grandchild = child.child_token();
        Cancelled fut = grandchild.cancelled();
        EXPECT_TRUE(poll_with(fut, Waker::noop()).is_pending());
    }
    EXPECT_EQ(parent.child_count(), 0u);
    std::vector<CancellationToken> kept;
    for (int i = 0; i < 10; ++i) kept.push_back(parent.child_token());
    EXPECT_EQ(parent.child_count(), 10u);
    kept.erase(kept.begin() + 3);
    EXPECT_EQ(parent.child_count(), 9u);
    kept.clear();
    EXPECT_EQ(parent.child_count(), 0u);
}

TEST(CancellationToken, ChildrenMadeAndDroppedOnManyThreadsWhileTheParentIsCancelled) {
    constexpr int kThreads = 4;
    constexpr int kPerThread = 2000;
    CancellationToken parent;
    std::atomic<int> started{0};
    std::atomic<int> saw_cancelled_child{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            started.fetch_add(1);
            for (int i = 0; i < kPerThread; ++i) {
                CancellationToken child = parent.child_token();
                CancellationToken grandchild = child.child_token();
                if (grandchild.is_cancelled()) saw_cancelled_child.fetch_add(1);
            }
        });
    }
    ASSERT_TRUE(test::spin_until([&] { return started.load() == kThreads; }));
    parent.cancel();
    for (auto& t : threads) t.join();
    EXPECT_EQ(parent.child_count(), 0u);
    CancellationToken late = parent.child_token();
    EXPECT_TRUE(late.is_cancelled());
}

// ---- DropGuard ------------------------------------------------------------------------------

TEST(DropGuard, CancelsItsTokenWhenDestroyed) {
    CancellationToken token;
    {
        DropGuard guard = token.drop_guard();
        EXPECT_FALSE(token.is_cancelled());
    }
    EXPECT_TRUE(token.is_cancelled());
}

TEST(DropGuard, DisarmReturnsTheTokenWithoutCancellingIt) {
    CancellationToken token;
    std::optional<CancellationToken> back;
    {
        DropGuard guard = token.drop_guard();
        back = guard.disarm();
        EXPECT_THROW((void)guard.disarm(), std::logic_error);
    }
    EXPECT_FALSE(token.is_cancelled());
    back->cancel();
    EXPECT_TRUE(token.is_cancelled());
}

TEST(DropGuard, AMovedGuardCancelsOnce) {
    CancellationToken token;
    auto guard = std::make_optional<DropGuard>(token.drop_guard());
    {
        DropGuard moved(std::move(*guard));
        guard.reset();
        EXPECT_FALSE(token.is_cancelled());  // the moved-from guard did nothing
    }
    EXPECT_TRUE(token.is_cancelled());
}

// ---- run_until_cancelled --------------------------------------------------------------------

TEST(RunUntilCancelled, ReturnsTheOutputWhenTheFutureFinishesFirst) {
    CancellationToken token;
    auto state = std::make_shared<ManualState<int>>();
    auto fut = token.run_until_cancelled(ManualFuture<int>(state));
    EXPECT_TRUE(poll_with(fut, Waker::noop()).is_pending());
    state->complete(3);
    auto p = poll_with(fut, Waker::noop());
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, std::optional<int>(3));
}

struct NeverReady {
    using Output = int;
    DropCounter guard;
    Poll<int> poll(Context&) { return Pending; }
};

TEST(RunUntilCancelled, ReturnsNulloptAndDropsTheFutureOnceCancelled) {
    CancellationToken token;
    DropCounts counts;
    WakeCounts wakes;
    Waker waker = make_counting_waker(wakes);
    auto fut = token.run_until_cancelled(NeverReady{DropCounter(counts)});
    EXPECT_TRUE(poll_with(fut, waker).is_pending());
    token.cancel();
    EXPECT_EQ(wakes.total_wakes(), 1);
    auto p = poll_with(fut, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_FALSE(p->has_value());
    EXPECT_EQ(counts.alive(), 0);
}

// ---- on both schedulers ---------------------------------------------------------------------

class CancellationOnRuntime : public test::RuntimeFlavorTest {};

/// Polls `inner`; the first time it returns Pending, counts one in `pending`.
template <Future F>
class CountFirstPending {
public:
    using Output = output_of<F>;
    CountFirstPending(F inner, std::atomic<int>* pending) : inner_(std::move(inner)), pending_(pending) {}
    Poll<Output> poll(Context& cx) {
        auto p = inner_.poll(cx);
        if (p.is_pending() && !counted_) {
            counted_ = true;
            pending_->fetch_add(1);
        }
        return p;
    }

private:
    F inner_;
    std::atomic<int>* pending_;
    bool counted_ = false;
};

/// Waits for `token` (bounded); counts itself in `waiting` once its wait is
/// pending (or immediately when the token was already cancelled).
Task<bool> wait_cancelled(CancellationToken token, std::atomic<int>* waiting) {
    if (token.is_cancelled()) waiting->fetch_add(1);
    auto wait = time::timeout(kBound, CountFirstPending(token.cancelled(), waiting));
    auto r = co_await wait;
    co_return r.has_value();
}

/// Awaits every handle; how many yielded true.
Task<int> count_true(std::vector<JoinHandle<bool>>* handles) {
    int n = 0;
    for (auto& h : *handles) {
        bool ok = co_await h;
        if (ok) ++n;
    }
    co_return n;
}

TEST_P(CancellationOnRuntime, CancelFromAForeignThreadWakesEveryWaiterOfEveryDescendant) {
    constexpr int kTasks = 64;
    Runtime rt = build();
    CancellationToken root;
    std::vector<CancellationToken> children;
    for (int i = 0; i < 4; ++i) children.push_back(root.child_token());
    std::atomic<int> waiting{0};
    std::vector<JoinHandle<bool>> handles;
    for (int i = 0; i < kTasks; ++i) {
        CancellationToken t = children[i % 4].child_token();
        handles.push_back(rt.spawn(wait_cancelled(std::move(t), &waiting)));
    }
    std::thread canceller([&] {
        test::spin_until([&] { return waiting.load() == kTasks; }, kBound);
        root.cancel();
    });
    int woken = rt.block_on(count_true(&handles));
    canceller.join();
    EXPECT_EQ(woken, kTasks);
}

TEST(CancellationToken, OneCancelWakesWaitersOnTwoRuntimesAtOnce) {
    constexpr int kPerRuntime = 16;
    CancellationToken token;
    std::atomic<int> waiting{0};
    Runtime multi = Builder::new_multi_thread().worker_threads(2).build();
    std::vector<JoinHandle<bool>> on_multi;
    for (int i = 0; i < kPerRuntime; ++i)
        on_multi.push_back(multi.spawn(wait_cancelled(token.child_token(), &waiting)));
    std::atomic<int> woken_on_single{-1};
    std::thread single_thread([&] {
        Runtime single = Builder::new_current_thread().build();
        std::vector<JoinHandle<bool>> on_single;
        for (int i = 0; i < kPerRuntime; ++i) on_single.push_back(single.spawn(wait_cancelled(token, &waiting)));
        woken_on_single.store(single.block_on(count_true(&on_single)));
    });
    std::thread canceller([&] {
        test::spin_until([&] { return waiting.load() == 2 * kPerRuntime; }, kBound);
        token.cancel();
    });
    int woken_on_multi = multi.block_on(count_true(&on_multi));
    canceller.join();
    single_thread.join();
    EXPECT_EQ(woken_on_multi, kPerRuntime);
    EXPECT_EQ(woken_on_single.load(), kPerRuntime);
}

/// Selects between a message and cancellation in a loop, the cancelled()
/// future borrowed across iterations.
Task<int> count_until_cancelled(CancellationToken token, std::shared_ptr<std::atomic<int>> ticks) {
    int loops = 0;
    Cancelled stop = token.cancelled();
    for (;;) {
        auto r = co_await select(stop, time::sleep(1ms));
        if (r.index() == 0) co_return loops;
        ++loops;
        ticks->fetch_add(1);
    }
}

TEST_P(CancellationOnRuntime, ABorrowedCancelledFutureStopsASelectLoop) {
    Runtime rt = build();
    CancellationToken token;
    auto ticks = std::make_shared<std::atomic<int>>(0);
    JoinHandle<int> h = rt.spawn(count_until_cancelled(token, ticks));
    std::thread canceller([&] {
        test::spin_until([&] { return ticks->load() >= 3; }, kBound);
        token.cancel();
    });
    auto r = rt.block_on(time::timeout(kBound, std::move(h)));
    canceller.join();
    ASSERT_TRUE(r.has_value());
    EXPECT_GE(*r, 3);
}

Task<std::optional<int>> guarded_work(CancellationToken token) {
    auto never = std::make_shared<ManualState<int>>();
    auto r = co_await token.run_until_cancelled(ManualFuture<int>(never));
    co_return r;
}

TEST_P(CancellationOnRuntime, ADropGuardDestroyedOnAnotherThreadStopsTheGuardedWork) {
    Runtime rt = build();
    CancellationToken token;
    auto guard = std::make_unique<DropGuard>(token.drop_guard());
    JoinHandle<std::optional<int>> h = rt.spawn(guarded_work(token.child_token()));
    std::thread dropper([&] { guard.reset(); });
    auto r = rt.block_on(time::timeout(kBound, std::move(h)));
    dropper.join();
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->has_value());
}

TEST_P(CancellationOnRuntime, RacingCancelsAndDropsOfWaitersNeverLoseAWakeup) {
    constexpr int kRounds = 50;
    Runtime rt = build();
    for (int round = 0; round < kRounds; ++round) {
        CancellationToken token;
        std::atomic<int> waiting{0};
        std::vector<JoinHandle<bool>> handles;
        for (int i = 0; i < 8; ++i) handles.push_back(rt.spawn(wait_cancelled(token.child_token(), &waiting)));
        handles[round % 8].abort();  // one waiter dropped at some point of the race
        std::thread canceller([token] { token.cancel(); });
        handles.erase(handles.begin() + round % 8);
        int woken = rt.block_on(count_true(&handles));
        canceller.join();
        ASSERT_EQ(woken, 7);
    }
}

INSTANTIATE_TEST_SUITE_P(Schedulers, CancellationOnRuntime, test::all_flavors(), test::flavor_name);

}  // namespace
}  // namespace corio
