// Tests of the blocking pool (task::spawn_blocking, Handle/Runtime::spawn_blocking):
// results and exceptions through JoinHandle, the thread limit, thread
// retirement after the keep-alive, thread names and hooks, async tasks
// running on while blocking work runs, shutdown (queued tasks cancelled,
// running ones waited for up to the timeout, no longer), and the paused
// clock not jumping while blocking work runs.
//
// Blocking closures that must stay running wait on a Gate the test opens;
// every wait is bounded, by time::timeout on a real clock or by a Watchdog
// when the clock is paused.
#include <gtest/gtest.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <expected>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/watchdog.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;

// Generous: only reached when something is lost.
constexpr auto kBound = 10s;

/// A one-shot latch with a bounded wait, shared between a test and blocking closures.
class Gate {
public:
    void open() {
        {
            std::lock_guard lock(mutex_);
            open_ = true;
        }
        cv_.notify_all();
    }
    /// True once open; false if `limit` passed first.
    bool wait_for(std::chrono::milliseconds limit) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, limit, [&] { return open_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

/// `root` under time::timeout(kBound) on the runtime's clock.
template <class T>
Task<std::expected<T, time::Elapsed>> bounded(Task<T> root) {
    auto result = co_await time::timeout(kBound, std::move(root));
    co_return std::move(result);
}

Runtime real_runtime() { return Builder::new_current_thread().build(); }

// ---- results -------------------------------------------------------------------------

TEST(Blocking, SpawnBlockingReturnsTheClosuresValueFromAnotherThread) {
    Runtime rt = real_runtime();
    auto caller = std::this_thread::get_id();
    auto result = rt.block_on(bounded([]() -> Task<std::thread::id> {
        co_return co_await task::spawn_blocking([] { return std::this_thread::get_id(); });
    }()));
    ASSERT_TRUE(result.has_value());
    EXPECT_NE(*result, caller);
}

TEST(Blocking, SpawnBlockingHandsBackMoveOnlyValuesAndVoid) {
    Runtime rt = real_runtime();
    auto result = rt.block_on(bounded([]() -> Task<int> {
        // Named closures: GCC 12 miscompiles a capturing lambda written
        // inside a co_await expression (captures read garbage or are freed twice).
        auto hand_back = [b = std::make_unique<int>(41)]() mutable { return std::move(b); };
        std::unique_ptr<int> p = co_await task::spawn_blocking(std::move(hand_back));
        bool ran = false;
        auto set_ran = [&ran] { ran = true; };
        co_await task::spawn_blocking(set_ran);
        co_return *p + (ran ? 1 : 0);
    }()));
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(*result, 42);
}

TEST(Blocking, AnExceptionFromTheClosureIsRethrownByTheJoinHandle) {
    Runtime rt = real_runtime();
    auto result = rt.block_on(bounded([]() -> Task<std::string> {
        try {
            co_await task::spawn_blocking([]() -> int { throw std::runtime_error("boom"); });
        } catch (const std::runtime_error& e) {
            co_return std::string(e.what());
        }
        co_return std::string("no exception");
    }()));
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(*result, "boom");
}

TEST(Blocking, SpawnBlockingOutsideARuntimeThrowsLogicError) {
    EXPECT_THROW(task::spawn_blocking([] {}), std::logic_error);
}

TEST(Blocking, RuntimeAndHandleSpawnBlockingRunOnThePool) {
    Runtime rt = real_runtime();
    JoinHandle<int> from_runtime = rt.spawn_blocking([] { return 1; });
    Handle handle = rt.handle();
    JoinHandle<int> from_handle = handle.spawn_blocking([] { return 2; });
    auto result = rt.block_on(bounded([&]() -> Task<int> {
        int a = co_await std::move(from_runtime);
        int b = co_await std::move(from_handle);
        int c = co_await Handle::current().spawn_blocking([] { return 3; });
        co_return a + b + c;
    }()));
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(*result, 6);
}

Task<int> answer() { co_return 42; }

TEST(Blocking, AClosureRunsOutsideTheRuntimeButCanSpawnOntoItThroughACapturedHandle) {
    Runtime rt = real_runtime();
    auto result = rt.block_on(bounded([]() -> Task<int> {
        auto no_current = [] { return !Handle::try_current().has_value(); };
        EXPECT_TRUE(co_await task::spawn_blocking(no_current));
        auto spawn_from_pool = [h = Handle::current()]() mutable { return h.spawn(answer()); };
        JoinHandle<int> inner = co_await task::spawn_blocking(std::move(spawn_from_pool));
        co_return co_await std::move(inner);
    }()));
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(*result, 42);
}

// ---- threads ------------------------------------------------------------------------------

TEST(Blocking, SixtyFourTasksOnFourThreadsAllCompleteWithAtMostFourRunningAtOnce) {
    std::atomic<int> started_threads{0};
    Runtime rt = Builder::new_current_thread()
                     .max_blocking_threads(4)
                     .on_thread_start([&] { started_threads.fetch_add(1); })
                     .build();
    std::atomic<int> running{0};
    std::atomic<int> most_running{0};
    std::mutex ids_mutex;
    std::set<std::thread::id> ids;
    auto result = rt.block_on(bounded([&]() -> Task<long> {
        std::vector<JoinHandle<int>> handles;
        for (int i = 0; i < 64; ++i) {
            handles.push_back(task::spawn_blocking([&, i] {
                int now = running.fetch_add(1) + 1;
                int seen = most_running.load();
                while (now > seen && !most_running.compare_exchange_weak(seen, now)) {
                }
                {
                    std::lock_guard lock(ids_mutex);
                    ids.insert(std::this_thread::get_id());
                }
                std::this_thread::sleep_for(1ms);  // overlap, so the limit is actually exercised
                running.fetch_sub(1);
                return i;
            }));
        }
        long sum = 0;
        for (auto& h : handles) sum += co_await std::move(h);
        co_return sum;
    }()));
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(*result, 63 * 64 / 2);
    EXPECT_LE(most_running.load(), 4);
    EXPECT_GE(most_running.load(), 1);
    EXPECT_LE(ids.size(), 4u);
    EXPECT_LE(started_threads.load(), 4);
}

TEST(Blocking, IdleThreadsRetireAfterTheKeepAliveAndNewOnesStartOnDemand) {
    std::atomic<int> starts{0};
    std::atomic<int> stops{0};
    Runtime rt = Builder::new_current_thread()
                     .thread_keep_alive(20ms)
                     .on_thread_start([&] { starts.fetch_add(1); })
                     .on_thread_stop([&] { stops.fetch_add(1); })
                     .build();
    auto result = rt.block_on(bounded([&]() -> Task<void> {
        co_await task::spawn_blocking([] {});
        while (stops.load() < 1) co_await time::sleep(2ms);  // retires after 20 ms idle
        EXPECT_EQ(starts.load(), 1);
        co_await task::spawn_blocking([] {});  // no idle thread left: a new one starts
        EXPECT_EQ(starts.load(), 2);
    }()));
    ASSERT_TRUE(result.has_value());
}

TEST(Blocking, ThreadsCarryTheConfiguredNameAndRunTheStartAndStopHooks) {
    static thread_local bool hook_ran_here = false;
    std::atomic<int> stops{0};
    {
        Runtime rt = Builder::new_current_thread()
                         .thread_name("corio-blk-test")
                         .on_thread_start([] { hook_ran_here = true; })
                         .on_thread_stop([&] { stops.fetch_add(1); })
                         .build();
        auto result = rt.block_on(bounded([]() -> Task<std::pair<std::string, bool>> {
            co_return co_await task::spawn_blocking([] {
                char name[16] = {};
                ::pthread_getname_np(::pthread_self(), name, sizeof name);
                return std::pair<std::string, bool>(name, hook_ran_here);
            });
        }()));
        ASSERT_TRUE(result.has_value());
        EXPECT_EQ(result->first, "corio-blk-test");
        EXPECT_TRUE(result->second);
    }
    // Shutdown waited for the idle thread to exit, hook included.
    EXPECT_EQ(stops.load(), 1);
}

TEST(Blocking, ALongBlockingTaskDoesNotStallAsyncTasks) {
    Runtime rt = real_runtime();
    auto gate = std::make_shared<Gate>();
    auto result = rt.block_on(bounded([&]() -> Task<bool> {
        auto blocking = task::spawn_blocking([gate] { return gate->wait_for(kBound); });
        auto ticker = spawn([]() -> Task<int> {
            int ticks = 0;
            for (int i = 0; i < 5; ++i) {
                co_await time::sleep(1ms);
                ++ticks;
            }
            co_return ticks;
        }());
        int ticks = co_await std::move(ticker);  // completes while the blocking task still waits
        EXPECT_EQ(ticks, 5);
        EXPECT_FALSE(blocking.is_finished());
        gate->open();
        co_return co_await std::move(blocking);
    }()));
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(*result);
}

// ---- cancellation and shutdown ----------------------------------------------------------------

TEST(Blocking, AbortingAQueuedBlockingTaskCancelsItWithJoinError) {
    Runtime rt = Builder::new_current_thread().max_blocking_threads(1).build();
    auto gate = std::make_shared<Gate>();
    std::atomic<bool> queued_ran{false};
    auto result = rt.block_on(bounded([&]() -> Task<bool> {
        auto first = task::spawn_blocking([gate] { return gate->wait_for(kBound); });
        auto queued = task::spawn_blocking([&] { queued_ran = true; });  // waits: the one thread is taken
        queued.abort();
        gate->open();  // the thread, once free, drops the aborted task instead of running it
        bool first_ok = co_await std::move(first);
        bool cancelled = false;
        try {
            co_await std::move(queued);
        } catch (const JoinError&) {
            cancelled = true;
        }
        co_return cancelled&& first_ok;
    }()));
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(*result);
    EXPECT_FALSE(queued_ran.load());
}

TEST(Blocking, ShutdownTimeoutBoundsTheWaitForABlockingTaskThatRunsOn) {
    auto gate = std::make_shared<Gate>();
    auto started = std::make_shared<Gate>();
    auto finished = std::make_shared<std::atomic<bool>>(false);
    Runtime rt = real_runtime();
    rt.block_on([&]() -> Task<void> {
        // Detached: the closure would sleep 5 s unless the gate opens.
        task::spawn_blocking([gate, started, finished] {
            started->open();
            gate->wait_for(5s);
            finished->store(true);
        });
        co_return;
    }());
    ASSERT_TRUE(started->wait_for(kBound));

    auto begin = std::chrono::steady_clock::now();
    rt.shutdown_timeout(200ms);
    auto took = std::chrono::steady_clock::now() - begin;
    EXPECT_GE(took, 190ms);  // it did wait for the running task...
    EXPECT_LT(took, 700ms);  // ...but not for its 5 s
    EXPECT_FALSE(finished->load());
    gate->open();  // the detached thread now finishes on its own, after its runtime
}

TEST(Blocking, ShutdownWaitsForARunningBlockingTaskThatEndsWithinTheTimeout) {
    auto started = std::make_shared<Gate>();
    auto finished = std::make_shared<std::atomic<bool>>(false);
    Runtime rt = real_runtime();
    rt.block_on([&]() -> Task<void> {
        task::spawn_blocking([started, finished] {
            started->open();
            std::this_thread::sleep_for(50ms);
            finished->store(true);
        });
        co_return;
    }());
    ASSERT_TRUE(started->wait_for(kBound));
    rt.shutdown_timeout(kBound);
    EXPECT_TRUE(finished->load());
}

TEST(Blocking, AQueuedBlockingTaskThatNeverStartedGetsJoinErrorAtShutdown) {
    auto gate = std::make_shared<Gate>();
    auto started = std::make_shared<Gate>();
    std::atomic<bool> queued_ran{false};
    JoinHandle<int> queued;
    Runtime rt = Builder::new_current_thread().max_blocking_threads(1).build();
    rt.block_on([&]() -> Task<void> {
        task::spawn_blocking([gate, started] {
            started->open();
            gate->wait_for(kBound);
        });
        queued = task::spawn_blocking([&] {
            queued_ran = true;
            return 1;
        });
        co_return;
    }());
    ASSERT_TRUE(started->wait_for(kBound));
    rt.shutdown_timeout(50ms);
    gate->open();

    EXPECT_TRUE(queued.is_finished());
    Runtime other = real_runtime();
    EXPECT_THROW(other.block_on(std::move(queued)), JoinError);
    EXPECT_FALSE(queued_ran.load());
}

TEST(Blocking, SpawnBlockingThroughAHandleAfterShutdownIsCancelledAtOnce) {
    Runtime rt = real_runtime();
    Handle handle = rt.handle();
    rt.shutdown_timeout(1s);
    JoinHandle<int> late = handle.spawn_blocking([] { return 1; });
    EXPECT_TRUE(late.is_finished());
    Runtime other = real_runtime();
    EXPECT_THROW(other.block_on(std::move(late)), JoinError);
}

// ---- the paused clock ---------------------------------------------------------------------------

TEST(Blocking, APausedClockDoesNotAutoAdvanceWhileABlockingTaskRuns) {
    test::Watchdog watchdog("APausedClockDoesNotAutoAdvanceWhileABlockingTaskRuns");
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto result = rt.block_on([]() -> Task<std::expected<int, time::Elapsed>> {
        auto start = time::Instant::now();
        auto handle = task::spawn_blocking([] {
            std::this_thread::sleep_for(20ms);
            return 7;
        });
        // With nothing else to do, an uninhibited paused clock would jump 1 ms at once.
        auto r = co_await time::timeout(1ms, std::move(handle));
        EXPECT_EQ(time::Instant::now(), start);
        co_return r;
    }());
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(*result, 7);
}

TEST(Blocking, APausedClockAutoAdvancesAgainOnceBlockingWorkEnds) {
    test::Watchdog watchdog("APausedClockAutoAdvancesAgainOnceBlockingWorkEnds");
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto done = std::make_shared<std::atomic<bool>>(false);
    bool done_when_clock_jumped = rt.block_on([&]() -> Task<bool> {
        task::spawn_blocking([done] {  // detached: nobody joins it, its end must still unpark
            std::this_thread::sleep_for(10ms);
            done->store(true);
        });
        co_await time::sleep(1h);
        co_return done->load();
    }());
    EXPECT_TRUE(done_when_clock_jumped);
}

}  // namespace
}  // namespace corio
