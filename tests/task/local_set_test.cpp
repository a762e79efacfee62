// Tests of <corio/task/local_set.hpp>: LocalSet::run_until / wait / awaiting
// the set on current_thread and multi-thread runtimes, task::spawn_local
// inside and outside a set, local tasks staying on the driving thread (with
// unsynchronised state shared across awaits), wakes and spawns from other
// threads, JoinHandle / abort of local tasks, destroying a set with tasks in
// it, nesting, and the per-poll batch that keeps a busy set from starving
// its runtime.
//
// Every test is bounded: by time::timeout on the runtime's (real) clock, and
// where a lost wake-up could also stall that clock's timers, by a Watchdog.
#include "corio/task/local_set.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <expected>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/drop_counter.hpp"
#include "support/manual_future.hpp"
#include "support/simple_tasks.hpp"
#include "support/thread_safe_manual_future.hpp"
#include "support/watchdog.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using task::LocalSet;
using test::DropCounter;
using test::DropCounts;
using test::ManualFuture;
using test::ManualState;
using test::PendingForever;
using test::ThreadSafeManualFuture;
using test::ThreadSafeManualState;
using test::value_after_yield;
using test::value_task;
using test::Watchdog;

// Generous: only reached when a wake-up is lost.
constexpr auto kBound = 10s;

Runtime current_thread_runtime() { return Builder::new_current_thread().build(); }
Runtime multi_thread_runtime() { return Builder::new_multi_thread().worker_threads(2).build(); }

/// `fut` under time::timeout(kBound).
template <Future F>
Task<std::expected<output_of<F>, time::Elapsed>> bounded(F fut) {
    auto result = co_await time::timeout(kBound, std::move(fut));
    co_return std::move(result);
}

// ---- small tasks and futures --------------------------------------------------

Task<std::thread::id> thread_id_after_yield() {
    co_await task::yield_now();
    co_return std::this_thread::get_id();
}

Task<int> throw_after_yield(std::string message) {
    co_await task::yield_now();
    throw std::runtime_error(message);
}

Task<void> yield_times(int n) {
    for (int i = 0; i < n; ++i) co_await task::yield_now();
}

/// Keeps `guard` in its frame and finishes at once.
Task<void> hold([[maybe_unused]] DropCounter guard) { co_return; }

Task<void> sleep_holding(DropCounts* counts, time::Duration d) {
    DropCounter guard(*counts);
    co_await time::sleep(d);
}

Task<void> yield_forever_holding(DropCounts* counts) {
    DropCounter guard(*counts);
    for (;;) co_await task::yield_now();
}

Task<int> await_manual_holding(DropCounts* counts, std::shared_ptr<ManualState<int>> state) {
    DropCounter guard(*counts);
    int v = co_await ManualFuture<int>(state);
    co_return v;
}

/// True when awaiting `h` throws JoinError.
template <class T>
Task<bool> throws_join_error(JoinHandle<T> h) {
    try {
        co_await h;
    } catch (const JoinError&) {
        co_return true;
    }
    co_return false;
}

/// True when task::spawn_local throws std::logic_error here.
Task<bool> spawn_local_throws_logic_error() {
    try {
        JoinHandle<int> h = task::spawn_local(value_task(1));
    } catch (const std::logic_error&) {
        co_return true;
    }
    co_return false;
}

/// Unsynchronised state that checks every use happens on the thread that
/// created it: a stand-in for a type that must not cross threads.
class ThreadBound {
public:
    void touch() {
        EXPECT_EQ(std::this_thread::get_id(), owner_);
        ++uses_;  // plain increment: ThreadSanitizer reports it if two threads do this
    }
    int uses() const { return uses_; }

private:
    std::thread::id owner_ = std::this_thread::get_id();
    int uses_ = 0;
};

// ---- run_until ---------------------------------------------------------------

Task<int> sum_of_two_local_tasks() {
    JoinHandle<int> a = task::spawn_local(value_after_yield(20));
    JoinHandle<int> b = task::spawn_local(value_after_yield(22));
    int x = co_await a;
    int y = co_await b;
    co_return x + y;
}

TEST(LocalSet, RunUntilOnACurrentThreadRuntimeRunsLocalTasksAndReturnsTheFuturesOutput) {
    Runtime rt = current_thread_runtime();
    LocalSet set;
    auto out = rt.block_on(bounded(set.run_until(sum_of_two_local_tasks())));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, 42);
    EXPECT_EQ(set.len(), 0u);
}

TEST(LocalSet, RunUntilOnAMultiThreadRuntimeRunsLocalTasksAndReturnsTheFuturesOutput) {
    Runtime rt = multi_thread_runtime();
    LocalSet set;
    auto out = rt.block_on(bounded(set.run_until(sum_of_two_local_tasks())));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, 42);
}

TEST(LocalSet, TasksSpawnedOnTheSetBeforeItIsDrivenRunDuringRunUntil) {
    Runtime rt = current_thread_runtime();
    LocalSet set;
    JoinHandle<int> h = set.spawn_local(value_after_yield(7));
    EXPECT_EQ(set.len(), 1u);
    auto out = rt.block_on(bounded(set.run_until(std::move(h))));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, 7);
    EXPECT_EQ(set.len(), 0u);
}

TEST(LocalSet, RunUntilRethrowsTheFuturesExceptionAndTheSetStaysUsable) {
    Runtime rt = current_thread_runtime();
    LocalSet set;
    EXPECT_THROW(rt.block_on(set.run_until(throw_after_yield("boom"))), std::runtime_error);
    auto out = rt.block_on(bounded(set.run_until(sum_of_two_local_tasks())));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, 42);
}

Task<int> drive_a_set_inside_a_task() {
    LocalSet set;
    int v = co_await set.run_until(sum_of_two_local_tasks());
    co_return v;
}

Task<int> spawn_and_join_set_driver() {
    JoinHandle<int> h = spawn(drive_a_set_inside_a_task());
    int v = co_await h;
    co_return v;
}

TEST(LocalSet, RunUntilAwaitedInsideATaskOfACurrentThreadRuntimeWakesThatTaskWhenLocalTasksFinish) {
    Runtime rt = current_thread_runtime();
    auto out = rt.block_on(bounded(spawn_and_join_set_driver()));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, 42);
}

TEST(LocalSet, RunUntilAwaitedInsideATaskOfAMultiThreadRuntimeRunsTheLocalTasks) {
    Runtime rt = multi_thread_runtime();
    auto out = rt.block_on(bounded(spawn_and_join_set_driver()));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, 42);
}

// ---- staying on the driving thread ---------------------------------------------

/// Touches `state` (shared, unsynchronised) and records the thread, across
/// yields and timer sleeps.
Task<void> touch_across_awaits(std::shared_ptr<ThreadBound> state, std::vector<std::thread::id>* seen, int rounds) {
    for (int i = 0; i < rounds; ++i) {
        state->touch();
        seen->push_back(std::this_thread::get_id());
        co_await task::yield_now();
        co_await time::sleep(1ms);
    }
    state->touch();
    seen->push_back(std::this_thread::get_id());
}

/// Keeps the runtime's workers busy meanwhile, so local tasks would have
/// other threads to move to if anything let them.
Task<void> busy_runtime_task(int rounds) {
    for (int i = 0; i < rounds; ++i) co_await task::yield_now();
}

Task<int> spawn_local_tasks_sharing_state(std::vector<std::thread::id>* seen, int tasks, int rounds) {
    auto state = std::make_shared<ThreadBound>();
    std::vector<JoinHandle<void>> local;
    std::vector<JoinHandle<void>> remote;
    for (int i = 0; i < tasks; ++i) {
        local.push_back(task::spawn_local(touch_across_awaits(state, seen, rounds)));
        remote.push_back(spawn(busy_runtime_task(rounds * 10)));
    }
    for (auto& h : local) co_await h;
    for (auto& h : remote) co_await h;
    co_return state->uses();
}

TEST(LocalSet, OnAMultiThreadRuntimeEveryLocalTaskRunsOnTheDrivingThreadWithUnsynchronisedSharedState) {
    Watchdog watchdog("LocalSet on multi-thread keeps tasks on the driving thread");
    Runtime rt = multi_thread_runtime();
    LocalSet set;
    std::vector<std::thread::id> seen;
    constexpr int kTasks = 8;
    constexpr int kRounds = 5;
    auto out = rt.block_on(bounded(set.run_until(spawn_local_tasks_sharing_state(&seen, kTasks, kRounds))));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, kTasks * (kRounds + 1));
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(kTasks * (kRounds + 1)));
    for (std::thread::id id : seen) EXPECT_EQ(id, std::this_thread::get_id());
}

TEST(LocalSet, OnACurrentThreadRuntimeEveryLocalTaskRunsOnTheDrivingThread) {
    Runtime rt = current_thread_runtime();
    LocalSet set;
    std::vector<std::thread::id> seen;
    auto out = rt.block_on(bounded(set.run_until(spawn_local_tasks_sharing_state(&seen, 4, 3))));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, 4 * 4);
    for (std::thread::id id : seen) EXPECT_EQ(id, std::this_thread::get_id());
}

// ---- spawn_local outside a set ----------------------------------------------------

Task<bool> spawn_local_throws_in_a_worker() {
    JoinHandle<bool> h = spawn(spawn_local_throws_logic_error());
    bool threw = co_await h;
    co_return threw;
}

TEST(LocalSet, SpawnLocalOutsideALocalSetOnAMultiThreadRuntimeThrowsLogicError) {
    Runtime rt = multi_thread_runtime();
    auto in_root = rt.block_on(bounded(spawn_local_throws_logic_error()));
    ASSERT_TRUE(in_root.has_value());
    EXPECT_TRUE(*in_root);
    auto in_worker = rt.block_on(bounded(spawn_local_throws_in_a_worker()));
    ASSERT_TRUE(in_worker.has_value());
    EXPECT_TRUE(*in_worker);
}

TEST(LocalSet, SpawnLocalOutsideAnyRuntimeThrowsLogicError) {
    EXPECT_THROW(task::spawn_local(value_task(1)), std::logic_error);
}

Task<bool> spawn_local_on_the_runtime() {
    JoinHandle<std::thread::id> h = task::spawn_local(thread_id_after_yield());
    std::thread::id id = co_await h;
    co_return id == std::this_thread::get_id();
}

TEST(LocalSet, SpawnLocalOutsideALocalSetOnACurrentThreadRuntimeSpawnsOnThatRuntime) {
    Runtime rt = current_thread_runtime();
    auto out = rt.block_on(bounded(spawn_local_on_the_runtime()));
    ASSERT_TRUE(out.has_value());
    EXPECT_TRUE(*out);
    EXPECT_EQ(rt.handle().metrics().alive_tasks, 0u);
}

// ---- JoinHandle, abort, yield_now ---------------------------------------------------

Task<std::string> join_a_failing_local_task() {
    JoinHandle<int> h = task::spawn_local(throw_after_yield("local failure"));
    try {
        co_await h;
    } catch (const std::runtime_error& e) {
        co_return std::string(e.what());
    }
    co_return std::string("no exception");
}

TEST(LocalSet, JoinHandleOfALocalTaskRethrowsItsException) {
    Runtime rt = current_thread_runtime();
    LocalSet set;
    auto out = rt.block_on(bounded(set.run_until(join_a_failing_local_task())));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, "local failure");
}

Task<bool> abort_a_sleeping_local_task(DropCounts* counts) {
    JoinHandle<void> h = task::spawn_local(sleep_holding(counts, 1h));
    co_await task::yield_now();  // the local task starts and sleeps
    EXPECT_EQ(counts->alive(), 1);
    h.abort();
    bool cancelled = co_await throws_join_error(std::move(h));
    co_return cancelled;
}

TEST(LocalSet, AbortOfALocalTaskThrowsJoinErrorAndRunsItsDestructors) {
    Runtime rt = current_thread_runtime();
    LocalSet set;
    DropCounts counts;
    auto out = rt.block_on(bounded(set.run_until(abort_a_sleeping_local_task(&counts))));
    ASSERT_TRUE(out.has_value());
    EXPECT_TRUE(*out);
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_EQ(set.len(), 0u);
}

Task<bool> abort_a_yielding_local_task_from_another_thread(DropCounts* counts) {
    JoinHandle<void> h = task::spawn_local(yield_forever_holding(counts));
    co_await task::yield_now();
    std::thread aborter([handle = h.abort_handle()] { handle.abort(); });
    bool cancelled = co_await throws_join_error(std::move(h));
    aborter.join();
    co_return cancelled;
}

TEST(LocalSet, AbortFromAnotherThreadCancelsAYieldingLocalTask) {
    Runtime rt = multi_thread_runtime();
    LocalSet set;
    DropCounts counts;
    auto out = rt.block_on(bounded(set.run_until(abort_a_yielding_local_task_from_another_thread(&counts))));
    ASSERT_TRUE(out.has_value());
    EXPECT_TRUE(*out);
    EXPECT_EQ(counts.alive(), 0);
}

Task<void> append_with_yields(std::string* out, char c, int n) {
    for (int i = 0; i < n; ++i) {
        out->push_back(c);
        co_await task::yield_now();
    }
}

Task<std::string> interleave_two_local_tasks() {
    std::string out;
    JoinHandle<void> a = task::spawn_local(append_with_yields(&out, 'a', 3));
    JoinHandle<void> b = task::spawn_local(append_with_yields(&out, 'b', 3));
    co_await a;
    co_await b;
    co_return out;
}

TEST(LocalSet, YieldNowInsideALocalTaskLetsTheOtherLocalTasksRunInBetween) {
    Runtime rt = current_thread_runtime();
    LocalSet set;
    auto out = rt.block_on(bounded(set.run_until(interleave_two_local_tasks())));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, "ababab");
}

// ---- other threads ---------------------------------------------------------------

Task<int> await_remote_value(std::shared_ptr<ThreadSafeManualState<int>> state, std::thread::id* ran_on) {
    int v = co_await ThreadSafeManualFuture<int>(state);
    *ran_on = std::this_thread::get_id();
    co_return v;
}

Task<int> join_a_remotely_woken_local_task(std::shared_ptr<ThreadSafeManualState<int>> state, std::thread::id* ran_on) {
    JoinHandle<int> h = task::spawn_local(await_remote_value(std::move(state), ran_on));
    int v = co_await h;
    co_return v;
}

void check_remote_wake_runs_on_the_driving_thread(Runtime& rt) {
    LocalSet set;
    auto state = std::make_shared<ThreadSafeManualState<int>>();
    std::thread::id ran_on;
    std::thread waker([state] {
        if (state->wait_for_pending_poll()) state->complete(5);
    });
    auto out = rt.block_on(bounded(set.run_until(join_a_remotely_woken_local_task(state, &ran_on))));
    waker.join();
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, 5);
    EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(LocalSet, ALocalTaskWokenFromAnotherThreadRunsOnTheDrivingThreadOfAMultiThreadRuntime) {
    Watchdog watchdog("LocalSet remote wake on multi-thread");
    Runtime rt = multi_thread_runtime();
    check_remote_wake_runs_on_the_driving_thread(rt);
}

TEST(LocalSet, ALocalTaskWokenFromAnotherThreadRunsOnTheDrivingThreadOfACurrentThreadRuntime) {
    Watchdog watchdog("LocalSet remote wake on current_thread");
    Runtime rt = current_thread_runtime();
    check_remote_wake_runs_on_the_driving_thread(rt);
}

Task<void> complete_after_yield(std::shared_ptr<ManualState<int>> state, int v) {
    co_await task::yield_now();
    state->complete(v);
}

Task<int> join_a_local_task_woken_by_a_runtime_task() {
    auto state = std::make_shared<ManualState<int>>();
    DropCounts counts;
    JoinHandle<int> local = task::spawn_local(await_manual_holding(&counts, state));
    JoinHandle<void> waker = spawn(complete_after_yield(state, 9));
    int v = co_await local;
    co_await waker;
    co_return v;
}

// The wake comes from the driving thread, but while the set is not being
// driven (inside a task of the runtime): it must still reach the set.
TEST(LocalSet, ALocalTaskWokenByARuntimeTaskOnTheSameThreadRuns) {
    Watchdog watchdog("LocalSet wake from a runtime task");
    Runtime rt = current_thread_runtime();
    LocalSet set;
    auto out = rt.block_on(bounded(set.run_until(join_a_local_task_woken_by_a_runtime_task())));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, 9);
}

Task<std::thread::id> join_a_remotely_spawned_local_task(
    std::shared_ptr<ThreadSafeManualState<JoinHandle<std::thread::id>>> state) {
    JoinHandle<std::thread::id> h = co_await ThreadSafeManualFuture<JoinHandle<std::thread::id>>(state);
    std::thread::id id = co_await h;
    co_return id;
}

TEST(LocalSet, SpawnLocalFromAnotherThreadRunsTheTaskOnTheDrivingThread) {
    Watchdog watchdog("LocalSet spawn from another thread");
    Runtime rt = multi_thread_runtime();
    LocalSet set;
    auto state = std::make_shared<ThreadSafeManualState<JoinHandle<std::thread::id>>>();
    std::thread spawner([&set, state] {
        if (state->wait_for_pending_poll()) state->complete(set.spawn_local(thread_id_after_yield()));
    });
    auto out = rt.block_on(bounded(set.run_until(join_a_remotely_spawned_local_task(state))));
    spawner.join();
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, std::this_thread::get_id());
}

// ---- waiting for the whole set ---------------------------------------------------

Task<void> sleep_then_count(time::Duration d, int* done) {
    co_await time::sleep(d);
    ++*done;
}

/// Spawns a grandchild local task, so the set must also wait for tasks spawned late.
Task<void> spawn_a_grandchild(int* done) {
    co_await task::yield_now();
    JoinHandle<void> detached = task::spawn_local(sleep_then_count(5ms, done));
    ++*done;
}

TEST(LocalSet, WaitDrivesTheSetUntilAllItsTasksHaveFinished) {
    Runtime rt = current_thread_runtime();
    LocalSet set;
    int done = 0;
    JoinHandle<void> a = set.spawn_local(sleep_then_count(1ms, &done));
    JoinHandle<void> b = set.spawn_local(sleep_then_count(3ms, &done));
    JoinHandle<void> c = set.spawn_local(spawn_a_grandchild(&done));
    EXPECT_EQ(set.len(), 3u);
    auto out = rt.block_on(bounded(set.wait()));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(done, 4);
    EXPECT_EQ(set.len(), 0u);
    EXPECT_TRUE(a.is_finished() && b.is_finished() && c.is_finished());
}

Task<void> await_the_set(LocalSet* set) { co_await *set; }

TEST(LocalSet, AwaitingTheSetItselfWaitsForAllItsTasksOnAMultiThreadRuntime) {
    Runtime rt = multi_thread_runtime();
    LocalSet set;
    int done = 0;
    JoinHandle<void> a = set.spawn_local(sleep_then_count(2ms, &done));
    JoinHandle<void> b = set.spawn_local(spawn_a_grandchild(&done));
    auto out = rt.block_on(bounded(await_the_set(&set)));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(done, 3);
    EXPECT_EQ(set.len(), 0u);
}

TEST(LocalSet, WaitOnAnEmptySetCompletesAtOnce) {
    Runtime rt = current_thread_runtime();
    LocalSet set;
    auto out = rt.block_on(bounded(set.wait()));
    EXPECT_TRUE(out.has_value());
}

// ---- destroying the set ----------------------------------------------------------

TEST(LocalSet, DestroyingItDestroysEveryUnfinishedTaskAndTheirJoinHandlesThrowJoinError) {
    Runtime rt = current_thread_runtime();
    DropCounts counts;
    auto state = std::make_shared<ManualState<int>>();
    JoinHandle<void> sleeper;
    JoinHandle<void> yielder;
    JoinHandle<int> waiter;
    JoinHandle<void> never_polled;
    {
        LocalSet set;
        sleeper = set.spawn_local(sleep_holding(&counts, 1h));
        yielder = set.spawn_local(yield_forever_holding(&counts));
        waiter = set.spawn_local(await_manual_holding(&counts, state));
        auto started = rt.block_on(bounded(set.run_until(yield_times(3))));
        ASSERT_TRUE(started.has_value());
        EXPECT_EQ(counts.alive(), 3);
        never_polled = set.spawn_local(hold(DropCounter(counts)));
        EXPECT_EQ(counts.alive(), 4);
        EXPECT_EQ(set.len(), 4u);
    }
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_TRUE(sleeper.is_finished());
    EXPECT_TRUE(rt.block_on(throws_join_error(std::move(sleeper))));
    EXPECT_TRUE(rt.block_on(throws_join_error(std::move(yielder))));
    EXPECT_TRUE(rt.block_on(throws_join_error(std::move(waiter))));
    EXPECT_TRUE(rt.block_on(throws_join_error(std::move(never_polled))));
}

/// Spawns a local task from its destructor, while its set is being destroyed.
class SpawnOnDestroy {
public:
    SpawnOnDestroy(DropCounts* counts, std::optional<JoinHandle<void>>* out) : counts_(counts), out_(out) {}
    SpawnOnDestroy(const SpawnOnDestroy&) = delete;
    SpawnOnDestroy& operator=(const SpawnOnDestroy&) = delete;
    ~SpawnOnDestroy() { out_->emplace(task::spawn_local(hold(DropCounter(*counts_)))); }

private:
    DropCounts* counts_;
    std::optional<JoinHandle<void>>* out_;
};

Task<void> spawn_when_destroyed(DropCounts* counts, std::optional<JoinHandle<void>>* out) {
    SpawnOnDestroy guard(counts, out);
    co_await PendingForever{};
}

TEST(LocalSet, TasksSpawnedByDestructorsWhileTheSetIsDestroyedAreCancelledAtOnce) {
    Runtime rt = current_thread_runtime();
    DropCounts counts;
    std::optional<JoinHandle<void>> spawned_late;
    {
        LocalSet set;
        JoinHandle<void> h = set.spawn_local(spawn_when_destroyed(&counts, &spawned_late));
        auto started = rt.block_on(bounded(set.run_until(yield_times(2))));
        ASSERT_TRUE(started.has_value());
    }
    ASSERT_TRUE(spawned_late.has_value());
    EXPECT_TRUE(spawned_late->is_finished());
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_TRUE(rt.block_on(throws_join_error(std::move(*spawned_late))));
}

Task<bool> spawn_local_onto_the_destroyed_set(DropCounts* counts) {
    JoinHandle<void> h = task::spawn_local(hold(DropCounter(*counts)));
    EXPECT_TRUE(h.is_finished());
    bool cancelled = co_await throws_join_error(std::move(h));
    co_return cancelled;
}

TEST(LocalSet, ARunUntilFutureOutlivingItsSetCancelsWhatItSpawnsAtOnce) {
    Runtime rt = current_thread_runtime();
    DropCounts counts;
    auto set = std::make_unique<LocalSet>();
    auto fut = set->run_until(spawn_local_onto_the_destroyed_set(&counts));
    set.reset();
    auto out = rt.block_on(bounded(std::move(fut)));
    ASSERT_TRUE(out.has_value());
    EXPECT_TRUE(*out);
    EXPECT_EQ(counts.alive(), 0);
}

TEST(LocalSet, MoveAssigningOverASetDestroysItsTasks) {
    DropCounts counts;
    LocalSet set;
    JoinHandle<void> h = set.spawn_local(hold(DropCounter(counts)));
    EXPECT_EQ(counts.alive(), 1);
    set = LocalSet();
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_TRUE(h.is_finished());
    EXPECT_EQ(set.len(), 0u);
}

// ---- misuse and nesting ------------------------------------------------------------

Task<bool> drive_own_set(LocalSet* set) {
    try {
        co_await set->wait();
    } catch (const std::logic_error&) {
        co_return true;
    }
    co_return false;
}

Task<bool> join_a_task_driving_its_own_set(LocalSet* set) {
    JoinHandle<bool> h = task::spawn_local(drive_own_set(set));
    bool threw = co_await h;
    co_return threw;
}

TEST(LocalSet, DrivingASetFromInsideOneOfItsOwnTasksThrowsLogicError) {
    Runtime rt = current_thread_runtime();
    LocalSet set;
    auto out = rt.block_on(bounded(set.run_until(join_a_task_driving_its_own_set(&set))));
    ASSERT_TRUE(out.has_value());
    EXPECT_TRUE(*out);
}

Task<void> spawn_into_the_inner_set(LocalSet* inner, LocalSet* outer) {
    JoinHandle<int> h = task::spawn_local(value_after_yield(1));
    EXPECT_EQ(inner->len(), 1u);
    EXPECT_EQ(outer->len(), 1u);  // only the task driving the inner set
    co_await h;
}

Task<void> drive_an_inner_set(LocalSet* outer) {
    LocalSet inner;
    co_await inner.run_until(spawn_into_the_inner_set(&inner, outer));
    JoinHandle<int> h = task::spawn_local(value_after_yield(2));  // the outer set again
    EXPECT_EQ(outer->len(), 2u);
    EXPECT_EQ(inner.len(), 0u);
    co_await h;
}

Task<void> nest_sets(LocalSet* outer) {
    JoinHandle<void> h = task::spawn_local(drive_an_inner_set(outer));
    co_await h;
}

TEST(LocalSet, SpawnLocalGoesToTheInnermostSetBeingDrivenAndBackToTheOuterOneAfterwards) {
    Runtime rt = current_thread_runtime();
    LocalSet outer;
    auto out = rt.block_on(bounded(outer.run_until(nest_sets(&outer))));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(outer.len(), 0u);
}

// ---- fairness -----------------------------------------------------------------------

Task<void> spin_until(const bool* stop, long* spins) {
    while (!*stop) {
        ++*spins;
        co_await task::yield_now();
    }
}

Task<int> count_yields(int n) {
    int i = 0;
    for (; i < n; ++i) co_await task::yield_now();
    co_return i;
}

/// Keeps two local tasks busy for ever (they always have work) until a task
/// of the runtime, outside the set, has made 1000 steps.
Task<long> busy_set_beside_a_runtime_task() {
    bool stop = false;
    long spins = 0;
    JoinHandle<void> a = task::spawn_local(spin_until(&stop, &spins));
    JoinHandle<void> b = task::spawn_local(spin_until(&stop, &spins));
    JoinHandle<int> other = spawn(count_yields(1000));
    int steps = co_await other;
    EXPECT_EQ(steps, 1000);
    stop = true;
    co_await a;
    co_await b;
    co_return spins;
}

TEST(LocalSet, ABusySetDrivenByBlockOnDoesNotStarveTheRuntimesOtherTasks) {
    Watchdog watchdog("busy LocalSet starves block_on's runtime");
    Runtime rt = current_thread_runtime();
    LocalSet set;
    auto out = rt.block_on(bounded(set.run_until(busy_set_beside_a_runtime_task())));
    ASSERT_TRUE(out.has_value());
    EXPECT_GT(*out, 0);
}

Task<long> drive_a_busy_set() {
    LocalSet set;
    long spins = co_await set.run_until(busy_set_beside_a_runtime_task());
    co_return spins;
}

Task<long> spawn_a_busy_set_driver() {
    JoinHandle<long> h = spawn(drive_a_busy_set());
    long spins = co_await h;
    co_return spins;
}

TEST(LocalSet, ABusySetDrivenByATaskDoesNotStarveItsSiblingTasks) {
    Watchdog watchdog("busy LocalSet starves its sibling tasks");
    Runtime rt = current_thread_runtime();
    auto out = rt.block_on(bounded(spawn_a_busy_set_driver()));
    ASSERT_TRUE(out.has_value());
    EXPECT_GT(*out, 0);
}

}  // namespace
}  // namespace corio
