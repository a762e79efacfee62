// Tests of <corio/task/join_set.hpp>: join_next in completion order, empty
// sets, failures and aborts reported per task, abort_all, shutdown,
// destroying the set (tasks aborted and destroyed, nothing left behind when
// tasks finish afterwards), try_join_next, len, detach_all, moving, a
// join_next dropped mid-wait, and ten thousand tasks joined exactly once.
//
// Most tests run on a current_thread runtime and on a four-worker
// multi-thread runtime. Every test is bounded by time::timeout on the
// runtime's clock; the ones that block workers on purpose spin with a limit.
#include "corio/task/join_set.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/async_latch.hpp"
#include "support/drop_counter.hpp"
#include "support/manual_future.hpp"
#include "support/poll.hpp"
#include "support/runtime_flavors.hpp"
#include "support/simple_tasks.hpp"
#include "support/spin_until.hpp"
#include "support/thread_safe_manual_future.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using task::JoinResult;
using task::JoinSet;
using test::AsyncLatch;
using test::bounded;
using test::DropCounter;
using test::DropCounts;
using test::ManualFuture;
using test::ManualState;
using test::PendingForever;
using test::spin_until;
using test::ThreadSafeManualFuture;
using test::ThreadSafeManualState;
using test::value_after_yield;
using test::value_task;
using State = ThreadSafeManualState<int>;

// Generous: only reached when a wake-up is lost.
constexpr auto kBound = 10s;

/// The message of the exception in `error`, or "" for a non-std exception.
std::string message_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "";
    }
}

// ---- small tasks --------------------------------------------------------------

Task<int> value_after_sleep(int v, std::chrono::milliseconds d) {
    co_await time::sleep(d);
    co_return v;
}

Task<int> throw_after_yield(std::string message) {
    co_await task::yield_now();
    throw std::runtime_error(message);
}

Task<int> await_state(std::shared_ptr<State> state) {
    int v = co_await ThreadSafeManualFuture<int>(std::move(state));
    co_return v;
}

Task<int> await_manual(std::shared_ptr<ManualState<int>> state) {
    int v = co_await ManualFuture<int>(std::move(state));
    co_return v;
}

/// Parks forever with a DropCounter alive in its frame.
Task<int> pending_holding([[maybe_unused]] DropCounter guard) {
    PendingForever never;
    co_await never;
    co_return 0;
}

Task<void> void_after_yield(int* runs) {
    co_await task::yield_now();
    ++*runs;
}

/// Yields until `done()` holds (bounded by the caller's timeout and by a count).
template <class Pred>
Task<bool> yield_until(Pred done) {
    for (int i = 0; i < 10'000'000; ++i) {
        if (done()) co_return true;
        co_await task::yield_now();
    }
    co_return false;
}

// ---- both runtime flavours --------------------------------------------------------

class JoinSetOnRuntime : public test::RuntimeFlavorTest {};

INSTANTIATE_TEST_SUITE_P(Flavors, JoinSetOnRuntime, test::all_flavors(), test::flavor_name_with_workers);

Task<std::vector<int>> complete_one_at_a_time_and_join() {
    JoinSet<int> set;
    std::vector<std::shared_ptr<State>> states;
    for (int i = 0; i < 4; ++i) {
        states.push_back(std::make_shared<State>());
        static_cast<void>(set.spawn(await_state(states.back())));
    }
    std::vector<int> order;
    for (int i : {2, 0, 3, 1}) {
        states[static_cast<std::size_t>(i)]->complete(i * 10);
        auto result = co_await set.join_next();
        if (result && result->has_value()) order.push_back(**result);
    }
    auto last = co_await set.join_next();
    if (last) order.push_back(-1);  // must be nullopt
    co_return order;
}

TEST_P(JoinSetOnRuntime, JoinNextYieldsEachTaskAsItFinishes) {
    Runtime rt = build();
    auto order = rt.block_on(bounded(complete_one_at_a_time_and_join(), kBound));
    ASSERT_TRUE(order.has_value());
    EXPECT_EQ(*order, (std::vector<int>{20, 0, 30, 10}));
}

Task<bool> join_next_on_empty_sets() {
    JoinSet<int> fresh;
    auto a = co_await fresh.join_next();
    JoinSet<int> used;
    static_cast<void>(used.spawn(value_task(1)));
    auto b = co_await used.join_next();
    auto c = co_await used.join_next();
    co_return !a.has_value() && b.has_value() && !c.has_value() && used.is_empty();
}

TEST_P(JoinSetOnRuntime, JoinNextYieldsNulloptOnceTheSetIsEmpty) {
    Runtime rt = build();
    auto ok = rt.block_on(bounded(join_next_on_empty_sets(), kBound));
    ASSERT_TRUE(ok.has_value());
    EXPECT_TRUE(*ok);
}

struct Tally {
    int value_sum = 0;
    int values = 0;
    int cancelled = 0;
    int failed = 0;
    std::vector<std::string> messages;
};

Task<Tally> join_all_into_tally(JoinSet<int>* set) {
    Tally tally;
    for (;;) {
        auto result = co_await set->join_next();
        if (!result) break;
        if (result->has_value()) {
            tally.value_sum += **result;
            ++tally.values;
        } else if (task::is_cancelled(*result)) {
            ++tally.cancelled;
        } else {
            ++tally.failed;
            tally.messages.push_back(message_of(result->error()));
        }
    }
    co_return tally;
}

Task<Tally> values_failures_and_an_abort(DropCounts* counts) {
    JoinSet<int> set;
    static_cast<void>(set.spawn(value_after_yield(1)));
    static_cast<void>(set.spawn(throw_after_yield("boom")));
    AbortHandle parked = set.spawn(pending_holding(DropCounter(*counts)));
    static_cast<void>(set.spawn(value_task(2)));
    static_cast<void>(set.spawn(throw_after_yield("bang")));
    parked.abort();
    Tally tally = co_await join_all_into_tally(&set);
    static_cast<void>(set.spawn(value_task(40)));  // the set goes on after failures
    auto more = co_await set.join_next();
    if (more && more->has_value()) tally.value_sum += **more;
    co_return tally;
}

TEST_P(JoinSetOnRuntime, FailuresAndAbortsAreReportedPerTaskAndTheSetGoesOn) {
    DropCounts counts;
    Runtime rt = build();
    auto tally = rt.block_on(bounded(values_failures_and_an_abort(&counts), kBound));
    ASSERT_TRUE(tally.has_value());
    EXPECT_EQ(tally->values, 2);
    EXPECT_EQ(tally->value_sum, 43);
    EXPECT_EQ(tally->cancelled, 1);
    EXPECT_EQ(tally->failed, 2);
    std::sort(tally->messages.begin(), tally->messages.end());
    EXPECT_EQ(tally->messages, (std::vector<std::string>{"bang", "boom"}));
    EXPECT_EQ(counts.alive(), 0);
}

Task<Tally> abort_all_then_join(DropCounts* counts, int n) {
    JoinSet<int> set;
    for (int i = 0; i < n; ++i) static_cast<void>(set.spawn(pending_holding(DropCounter(*counts))));
    co_await task::yield_now();  // some of them start and park
    set.abort_all();
    co_return co_await join_all_into_tally(&set);
}

TEST_P(JoinSetOnRuntime, AbortAllThenJoinNextReportsEveryTaskAsCancelled) {
    DropCounts counts;
    Runtime rt = build();
    auto tally = rt.block_on(bounded(abort_all_then_join(&counts, 64), kBound));
    ASSERT_TRUE(tally.has_value());
    EXPECT_EQ(tally->cancelled, 64);
    EXPECT_EQ(tally->values, 0);
    EXPECT_EQ(tally->failed, 0);
    EXPECT_EQ(counts.constructed.load(), 64);
    EXPECT_EQ(counts.alive(), 0);
}

struct ShutdownOutcome {
    int alive_after = -1;
    bool empty_after = false;
    int live_task_runs = 0;
};

Task<ShutdownOutcome> shutdown_and_check(DropCounts* counts, int n) {
    JoinSet<int> set;
    for (int i = 0; i < n; ++i) static_cast<void>(set.spawn(pending_holding(DropCounter(*counts))));
    static_cast<void>(set.spawn(value_after_yield(1)));
    co_await set.shutdown();
    ShutdownOutcome outcome;
    outcome.alive_after = counts->alive();
    outcome.empty_after = set.is_empty() && set.len() == 0;
    co_return outcome;
}

TEST_P(JoinSetOnRuntime, ShutdownAbortsEveryTaskAndWaitsUntilAllHaveFinished) {
    DropCounts counts;
    Runtime rt = build();
    auto outcome = rt.block_on(bounded(shutdown_and_check(&counts, 32), kBound));
    ASSERT_TRUE(outcome.has_value());
    EXPECT_EQ(outcome->alive_after, 0);
    EXPECT_TRUE(outcome->empty_after);
    EXPECT_EQ(counts.constructed.load(), 32);
}

Task<bool> destroy_set_then_wait_for_drops(DropCounts* counts, int n) {
    {
        JoinSet<int> set;
        for (int i = 0; i < n; ++i) static_cast<void>(set.spawn(pending_holding(DropCounter(*counts))));
        co_await task::yield_now();
    }
    // Aborted tasks are destroyed at their next scheduling point.
    auto all_dropped = [counts] { return counts->alive() == 0; };
    co_return co_await yield_until(all_dropped);
}

TEST_P(JoinSetOnRuntime, DestroyingTheSetAbortsItsTasksAndRunsTheirDestructors) {
    DropCounts counts;
    Runtime rt = build();
    auto done = rt.block_on(bounded(destroy_set_then_wait_for_drops(&counts, 100), kBound));
    ASSERT_TRUE(done.has_value());
    EXPECT_TRUE(*done);
    EXPECT_EQ(counts.constructed.load(), 100);
    EXPECT_EQ(counts.alive(), 0);
}

Task<std::size_t> join_ten_thousand(std::vector<int>* seen) {
    constexpr int kTasks = 10'000;
    JoinSet<int> set;
    for (int i = 0; i < kTasks; ++i) {
        if (i % 2 == 0) {
            static_cast<void>(set.spawn(value_after_yield(i)));
        } else {
            static_cast<void>(set.spawn(value_task(i)));
        }
    }
    std::size_t joined = 0;
    for (;;) {
        auto result = co_await set.join_next();
        if (!result) break;
        ++joined;
        if (result->has_value()) ++(*seen)[static_cast<std::size_t>(**result)];
    }
    co_return joined;
}

TEST_P(JoinSetOnRuntime, TenThousandTasksAreEachJoinedExactlyOnce) {
    std::vector<int> seen(10'000, 0);
    Runtime rt = build();
    auto joined = rt.block_on(bounded(join_ten_thousand(&seen), kBound));
    ASSERT_TRUE(joined.has_value());
    EXPECT_EQ(*joined, 10'000u);
    int wrong = 0;
    for (int n : seen) wrong += n != 1;
    EXPECT_EQ(wrong, 0);
}

struct TryOutcome {
    bool ready_before = true;
    std::size_t len_before = 0;
    std::optional<int> value;
    std::size_t len_after = 1;
    bool ready_after_empty = true;
};

Task<TryOutcome> try_join_without_waiting() {
    TryOutcome outcome;
    JoinSet<int> set;
    auto state = std::make_shared<State>();
    static_cast<void>(set.spawn(await_state(state)));
    outcome.ready_before = set.try_join_next().has_value();
    outcome.len_before = set.len();
    state->complete(7);
    std::optional<JoinResult<int>> got;
    for (int i = 0; i < 10'000'000 && !got; ++i) {
        co_await task::yield_now();
        got = set.try_join_next();
    }
    if (got && got->has_value()) outcome.value = **got;
    outcome.len_after = set.len();
    outcome.ready_after_empty = set.try_join_next().has_value();
    co_return outcome;
}

TEST_P(JoinSetOnRuntime, TryJoinNextTakesOnlyFinishedTasksAndNeverWaits) {
    Runtime rt = build();
    auto outcome = rt.block_on(bounded(try_join_without_waiting(), kBound));
    ASSERT_TRUE(outcome.has_value());
    EXPECT_FALSE(outcome->ready_before);
    EXPECT_EQ(outcome->len_before, 1u);
    EXPECT_EQ(outcome->value, 7);
    EXPECT_EQ(outcome->len_after, 0u);
    EXPECT_FALSE(outcome->ready_after_empty);
}

struct DroppedJoinOutcome {
    bool first_timed_out = false;
    std::optional<int> value;
    bool empty_after = false;
};

Task<DroppedJoinOutcome> drop_join_next_mid_wait() {
    DroppedJoinOutcome outcome;
    JoinSet<int> set;
    auto state = std::make_shared<State>();
    static_cast<void>(set.spawn(await_state(state)));
    auto first = co_await time::timeout(20ms, set.join_next());  // dropped while pending
    outcome.first_timed_out = !first.has_value();
    state->complete(5);
    auto second = co_await set.join_next();
    if (second && second->has_value()) outcome.value = **second;
    outcome.empty_after = set.is_empty();
    co_return outcome;
}

TEST_P(JoinSetOnRuntime, AJoinNextDroppedMidWaitLosesNoResult) {
    Runtime rt = build();
    auto outcome = rt.block_on(bounded(drop_join_next_mid_wait(), kBound));
    ASSERT_TRUE(outcome.has_value());
    EXPECT_TRUE(outcome->first_timed_out);
    EXPECT_EQ(outcome->value, 5);
    EXPECT_TRUE(outcome->empty_after);
}

Task<int> await_state_then_count_down(std::shared_ptr<State> state, AsyncLatch* latch) {
    int v = co_await ThreadSafeManualFuture<int>(std::move(state));
    latch->count_down();
    co_return v;
}

struct DetachOutcome {
    std::size_t len_after_detach = 1;
    bool nothing_to_join = false;
};

Task<DetachOutcome> detach_all_and_let_them_finish(AsyncLatch* latch) {
    DetachOutcome outcome;
    JoinSet<int> set;
    std::vector<std::shared_ptr<State>> states;
    for (int i = 0; i < 8; ++i) {
        states.push_back(std::make_shared<State>());
        static_cast<void>(set.spawn(await_state_then_count_down(states.back(), latch)));
    }
    states[0]->complete(0);  // may finish before or after detach_all
    set.detach_all();
    outcome.len_after_detach = set.len();
    auto none = co_await set.join_next();
    outcome.nothing_to_join = !none.has_value();
    for (std::size_t i = 1; i < states.size(); ++i) states[i]->complete(static_cast<int>(i));
    co_await latch->wait();  // the detached tasks ran on to the end
    co_return outcome;
}

TEST_P(JoinSetOnRuntime, DetachAllEmptiesTheSetAndTheTasksRunOn) {
    AsyncLatch latch(8);
    Runtime rt = build();
    auto outcome = rt.block_on(bounded(detach_all_and_let_them_finish(&latch), kBound));
    ASSERT_TRUE(outcome.has_value());
    EXPECT_EQ(outcome->len_after_detach, 0u);
    EXPECT_TRUE(outcome->nothing_to_join);
    EXPECT_EQ(latch.remaining(), 0);
}

Task<std::vector<int>> move_sets_around(DropCounts* counts) {
    std::vector<int> out;
    JoinSet<int> a;
    static_cast<void>(a.spawn(value_after_yield(1)));
    JoinSet<int> b = std::move(a);
    out.push_back(static_cast<int>(a.len()));
    out.push_back(static_cast<int>(b.len()));
    JoinSet<int> c;
    static_cast<void>(c.spawn(pending_holding(DropCounter(*counts))));
    c = std::move(b);  // aborts c's own task
    auto r = co_await c.join_next();
    if (r && r->has_value()) out.push_back(**r);
    auto none_in_a = co_await a.join_next();
    out.push_back(none_in_a.has_value() ? 1 : 0);
    co_return out;
}

TEST_P(JoinSetOnRuntime, MovingASetCarriesItsTasksAndMoveAssignmentAbortsTheOldOnes) {
    DropCounts counts;
    Runtime rt = build();
    auto out = rt.block_on(bounded(move_sets_around(&counts), kBound));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, (std::vector<int>{0, 1, 1, 0}));
    rt.block_on(bounded(yield_until([&counts] { return counts.alive() == 0; }), kBound));
    EXPECT_EQ(counts.alive(), 0);
}

Task<int> join_void_tasks(int* runs) {
    JoinSet<void> set;
    for (int i = 0; i < 5; ++i) static_cast<void>(set.spawn(void_after_yield(runs)));
    int ok = 0;
    for (;;) {
        auto r = co_await set.join_next();
        if (!r) break;
        if (r->has_value()) ++ok;
    }
    co_return ok;
}

TEST(JoinSet, ASetOfVoidTasksReportsEachAsAMonostateValue) {
    int runs = 0;
    Runtime rt = Builder::new_current_thread().build();
    auto ok = rt.block_on(bounded(join_void_tasks(&runs), kBound));
    ASSERT_TRUE(ok.has_value());
    EXPECT_EQ(*ok, 5);
    EXPECT_EQ(runs, 5);
}

// ---- current_thread only: ordering under the paused clock, polling ----------------

Task<std::vector<int>> sleepers_joined_in_finish_order() {
    JoinSet<int> set;
    static_cast<void>(set.spawn(value_after_sleep(30, 30ms)));
    static_cast<void>(set.spawn(value_after_sleep(10, 10ms)));
    static_cast<void>(set.spawn(value_after_sleep(40, 40ms)));
    static_cast<void>(set.spawn(value_after_sleep(20, 20ms)));
    co_await time::sleep(100ms);  // all have finished: their results wait in the set
    std::vector<int> order;
    for (;;) {
        auto r = co_await set.join_next();
        if (!r) break;
        order.push_back(r->has_value() ? **r : -1);
    }
    co_return order;
}

TEST(JoinSet, ResultsThatPiledUpAreJoinedInTheOrderTheTasksFinished) {
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto order = rt.block_on(bounded(sleepers_joined_in_finish_order(), kBound));
    ASSERT_TRUE(order.has_value());
    EXPECT_EQ(*order, (std::vector<int>{10, 20, 30, 40}));
}

struct PollCounts {
    std::optional<int> value;
    std::vector<int> polls;
};

Task<PollCounts> finish_one_of_five(std::vector<std::shared_ptr<ManualState<int>>>* states) {
    JoinSet<int> set;
    for (auto& s : *states) static_cast<void>(set.spawn(await_manual(s)));
    co_await task::yield_now();  // every task polled once, now parked
    (*states)[3]->complete(33);
    auto r = co_await set.join_next();
    PollCounts counts;
    if (r && r->has_value()) counts.value = **r;
    for (auto& s : *states) counts.polls.push_back(s->polls);
    co_return counts;
}

TEST(JoinSet, AFinishedTaskIsFoundWithoutPollingTheOthers) {
    std::vector<std::shared_ptr<ManualState<int>>> states;
    for (int i = 0; i < 5; ++i) states.push_back(std::make_shared<ManualState<int>>());
    Runtime rt = Builder::new_current_thread().build();
    auto counts = rt.block_on(bounded(finish_one_of_five(&states), kBound));
    ASSERT_TRUE(counts.has_value());
    EXPECT_EQ(counts->value, 33);
    EXPECT_EQ(counts->polls, (std::vector<int>{1, 1, 1, 2, 1}));
}

struct LenTrace {
    std::vector<std::size_t> lens;
};

Task<LenTrace> trace_len(std::vector<std::shared_ptr<ManualState<int>>>* states) {
    LenTrace trace;
    JoinSet<int> set;
    trace.lens.push_back(set.len());
    for (auto& s : *states) static_cast<void>(set.spawn(await_manual(s)));
    trace.lens.push_back(set.len());
    co_await task::yield_now();
    (*states)[0]->complete(1);
    co_await task::yield_now();  // finished, not yet joined: still counted
    trace.lens.push_back(set.len());
    auto r = co_await set.join_next();
    trace.lens.push_back(set.len());
    set.abort_all();
    trace.lens.push_back(set.len());  // aborted tasks stay until joined
    for (;;) {
        auto more = co_await set.join_next();
        if (!more) break;
    }
    trace.lens.push_back(set.len());
    trace.lens.push_back(set.is_empty() ? 1 : 0);
    co_return trace;
}

TEST(JoinSet, LenCountsRunningAndUnjoinedTasks) {
    std::vector<std::shared_ptr<ManualState<int>>> states;
    for (int i = 0; i < 3; ++i) states.push_back(std::make_shared<ManualState<int>>());
    Runtime rt = Builder::new_current_thread().build();
    auto trace = rt.block_on(bounded(trace_len(&states), kBound));
    ASSERT_TRUE(trace.has_value());
    EXPECT_EQ(trace->lens, (std::vector<std::size_t>{0, 3, 3, 2, 2, 0, 1}));
}

Task<int> spawn_local_into_set() {
    JoinSet<int> set;
    static_cast<void>(set.spawn_local(value_after_yield(9)));
    auto r = co_await set.join_next();
    co_return (r && r->has_value()) ? **r : -1;
}

TEST(JoinSet, SpawnLocalPutsAThreadBoundTaskInTheSet) {
    Runtime rt = Builder::new_current_thread().build();
    auto v = rt.block_on(bounded(spawn_local_into_set(), kBound));
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, 9);
}

// ---- outside a runtime, and across runtimes -----------------------------------------

TEST(JoinSet, SpawnOutsideARuntimeThrowsAndLeavesTheSetEmpty) {
    JoinSet<int> set;
    EXPECT_THROW(static_cast<void>(set.spawn(value_task(1))), std::logic_error);
    EXPECT_TRUE(set.is_empty());
    EXPECT_FALSE(set.try_join_next().has_value());
}

Task<std::optional<int>> join_one(JoinSet<int>* set) {
    auto r = co_await set->join_next();
    if (r && r->has_value()) co_return **r;
    co_return std::nullopt;
}

TEST(JoinSet, SpawnOnAHandleWorksFromOutsideTheRuntime) {
    Runtime rt = Builder::new_multi_thread().worker_threads(2).build();
    JoinSet<int> set;
    static_cast<void>(set.spawn_on(value_after_yield(11), rt.handle()));
    EXPECT_EQ(set.len(), 1u);
    auto v = rt.block_on(bounded(join_one(&set), kBound));
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, 11);
}

TEST(JoinSet, ASetOutlivingItsRuntimeReportsItsTasksAsCancelledAndIsSafeToDestroy) {
    JoinSet<int> set;
    {
        Runtime rt = Builder::new_current_thread().build();
        auto state = std::make_shared<State>();
        for (int i = 0; i < 3; ++i) static_cast<void>(set.spawn_on(await_state(state), rt.handle()));
    }
    EXPECT_EQ(set.len(), 3u);
    auto first = set.try_join_next();
    auto second = set.try_join_next();
    ASSERT_TRUE(first.has_value());
    ASSERT_TRUE(second.has_value());
    EXPECT_TRUE(task::is_cancelled(*first));
    EXPECT_TRUE(task::is_cancelled(*second));
    EXPECT_EQ(set.len(), 1u);
    set.abort_all();  // harmless on a finished task; the set is then destroyed with it unjoined
}

TEST(JoinSet, IsCancelledTellsAnAbortFromAFailure) {
    EXPECT_FALSE(task::is_cancelled(std::exception_ptr()));
    EXPECT_TRUE(task::is_cancelled(std::make_exception_ptr(JoinError())));
    EXPECT_FALSE(task::is_cancelled(std::make_exception_ptr(std::runtime_error("x"))));
    EXPECT_FALSE(task::is_cancelled(JoinResult<int>(1)));
}

// ---- multi-thread: tasks finishing after the set is gone ------------------------------

Task<DropCounter> block_worker_then_return(DropCounts* counts, std::atomic<int>* running, std::atomic<bool>* release) {
    running->fetch_add(1);
    static_cast<void>(spin_until([release] { return release->load(); }, std::chrono::milliseconds(10'000)));
    co_return DropCounter(*counts, 1);
}

Task<bool> destroy_set_while_tasks_run(DropCounts* counts, std::atomic<int>* running, std::atomic<bool>* release) {
    {
        JoinSet<DropCounter> set;
        for (int i = 0; i < 2; ++i) static_cast<void>(set.spawn(block_worker_then_return(counts, running, release)));
        auto both_running = [running] { return running->load() == 2; };
        bool started = co_await yield_until(both_running);
        if (!started) co_return false;
    }  // the set goes while both tasks are in the middle of a poll
    release->store(true);
    auto outputs_dropped = [counts] { return counts->constructed.load() == 2 && counts->alive() == 0; };
    co_return co_await yield_until(outputs_dropped);
}

TEST(JoinSetMultiThread, TasksFinishingAfterTheSetWasDestroyedLeaveNothingBehind) {
    DropCounts counts;
    std::atomic<int> running{0};
    std::atomic<bool> release{false};
    Runtime rt = Builder::new_multi_thread().worker_threads(4).build();
    auto ok = rt.block_on(bounded(destroy_set_while_tasks_run(&counts, &running, &release), kBound));
    release.store(true);
    ASSERT_TRUE(ok.has_value());
    EXPECT_TRUE(*ok);
    EXPECT_EQ(counts.constructed.load(), 2);
    EXPECT_EQ(counts.alive(), 0);
}

Task<int> yield_n_times_holding([[maybe_unused]] DropCounter guard, int n) {
    for (int i = 0; i < n; ++i) co_await task::yield_now();
    co_return n;
}

Task<bool> destroy_sets_while_tasks_finish(DropCounts* counts) {
    for (int round = 0; round < 20; ++round) {
        JoinSet<int> set;
        for (int i = 0; i < 100; ++i) static_cast<void>(set.spawn(yield_n_times_holding(DropCounter(*counts), i % 4)));
        for (int i = 0; i < round % 3; ++i) co_await task::yield_now();
        if (round % 2 == 0) {
            auto r = co_await set.join_next();  // leaves a waiter registered
            static_cast<void>(r);
        }
    }  // each set is destroyed while its tasks finish on the other workers
    auto all_dropped = [counts] { return counts->alive() == 0; };
    co_return co_await yield_until(all_dropped);
}

TEST(JoinSetMultiThread, SetsDestroyedWhileTheirTasksFinishOnOtherWorkersFreeEverything) {
    DropCounts counts;
    Runtime rt = Builder::new_multi_thread().worker_threads(4).build();
    auto ok = rt.block_on(bounded(destroy_sets_while_tasks_finish(&counts), kBound));
    ASSERT_TRUE(ok.has_value());
    EXPECT_TRUE(*ok);
    EXPECT_EQ(counts.constructed.load(), 2000);
    EXPECT_EQ(counts.alive(), 0);
}

}  // namespace
}  // namespace corio
