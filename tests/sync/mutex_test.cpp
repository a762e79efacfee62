// Tests of <corio/sync/mutex.hpp>: lock / try_lock / guards (move, unlock on
// destruction), get_mut and into_inner, FIFO fairness (waiters acquire in
// arrival order), cancellation of queued and granted lock futures, the value
// destroyed exactly once, and a counter incremented by many tasks on four
// workers with the guard held across an await (TSan sees any unsynchronised
// access to the plain int).
#include "corio/sync/mutex.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/counting_waker.hpp"
#include "support/drop_counter.hpp"
#include "support/poll.hpp"
#include "support/runtime_flavors.hpp"
#include "support/sanitized.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using sync::Mutex;
using sync::MutexGuard;
using test::bounded;
using test::DropCounter;
using test::DropCounts;
using test::make_counting_waker;
using test::poll_with;
using test::WakeCounts;

static_assert(Future<Mutex<int>::Lock>);

class MutexOnRuntime : public test::RuntimeFlavorTest {};

INSTANTIATE_TEST_SUITE_P(Runtimes, MutexOnRuntime, test::all_flavors(), test::flavor_name);

TEST(Mutex, TryLockSucceedsOnlyWhileUnlocked) {
    Mutex<int> m(5);
    {
        auto guard = m.try_lock();
        ASSERT_TRUE(guard.has_value());
        EXPECT_EQ(**guard, 5);
        **guard = 6;
        EXPECT_FALSE(m.try_lock().has_value());
    }
    auto again = m.try_lock();
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(**again, 6);
}

TEST(Mutex, ADefaultConstructedMutexHoldsADefaultValue) {
    Mutex<std::string> m;
    auto guard = m.try_lock();
    ASSERT_TRUE(guard.has_value());
    EXPECT_TRUE((*guard)->empty());
    (*guard)->append("abc");
    EXPECT_EQ(&guard->mutex(), &m);
}

TEST(Mutex, AMovedGuardKeepsTheLockAndUnlocksOnce) {
    Mutex<int> m(1);
    std::optional<MutexGuard<int>> moved;
    {
        auto guard = m.try_lock();
        ASSERT_TRUE(guard.has_value());
        moved.emplace(std::move(*guard));
    }
    EXPECT_FALSE(m.try_lock().has_value()) << "the moved-from guard unlocked";
    moved.reset();
    EXPECT_TRUE(m.try_lock().has_value());
}

TEST(Mutex, GetMutAndIntoInnerReachTheValueWithoutLocking) {
    Mutex<std::vector<int>> m(std::vector<int>{1, 2});
    m.get_mut().push_back(3);
    std::vector<int> inner = std::move(m).into_inner();
    EXPECT_EQ(inner, (std::vector<int>{1, 2, 3}));
}

TEST(Mutex, LockCompletesAtOnceWhenUnlocked) {
    Mutex<int> m(1);
    auto fut = m.lock();
    auto r = poll_with(fut, Waker::noop());
    ASSERT_TRUE(r.is_ready());
    EXPECT_EQ(**r, 1);
}

TEST(Mutex, WaitersAcquireInArrivalOrder) {
    Mutex<int> m(0);
    constexpr int kWaiters = 8;
    std::vector<WakeCounts> counts(kWaiters);
    std::vector<Waker> wakers;
    std::vector<std::optional<Mutex<int>::Lock>> futs(kWaiters);
    auto held = m.try_lock();
    for (int i = 0; i < kWaiters; ++i) {
        wakers.push_back(make_counting_waker(counts[i]));
        futs[i].emplace(m.lock());
        EXPECT_TRUE(poll_with(*futs[i], wakers[i]).is_pending());
    }
    std::optional<MutexGuard<int>> current = std::move(*held);
    held.reset();
    for (int i = 0; i < kWaiters; ++i) {
        current.reset();  // unlock: hands the lock to waiter i
        for (int j = i + 1; j < kWaiters; ++j) {
            EXPECT_EQ(counts[j].total_wakes(), 0) << "waiter " << j << " woken before waiter " << i;
            EXPECT_TRUE(poll_with(*futs[j], wakers[j]).is_pending());
        }
        EXPECT_EQ(counts[i].total_wakes(), 1);
        auto r = poll_with(*futs[i], wakers[i]);
        ASSERT_TRUE(r.is_ready()) << "waiter " << i;
        EXPECT_EQ(**r, i);
        **r = i + 1;
        current.emplace(std::move(*r));
    }
}

TEST(Mutex, ALockFutureDroppedWhileQueuedDoesNotHoldTheLock) {
    Mutex<int> m(0);
    auto held = m.try_lock();
    {
        auto fut = m.lock();
        EXPECT_TRUE(poll_with(fut, Waker::noop()).is_pending());
    }
    held.reset();
    EXPECT_TRUE(m.try_lock().has_value());
}

TEST(Mutex, ALockFutureGrantedButDroppedBeforeItsNextPollUnlocks) {
    Mutex<int> m(0);
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto held = m.try_lock();
    auto second = m.lock();
    {
        auto first = m.lock();
        EXPECT_TRUE(poll_with(first, Waker::noop()).is_pending());
        EXPECT_TRUE(poll_with(second, waker).is_pending());
        held.reset();  // the lock goes to `first`
        EXPECT_EQ(counts.total_wakes(), 0);
    }
    EXPECT_EQ(counts.total_wakes(), 1) << "dropping `first` passed the lock on";
    EXPECT_TRUE(poll_with(second, waker).is_ready());
}

TEST(Mutex, TheValueIsDestroyedExactlyOnce) {
    DropCounts counts;
    {
        Mutex<DropCounter> m(DropCounter(counts, 7));
        auto guard = m.try_lock();
        EXPECT_EQ((*guard)->value(), 7);
    }
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_EQ(counts.constructed.load(), 1);
    EXPECT_EQ(counts.destroyed.load(), 1);
}

Task<void> increment(Mutex<int>& m, int times) {
    for (int i = 0; i < times; ++i) {
        auto guard = co_await m.lock();
        int seen = *guard;
        co_await task::yield_now();  // held across an await: others must wait
        *guard = seen + 1;
    }
}

TEST_P(MutexOnRuntime, ACounterIncrementedByManyTasksWithTheGuardHeldAcrossAnAwaitLosesNoUpdate) {
    Runtime rt = build();
    Mutex<int> m(0);
    constexpr int kTasks = 16;
    const int times = test::kSanitized ? 100 : 500;
    auto body = [&]() -> Task<void> {
        std::vector<JoinHandle<void>> handles;
        for (int i = 0; i < kTasks; ++i) handles.push_back(spawn(increment(m, times)));
        for (auto& h : handles) co_await h;
    };
    ASSERT_TRUE(rt.block_on(bounded(body())).has_value());
    EXPECT_EQ(m.get_mut(), kTasks * times);
}

/// Polls the inner future and counts its first poll in `polled` (after it).
template <class F>
class CountFirstPoll {
public:
    using Output = output_of<F>;
    CountFirstPoll(F inner, std::atomic<int>* polled) : inner_(std::move(inner)), polled_(polled) {}
    Poll<Output> poll(Context& cx) {
        auto r = inner_.poll(cx);
        if (std::exchange(first_, false)) polled_->fetch_add(1);
        return r;
    }

private:
    F inner_;
    std::atomic<int>* polled_;
    bool first_ = true;
};

Task<void> append_in_turn(Mutex<std::vector<int>>& m, int id, std::atomic<int>* queued) {
    auto guard = co_await CountFirstPoll(m.lock(), queued);
    guard->push_back(id);
}

TEST_P(MutexOnRuntime, SpawnedWaitersAcquireInTheOrderTheyFirstPolled) {
    Runtime rt = build();
    Mutex<std::vector<int>> m;
    constexpr int kWaiters = 10;
    std::atomic<int> queued{0};
    auto body = [&]() -> Task<std::vector<int>> {
        std::vector<JoinHandle<void>> handles;
        {
            auto held = co_await m.lock();
            for (int i = 0; i < kWaiters; ++i) {
                handles.push_back(spawn(append_in_turn(m, i, &queued)));
                while (queued.load() <= i) co_await task::yield_now();  // task i is queued now
            }
        }
        for (auto& h : handles) co_await h;
        auto guard = co_await m.lock();
        co_return *guard;
    };
    auto r = rt.block_on(bounded(body()));
    ASSERT_TRUE(r.has_value());
    std::vector<int> expected;
    for (int i = 0; i < kWaiters; ++i) expected.push_back(i);
    EXPECT_EQ(*r, expected);
}

}  // namespace
}  // namespace corio
