// Tests of <corio/sync/notify.hpp>: notify_one stores at most one permit and
// wakes waiters in FIFO order; notify_waiters wakes every Notified created
// before the call (polled or not) and stores nothing; a Notified dropped after
// receiving notify_one passes it on; one dropped while waiting leaves the
// queue. Then no lost wake-up: a million notify_one/notified races, split
// between pairs of tasks on four workers and between foreign threads and
// tasks (scaled down under sanitizers).
#include "corio/sync/notify.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/async_latch.hpp"
#include "support/counting_waker.hpp"
#include "support/parking_waker.hpp"
#include "support/poll.hpp"
#include "support/runtime_flavors.hpp"
#include "support/sanitized.hpp"
#include "support/spin_until.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using sync::Notify;
using test::bounded;
using test::make_counting_waker;
using test::poll_with;
using test::WakeCounts;

constexpr auto kBound = 60s;  // only reached when a wake-up is lost

// A million races in all, split between the two race tests. A round trip
// through a parked thread costs tens of microseconds, so threads take a
// small share; task pairs on four workers take the rest.
constexpr long kRaces = test::kSanitized ? 200'000 : 1'000'000;
constexpr long kThreadRaces = test::kSanitized ? 10'000 : 20'000;
constexpr long kTaskRaces = kRaces - kThreadRaces;

class NotifyOnRuntime : public test::RuntimeFlavorTest {};

INSTANTIATE_TEST_SUITE_P(Runtimes, NotifyOnRuntime, test::all_flavors(), test::flavor_name);

// ---- by hand ----------------------------------------------------------------------------------

TEST(Notify, NotifyOneWithNobodyWaitingStoresOnePermitAtMost) {
    Notify notify;
    notify.notify_one();
    notify.notify_one();
    auto first = notify.notified();
    EXPECT_TRUE(poll_with(first, Waker::noop()).is_ready());
    auto second = notify.notified();
    EXPECT_TRUE(poll_with(second, Waker::noop()).is_pending());
}

TEST(Notify, NotifyOneWakesTheLongestWaitingFirst) {
    Notify notify;
    WakeCounts first_counts;
    WakeCounts second_counts;
    Waker first_waker = make_counting_waker(first_counts);
    Waker second_waker = make_counting_waker(second_counts);
    auto first = notify.notified();
    auto second = notify.notified();
    EXPECT_TRUE(poll_with(first, first_waker).is_pending());
    EXPECT_TRUE(poll_with(second, second_waker).is_pending());
    notify.notify_one();
    EXPECT_EQ(first_counts.total_wakes(), 1);
    EXPECT_EQ(second_counts.total_wakes(), 0);
    EXPECT_TRUE(poll_with(first, first_waker).is_ready());
    EXPECT_TRUE(poll_with(second, second_waker).is_pending());
    notify.notify_one();
    EXPECT_EQ(second_counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(second, second_waker).is_ready());
    auto third = notify.notified();
    EXPECT_TRUE(poll_with(third, Waker::noop()).is_pending()) << "a notification was stored as well as delivered";
}

TEST(Notify, AWaitingNotifiedIsWokenWithItsMostRecentWaker) {
    Notify notify;
    WakeCounts old_counts;
    WakeCounts new_counts;
    Waker old_waker = make_counting_waker(old_counts);
    Waker new_waker = make_counting_waker(new_counts);
    auto fut = notify.notified();
    EXPECT_TRUE(poll_with(fut, old_waker).is_pending());
    EXPECT_TRUE(poll_with(fut, new_waker).is_pending());
    notify.notify_one();
    EXPECT_EQ(old_counts.total_wakes(), 0);
    EXPECT_EQ(new_counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(fut, new_waker).is_ready());
    EXPECT_EQ(old_counts.live.load(), 1);
    EXPECT_EQ(new_counts.live.load(), 1);
}

TEST(Notify, NotifyWaitersWakesEveryNotifiedCreatedBeforeTheCallEvenUnpolledOnes) {
    Notify notify;
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto polled = notify.notified();
    auto unpolled = notify.notified();
    EXPECT_TRUE(poll_with(polled, waker).is_pending());
    notify.notify_waiters();
    EXPECT_EQ(counts.total_wakes(), 1);
    auto later = notify.notified();
    EXPECT_TRUE(poll_with(polled, waker).is_ready());
    EXPECT_TRUE(poll_with(unpolled, waker).is_ready());
    EXPECT_TRUE(poll_with(later, waker).is_pending()) << "notify_waiters stored a permit or reached a later future";
}

TEST(Notify, NotifyWaitersWakesMoreWaitersThanOneBatch) {
    Notify notify;
    constexpr int kWaiters = 100;
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    std::vector<std::optional<Notify::Notified>> futs(kWaiters);
    for (auto& f : futs) {
        f.emplace(notify.notified());
        EXPECT_TRUE(poll_with(*f, waker).is_pending());
    }
    notify.notify_waiters();
    EXPECT_EQ(counts.total_wakes(), kWaiters);
    for (auto& f : futs) EXPECT_TRUE(poll_with(*f, waker).is_ready());
}

TEST(Notify, NotifyWaitersLeavesAStoredPermitInPlace) {
    Notify notify;
    notify.notify_one();
    notify.notify_waiters();
    auto fut = notify.notified();
    EXPECT_TRUE(poll_with(fut, Waker::noop()).is_ready());
    auto next = notify.notified();
    EXPECT_TRUE(poll_with(next, Waker::noop()).is_pending());
}

TEST(Notify, ANotifiedDroppedAfterReceivingNotifyOnePassesItToTheNextWaiter) {
    Notify notify;
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto second = notify.notified();
    {
        auto first = notify.notified();
        EXPECT_TRUE(poll_with(first, Waker::noop()).is_pending());
        EXPECT_TRUE(poll_with(second, waker).is_pending());
        notify.notify_one();  // reaches `first`
        EXPECT_EQ(counts.total_wakes(), 0);
    }
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(second, waker).is_ready());
}

TEST(Notify, ANotifiedDroppedAfterReceivingNotifyOneStoresItWhenNobodyElseWaits) {
    Notify notify;
    {
        auto first = notify.notified();
        EXPECT_TRUE(poll_with(first, Waker::noop()).is_pending());
        notify.notify_one();
    }
    auto next = notify.notified();
    EXPECT_TRUE(poll_with(next, Waker::noop()).is_ready());
}

TEST(Notify, ANotifiedDroppedWhileWaitingLeavesTheQueue) {
    Notify notify;
    {
        auto gone = notify.notified();
        EXPECT_TRUE(poll_with(gone, Waker::noop()).is_pending());
    }
    notify.notify_one();  // nobody waits: stored
    auto next = notify.notified();
    EXPECT_TRUE(poll_with(next, Waker::noop()).is_ready());
}

TEST(Notify, ANotifiedWokenByNotifyWaitersAndDroppedPassesNothingOn) {
    Notify notify;
    {
        auto first = notify.notified();
        EXPECT_TRUE(poll_with(first, Waker::noop()).is_pending());
        notify.notify_waiters();
    }
    auto next = notify.notified();
    EXPECT_TRUE(poll_with(next, Waker::noop()).is_pending());
}

TEST(Notify, ANotifiedPolledAfterItCompletedThrows) {
    Notify notify;
    notify.notify_one();
    auto fut = notify.notified();
    EXPECT_TRUE(poll_with(fut, Waker::noop()).is_ready());
    EXPECT_THROW((void)poll_with(fut, Waker::noop()), std::logic_error);
}

// ---- on the runtimes ---------------------------------------------------------------------------

Task<void> wait_once(Notify& notify, test::AsyncLatch* created, std::atomic<int>* woken) {
    auto fut = notify.notified();
    created->count_down();  // the future exists: notify_waiters must reach it, polled or not
    co_await fut;
    woken->fetch_add(1);
}

TEST_P(NotifyOnRuntime, NotifyWaitersFromAnotherThreadWakesEveryWaitingTask) {
    Runtime rt = build();
    Notify notify;
    constexpr int kTasks = 50;
    test::AsyncLatch created(kTasks);
    std::atomic<int> woken{0};
    auto body = [&]() -> Task<void> {
        std::vector<JoinHandle<void>> handles;
        for (int i = 0; i < kTasks; ++i) handles.push_back(spawn(wait_once(notify, &created, &woken)));
        co_await created.wait();
        std::thread notifier([&] { notify.notify_waiters(); });
        for (auto& h : handles) co_await h;
        notifier.join();
    };
    ASSERT_TRUE(rt.block_on(bounded(body(), kBound)).has_value());
    EXPECT_EQ(woken.load(), kTasks);
}

Task<void> ping(Notify& out, Notify& in, long rounds) {
    for (long i = 0; i < rounds; ++i) {
        out.notify_one();
        co_await in.notified();
    }
}

Task<void> pong(Notify& in, Notify& out, long rounds) {
    for (long i = 0; i < rounds; ++i) {
        co_await in.notified();
        out.notify_one();
    }
}

TEST_P(NotifyOnRuntime, PingPongsBetweenTasksLoseNoWakeUp) {
    Runtime rt = build();
    constexpr int kPairs = 4;
    const long rounds = kTaskRaces / kPairs;
    std::vector<Notify> pings(kPairs);
    std::vector<Notify> pongs(kPairs);
    auto body = [&]() -> Task<void> {
        std::vector<JoinHandle<void>> handles;
        for (int p = 0; p < kPairs; ++p) {
            handles.push_back(spawn(pong(pings[p], pongs[p], rounds)));
            handles.push_back(spawn(ping(pings[p], pongs[p], rounds)));
        }
        for (auto& h : handles) co_await h;
    };
    EXPECT_TRUE(rt.block_on(bounded(body(), kBound)).has_value()) << "a notification was lost";
}

/// Waits on `notify` by hand from a plain thread: polls a Notified and parks
/// until woken. False when no wake came within the bound.
bool wait_from_thread(Notify& notify, test::ParkingWaker& parker, const Waker& waker) {
    auto fut = notify.notified();
    Context cx(waker);
    while (fut.poll(cx).is_pending()) {
        if (!parker.wait_for_wake(std::chrono::duration_cast<std::chrono::milliseconds>(kBound))) return false;
    }
    return true;
}

TEST(NotifyRaces, PingPongsBetweenThreadsAndTasksLoseNoWakeUp) {
    Runtime rt = Builder::new_multi_thread().worker_threads(2).build();
    constexpr int kThreads = 2;
    const long rounds = kThreadRaces / kThreads;
    std::vector<Notify> pings(kThreads);
    std::vector<Notify> pongs(kThreads);
    std::vector<JoinHandle<void>> handles;
    for (int t = 0; t < kThreads; ++t) handles.push_back(rt.spawn(pong(pings[t], pongs[t], rounds)));
    std::atomic<long> lost{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            test::ParkingWaker parker;
            {
                Waker waker = parker.waker();
                for (long i = 0; i < rounds; ++i) {
                    pings[t].notify_one();
                    if (!wait_from_thread(pongs[t], parker, waker)) {
                        lost.fetch_add(1);
                        break;
                    }
                }
            }
            test::spin_until([&] { return parker.live() == 0; });  // the task dropped its clone
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(lost.load(), 0) << "a notification was lost";
    auto body = [&]() -> Task<void> {
        for (auto& h : handles) co_await h;
    };
    EXPECT_TRUE(rt.block_on(bounded(body(), kBound)).has_value());
}

TEST_P(NotifyOnRuntime, ProducerThreadsNotifyingACheckingConsumerLoseNoWakeUp) {
    Runtime rt = build();
    Notify notify;
    std::atomic<long> produced{0};
    constexpr int kProducers = 2;
    const long per_producer = test::kSanitized ? 2'000 : 20'000;
    auto consumer = [&]() -> Task<long> {
        long seen = 0;
        while (seen < kProducers * per_producer) {
            long now = produced.load();
            if (now > seen) {
                seen = now;
                continue;
            }
            co_await notify.notified();  // a notify_one after the check above is stored, not lost
        }
        co_return seen;
    };
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.emplace_back([&] {
            for (long i = 0; i < per_producer; ++i) {
                produced.fetch_add(1);
                notify.notify_one();
            }
        });
    }
    auto r = rt.block_on(bounded(consumer(), kBound));
    for (auto& th : producers) th.join();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, kProducers * per_producer);
}

}  // namespace
}  // namespace corio
