// Stress and behaviour tests of the multi-thread work-stealing scheduler
// (src/runtime/scheduler/multi_thread/): a million tasks spawned from
// workers and from foreign threads each run exactly once, random wakes from
// foreign threads, long spawn chains, fairness against a task that yields
// forever and against a wake ping-pong in the LIFO slot, a worker blocked by
// synchronous work, exceptions and aborts through JoinHandle, timers, shutdown
// with thousands of tasks in flight, thread hooks and names, metrics, and the
// Builder and block_on rules of this flavour.
//
// Most tests run on 2, 4 and 8 workers (MultiThread/MultiThreadScheduler.*);
// the test machine may have fewer cores, so 8 workers oversubscribe on
// purpose. Every test is bounded by a Watchdog that names it and aborts the
// process instead of hanging. Fairness is measured in iterations of the
// looping task, not in time; that task gives up by itself after kSpinLimit,
// so a starvation bug fails an assertion rather than the watchdog. A task
// that blocks its worker on purpose spins with a deadline (test::spin_until).
#include <gtest/gtest.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/async_latch.hpp"
#include "support/drop_counter.hpp"
#include "support/poll.hpp"
#include "support/sanitized.hpp"
#include "support/simple_tasks.hpp"
#include "support/spin_until.hpp"
#include "support/thread_safe_manual_future.hpp"
#include "support/watchdog.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using test::AsyncLatch;
using test::DropCounter;
using test::DropCounts;
using test::poll_once;
using test::spin_until;
using test::ThreadSafeManualFuture;
using test::ThreadSafeManualState;
using test::value_after_yield;

// Sanitized builds run the scheduler 5-20x slower. The workloads keep their
// full size there (the million-task cases take under 10 s each under TSan);
// only the limits that catch a hang or a stuck task are longer.
using test::kSanitized;

constexpr std::size_t kMillion = 1'000'000;

// Only reached when something is lost: a hang aborts with the test's name.
constexpr std::chrono::milliseconds kWatchdogLimit = kSanitized ? 600s : 120s;
// How long a task that blocks its worker on purpose waits for the event that
// releases it, and how long a test thread waits for a task to get going.
constexpr std::chrono::milliseconds kSpinLimit = kSanitized ? 120s : 30s;

// Fairness: while a task loops (yielding, or ping-ponging wakes), another
// task must finish within this many of its iterations. (The looping task
// gives up by itself after kSpinLimit, so starvation fails an assertion.)
constexpr long kFairBound = 10'000;

std::string current_test_name() {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name();
}

/// Bounds the enclosing test (declare it before the Runtime, so it also
/// bounds the runtime's shutdown).
test::Watchdog watchdog() { return test::Watchdog(current_test_name(), kWatchdogLimit); }

Runtime multi_thread(std::size_t workers) { return Builder::new_multi_thread().worker_threads(workers).build(); }

/// Slots that are not exactly 1 (each is a task's run count).
std::size_t slots_not_run_once(const std::vector<std::atomic<std::uint8_t>>& slots) {
    return static_cast<std::size_t>(std::count_if(
        slots.begin(), slots.end(), [](const auto& s) { return s.load(std::memory_order_relaxed) != 1; }));
}

bool alive_tasks_reach_zero(const Handle& handle) {
    return spin_until([&] { return handle.metrics().alive_tasks == 0; }, kSpinLimit);
}

// ---- small tasks ------------------------------------------------------------------------

/// The trivial task: counts its run in its slot (a double run shows as 2)
/// and counts the latch down. A plain future, so a task is one allocation.
class MarkOnce {
public:
    using Output = void;
    MarkOnce(std::atomic<std::uint8_t>* slot, AsyncLatch* latch) noexcept : slot_(slot), latch_(latch) {}
    Poll<void> poll(Context&) {
        slot_->fetch_add(1, std::memory_order_relaxed);
        latch_->count_down();
        return Ready();
    }

private:
    std::atomic<std::uint8_t>* slot_;
    AsyncLatch* latch_;
};

Task<long> yield_then_read(std::atomic<long>* counter, int yields) {
    for (int i = 0; i < yields; ++i) co_await task::yield_now();
    co_return counter->load(std::memory_order_relaxed);
}

Task<std::thread::id> thread_id_after_yield() {
    co_await task::yield_now();
    co_return std::this_thread::get_id();
}

/// Spawns a task, then blocks its worker until that task ran: true when it
/// did (another worker stole it), false after kSpinLimit. Reports the
/// threads this task and the spawned one ran on.
Task<bool> spawn_then_block_until_it_ran(std::thread::id* self_id, std::thread::id* other_id) {
    *self_id = std::this_thread::get_id();
    auto other = std::make_shared<std::atomic<std::thread::id>>();
    auto ran = std::make_shared<std::atomic<bool>>(false);
    static_cast<void>(spawn(
        [](std::shared_ptr<std::atomic<std::thread::id>> id, std::shared_ptr<std::atomic<bool>> flag) -> Task<void> {
            id->store(std::this_thread::get_id());
            flag->store(true, std::memory_order_release);
            co_return;
        }(other, ran)));
    bool saw = spin_until([&] { return ran->load(std::memory_order_acquire); }, kSpinLimit);
    *other_id = other->load();
    co_return saw;
}

// ---- the parameterised suite: 2, 4 and 8 workers ----------------------------------------------

class MultiThreadScheduler : public ::testing::TestWithParam<std::size_t> {
protected:
    std::size_t workers() const { return GetParam(); }
    Runtime build() const { return multi_thread(workers()); }
};

INSTANTIATE_TEST_SUITE_P(MultiThread, MultiThreadScheduler,
                         ::testing::Values(std::size_t{2}, std::size_t{4}, std::size_t{8}),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                             return std::to_string(info.param) + "Workers";
                         });

// ---- a million tasks --------------------------------------------------------------------------

Task<void> spawn_marks(std::atomic<std::uint8_t>* slots, std::size_t begin, std::size_t end, AsyncLatch* latch) {
    for (std::size_t i = begin; i < end; ++i) static_cast<void>(spawn(MarkOnce(&slots[i], latch)));
    co_return;
}

/// One spawner task per worker, each spawning its share of the slots from
/// the worker it runs on; then waits for every task.
Task<void> spawn_from_workers_and_wait(std::atomic<std::uint8_t>* slots, std::size_t n, std::size_t spawners,
                                       AsyncLatch* latch) {
    std::vector<JoinHandle<void>> handles;
    for (std::size_t k = 0; k < spawners; ++k) {
        handles.push_back(spawn(spawn_marks(slots, k * n / spawners, (k + 1) * n / spawners, latch)));
    }
    for (JoinHandle<void>& h : handles) co_await h;
    co_await latch->wait();
}

TEST_P(MultiThreadScheduler, AMillionTasksSpawnedFromInsideTasksEachRunExactlyOnce) {
    auto dog = watchdog();
    std::vector<std::atomic<std::uint8_t>> slots(kMillion);
    AsyncLatch latch(static_cast<std::int64_t>(kMillion));
    Runtime rt = build();
    rt.block_on(spawn_from_workers_and_wait(slots.data(), kMillion, workers(), &latch));
    EXPECT_EQ(slots_not_run_once(slots), 0u);
    EXPECT_EQ(latch.remaining(), 0);
    EXPECT_TRUE(alive_tasks_reach_zero(rt.handle()));
    EXPECT_EQ(slots_not_run_once(slots), 0u) << "a task ran again after the count was complete";
}

TEST_P(MultiThreadScheduler, AMillionTasksSpawnedFromTwoForeignThreadsEachRunExactlyOnce) {
    auto dog = watchdog();
    std::vector<std::atomic<std::uint8_t>> slots(kMillion);
    AsyncLatch latch(static_cast<std::int64_t>(kMillion));
    Runtime rt = build();
    std::vector<std::thread> spawners;
    for (std::size_t t = 0; t < 2; ++t) {
        spawners.emplace_back([&slots, &latch, handle = rt.handle(), t]() mutable {
            for (std::size_t i = t * kMillion / 2; i < (t + 1) * kMillion / 2; ++i) {
                static_cast<void>(handle.spawn(MarkOnce(&slots[i], &latch)));
            }
        });
    }
    rt.block_on(latch.wait());
    for (std::thread& t : spawners) t.join();
    EXPECT_EQ(slots_not_run_once(slots), 0u);
    EXPECT_EQ(latch.remaining(), 0);
    EXPECT_TRUE(alive_tasks_reach_zero(rt.handle()));
    EXPECT_GE(rt.handle().metrics().remote_schedules, kMillion);
}

// ---- wakes from foreign threads ---------------------------------------------------------------

/// Awaits two values completed by foreign threads: `i` then `-i`.
Task<void> await_two_foreign_values(std::shared_ptr<ThreadSafeManualState<int>> first,
                                    std::shared_ptr<ThreadSafeManualState<int>> second, int i,
                                    std::atomic<std::uint8_t>* slot, std::atomic<int>* wrong, AsyncLatch* latch) {
    int a = co_await ThreadSafeManualFuture<int>(std::move(first));
    int b = co_await ThreadSafeManualFuture<int>(std::move(second));
    if (a != i || b != -i) wrong->fetch_add(1);
    slot->fetch_add(1, std::memory_order_relaxed);
    latch->count_down();
}

TEST_P(MultiThreadScheduler, TasksWokenInRandomOrderByEightForeignThreadsAllComplete) {
    constexpr int kTasks = 20'000;
    constexpr int kWakers = 8;
    auto dog = watchdog();
    using State = ThreadSafeManualState<int>;
    std::vector<std::shared_ptr<State>> firsts, seconds;
    for (int i = 0; i < kTasks; ++i) {
        firsts.push_back(std::make_shared<State>());
        seconds.push_back(std::make_shared<State>());
    }
    std::vector<std::atomic<std::uint8_t>> slots(kTasks);
    std::atomic<int> wrong{0};
    AsyncLatch latch(kTasks);
    Runtime rt = build();
    for (int i = 0; i < kTasks; ++i) {
        static_cast<void>(rt.spawn(await_two_foreign_values(firsts[i], seconds[i], i, &slots[i], &wrong, &latch)));
    }
    // Each foreign thread owns every kWakers-th task. First it completes the
    // tasks' first futures in a random order without waiting (racing with
    // their first poll); then their second futures in another random order,
    // each only once the task is suspended on it (a real cross-thread wake).
    std::vector<std::thread> wakers;
    const auto seed = static_cast<unsigned>(1234 + 100 * workers());
    for (int t = 0; t < kWakers; ++t) {
        wakers.emplace_back([&, t] {
            std::mt19937 rng(seed + static_cast<unsigned>(t));
            std::vector<int> mine;
            for (int i = t; i < kTasks; i += kWakers) mine.push_back(i);
            std::shuffle(mine.begin(), mine.end(), rng);
            for (int i : mine) firsts[i]->complete(i);
            std::shuffle(mine.begin(), mine.end(), rng);
            for (int i : mine) {
                EXPECT_TRUE(seconds[i]->wait_for_pending_poll(kSpinLimit)) << "task " << i;
                seconds[i]->complete(-i);
            }
        });
    }
    rt.block_on(latch.wait());
    for (std::thread& t : wakers) t.join();
    EXPECT_EQ(slots_not_run_once(slots), 0u);
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_TRUE(alive_tasks_reach_zero(rt.handle()));
}

// ---- spawn chains -----------------------------------------------------------------------------

constexpr int kChain = 100'000;

Task<void> chain_link(int remaining, std::atomic<int>* ran, AsyncLatch* end) {
    ran->fetch_add(1, std::memory_order_relaxed);
    if (remaining == 0) {
        end->count_down();
        co_return;
    }
    static_cast<void>(spawn(chain_link(remaining - 1, ran, end)));
}

TEST_P(MultiThreadScheduler, AChainOfAHundredThousandTasksEachSpawningTheNextRunsToTheEnd) {
    auto dog = watchdog();
    std::atomic<int> ran{0};
    AsyncLatch end(1);
    Runtime rt = build();
    static_cast<void>(rt.spawn(chain_link(kChain - 1, &ran, &end)));
    rt.block_on(end.wait());
    EXPECT_TRUE(alive_tasks_reach_zero(rt.handle()));
    EXPECT_EQ(ran.load(), kChain);
    EXPECT_EQ(end.remaining(), 0);
}

/// Each link spawns the next and awaits it: a hundred thousand tasks wait on
/// each other's JoinHandles, then finish back up the chain.
Task<int> joined_chain_link(int remaining) {
    if (remaining == 0) co_return 0;
    int rest = co_await spawn(joined_chain_link(remaining - 1));
    co_return rest + 1;
}

TEST_P(MultiThreadScheduler, AChainOfAHundredThousandTasksEachAwaitingTheNextUnwindsToTheFirst) {
    auto dog = watchdog();
    Runtime rt = build();
    EXPECT_EQ(rt.block_on(rt.spawn(joined_chain_link(kChain))), kChain);
    EXPECT_TRUE(alive_tasks_reach_zero(rt.handle()));
}

// ---- a worker blocked by synchronous work ------------------------------------------------------

TEST_P(MultiThreadScheduler, ATaskSpawnedByATaskThatThenBlocksItsWorkerIsStolenAndRun) {
    auto dog = watchdog();
    Runtime rt = build();
    std::thread::id blocker, stolen;
    EXPECT_TRUE(rt.block_on(rt.spawn(spawn_then_block_until_it_ran(&blocker, &stolen))));
    EXPECT_NE(blocker, stolen);
}

Task<bool> block_until_released(std::shared_ptr<std::atomic<bool>> started,
                                std::shared_ptr<std::atomic<bool>> release) {
    started->store(true, std::memory_order_release);
    co_return spin_until([&] { return release->load(std::memory_order_acquire); }, kSpinLimit);
}

TEST_P(MultiThreadScheduler, TasksSpawnedFromOutsideRunWhileOneWorkerIsBlocked) {
    constexpr std::size_t kTasks = 1000;
    auto dog = watchdog();
    std::vector<std::atomic<std::uint8_t>> slots(kTasks);
    AsyncLatch latch(kTasks);
    auto started = std::make_shared<std::atomic<bool>>(false);
    auto release = std::make_shared<std::atomic<bool>>(false);
    Runtime rt = build();
    JoinHandle<bool> blocker = rt.spawn(block_until_released(started, release));
    ASSERT_TRUE(spin_until([&] { return started->load(std::memory_order_acquire); }, kSpinLimit));
    for (std::size_t i = 0; i < kTasks; ++i) static_cast<void>(rt.spawn(MarkOnce(&slots[i], &latch)));
    rt.block_on(latch.wait());  // while the blocker still holds its worker
    release->store(true, std::memory_order_release);
    EXPECT_TRUE(rt.block_on(std::move(blocker)));
    EXPECT_EQ(slots_not_run_once(slots), 0u);
}

// ---- exceptions ---------------------------------------------------------------------------------

struct TaskFailure : std::runtime_error {
    TaskFailure(const std::string& message, int c) : std::runtime_error(message), code(c) {}
    int code;
};

std::string failure_message(int i) { return "task " + std::to_string(i) + " failed"; }

Task<int> fail_after_yield(int i) {
    co_await task::yield_now();
    throw TaskFailure(failure_message(i), i);
}

struct FailureTally {
    int values = 0;    // awaited with the right value
    int failures = 0;  // rethrew TaskFailure with the right code and message
};

/// Every third task throws; all are awaited from this task.
Task<FailureTally> await_failures_among_values(int n) {
    std::vector<JoinHandle<int>> handles;
    for (int i = 0; i < n; ++i) handles.push_back(spawn(i % 3 == 0 ? fail_after_yield(i) : value_after_yield(i)));
    FailureTally tally;
    for (int i = 0; i < n; ++i) {
        try {
            int v = co_await handles[i];
            if (v == i) ++tally.values;
        } catch (const TaskFailure& e) {
            if (e.code == i && e.what() == failure_message(i)) ++tally.failures;
        }
    }
    co_return tally;
}

TEST_P(MultiThreadScheduler, ExceptionsReachTheirJoinHandlesAndTheRuntimeRunsOn) {
    constexpr int kTasks = 3000;
    auto dog = watchdog();
    Runtime rt = build();
    try {
        static_cast<void>(rt.block_on(rt.spawn(fail_after_yield(7))));
        ADD_FAILURE() << "the task's exception did not reach the JoinHandle";
    } catch (const TaskFailure& e) {
        EXPECT_STREQ(e.what(), "task 7 failed");
        EXPECT_EQ(e.code, 7);
    }
    FailureTally first = rt.block_on(rt.spawn(await_failures_among_values(kTasks)));
    EXPECT_EQ(first.failures, kTasks / 3);
    EXPECT_EQ(first.values, kTasks - kTasks / 3);
    FailureTally again = rt.block_on(await_failures_among_values(kTasks));  // joined from the block_on thread
    EXPECT_EQ(again.failures, kTasks / 3);
    EXPECT_EQ(again.values, kTasks - kTasks / 3);
    EXPECT_TRUE(alive_tasks_reach_zero(rt.handle()));
}

// ---- timers -----------------------------------------------------------------------------------

Task<void> sleep_then_check(time::Duration d, std::atomic<int>* early, AsyncLatch* done) {
    time::Instant deadline = time::Instant::now() + d;
    co_await time::sleep_until(deadline);
    if (time::Instant::now() < deadline) early->fetch_add(1);
    done->count_down();
}

Task<void> spawn_sleepers(std::vector<time::Duration> durations, std::atomic<int>* early, AsyncLatch* done) {
    for (time::Duration d : durations) static_cast<void>(spawn(sleep_then_check(d, early, done)));
    co_return;
}

TEST_P(MultiThreadScheduler, ManySleepingTasksAllWakeAndNeverBeforeTheirDeadline) {
    constexpr int kTasks = 2000;
    auto dog = watchdog();
    std::mt19937 rng(static_cast<unsigned>(77 + GetParam()));
    std::uniform_int_distribution<int> millis(1, 20);
    std::vector<time::Duration> from_worker, from_outside;
    for (int i = 0; i < kTasks; ++i) {
        (i % 2 == 0 ? from_worker : from_outside).push_back(std::chrono::milliseconds(millis(rng)));
    }
    std::atomic<int> early{0};
    AsyncLatch done(kTasks);
    Runtime rt = build();
    static_cast<void>(rt.spawn(spawn_sleepers(from_worker, &early, &done)));
    for (time::Duration d : from_outside) static_cast<void>(rt.spawn(sleep_then_check(d, &early, &done)));
    rt.block_on(done.wait());
    EXPECT_EQ(early.load(), 0);
    EXPECT_TRUE(alive_tasks_reach_zero(rt.handle()));
}

// ---- shutdown with everything in flight ---------------------------------------------------------

Task<void> yield_forever_holding(DropCounts* drops, std::atomic<int>* started) {
    DropCounter guard(*drops);
    started->fetch_add(1, std::memory_order_relaxed);
    for (;;) co_await task::yield_now();
}

Task<void> sleep_an_hour_holding(DropCounts* drops, std::atomic<int>* started) {
    DropCounter guard(*drops);
    started->fetch_add(1, std::memory_order_relaxed);
    co_await time::sleep(1h);
}

/// Awaits `state` again and again; foreign threads keep completing it.
Task<void> await_foreign_forever_holding(DropCounts* drops, std::atomic<int>* started,
                                         std::shared_ptr<ThreadSafeManualState<int>> state) {
    DropCounter guard(*drops);
    started->fetch_add(1, std::memory_order_relaxed);
    for (;;) co_await ThreadSafeManualFuture<int>(state);
}

/// Spawns `children` yielding tasks, one per poll, then yields forever.
Task<void> spawn_yielders_holding(DropCounts* drops, std::atomic<int>* started, std::atomic<int>* children_started,
                                  int children) {
    DropCounter guard(*drops);
    started->fetch_add(1, std::memory_order_relaxed);
    for (int i = 0; i < children; ++i) {
        static_cast<void>(spawn(yield_forever_holding(drops, children_started)));
        co_await task::yield_now();
    }
    for (;;) co_await task::yield_now();
}

Task<void> hold(DropCounter) { co_return; }

/// Stops and joins the test's foreign threads on every way out of a scope.
struct JoinOnExit {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~JoinOnExit() {
        stop.store(true);
        for (std::thread& t : threads) {
            if (t.joinable()) t.join();
        }
    }
};

// One round: tasks of every kind started on every worker (yielding in loops,
// sleeping, waiting on futures that foreign threads keep completing, spawning
// children), a foreign thread spawning through a Handle, then the Runtime is
// destroyed in the middle of all that.
void destroy_runtime_with_tasks_in_flight(std::size_t workers) {
    const int per_kind = 500;
    const int spawner_children = 100;
    constexpr int kCompleters = 4;
    DropCounts drops;         // everything spawned before the runtime is destroyed
    DropCounts remote_drops;  // what the foreign spawner creates, before and after
    std::atomic<int> started{0};
    std::atomic<int> children_started{0};
    std::vector<std::shared_ptr<ThreadSafeManualState<int>>> states;
    for (int i = 0; i < per_kind; ++i) states.push_back(std::make_shared<ThreadSafeManualState<int>>());
    std::vector<JoinHandle<void>> kept;

    std::atomic<bool> stop{false};
    std::vector<std::thread> foreign;
    JoinOnExit join_on_exit{stop, foreign};
    {
        Runtime rt = multi_thread(workers);
        for (int i = 0; i < per_kind; ++i) {
            kept.push_back(rt.spawn(yield_forever_holding(&drops, &started)));
            kept.push_back(rt.spawn(sleep_an_hour_holding(&drops, &started)));
            kept.push_back(rt.spawn(await_foreign_forever_holding(&drops, &started, states[i])));
        }
        for (std::size_t k = 0; k < workers; ++k) {
            kept.push_back(rt.spawn(spawn_yielders_holding(&drops, &started, &children_started, spawner_children)));
        }
        for (int t = 0; t < kCompleters; ++t) {
            foreign.emplace_back([&, t] {
                for (int round = 0; !stop.load(); ++round) {
                    for (std::size_t i = t; i < states.size(); i += kCompleters) states[i]->complete(round);
                    std::this_thread::yield();
                }
            });
        }
        foreign.emplace_back([&remote_drops, &stop, handle = rt.handle()]() mutable {
            for (int i = 0; i < 100'000 && !stop.load(); ++i) {
                static_cast<void>(handle.spawn(hold(DropCounter(remote_drops))));
                std::this_thread::yield();
            }
        });
        const int total = 3 * per_kind + static_cast<int>(workers);
        ASSERT_TRUE(spin_until([&] { return started.load() == total; }, kSpinLimit))
            << started.load() << " of " << total << " tasks started";
    }
    EXPECT_EQ(drops.alive(), 0) << "a task's frame outlived the runtime, or was destroyed twice";
    for (JoinHandle<void>& h : kept) {
        EXPECT_TRUE(h.is_finished());
        EXPECT_THROW(static_cast<void>(poll_once(h)), JoinError);
        EXPECT_FALSE(h.valid());
    }
    stop.store(true);
    for (std::thread& t : foreign) t.join();
    EXPECT_EQ(remote_drops.alive(), 0) << "a task spawned from outside during shutdown was never destroyed";
}

TEST_P(MultiThreadScheduler, DestroyingTheRuntimeWithThousandsOfTasksInFlightDestroysEachOnce) {
    constexpr int kRounds = 3;
    auto dog = watchdog();
    for (int round = 0; round < kRounds; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        destroy_runtime_with_tasks_in_flight(workers());
        if (HasFatalFailure()) return;
    }
}

// ---- thread hooks and names -------------------------------------------------------------------

struct ThreadIdentity {
    std::thread::id id;
    std::string name;
};

Task<ThreadIdentity> identify_thread() {
    co_await task::yield_now();
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    co_return ThreadIdentity{std::this_thread::get_id(), name};
}

Task<std::vector<ThreadIdentity>> identify_threads(std::size_t n) {
    std::vector<JoinHandle<ThreadIdentity>> handles;
    for (std::size_t i = 0; i < n; ++i) handles.push_back(spawn(identify_thread()));
    std::vector<ThreadIdentity> out;
    for (JoinHandle<ThreadIdentity>& h : handles) out.push_back(co_await h);
    co_return out;
}

TEST_P(MultiThreadScheduler, RunsTheThreadHooksOncePerWorkerAndNamesEveryWorker) {
    auto dog = watchdog();
    const std::string name = "corio-mt-" + std::to_string(workers());
    std::mutex mutex;
    std::multiset<std::thread::id> started, stopped;  // guarded by mutex
    {
        Runtime rt = Builder::new_multi_thread()
                         .worker_threads(workers())
                         .thread_name(name)
                         .on_thread_start([&] {
                             std::lock_guard lock(mutex);
                             started.insert(std::this_thread::get_id());
                         })
                         .on_thread_stop([&] {
                             std::lock_guard lock(mutex);
                             stopped.insert(std::this_thread::get_id());
                         })
                         .build();
        ASSERT_TRUE(spin_until(
            [&] {
                std::lock_guard lock(mutex);
                return started.size() == workers();
            },
            kSpinLimit));
        std::vector<ThreadIdentity> seen = rt.block_on(identify_threads(16 * workers()));
        std::lock_guard lock(mutex);
        for (const ThreadIdentity& t : seen) {
            EXPECT_EQ(t.name, name);
            EXPECT_EQ(started.count(t.id), 1u) << "a task ran on a thread that is not a started worker";
        }
        EXPECT_TRUE(stopped.empty());
    }
    EXPECT_EQ(started.size(), workers());
    EXPECT_EQ(std::set<std::thread::id>(started.begin(), started.end()).size(), workers());
    EXPECT_EQ(stopped, started);
}

TEST(MultiThreadNames, WorkersAreNamedCorioWorkerByDefault) {
    auto dog = watchdog();
    Runtime rt = multi_thread(2);
    EXPECT_EQ(rt.block_on(rt.spawn(identify_thread())).name, "corio-worker");
}

TEST(MultiThreadNames, ANameLongerThanTheKernelAllowsIsCutToItsFirstFifteenCharacters) {
    auto dog = watchdog();
    Runtime rt = Builder::new_multi_thread().worker_threads(2).thread_name("corio-multi-thread-worker").build();
    EXPECT_EQ(rt.block_on(rt.spawn(identify_thread())).name, "corio-multi-thr");
}

// ---- fairness (one worker) ----------------------------------------------------------------------

Runtime one_worker() { return multi_thread(1); }

/// True once `deadline` has passed; looks at the clock only every 1024th
/// call, so a loop asking it each iteration stays fast.
bool past_deadline(std::chrono::steady_clock::time_point deadline, long iteration) {
    return iteration % 1024 == 0 && std::chrono::steady_clock::now() > deadline;
}

/// Yields until aborted, counting. Stops by itself after kSpinLimit, so a
/// starvation bug ends in a failed assertion instead of a hang.
Task<void> yield_loop_counting(std::atomic<long>* iterations) {
    auto deadline = std::chrono::steady_clock::now() + kSpinLimit;
    while (!past_deadline(deadline, iterations->fetch_add(1, std::memory_order_relaxed))) {
        co_await task::yield_now();
    }
}

struct FairnessOutcome {
    long worst = -1;                // the loop's iteration count when the last other task finished
    bool loop_was_aborted = false;  // false: it gave up by itself, the others were starved
};

/// Starts the yield loop, then 100 tasks that each yield 3 times, all from
/// this task (so on the worker's local queue, behind the loop).
Task<FairnessOutcome> others_beside_a_yield_loop(std::atomic<long>* iterations) {
    FairnessOutcome out;
    JoinHandle<void> loop = spawn(yield_loop_counting(iterations));
    while (iterations->load(std::memory_order_relaxed) == 0) co_await task::yield_now();
    long spawned_at = iterations->load(std::memory_order_relaxed);
    std::vector<JoinHandle<long>> others;
    for (int i = 0; i < 100; ++i) others.push_back(spawn(yield_then_read(iterations, 3)));
    for (JoinHandle<long>& h : others) {
        long seen = co_await h;
        out.worst = std::max(out.worst, seen - spawned_at);
    }
    loop.abort();
    try {
        co_await loop;
    } catch (const JoinError&) {
        out.loop_was_aborted = true;
    }
    co_return out;
}

TEST(MultiThreadFairness, ATaskThatYieldsForeverDoesNotStarveTasksSpawnedBesideIt) {
    auto dog = watchdog();
    std::atomic<long> iterations{0};
    Runtime rt = one_worker();
    FairnessOutcome out = rt.block_on(rt.spawn(others_beside_a_yield_loop(&iterations)));
    EXPECT_LT(out.worst, kFairBound);
    EXPECT_TRUE(out.loop_was_aborted) << "the loop gave up by itself: the others were starved";
}

// Spawned from outside, the others wait in the inject queue, which the busy
// worker looks at only every event_interval polls. Each one's wait is
// counted from the moment its spawn returned (the test thread may be
// preempted between two spawns while the loop runs on).
TEST(MultiThreadFairness, ATaskThatYieldsForeverDoesNotStarveTasksSpawnedFromOutside) {
    constexpr int kOthers = 20;
    auto dog = watchdog();
    std::atomic<long> iterations{0};
    Runtime rt = one_worker();
    JoinHandle<void> loop = rt.spawn(yield_loop_counting(&iterations));
    ASSERT_TRUE(spin_until([&] { return iterations.load() > 0; }, kSpinLimit));
    std::vector<JoinHandle<long>> others;
    std::vector<long> spawned_at;
    for (int i = 0; i < kOthers; ++i) {
        others.push_back(rt.spawn(yield_then_read(&iterations, 3)));
        spawned_at.push_back(iterations.load());
    }
    for (int i = 0; i < kOthers; ++i) {
        EXPECT_LT(rt.block_on(std::move(others[i])) - spawned_at[i], kFairBound) << "task " << i;
    }
    loop.abort();
    EXPECT_THROW(rt.block_on(std::move(loop)), JoinError) << "the loop gave up by itself: the others were starved";
}

/// Two tasks handing a turn back and forth: each wake comes from the running
/// task, so the woken one lands in the worker's LIFO slot.
struct PingPong {
    std::atomic<int> turn{0};
    std::atomic<long> exchanges{0};
    Waker waiting[2];  // touched only by the players, on the one worker
};

class AwaitTurn {
public:
    using Output = void;
    AwaitTurn(PingPong* game, int player) noexcept : game_(game), player_(player) {}
    Poll<void> poll(Context& cx) {
        if (game_->turn.load(std::memory_order_acquire) == player_) return Ready();
        game_->waiting[player_].clone_from(cx.waker());
        return Pending;
    }

private:
    PingPong* game_;
    int player_;
};

/// Plays until aborted; gives up by itself after kSpinLimit, so a starved
/// test fails instead of hanging.
Task<void> ping_pong_player(PingPong* game, int me) {
    auto deadline = std::chrono::steady_clock::now() + kSpinLimit;
    for (;;) {
        co_await AwaitTurn(game, me);
        if (past_deadline(deadline, game->exchanges.fetch_add(1, std::memory_order_relaxed))) co_return;
        game->turn.store(1 - me, std::memory_order_release);
        game->waiting[1 - me].wake_by_ref();
    }
}

/// Starts a ping-pong, then a third task from this task; returns how many
/// exchanges happened between the spawn of the third task and its end.
Task<long> third_task_beside_a_ping_pong(PingPong* game) {
    JoinHandle<void> a = spawn(ping_pong_player(game, 0));
    JoinHandle<void> b = spawn(ping_pong_player(game, 1));
    while (game->exchanges.load(std::memory_order_relaxed) < 10) co_await task::yield_now();
    long spawned_at = game->exchanges.load(std::memory_order_relaxed);
    long seen = co_await spawn(yield_then_read(&game->exchanges, 3));
    a.abort();
    b.abort();
    co_return seen - spawned_at;
}

TEST(MultiThreadFairness, TwoTasksPingPongingThroughWakesDoNotStarveAThirdSpawnedBesideThem) {
    auto dog = watchdog();
    PingPong game;  // outlives the runtime: its wakers may hold the last references to the players
    Runtime rt = one_worker();
    EXPECT_LT(rt.block_on(rt.spawn(third_task_beside_a_ping_pong(&game))), kFairBound);
}

TEST(MultiThreadFairness, TwoTasksPingPongingThroughWakesDoNotStarveATaskSpawnedFromOutside) {
    auto dog = watchdog();
    PingPong game;
    Runtime rt = one_worker();
    JoinHandle<void> a = rt.spawn(ping_pong_player(&game, 0));
    JoinHandle<void> b = rt.spawn(ping_pong_player(&game, 1));
    ASSERT_TRUE(spin_until([&] { return game.exchanges.load() >= 10; }, kSpinLimit));
    JoinHandle<long> third = rt.spawn(yield_then_read(&game.exchanges, 3));
    long spawned_at = game.exchanges.load();
    EXPECT_LT(rt.block_on(std::move(third)) - spawned_at, kFairBound);
    EXPECT_FALSE(a.is_finished()) << "the players gave up by themselves: the third task was starved";
    a.abort();
    b.abort();
}

// A task that keeps its only worker busy with yields must not keep timers
// from firing: the worker looks at the driver every event_interval polls.
Task<bool> sleep_then_check_running(const JoinHandle<void>* loop) {
    co_await time::sleep(5ms);
    co_return !loop->is_finished();
}

TEST(MultiThreadFairness, ATimerFiresWhileTheOnlyWorkerNeverParks) {
    auto dog = watchdog();
    std::atomic<long> iterations{0};
    Runtime rt = one_worker();
    JoinHandle<void> loop = rt.spawn(yield_loop_counting(&iterations));
    ASSERT_TRUE(spin_until([&] { return iterations.load() > 0; }, kSpinLimit));
    EXPECT_TRUE(rt.block_on(rt.spawn(sleep_then_check_running(&loop))))
        << "the timer fired only once the loop had given up";
    loop.abort();
    EXPECT_THROW(rt.block_on(std::move(loop)), JoinError);
}

// ---- blocking ---------------------------------------------------------------------------------------

/// Occupies `blockers` blocking-pool threads until `release` is set, checks
/// that 100 yielding tasks complete meanwhile, then releases them.
Task<bool> async_tasks_run_while_blocking_work_waits(int blockers) {
    auto release = std::make_shared<std::atomic<bool>>(false);
    std::vector<JoinHandle<bool>> blocking;
    for (int i = 0; i < blockers; ++i) {
        blocking.push_back(task::spawn_blocking(
            [release] { return spin_until([&] { return release->load(std::memory_order_acquire); }, kSpinLimit); }));
    }
    std::vector<JoinHandle<int>> handles;
    for (int i = 0; i < 100; ++i) handles.push_back(spawn(value_after_yield(i)));
    int sum = 0;
    for (JoinHandle<int>& h : handles) sum += co_await h;
    // A closure that finished already gave up waiting: it never saw the release.
    bool all_still_blocked =
        std::none_of(blocking.begin(), blocking.end(), [](const auto& h) { return h.is_finished(); });
    release->store(true, std::memory_order_release);
    int saw_release = 0;
    for (JoinHandle<bool>& h : blocking) {
        bool saw = co_await h;
        saw_release += saw ? 1 : 0;
    }
    bool ok = all_still_blocked && saw_release == blockers && sum == 99 * 100 / 2;
    co_return ok;
}

// One worker: if spawn_blocking ran its closures on the worker (or the pool
// shared its threads), the async tasks could not run until the release.
TEST(MultiThreadBlocking, SpawnBlockingWorkDoesNotStallTheWorkers) {
    auto dog = watchdog();
    Runtime rt = one_worker();
    EXPECT_TRUE(rt.block_on(rt.spawn(async_tasks_run_while_blocking_work_waits(4))));
}

constexpr std::chrono::milliseconds kLifoSpinLimit = 5s;

Task<void> await_then_flag(std::shared_ptr<ThreadSafeManualState<int>> state, std::shared_ptr<std::atomic<bool>> ran) {
    co_await ThreadSafeManualFuture<int>(state);
    ran->store(true, std::memory_order_release);
}

/// Wakes a task suspended on a future (from this worker, so it lands in this
/// worker's LIFO slot), then blocks this worker until that task ran (true)
/// or kLifoSpinLimit passed (false).
Task<bool> wake_then_block_until_it_ran() {
    auto state = std::make_shared<ThreadSafeManualState<int>>();
    auto ran = std::make_shared<std::atomic<bool>>(false);
    static_cast<void>(spawn(await_then_flag(state, ran)));
    while (state->polls() == 0) co_await task::yield_now();  // it is suspended (on this or another worker)
    state->complete(1);                                      // from a worker: into this worker's LIFO slot
    co_return spin_until([&] { return ran->load(std::memory_order_acquire); }, kLifoSpinLimit);
}

// A task woken by a task that then blocks its worker sits in that worker's
// LIFO slot, which other workers do not steal from. The stall detector
// (default threshold 100 ms) moves it out once the blocker has held the
// worker that long; another worker then runs it. (Tokio leaves it there
// until the blocker returns.)
TEST(MultiThreadBlocking, ATaskWokenByATaskThatThenBlocksItsWorkerStillRuns) {
    auto dog = watchdog();
    Runtime rt = multi_thread(2);
    EXPECT_TRUE(rt.block_on(rt.spawn(wake_then_block_until_it_ran())));
}

/// The largest lateness of a 10 ms sleep, repeated until `*stop`.
Task<std::chrono::milliseconds> worst_timer_lateness(std::shared_ptr<std::atomic<bool>> stop) {
    std::chrono::milliseconds worst{0};
    while (!stop->load()) {
        auto start = std::chrono::steady_clock::now();
        co_await time::sleep(std::chrono::milliseconds(10));
        auto late = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start) -
                    std::chrono::milliseconds(10);
        worst = std::max(worst, late);
    }
    co_return worst;
}

Task<void> spin_for(std::chrono::milliseconds d, std::shared_ptr<std::atomic<bool>> stop) {
    auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {
    }
    stop->store(true);
    co_return;
}

// The driver (I/O and timers) is never left with a worker stuck in a poll:
// the other worker fires the timers.
TEST(MultiThreadBlocking, TimersFireOnTheOtherWorkerWhileOneSpinsForASecond) {
    auto dog = watchdog();
    Runtime rt = multi_thread(2);
    auto stop = std::make_shared<std::atomic<bool>>(false);
    std::chrono::milliseconds worst =
        rt.block_on([](std::shared_ptr<std::atomic<bool>> stop) -> Task<std::chrono::milliseconds> {
            auto timers = spawn(worst_timer_lateness(stop));
            co_await time::sleep(std::chrono::milliseconds(30));
            co_await spawn(spin_for(std::chrono::seconds(1), stop));
            co_return co_await timers;
        }(stop));
    // At most twice the default stall threshold (100 ms) late; sanitizers slow everything down.
    EXPECT_LE(worst, kSanitized ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(200));
}

// ---- JoinHandle -----------------------------------------------------------------------------------

TEST(MultiThreadJoinHandle, AwaitedFromTheBlockOnThreadYieldsTheValue) {
    auto dog = watchdog();
    Runtime rt = multi_thread(2);
    EXPECT_EQ(rt.block_on(rt.spawn(value_after_yield(42))), 42);
}

// Workers hand out the runtime's per-task counts from blocks they hold
// (MultiThread::ref). Tasks spawned on a worker and freed on another thread
// (their JoinHandles dropped after the runtime), and tasks spawned from
// outside and freed on the workers, must leave the count exact: freed too
// early, the sanitizers see a use after free; never freed, a leak.
Task<std::vector<JoinHandle<int>>> spawn_from_a_worker(std::size_t n) {
    std::vector<JoinHandle<int>> handles;
    for (std::size_t i = 0; i < n; ++i) handles.push_back(corio::spawn(value_after_yield(static_cast<int>(i))));
    co_return handles;
}

TEST(MultiThreadJoinHandle, HandlesDroppedAfterTheRuntimeAndTasksFreedOnWorkersKeepItsCountExact) {
    auto dog = watchdog();
    std::vector<JoinHandle<int>> late;
    {
        Runtime rt = multi_thread(2);
        late = rt.block_on(rt.spawn(spawn_from_a_worker(1000)));
        std::vector<JoinHandle<int>> outside;
        for (int i = 0; i < 1000; ++i) outside.push_back(rt.spawn(value_after_yield(i)));
        for (int i = 0; i < 1000; ++i) EXPECT_EQ(rt.block_on(std::move(outside[i])), i);
        for (int i = 0; i < 1000; ++i) rt.spawn(value_after_yield(i));  // detached, freed on the workers
        EXPECT_EQ(rt.block_on(std::move(late.back())), 999);
        late.pop_back();
    }
    EXPECT_EQ(late.size(), 999u);
    late.clear();  // the last counts on the runtime: freed here, off every worker
}

Task<int> add_one_to(JoinHandle<int> h) {
    int v = co_await h;
    co_return v + 1;
}

Task<int> await_foreign(std::shared_ptr<ThreadSafeManualState<int>> state) {
    int v = co_await ThreadSafeManualFuture<int>(std::move(state));
    co_return v;
}

TEST(MultiThreadJoinHandle, AwaitedFromAnotherTaskYieldsTheValue) {
    auto dog = watchdog();
    Runtime rt = multi_thread(2);
    auto state = std::make_shared<ThreadSafeManualState<int>>();
    JoinHandle<int> inner = rt.spawn(await_foreign(state));
    JoinHandle<int> outer = rt.spawn(add_one_to(std::move(inner)));
    std::thread completer([state] {
        EXPECT_TRUE(state->wait_for_pending_poll(kSpinLimit));
        state->complete(41);
    });
    EXPECT_EQ(rt.block_on(std::move(outer)), 42);
    completer.join();
}

Task<bool> join_expecting_join_error(JoinHandle<void>* h) {
    bool join_error = false;
    try {
        co_await *h;
    } catch (const JoinError&) {
        join_error = true;
    }
    co_return join_error;
}

Task<void> await_forever_holding(DropCounts* drops, std::shared_ptr<ThreadSafeManualState<int>> never) {
    DropCounter guard(*drops);
    co_await ThreadSafeManualFuture<int>(std::move(never));
}

TEST(MultiThreadJoinHandle, AbortFromAnotherThreadCancelsASuspendedTask) {
    auto dog = watchdog();
    DropCounts drops;
    auto never = std::make_shared<ThreadSafeManualState<int>>();
    Runtime rt = multi_thread(2);
    JoinHandle<void> h = rt.spawn(await_forever_holding(&drops, never));
    std::thread aborter([&] {
        EXPECT_TRUE(never->wait_for_pending_poll(kSpinLimit));
        h.abort();
    });
    EXPECT_TRUE(rt.block_on(join_expecting_join_error(&h)));
    aborter.join();
    EXPECT_EQ(drops.alive(), 0);
    EXPECT_EQ(drops.constructed.load(), 1);
}

Task<void> yield_forever_flagging(DropCounts* drops, std::atomic<bool>* started) {
    DropCounter guard(*drops);
    started->store(true, std::memory_order_release);
    for (;;) co_await task::yield_now();
}

TEST(MultiThreadJoinHandle, AbortFromAnotherThreadStopsATaskRunningOnAWorker) {
    auto dog = watchdog();
    DropCounts drops;
    std::atomic<bool> started{false};
    Runtime rt = multi_thread(4);
    JoinHandle<void> h = rt.spawn(yield_forever_flagging(&drops, &started));
    AbortHandle abort_handle = h.abort_handle();
    std::thread aborter([&] {
        EXPECT_TRUE(spin_until([&] { return started.load(std::memory_order_acquire); }, kSpinLimit));
        abort_handle.abort();
    });
    EXPECT_TRUE(rt.block_on(join_expecting_join_error(&h)));
    aborter.join();
    EXPECT_TRUE(abort_handle.is_finished());
    EXPECT_EQ(drops.alive(), 0);
}

TEST(MultiThreadJoinHandle, IsFinishedTurnsTrueOnceTheTaskCompletesOnAWorker) {
    auto dog = watchdog();
    auto state = std::make_shared<ThreadSafeManualState<int>>();
    Runtime rt = multi_thread(2);
    JoinHandle<int> h = rt.spawn(await_foreign(state));
    ASSERT_TRUE(state->wait_for_pending_poll(kSpinLimit));
    EXPECT_FALSE(h.is_finished());
    state->complete(9);
    ASSERT_TRUE(spin_until([&] { return h.is_finished(); }, kSpinLimit));
    Poll<int> out = poll_once(h);
    ASSERT_TRUE(out.is_ready());
    EXPECT_EQ(*out, 9);
    EXPECT_FALSE(h.valid());
    EXPECT_TRUE(h.is_finished());
}

// ---- metrics ----------------------------------------------------------------------------------------

std::uint64_t total_polls(const RuntimeMetrics& m) {
    std::uint64_t n = 0;
    for (const WorkerMetrics& w : m.workers) n += w.polls;
    return n;
}

std::uint64_t total_steals(const RuntimeMetrics& m) {
    std::uint64_t n = 0;
    for (const WorkerMetrics& w : m.workers) n += w.steals;
    return n;
}

Task<int> yield_twice_then(int v) {
    co_await task::yield_now();
    co_await task::yield_now();
    co_return v;
}

Task<int> sum_of_yielding_tasks(int n) {
    std::vector<JoinHandle<int>> handles;
    for (int i = 0; i < n; ++i) handles.push_back(spawn(yield_twice_then(1)));
    int sum = 0;
    for (JoinHandle<int>& h : handles) sum += co_await h;
    co_return sum;
}

TEST_P(MultiThreadScheduler, MetricsCountWorkersAndPollsAndAliveTasksReturnToZero) {
    constexpr int kTasks = 1000;
    auto dog = watchdog();
    Runtime rt = build();
    Handle handle = rt.handle();
    RuntimeMetrics before = handle.metrics();
    EXPECT_EQ(before.num_workers, workers());
    EXPECT_EQ(before.workers.size(), workers());
    EXPECT_EQ(before.alive_tasks, 0u);
    EXPECT_EQ(rt.block_on(rt.spawn(sum_of_yielding_tasks(kTasks))), kTasks);
    EXPECT_TRUE(alive_tasks_reach_zero(handle));
    RuntimeMetrics after = handle.metrics();
    EXPECT_GE(total_polls(after), 3u * kTasks + 1) << "each task is polled three times, the spawner at least once";
    EXPECT_EQ(after.inject_queue_depth, 0u);
    // Idle now: every worker parks, and counts it.
    EXPECT_TRUE(spin_until(
        [&] {
            RuntimeMetrics m = handle.metrics();
            return std::all_of(m.workers.begin(), m.workers.end(), [](const WorkerMetrics& w) { return w.parks > 0; });
        },
        kSpinLimit));
}

/// Spawns `n` (< 256, so they all stay in this worker's ring) tasks, then
/// blocks this worker until all ran: only other workers, by stealing, can
/// run them.
Task<bool> spawn_then_block_until_all_ran(std::size_t n) {
    auto latch = std::make_shared<AsyncLatch>(static_cast<std::int64_t>(n));
    auto slots = std::make_shared<std::vector<std::atomic<std::uint8_t>>>(n);
    for (std::size_t i = 0; i < n; ++i) {
        static_cast<void>(
            spawn([](std::shared_ptr<AsyncLatch> l, std::shared_ptr<std::vector<std::atomic<std::uint8_t>>> s,
                     std::size_t index) -> Task<void> {
                co_await task::yield_now();
                (*s)[index].fetch_add(1, std::memory_order_relaxed);
                l->count_down();
            }(latch, slots, i)));
    }
    bool all_ran = spin_until([&] { return latch->remaining() == 0; }, kSpinLimit);
    bool each_once = all_ran && slots_not_run_once(*slots) == 0;
    co_return each_once;
}

TEST(MultiThreadMetrics, TasksQueuedOnABlockedWorkerAreStolenAndTheStealsCounted) {
    auto dog = watchdog();
    Runtime rt = multi_thread(4);
    EXPECT_EQ(total_steals(rt.handle().metrics()), 0u);
    EXPECT_TRUE(rt.block_on(rt.spawn(spawn_then_block_until_all_ran(200))));
    EXPECT_GT(total_steals(rt.handle().metrics()), 0u);
}

TEST(MultiThreadMetrics, InjectQueueDepthCountsRemoteSpawnsWhileTheOnlyWorkerIsBlocked) {
    constexpr std::size_t kTasks = 100;
    auto dog = watchdog();
    auto started = std::make_shared<std::atomic<bool>>(false);
    auto release = std::make_shared<std::atomic<bool>>(false);
    std::vector<std::atomic<std::uint8_t>> slots(kTasks);
    AsyncLatch latch(kTasks);
    Runtime rt = one_worker();
    Handle handle = rt.handle();
    JoinHandle<bool> blocker = rt.spawn(block_until_released(started, release));
    ASSERT_TRUE(spin_until([&] { return started->load(std::memory_order_acquire); }, kSpinLimit));
    std::uint64_t remote_before = handle.metrics().remote_schedules;
    for (std::size_t i = 0; i < kTasks; ++i) static_cast<void>(handle.spawn(MarkOnce(&slots[i], &latch)));
    RuntimeMetrics queued = handle.metrics();
    EXPECT_EQ(queued.inject_queue_depth, kTasks);
    EXPECT_EQ(queued.remote_schedules - remote_before, kTasks);
    EXPECT_EQ(queued.alive_tasks, kTasks + 1);
    release->store(true, std::memory_order_release);
    EXPECT_TRUE(rt.block_on(std::move(blocker)));
    rt.block_on(latch.wait());
    EXPECT_EQ(handle.metrics().inject_queue_depth, 0u);
    EXPECT_TRUE(alive_tasks_reach_zero(handle));
}

/// Spawns `n` tasks onto its own worker's queue, reports that, then blocks
/// the (only) worker until released.
Task<bool> spawn_locally_then_block(std::size_t n, std::shared_ptr<std::atomic<bool>> spawned,
                                    std::shared_ptr<std::atomic<bool>> release) {
    for (std::size_t i = 0; i < n; ++i) static_cast<void>(spawn(value_after_yield(0)));
    spawned->store(true, std::memory_order_release);
    co_return spin_until([&] { return release->load(std::memory_order_acquire); }, kSpinLimit);
}

TEST(MultiThreadMetrics, LocalQueueDepthCountsTasksSpawnedOnTheWorker) {
    constexpr std::size_t kTasks = 100;
    auto dog = watchdog();
    auto spawned = std::make_shared<std::atomic<bool>>(false);
    auto release = std::make_shared<std::atomic<bool>>(false);
    Runtime rt = one_worker();
    Handle handle = rt.handle();
    JoinHandle<bool> blocker = rt.spawn(spawn_locally_then_block(kTasks, spawned, release));
    ASSERT_TRUE(spin_until([&] { return spawned->load(std::memory_order_acquire); }, kSpinLimit));
    RuntimeMetrics m = handle.metrics();
    ASSERT_EQ(m.workers.size(), 1u);
    EXPECT_EQ(m.workers[0].local_queue_depth, kTasks);
    EXPECT_EQ(m.inject_queue_depth, 0u);
    release->store(true, std::memory_order_release);
    EXPECT_TRUE(rt.block_on(std::move(blocker)));
    EXPECT_TRUE(alive_tasks_reach_zero(handle));
    EXPECT_EQ(handle.metrics().workers[0].local_queue_depth, 0u);
}

Task<void> consume_budget_times(int n) {
    for (int i = 0; i < n; ++i) co_await task::consume_budget();
}

TEST(MultiThreadMetrics, BudgetForcedYieldsAreCounted) {
    auto dog = watchdog();
    Runtime rt = multi_thread(2);
    rt.block_on(rt.spawn(consume_budget_times(1000)));
    EXPECT_GE(rt.handle().metrics().budget_forced_yields, 1000u / detail::kTaskBudget);
}

// ---- Builder and block_on rules -----------------------------------------------------------------

TEST(MultiThreadBuilder, StartPausedIsRejectedWithInvalidArgument) {
    EXPECT_THROW(static_cast<void>(Builder::new_multi_thread().start_paused(true).build()), std::invalid_argument);
}

TEST(MultiThreadBuilder, ZeroWorkerThreadsIsRejectedWithInvalidArgument) {
    EXPECT_THROW(static_cast<void>(Builder::new_multi_thread().worker_threads(0).build()), std::invalid_argument);
}

TEST(MultiThreadBuilder, AnEventIntervalOfZeroIsRejectedWithInvalidArgument) {
    EXPECT_THROW(static_cast<void>(Builder::new_multi_thread().event_interval(0).build()), std::invalid_argument);
}

TEST(MultiThreadBuilder, DefaultsToOneWorkerPerCore) {
    auto dog = watchdog();
    Runtime rt = Builder::new_multi_thread().build();
    unsigned cores = std::thread::hardware_concurrency();
    EXPECT_EQ(rt.handle().metrics().num_workers, cores == 0 ? 1u : cores);
}

TEST(MultiThreadBuilder, AnEventIntervalOfOneStillRunsEveryTask) {
    auto dog = watchdog();
    Runtime rt = Builder::new_multi_thread().worker_threads(2).event_interval(1).build();
    EXPECT_EQ(rt.block_on(rt.spawn(sum_of_yielding_tasks(500))), 500);
}

Task<bool> block_on_throws_logic_error(Runtime* rt) {
    bool threw = false;
    try {
        static_cast<void>(rt->block_on(value_after_yield(1)));
    } catch (const std::logic_error&) {
        threw = true;
    }
    co_return threw;
}

TEST(MultiThreadBlockOn, FromInsideAWorkerThrowsLogicError) {
    auto dog = watchdog();
    Runtime rt = multi_thread(2);
    EXPECT_TRUE(rt.block_on(rt.spawn(block_on_throws_logic_error(&rt))));
}

TEST(MultiThreadBlockOn, FromInsideTheRootFutureThrowsLogicError) {
    auto dog = watchdog();
    Runtime rt = multi_thread(2);
    EXPECT_TRUE(rt.block_on(block_on_throws_logic_error(&rt)));
}

TEST(MultiThreadBlockOn, OfAnotherRuntimeFromInsideAWorkerThrowsLogicError) {
    auto dog = watchdog();
    Runtime rt = multi_thread(2);
    Runtime other = Builder::new_current_thread().build();
    EXPECT_TRUE(rt.block_on(rt.spawn(block_on_throws_logic_error(&other))));
}

TEST(MultiThreadBlockOn, SpawnedTasksNeverRunOnTheBlockOnThread) {
    constexpr int kTasks = 1000;
    auto dog = watchdog();
    Runtime rt = multi_thread(2);
    auto main_thread = std::this_thread::get_id();
    std::vector<JoinHandle<std::thread::id>> handles;
    for (int i = 0; i < kTasks; ++i) handles.push_back(rt.spawn(thread_id_after_yield()));
    int on_main = 0;
    for (JoinHandle<std::thread::id>& h : handles) on_main += rt.block_on(std::move(h)) == main_thread ? 1 : 0;
    EXPECT_EQ(on_main, 0);
}

/// From a worker of one runtime, spawns onto another through its Handle and
/// awaits the result there: the task must run on the other runtime's
/// workers, and its completion must wake this task across runtimes.
Task<ThreadIdentity> spawn_on_other_runtime(Handle other) {
    ThreadIdentity seen = co_await other.spawn(identify_thread());
    co_return seen;
}

TEST(MultiThreadHandle, ATaskSpawnedOntoAnotherRuntimeFromAWorkerRunsOnThatRuntimesWorkers) {
    auto dog = watchdog();
    Runtime a = Builder::new_multi_thread().worker_threads(2).thread_name("runtime-a").build();
    Runtime b = Builder::new_multi_thread().worker_threads(2).thread_name("runtime-b").build();
    EXPECT_EQ(a.block_on(a.spawn(identify_thread())).name, "runtime-a");
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(a.block_on(a.spawn(spawn_on_other_runtime(b.handle()))).name, "runtime-b");
    }
}

TEST(MultiThreadShutdown, AfterShutdownTimeoutBlockOnIsRefusedAndNewTasksAreCancelled) {
    auto dog = watchdog();
    DropCounts drops;
    Runtime rt = multi_thread(2);
    Handle handle = rt.handle();
    JoinHandle<void> pending = rt.spawn(await_forever_holding(&drops, std::make_shared<ThreadSafeManualState<int>>()));
    rt.shutdown_timeout(1s);
    EXPECT_EQ(drops.alive(), 0);
    EXPECT_TRUE(pending.is_finished());
    EXPECT_THROW(static_cast<void>(poll_once(pending)), JoinError);
    EXPECT_THROW(static_cast<void>(rt.block_on(value_after_yield(1))), std::logic_error);
    JoinHandle<void> late = handle.spawn(hold(DropCounter(drops)));
    EXPECT_EQ(drops.alive(), 0) << "a task spawned after shutdown was not dropped at once";
    EXPECT_TRUE(late.is_finished());
    EXPECT_THROW(static_cast<void>(poll_once(late)), JoinError);
}

// ---- corio::run -----------------------------------------------------------------------------------

struct RunObservations {
    std::size_t num_workers = 0;
    int tasks_on_the_main_thread = -1;
    bool stolen = false;
    std::thread::id blocker, stolen_task;
};

Task<int> observe_run(std::thread::id main_thread, RunObservations* out) {
    out->num_workers = Handle::current().metrics().num_workers;
    std::vector<JoinHandle<std::thread::id>> handles;
    for (int i = 0; i < 64; ++i) handles.push_back(spawn(thread_id_after_yield()));
    out->tasks_on_the_main_thread = 0;
    for (JoinHandle<std::thread::id>& h : handles) {
        std::thread::id id = co_await h;
        if (id == main_thread) ++out->tasks_on_the_main_thread;
    }
    if (out->num_workers >= 2) {
        out->stolen = co_await spawn(spawn_then_block_until_it_ran(&out->blocker, &out->stolen_task));
    }
    co_return 7;
}

TEST(MultiThreadRun, RunsTheMainTaskOnAMultiThreadRuntimeWithOneWorkerPerCore) {
    auto dog = watchdog();
    RunObservations seen;
    EXPECT_EQ(corio::run(observe_run(std::this_thread::get_id(), &seen)), 7);
    unsigned cores = std::thread::hardware_concurrency();
    EXPECT_EQ(seen.num_workers, cores == 0 ? 1u : cores);
    EXPECT_EQ(seen.tasks_on_the_main_thread, 0);
    if (seen.num_workers >= 2) {
        EXPECT_TRUE(seen.stolen);
        EXPECT_NE(seen.blocker, seen.stolen_task) << "two tasks running at once shared one thread";
    }
}

Task<void> count_on_workers(std::atomic<int>* ran) {
    std::vector<JoinHandle<int>> handles;
    for (int i = 0; i < 100; ++i) handles.push_back(spawn(value_after_yield(i)));
    for (JoinHandle<int>& h : handles) {
        co_await h;
        ran->fetch_add(1);
    }
}

TEST(MultiThreadRun, RunsAVoidMainTaskToTheEnd) {
    auto dog = watchdog();
    std::atomic<int> ran{0};
    corio::run(count_on_workers(&ran));
    EXPECT_EQ(ran.load(), 100);
}

}  // namespace
}  // namespace corio
