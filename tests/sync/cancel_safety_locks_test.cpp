// Cancellation safety of the locks and signals of corio::sync (Semaphore,
// Mutex, RwLock, Notify, Barrier, OnceCell): each test cancels the awaiting
// operation many times, at random points, by racing it with corio::select /
// select_biased against a branch that becomes ready after a random number of
// polls (0: at once), while other tasks hold, release and notify
// concurrently. The cancel thus lands before the operation queued, while it
// is queued, or after it was granted but before it was polled again. The
// checks are what each operation's `///` comment promises: permits and locks
// never held by a cancelled waiter nor leaked (the next acquire succeeds at
// once), FIFO order kept for the waiters left, notifications passed on,
// arrivals withdrawn, a cancelled initialiser replaced by the next caller, and
// no hang (every test runs under time::timeout). Each test runs on
// current_thread and on multi_thread with 2 and 4 workers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <random>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/select.hpp"
#include "corio/sync/barrier.hpp"
#include "corio/sync/mutex.hpp"
#include "corio/sync/notify.hpp"
#include "corio/sync/once_cell.hpp"
#include "corio/sync/rwlock.hpp"
#include "corio/sync/semaphore.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/cancel_race.hpp"
#include "support/drop_counter.hpp"
#include "support/thread_safe_manual_future.hpp"

namespace corio {
namespace {

using namespace test::race;  // the races, runtimes and Ledger of support/cancel_race.hpp

class CancelSafetyOfLocks : public ::testing::TestWithParam<Flavor> {};

INSTANTIATE_TEST_SUITE_P(Runtimes, CancelSafetyOfLocks, ::testing::ValuesIn(kFlavors), flavor_name);

// ---- Semaphore --------------------------------------------------------------------------------

constexpr int kWorkers = 4;

Task<void> semaphore_worker(sync::Semaphore* sem, std::uint32_t total, std::atomic<std::uint32_t>* held, int iterations,
                            unsigned seed, Tally* tally) {
    co_await spread_out(kWorkers);
    std::minstd_rand rng(seed);
    for (int i = 0; i < iterations; ++i) {
        const auto n = static_cast<std::uint32_t>(1 + rng() % total);
        auto attempt = race(sem->acquire(n), next_plan(rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (!got.has_value()) continue;
        EXPECT_TRUE(got->has_value());
        EXPECT_LE(held->fetch_add(n) + n, total) << "more permits held than exist";
        co_await yield_times(static_cast<int>(rng() % 3));
        held->fetch_sub(n);
        got.reset();  // the permit goes back
    }
}

Task<void> semaphore_test(int iterations, Tally* tally) {
    constexpr std::uint32_t kPermits = 4;
    sync::Semaphore sem(kPermits);
    std::atomic<std::uint32_t> held{0};
    std::vector<JoinHandle<void>> workers;
    for (int w = 0; w < kWorkers; ++w)
        workers.push_back(spawn(semaphore_worker(&sem, kPermits, &held, iterations, 100u + w, tally)));
    for (auto& w : workers) co_await w;
    EXPECT_EQ(sem.available_permits(), kPermits) << "a cancelled acquire leaked permits";
    const bool all_at_once = co_await ready_at_once(sem.acquire(kPermits));
    EXPECT_TRUE(all_at_once) << "a cancelled waiter was left in the queue";
    EXPECT_EQ(sem.available_permits(), kPermits);
}

TEST_P(CancelSafetyOfLocks, SemaphoreAcquireCancelledAtRandomPointsLeaksNoPermit) {
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), semaphore_test(scaled(500), &tally)));
    EXPECT_GT(tally.cancelled.load(), 0);
    EXPECT_GT(tally.completed.load(), 0);
}

// ---- Mutex ----------------------------------------------------------------------------------------

Task<void> mutex_worker(sync::Mutex<long>* m, std::atomic<bool>* inside, std::atomic<long>* locked, int iterations,
                        unsigned seed, Tally* tally) {
    co_await spread_out(kWorkers);
    std::minstd_rand rng(seed);
    for (int i = 0; i < iterations; ++i) {
        auto attempt = race(m->lock(), next_plan(rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (!got.has_value()) continue;
        EXPECT_FALSE(inside->exchange(true)) << "two holders at once";
        ++**got;
        locked->fetch_add(1);
        co_await yield_times(static_cast<int>(rng() % 3));  // held across awaits
        inside->store(false);
        got.reset();
    }
}

Task<void> mutex_test(int iterations, Tally* tally) {
    sync::Mutex<long> m(0);
    std::atomic<bool> inside{false};
    std::atomic<long> locked{0};
    std::vector<JoinHandle<void>> workers;
    for (int w = 0; w < kWorkers; ++w)
        workers.push_back(spawn(mutex_worker(&m, &inside, &locked, iterations, 200u + w, tally)));
    for (auto& w : workers) co_await w;
    const bool free_at_once = co_await ready_at_once(m.lock());
    EXPECT_TRUE(free_at_once) << "a cancelled waiter holds or blocks the lock";
    auto guard = m.try_lock();
    EXPECT_TRUE(guard.has_value());
    if (guard.has_value()) {
        EXPECT_EQ(**guard, locked.load());
    }
}

TEST_P(CancelSafetyOfLocks, MutexLockCancelledAtRandomPointsNeverHoldsOrLeaksTheLock) {
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), mutex_test(scaled(500), &tally)));
    EXPECT_GT(tally.cancelled.load(), 0);
    EXPECT_GT(tally.completed.load(), 0);
}

/// Polls `inner`, then sets `polled` (release): the test knows the waiter is queued.
template <Future F>
class MarkPolled {
public:
    using Output = output_of<F>;
    MarkPolled(F inner, std::atomic<bool>* polled) : inner_(std::move(inner)), polled_(polled) {}
    Poll<Output> poll(Context& cx) {
        Poll<Output> p = inner_.poll(cx);
        polled_->store(true, std::memory_order_release);  // release: after the inner future queued itself
        return p;
    }

private:
    F inner_;
    std::atomic<bool>* polled_;
};

using Arrivals = std::vector<int>;

/// Waits for the lock unless cancelled first (the cancel branch is polled
/// first, so a lock granted together with the cancel is dropped unpolled);
/// records `id` under the lock.
Task<void> fifo_waiter(sync::Mutex<Arrivals>* m, int id, std::shared_ptr<test::ThreadSafeManualState<int>> cancel,
                       std::atomic<bool>* queued) {
    auto wait = select_biased(test::ThreadSafeManualFuture<int>(std::move(cancel)), MarkPolled(m->lock(), queued));
    auto won = co_await wait;
    if (won.index() == 1) std::get<1>(won)->push_back(id);
}

Task<void> mutex_fifo_rounds(int rounds, int* cancelled_while_granted) {
    constexpr int kWaiters = 8;
    std::minstd_rand rng(21);
    for (int round = 0; round < rounds; ++round) {
        sync::Mutex<Arrivals> m;
        auto holder = m.try_lock();
        EXPECT_TRUE(holder.has_value());
        std::vector<std::shared_ptr<test::ThreadSafeManualState<int>>> cancels;
        std::vector<std::unique_ptr<std::atomic<bool>>> queued;
        std::vector<JoinHandle<void>> waiters;
        for (int id = 0; id < kWaiters; ++id) {
            cancels.push_back(std::make_shared<test::ThreadSafeManualState<int>>());
            queued.push_back(std::make_unique<std::atomic<bool>>(false));
            waiters.push_back(spawn(fifo_waiter(&m, id, cancels.back(), queued.back().get())));
            // acquire: pairs with MarkPolled's release.
            while (!queued.back()->load(std::memory_order_acquire)) co_await task::yield_now();
        }
        // Cancel some while queued, and let them go.
        std::vector<bool> gone(kWaiters, false);
        for (int id = 0; id < kWaiters; ++id) {
            if (rng() % 3 != 0) continue;
            gone[static_cast<std::size_t>(id)] = true;
            cancels[static_cast<std::size_t>(id)]->complete(0);
        }
        for (int id = 0; id < kWaiters; ++id) {
            if (gone[static_cast<std::size_t>(id)]) co_await waiters[static_cast<std::size_t>(id)];
        }
        // Cancel the next in line just as the lock is handed to it.
        auto next = std::find(gone.begin(), gone.end(), false);
        if (next != gone.end() && rng() % 2 == 0) {
            *next = true;
            cancels[static_cast<std::size_t>(next - gone.begin())]->complete(0);
            ++*cancelled_while_granted;
        }
        holder.reset();
        for (auto& w : waiters) {
            if (w.valid()) co_await w;
        }
        Arrivals expected;
        for (int id = 0; id < kWaiters; ++id) {
            if (!gone[static_cast<std::size_t>(id)]) expected.push_back(id);
        }
        auto guard = m.try_lock();
        EXPECT_TRUE(guard.has_value()) << "a cancelled waiter holds the lock";
        if (guard.has_value()) {
            EXPECT_EQ(**guard, expected) << "the waiters left did not get the lock in order";
        }
    }
}

TEST_P(CancelSafetyOfLocks, MutexWaitersCancelledWhileQueuedOrJustGrantedLeaveTheOthersInOrder) {
    int cancelled_while_granted = 0;
    ASSERT_TRUE(run_bounded(GetParam(), mutex_fifo_rounds(scaled(80), &cancelled_while_granted)));
    EXPECT_GT(cancelled_while_granted, 0);
}

// ---- RwLock -----------------------------------------------------------------------------------------

struct RwCounts {
    std::atomic<int> readers{0};
    std::atomic<int> writers{0};
    std::atomic<long> writes{0};
};

Task<void> rwlock_worker(sync::RwLock<long>* lock, RwCounts* counts, int iterations, unsigned seed, Tally* reads,
                         Tally* writes) {
    co_await spread_out(kWorkers);
    std::minstd_rand rng(seed);
    for (int i = 0; i < iterations; ++i) {
        const int hold = static_cast<int>(rng() % 3);
        if (rng() % 3 == 0) {
            auto attempt = race(lock->write(), next_plan(rng));
            auto got = co_await attempt;
            writes->count(got.has_value());
            if (!got.has_value()) continue;
            EXPECT_EQ(counts->writers.fetch_add(1), 0) << "two writers at once";
            EXPECT_EQ(counts->readers.load(), 0) << "a writer beside readers";
            ++**got;
            counts->writes.fetch_add(1);
            co_await yield_times(hold);
            counts->writers.fetch_sub(1);
        } else {
            auto attempt = race(lock->read(), next_plan(rng));
            auto got = co_await attempt;
            reads->count(got.has_value());
            if (!got.has_value()) continue;
            counts->readers.fetch_add(1);
            EXPECT_EQ(counts->writers.load(), 0) << "a reader beside a writer";
            co_await yield_times(hold);
            counts->readers.fetch_sub(1);
        }
    }
}

Task<void> rwlock_test(int iterations, Tally* reads, Tally* writes) {
    sync::RwLock<long> lock(0);
    RwCounts counts;
    std::vector<JoinHandle<void>> workers;
    for (int w = 0; w < kWorkers; ++w)
        workers.push_back(spawn(rwlock_worker(&lock, &counts, iterations, 300u + w, reads, writes)));
    for (auto& w : workers) co_await w;
    const bool write_at_once = co_await ready_at_once(lock.write());
    EXPECT_TRUE(write_at_once) << "a cancelled reader or writer holds or blocks the lock";
    auto guard = lock.try_write();
    EXPECT_TRUE(guard.has_value());
    if (guard.has_value()) {
        EXPECT_EQ(**guard, counts.writes.load());
    }
}

TEST_P(CancelSafetyOfLocks, RwLockReadAndWriteCancelledAtRandomPointsNeverHoldOrLeakTheLock) {
    Tally reads, writes;
    ASSERT_TRUE(run_bounded(GetParam(), rwlock_test(scaled(500), &reads, &writes)));
    EXPECT_GT(reads.cancelled.load(), 0);
    EXPECT_GT(writes.cancelled.load(), 0);
    EXPECT_GT(writes.completed.load(), 0);
}

// ---- Notify -----------------------------------------------------------------------------------------

struct NotifyCounts {
    std::atomic<int> consumed{0};
    std::atomic<bool> stop{false};
    std::atomic<int> exited{0};
};

Task<void> notified_worker(sync::Notify* notify, NotifyCounts* counts, unsigned seed, Tally* tally) {
    co_await spread_out(3);
    std::minstd_rand rng(seed);
    while (!counts->stop.load()) {
        auto attempt = race(notify->notified(), next_plan(rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (!got.has_value()) continue;
        if (counts->stop.load()) break;  // the closing notify_waiters()
        counts->consumed.fetch_add(1);
    }
    counts->exited.fetch_add(1);
}

/// One notify_one() at a time, each waited for until some waiter consumed
/// it: a notification lost by a cancelled waiter would hang the test, and
/// one passed on twice would be consumed twice.
Task<void> notify_test(int notifications, Tally* tally) {
    constexpr int kWaiters = 3;
    sync::Notify notify;
    NotifyCounts counts;
    std::vector<JoinHandle<void>> workers;
    for (int w = 0; w < kWaiters; ++w) workers.push_back(spawn(notified_worker(&notify, &counts, 400u + w, tally)));
    for (int n = 1; n <= notifications; ++n) {
        notify.notify_one();
        while (counts.consumed.load() < n) co_await task::yield_now();
        EXPECT_EQ(counts.consumed.load(), n) << "a notification was consumed twice";
    }
    counts.stop.store(true);
    while (counts.exited.load() < kWaiters) {
        notify.notify_waiters();
        co_await task::yield_now();
    }
    for (auto& w : workers) co_await w;
    EXPECT_EQ(counts.consumed.load(), notifications);
    const bool permit_left = co_await ready_at_once(notify.notified());
    EXPECT_FALSE(permit_left) << "a notification was passed on twice (a permit is left over)";
}

TEST_P(CancelSafetyOfLocks, NotifiedCancelledAtRandomPointsPassesEveryNotificationOn) {
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), notify_test(scaled(800), &tally)));
    EXPECT_GT(tally.cancelled.load(), 0);
}

// ---- Barrier ----------------------------------------------------------------------------------------

struct BarrierCounts {
    std::atomic<int> leaders{0};
    std::atomic<int> followers{0};
};

/// At least `iterations` races, and on until `min_generations` completed
/// (every worker keeps racing while that is short, so none waits alone).
Task<void> barrier_worker(sync::Barrier* barrier, BarrierCounts* counts, int iterations, int min_generations,
                          unsigned seed, Tally* tally) {
    co_await spread_out(3);
    std::minstd_rand rng(seed);
    for (int i = 0; i < iterations || counts->leaders.load() < min_generations; ++i) {
        auto attempt = race(barrier->wait(), next_plan(rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (!got.has_value()) continue;
        (got->is_leader() ? counts->leaders : counts->followers).fetch_add(1);
    }
}

/// n tasks wait on a barrier of n with cancels. The header promises: a wait
/// dropped before its generation completed withdraws its arrival; one
/// dropped after loses only its result. So every generation releases n - 1
/// followers besides its leader (some of whose results were dropped), and
/// afterwards no arrival is left over: n - 1 fresh waits are not released,
/// n are, with one leader.
Task<void> barrier_test(int iterations, Tally* tally) {
    constexpr int kParties = 3;
    sync::Barrier barrier(kParties);
    BarrierCounts counts;
    std::vector<JoinHandle<void>> workers;
    for (int w = 0; w < kParties; ++w)
        workers.push_back(spawn(barrier_worker(&barrier, &counts, iterations, 20, 500u + w, tally)));
    for (auto& w : workers) co_await w;
    const int generations = counts.leaders.load();
    EXPECT_GE(generations, 20);
    EXPECT_LE(counts.followers.load(), (kParties - 1) * generations);
    EXPECT_GE(counts.followers.load() + tally->cancelled.load(), (kParties - 1) * generations);

    auto short_of_one = join(barrier.wait(), barrier.wait());
    auto early = race(std::move(short_of_one), RacePlan{Order::OpFirst, 16});
    auto released_early = co_await early;
    EXPECT_FALSE(released_early.has_value()) << "a withdrawn arrival still counted";

    auto all = join(barrier.wait(), barrier.wait(), barrier.wait());
    auto results = co_await all;
    const int leaders = std::apply([](const auto&... r) { return (int{r.is_leader()} + ...); }, results);
    EXPECT_EQ(leaders, 1);
}

TEST_P(CancelSafetyOfLocks, BarrierWaitCancelledAtRandomPointsWithdrawsItsArrivalOrLosesOnlyItsResult) {
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), barrier_test(scaled(600), &tally)));
    EXPECT_GT(tally.cancelled.load(), 0);
}

// ---- OnceCell -----------------------------------------------------------------------------------------

struct InitCounts {
    test::DropCounts frames;       // one DropCounter per initialiser frame
    std::atomic<int> finished{0};  // initialisers that produced their value
    std::atomic<int> started{0};
};

/// An initialiser: yields `yields` times (a window for the cancel) and returns `value`.
Task<int> initialise(int value, int yields, InitCounts* counts) {
    test::DropCounter frame(counts->frames);
    counts->started.fetch_add(1);
    co_await yield_times(yields);
    counts->finished.fetch_add(1);
    co_return value;
}

Task<void> once_cell_caller(sync::OnceCell<int>* cell, int id, InitCounts* counts, std::atomic<int>* seen,
                            unsigned seed, Tally* tally) {
    std::minstd_rand rng(seed);
    for (;;) {
        const int yields = static_cast<int>(rng() % 4);
        auto init = [id, yields, counts] { return initialise(id, yields, counts); };
        auto attempt = race(cell->get_or_init(init), next_plan(rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (!got.has_value()) continue;
        EXPECT_EQ(&got->get(), cell->get()) << "get_or_init returned something else than the cell's value";
        seen->store(got->get());
        co_return;
    }
}

Task<void> once_cell_rounds(int rounds, InitCounts* counts, Tally* tally) {
    constexpr int kCallers = 3;
    std::minstd_rand rng(31);
    for (int round = 0; round < rounds; ++round) {
        sync::OnceCell<int> cell;
        const int finished_before = counts->finished.load();
        std::vector<std::unique_ptr<std::atomic<int>>> seen;
        std::vector<JoinHandle<void>> callers;
        for (int c = 0; c < kCallers; ++c) {
            seen.push_back(std::make_unique<std::atomic<int>>(-1));
            callers.push_back(
                spawn(once_cell_caller(&cell, c, counts, seen.back().get(), static_cast<unsigned>(rng()), tally)));
        }
        for (auto& c : callers) co_await c;
        EXPECT_EQ(counts->finished.load() - finished_before, 1) << "not exactly one initialiser set the cell";
        EXPECT_TRUE(cell.initialized());
        if (cell.get() == nullptr) continue;
        for (const auto& s : seen) EXPECT_EQ(s->load(), *cell.get());
        EXPECT_EQ(counts->frames.alive(), 0) << "a cancelled initialiser was not destroyed";
    }
}

TEST_P(CancelSafetyOfLocks, OnceCellGetOrInitCancelledAtRandomPointsLetsTheNextCallerInitialise) {
    InitCounts counts;
    Tally tally;
    const int rounds = scaled(200);
    ASSERT_TRUE(run_bounded(GetParam(), once_cell_rounds(rounds, &counts, &tally)));
    EXPECT_EQ(counts.frames.alive(), 0);
    EXPECT_GT(counts.started.load(), counts.finished.load()) << "no initialiser was ever cancelled mid-way";
    EXPECT_GT(tally.cancelled.load(), 0);
}

}  // namespace
}  // namespace corio
