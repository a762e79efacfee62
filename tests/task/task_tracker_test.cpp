// Tests of <corio/task/task_tracker.hpp>: wait() pends on an open tracker
// until close, on a closed one until its last task, token or tracked future
// is gone, and is woken (never polled in a loop) on every waiter; len counts;
// aborted tasks and tasks dropped by a shutting-down runtime are released;
// reopen; a wait dropped by a timeout or a select loses nothing; tasks
// spawned after close are still tracked; a token's release is ordered after
// the future it guards; thousands of tasks on four workers (run under TSan).
//
// The first tests poll wait() by hand with a counting waker, outside any
// runtime, to see each registration and wake-up. The others run on a
// current_thread runtime and on a four-worker multi-thread runtime, each
// bounded by time::timeout on the runtime's clock; the timeout tests use the
// paused clock, so they never sleep for real.
#include "corio/task/task_tracker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/select.hpp"
#include "corio/task.hpp"
#include "corio/task/local_set.hpp"
#include "corio/time.hpp"
#include "support/counting_waker.hpp"
#include "support/drop_counter.hpp"
#include "support/poll.hpp"
#include "support/runtime_flavors.hpp"
#include "support/simple_tasks.hpp"
#include "support/thread_safe_manual_future.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using task::TaskTracker;
using task::TaskTrackerToken;
using test::bounded;
using test::DropCounter;
using test::DropCounts;
using test::make_counting_waker;
using test::PendingForever;
using test::poll_once;
using test::poll_with;
using test::ThreadSafeManualFuture;
using test::WakeCounts;
using State = test::ThreadSafeManualState<int>;

// ---- wait() polled by hand ------------------------------------------------------------

TEST(TaskTracker, WaitOnAnEmptyOpenTrackerPendsUntilCloseWakesIt) {
    TaskTracker tracker;
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto wait = tracker.wait();
    EXPECT_TRUE(poll_with(wait, waker).is_pending());
    EXPECT_TRUE(poll_with(wait, waker).is_pending());
    EXPECT_EQ(counts.total_wakes(), 0);
    EXPECT_TRUE(tracker.close());
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(wait, waker).is_ready());
    EXPECT_TRUE(poll_with(wait, waker).is_ready()) << "ready again once done";
}

TEST(TaskTracker, WaitOnAClosedEmptyTrackerIsReadyAtOnce) {
    TaskTracker tracker;
    tracker.close();
    auto wait = tracker.wait();
    EXPECT_TRUE(poll_once(wait).is_ready());
}

TEST(TaskTracker, LenCountsTokensAndTrackedFuturesWhileTheyLive) {
    TaskTracker tracker;
    EXPECT_TRUE(tracker.is_empty());
    EXPECT_EQ(tracker.len(), 0u);
    std::optional<TaskTrackerToken> a(tracker.token());
    EXPECT_EQ(tracker.len(), 1u);
    std::optional<TaskTrackerToken> b(*a);  // a copy is a token of its own
    EXPECT_EQ(tracker.len(), 2u);
    TaskTrackerToken moved(std::move(*b));  // a move hands the unit on
    b.reset();
    EXPECT_EQ(tracker.len(), 2u);
    {
        auto tracked = tracker.track_future(test::value_task(1));
        EXPECT_EQ(tracker.len(), 3u);
        EXPECT_EQ(tracker.close(), true);
        EXPECT_EQ(tracker.len(), 3u) << "closing changes no count";
        EXPECT_FALSE(tracker.is_empty());
    }
    EXPECT_EQ(tracker.len(), 2u);
    a.reset();
    EXPECT_TRUE(moved.task_tracker() == tracker);
    EXPECT_EQ(tracker.len(), 1u);
    TaskTrackerToken gone = std::move(moved);
    EXPECT_EQ(tracker.len(), 1u);
    {
        TaskTrackerToken last = std::move(gone);
    }
    EXPECT_TRUE(tracker.is_empty());
    EXPECT_TRUE(tracker.is_closed());
}

TEST(TaskTracker, CloseAndReopenSayWhetherTheyChangedTheState) {
    TaskTracker tracker;
    TaskTracker copy = tracker;  // shares the state
    EXPECT_FALSE(copy.is_closed());
    EXPECT_TRUE(tracker.close());
    EXPECT_FALSE(copy.close());
    EXPECT_TRUE(copy.is_closed());
    EXPECT_TRUE(copy.reopen());
    EXPECT_FALSE(tracker.reopen());
    EXPECT_FALSE(tracker.is_closed());
    EXPECT_FALSE(TaskTracker() == tracker);
}

TEST(TaskTracker, EveryWaiterIsWokenOnceWhenTheLastTokenGoes) {
    TaskTracker tracker;
    std::optional<TaskTrackerToken> token(tracker.token());
    tracker.close();
    constexpr int kWaiters = 5;
    std::vector<WakeCounts> counts(kWaiters);
    std::vector<Waker> wakers;
    std::vector<task::TaskTrackerWait> waits;
    waits.reserve(kWaiters);  // no move once polled
    for (int i = 0; i < kWaiters; ++i) {
        wakers.push_back(make_counting_waker(counts[static_cast<std::size_t>(i)]));
        waits.push_back(tracker.wait());
    }
    for (int i = 0; i < kWaiters; ++i) {
        auto at = static_cast<std::size_t>(i);
        EXPECT_TRUE(poll_with(waits[at], wakers[at]).is_pending());
    }
    for (const WakeCounts& c : counts) EXPECT_EQ(c.total_wakes(), 0);
    token.reset();
    for (int i = 0; i < kWaiters; ++i) {
        auto at = static_cast<std::size_t>(i);
        EXPECT_EQ(counts[at].total_wakes(), 1);
        EXPECT_TRUE(poll_with(waits[at], wakers[at]).is_ready());
    }
}

TEST(TaskTracker, AWaitDroppedWhilePendingLeavesTheWaitListAndANewOneCompletes) {
    TaskTracker tracker;
    std::optional<TaskTrackerToken> token(tracker.token());
    tracker.close();
    WakeCounts dropped_counts;
    {
        Waker waker = make_counting_waker(dropped_counts);
        auto wait = tracker.wait();
        EXPECT_TRUE(poll_with(wait, waker).is_pending());
        EXPECT_EQ(dropped_counts.live.load(), 2) << "the wait holds a clone of the waker";
    }
    EXPECT_EQ(dropped_counts.live.load(), 0) << "dropping the wait released its waker";
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto again = tracker.wait();
    EXPECT_TRUE(poll_with(again, waker).is_pending());
    token.reset();
    EXPECT_EQ(dropped_counts.total_wakes(), 0);
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(again, waker).is_ready());
}

TEST(TaskTracker, ReopenMakesNewWaitsPendButLeavesAReleasedOneReady) {
    TaskTracker tracker;
    tracker.close();
    auto released = tracker.wait();
    tracker.reopen();
    EXPECT_TRUE(poll_once(released).is_ready()) << "it saw the tracker closed and empty";
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto wait = tracker.wait();
    EXPECT_TRUE(poll_with(wait, waker).is_pending());
    tracker.close();
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(wait, waker).is_ready());
}

TEST(TaskTracker, AWaitOutlivesTheTrackerItCameFrom) {
    std::optional<TaskTracker> tracker(std::in_place);
    std::optional<TaskTrackerToken> token(tracker->token());
    tracker->close();
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto wait = tracker->wait();
    tracker.reset();
    EXPECT_TRUE(poll_with(wait, waker).is_pending());
    token.reset();
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(wait, waker).is_ready());
}

/// A future that records the tracker's len() when it is destroyed.
struct RecordsLenOnDrop {
    using Output = int;
    RecordsLenOnDrop(TaskTracker tracker, std::size_t* seen) : tracker_(std::move(tracker)), seen_(seen) {}
    RecordsLenOnDrop(RecordsLenOnDrop&& other) noexcept
        : tracker_(other.tracker_), seen_(std::exchange(other.seen_, nullptr)) {}
    ~RecordsLenOnDrop() {
        if (seen_ != nullptr) *seen_ = tracker_.len();
    }
    Poll<int> poll(Context&) { return Ready(7); }

    TaskTracker tracker_;
    std::size_t* seen_;
};

TEST(TaskTracker, ATrackedFutureIsCountedUntilAfterItsInnerFutureIsDestroyed) {
    TaskTracker tracker;
    std::size_t len_in_destructor = 0;
    {
        auto tracked = tracker.track_future(RecordsLenOnDrop(tracker, &len_in_destructor));
        auto out = poll_once(tracked);
        ASSERT_TRUE(out.is_ready());
        EXPECT_EQ(std::move(out).take(), 7);
        EXPECT_EQ(tracker.len(), 1u) << "counted while it exists, not only until it completes";
    }
    EXPECT_EQ(len_in_destructor, 1u);
    EXPECT_TRUE(tracker.is_empty());
}

TEST(TaskTracker, ATokenDroppedOnAnotherThreadWakesTheWaiter) {
    TaskTracker tracker;
    TaskTrackerToken token = tracker.token();
    tracker.close();
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto wait = tracker.wait();
    EXPECT_TRUE(poll_with(wait, waker).is_pending());
    std::thread([t = std::move(token)] { static_cast<void>(t); }).join();
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(wait, waker).is_ready());
}

// ---- on both runtime flavours ------------------------------------------------------------

class TaskTrackerOnRuntime : public test::RuntimeFlavorTest {};

INSTANTIATE_TEST_SUITE_P(Flavors, TaskTrackerOnRuntime, test::all_flavors(), test::flavor_name_with_workers);

Task<int> await_state(std::shared_ptr<State> state) {
    int v = co_await ThreadSafeManualFuture<int>(std::move(state));
    co_return v;
}

Task<int> park_holding([[maybe_unused]] DropCounter guard) {
    PendingForever never;
    co_await never;
    co_return 0;
}

Task<void> wait_then_set(TaskTracker tracker, std::atomic<bool>* done) {
    co_await tracker.wait();
    done->store(true);
}

struct LastTaskOutcome {
    bool pending_before_close = false;
    bool pending_with_one_left = false;
    std::size_t len_with_one_left = 0;
    int sum = 0;
};

Task<LastTaskOutcome> wait_for_the_last_of_three() {
    LastTaskOutcome outcome;
    TaskTracker tracker;
    std::vector<std::shared_ptr<State>> states;
    std::vector<JoinHandle<int>> handles;
    for (int i = 0; i < 3; ++i) {
        states.push_back(std::make_shared<State>());
        handles.push_back(tracker.spawn(await_state(states.back())));
    }
    std::atomic<bool> waited{false};
    JoinHandle<void> waiter = spawn(wait_then_set(tracker, &waited));
    {
        auto probe = tracker.wait();
        outcome.pending_before_close = test::poll_once(probe).is_pending();
    }
    tracker.close();
    states[0]->complete(1);
    states[2]->complete(2);
    outcome.sum += co_await handles[0];
    outcome.sum += co_await handles[2];  // its future, and its token, are gone
    outcome.len_with_one_left = tracker.len();
    {
        auto probe = tracker.wait();
        outcome.pending_with_one_left = test::poll_once(probe).is_pending() && !waited.load();
    }
    states[1]->complete(3);
    co_await waiter;
    outcome.sum += co_await handles[1];
    co_return outcome;
}

TEST_P(TaskTrackerOnRuntime, WaitAfterCloseWithTasksPendsUntilTheLastOneFinishes) {
    Runtime rt = build();
    auto outcome = rt.block_on(bounded(wait_for_the_last_of_three()));
    ASSERT_TRUE(outcome.has_value()) << "timed out";
    EXPECT_TRUE(outcome->pending_before_close);
    EXPECT_TRUE(outcome->pending_with_one_left);
    EXPECT_EQ(outcome->len_with_one_left, 1u);
    EXPECT_EQ(outcome->sum, 6);
}

Task<std::size_t> abort_tracked_tasks(DropCounts* counts) {
    TaskTracker tracker;
    std::vector<JoinHandle<int>> handles;
    for (int i = 0; i < 8; ++i) handles.push_back(tracker.spawn(park_holding(DropCounter(*counts))));
    co_await task::yield_now();  // some start and park
    std::size_t len_before = tracker.len();
    tracker.close();
    for (JoinHandle<int>& h : handles) h.abort();
    co_await tracker.wait();
    co_return len_before;
}

TEST_P(TaskTrackerOnRuntime, AbortingTrackedTasksReleasesThem) {
    DropCounts counts;
    Runtime rt = build();
    auto len_before = rt.block_on(bounded(abort_tracked_tasks(&counts)));
    ASSERT_TRUE(len_before.has_value()) << "timed out";
    EXPECT_EQ(*len_before, 8u);
    EXPECT_EQ(counts.constructed.load(), 8);
    EXPECT_EQ(counts.alive(), 0) << "every task's future was destroyed before wait() completed";
}

struct AfterCloseOutcome {
    std::size_t len = 0;
    bool pending = false;
    int value = 0;
};

Task<AfterCloseOutcome> spawn_after_close() {
    AfterCloseOutcome outcome;
    TaskTracker tracker;
    tracker.close();
    auto state = std::make_shared<State>();
    JoinHandle<int> late = tracker.spawn(await_state(state));
    outcome.len = tracker.len();
    {
        auto probe = tracker.wait();
        outcome.pending = test::poll_once(probe).is_pending();
    }
    state->complete(9);
    co_await tracker.wait();
    outcome.value = co_await late;
    co_return outcome;
}

TEST_P(TaskTrackerOnRuntime, ATaskSpawnedAfterCloseIsStillTracked) {
    Runtime rt = build();
    auto outcome = rt.block_on(bounded(spawn_after_close()));
    ASSERT_TRUE(outcome.has_value()) << "timed out";
    EXPECT_EQ(outcome->len, 1u);
    EXPECT_TRUE(outcome->pending);
    EXPECT_EQ(outcome->value, 9);
}

Task<int> waiters_all_wake(int waiters) {
    TaskTracker tracker;
    auto state = std::make_shared<State>();
    JoinHandle<int> work = tracker.spawn(await_state(state));
    std::atomic<int> woken{0};
    std::vector<JoinHandle<void>> handles;
    for (int i = 0; i < waiters; ++i) {
        handles.push_back(spawn([](TaskTracker t, std::atomic<int>* n) -> Task<void> {
            co_await t.wait();
            n->fetch_add(1);
        }(tracker, &woken)));
    }
    tracker.close();
    state->complete(1);
    for (JoinHandle<void>& h : handles) co_await h;
    co_await work;
    co_return woken.load();
}

TEST_P(TaskTrackerOnRuntime, EveryConcurrentWaiterIsWoken) {
    Runtime rt = build();
    auto woken = rt.block_on(bounded(waiters_all_wake(16)));
    ASSERT_TRUE(woken.has_value()) << "timed out";
    EXPECT_EQ(*woken, 16);
}

/// Each task writes its own slot (plain, not atomic) and spawns a tracked
/// child on every fourth; the waiter reads every slot once wait() is ready,
/// so under TSan a missing happens-before from the tasks to the waiter shows.
Task<void> fill_slot(TaskTracker tracker, std::vector<int>* slots, std::size_t at, int yields) {
    for (int i = 0; i < yields; ++i) co_await task::yield_now();
    (*slots)[at] = static_cast<int>(at) + 1;
    if (at % 4 == 0 && at + 1 < slots->size()) {
        JoinHandle<void> child = tracker.spawn(fill_slot(tracker, slots, at + 1, 1));  // detached when dropped
    }
}

Task<bool> many_tasks_then_wait(std::vector<int>* slots) {
    TaskTracker tracker;
    std::vector<JoinHandle<void>> handles;
    for (std::size_t at = 0; at < slots->size(); ++at) {
        if (at % 4 == 1) continue;  // filled by its neighbour's child
        handles.push_back(tracker.spawn(fill_slot(tracker, slots, at, static_cast<int>(at % 3))));
    }
    handles.clear();  // detach them all: only the tracker knows when they are done
    tracker.close();
    std::vector<JoinHandle<void>> waiters;
    std::atomic<int> woken{0};
    for (int i = 0; i < 4; ++i) {
        waiters.push_back(spawn([](TaskTracker t, std::atomic<int>* n) -> Task<void> {
            co_await t.wait();
            n->fetch_add(1);
        }(tracker, &woken)));
    }
    co_await tracker.wait();
    for (JoinHandle<void>& w : waiters) co_await w;
    bool all = woken.load() == 4 && tracker.is_empty();
    for (std::size_t at = 0; at < slots->size(); ++at) all = all && (*slots)[at] == static_cast<int>(at) + 1;
    co_return all;
}

TEST_P(TaskTrackerOnRuntime, ThousandsOfTasksOnEveryWorkerAreAllWaitedFor) {
    std::vector<int> slots(4000, 0);
    Runtime rt = build();
    auto ok = rt.block_on(bounded(many_tasks_then_wait(&slots)));
    ASSERT_TRUE(ok.has_value()) << "timed out";
    EXPECT_TRUE(*ok);
}

Task<int> spawn_on_a_handle() {
    TaskTracker tracker;
    JoinHandle<int> h = tracker.spawn_on(test::value_after_yield(4), Handle::current());
    tracker.close();
    co_await tracker.wait();
    co_return co_await h;
}

TEST_P(TaskTrackerOnRuntime, SpawnOnTracksTheTask) {
    Runtime rt = build();
    auto v = rt.block_on(bounded(spawn_on_a_handle()));
    ASSERT_TRUE(v.has_value()) << "timed out";
    EXPECT_EQ(*v, 4);
}

TEST_P(TaskTrackerOnRuntime, TasksDroppedByARuntimeShuttingDownAreReleased) {
    TaskTracker tracker;
    DropCounts counts;
    {
        Runtime rt = build();
        rt.block_on([](TaskTracker t, DropCounts* c) -> Task<void> {
            for (int i = 0; i < 16; ++i) {
                JoinHandle<int> detached = t.spawn(park_holding(DropCounter(*c)));
            }
            co_await task::yield_now();
        }(tracker, &counts));
        EXPECT_EQ(tracker.len(), 16u);
    }
    EXPECT_TRUE(tracker.is_empty());
    EXPECT_EQ(counts.alive(), 0);
    tracker.close();
    auto wait = tracker.wait();
    EXPECT_TRUE(poll_once(wait).is_ready());
}

// ---- current_thread only ---------------------------------------------------------------

TEST(TaskTrackerOnCurrentThread, SpawnLocalTracksTheTask) {
    Runtime rt = Builder::new_current_thread().build();
    task::LocalSet local;
    auto v = rt.block_on(local.run_until(bounded([]() -> Task<int> {
        TaskTracker tracker;
        JoinHandle<int> h = tracker.spawn_local(test::value_after_yield(5));
        std::size_t len = tracker.len();
        tracker.close();
        co_await tracker.wait();
        int out = co_await h;
        co_return len == 1 ? out : -1;
    }())));
    ASSERT_TRUE(v.has_value()) << "timed out";
    EXPECT_EQ(*v, 5);
}

struct CancelledWaitOutcome {
    bool timed_out = false;
    bool select_took_the_sleep = false;
    bool finished = false;
    time::Duration took{};
};

Task<void> sleep_for(time::Duration d) { co_await time::sleep(d); }

Task<CancelledWaitOutcome> cancel_waits_then_wait_again() {
    CancelledWaitOutcome outcome;
    TaskTracker tracker;
    const time::Instant start = time::Instant::now();
    JoinHandle<void> work = tracker.spawn(sleep_for(10s));
    tracker.close();
    auto first = co_await time::timeout(1s, tracker.wait());  // dropped at 1 s
    outcome.timed_out = !first.has_value();
    auto raced = co_await corio::select(tracker.wait(), time::sleep(1s));  // the wait loses at 2 s
    outcome.select_took_the_sleep = raced.index() == 1;
    co_await tracker.wait();
    outcome.took = time::Instant::now() - start;
    outcome.finished = tracker.is_empty();
    co_await work;
    co_return outcome;
}

TEST(TaskTrackerOnCurrentThread, AWaitCancelledByATimeoutOrASelectCanBeAwaitedAgain) {
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto outcome = rt.block_on(bounded(cancel_waits_then_wait_again(), 60s));
    ASSERT_TRUE(outcome.has_value()) << "timed out";
    EXPECT_TRUE(outcome->timed_out);
    EXPECT_TRUE(outcome->select_took_the_sleep);
    EXPECT_TRUE(outcome->finished);
    EXPECT_EQ(outcome->took, time::Duration(10s)) << "paused clock: exactly when the task's sleep ended";
}

}  // namespace
}  // namespace corio
