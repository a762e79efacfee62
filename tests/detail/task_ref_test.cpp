// The typed task references (corio/detail/task_ref.hpp), driven through a
// scheduler that keeps whatever it is handed, so each test decides what
// becomes of a reference: run it, link it, or drop it.
#include "corio/detail/task_ref.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "corio/detail/task_cell.hpp"
#include "corio/task/join_error.hpp"
#include "corio/task/join_handle.hpp"
#include "support/drop_counter.hpp"
#include "support/fixed_futures.hpp"
#include "support/poll.hpp"

namespace corio::detail {
namespace {

using test::DropCounts;
using test::Tracked;

/// Keeps every reference it is given. `link` says whether a spawn is linked
/// (its owned reference kept in `owned`, its entry queued) or kept whole.
class HoldingScheduler final : public Scheduler {
public:
    void do_schedule(std::uintptr_t entry) override { queued.push_back(Notified::from_bits(entry)); }
    void do_schedule_yielded(std::uintptr_t entry) override { queued.push_back(Notified::from_bits(entry)); }
    void do_spawn(TaskHeader* new_task) override {
        NewTask task(new_task);
        if (!link) {
            spawned.push_back(std::move(task));
            return;
        }
        owned.push_back(std::move(task.owned));
        queued.push_back(std::move(task.notified));
    }
    TaskHeader* do_release(TaskHeader* task) noexcept override {
        ++released;
        auto it = std::find_if(owned.begin(), owned.end(), [&](const OwnedTask& o) { return o.task().get() == task; });
        if (it == owned.end()) return nullptr;
        OwnedTask found = std::move(*it);
        owned.erase(it);
        return std::move(found).into_raw();
    }
    void ref() noexcept override { ++refs; }
    void unref() noexcept override { --refs; }

    /// Runs the oldest queued entry.
    void run_one() {
        Notified entry = std::move(queued.front());
        queued.erase(queued.begin());
        std::move(entry).run();
    }

    bool link = true;
    std::vector<NewTask> spawned;
    std::vector<OwnedTask> owned;
    std::vector<Notified> queued;
    int released = 0;
    int refs = 0;  // one per live cell: dealloc drops it
};

/// Wakes itself on its first poll (as yield_now does), ready on the second.
struct YieldOnce {
    using Output = int;
    bool yielded = false;
    Poll<int> poll(Context& cx) {
        if (std::exchange(yielded, true)) return Ready(7);
        cx.waker().wake_by_ref();
        return Pending;
    }
};

/// Pending until `ready` is set; keeps the last waker.
struct Gate {
    using Output = int;
    bool* ready;
    Waker* waker;
    Poll<int> poll(Context& cx) {
        if (*ready) return Ready(3);
        *waker = cx.waker();
        return Pending;
    }
};

template <class F>
JoinHandle<output_of<F>> spawn_onto(HoldingScheduler& s, F fut) {
    return spawn_task<F>(std::move(fut), s, TaskOrigin());
}

template <class T>
Poll<T> poll_handle(JoinHandle<T>& handle) {
    return test::poll_once(handle);
}

TEST(NewTask, DroppedWholeItIsARefusedSpawnAndCancelsTheTask) {
    HoldingScheduler s;
    s.link = false;
    DropCounts drops;
    auto handle = spawn_onto(s, Tracked(test::AlwaysReady<int>{1}, drops));
    ASSERT_EQ(s.spawned.size(), 1u);
    EXPECT_EQ(drops.alive(), 1);

    s.spawned.clear();

    EXPECT_EQ(drops.alive(), 0);  // the future was destroyed, never polled
    EXPECT_TRUE(handle.is_finished());
    EXPECT_THROW((void)poll_handle(handle), JoinError);
    EXPECT_EQ(s.refs, 0);  // and the cell freed
}

TEST(NewTask, LinkedAndQueuedTheTaskRunsAndReleaseHandsTheOwnedReferenceBack) {
    HoldingScheduler s;
    auto handle = spawn_onto(s, test::AlwaysReady<int>{42});
    ASSERT_EQ(s.owned.size(), 1u);
    ASSERT_EQ(s.queued.size(), 1u);

    s.run_one();

    EXPECT_EQ(s.released, 1);
    EXPECT_TRUE(s.owned.empty());  // release took it out of the list
    Poll<int> out = poll_handle(handle);
    ASSERT_TRUE(out.is_ready());
    EXPECT_EQ(std::move(out).take(), 42);
    EXPECT_EQ(s.refs, 0);  // the handle took the output: the cell is gone
}

TEST(Notified, AWokenEntryDroppedUnrunOnlyDropsTheQueuesReference) {
    HoldingScheduler s;
    bool ready = false;
    Waker waker;
    DropCounts drops;
    std::optional<JoinHandle<int>> handle(spawn_onto(s, Tracked(Gate{&ready, &waker}, drops)));
    s.run_one();  // pending: stores its waker
    ASSERT_TRUE(s.queued.empty());

    waker.wake_by_ref();
    ASSERT_EQ(s.queued.size(), 1u);
    EXPECT_FALSE(s.queued.front().is_yielded());
    s.queued.clear();  // a closed queue drops it (at shutdown; the owned list then cancels the task)

    EXPECT_FALSE(handle->is_finished());  // neither run nor cancelled
    EXPECT_EQ(drops.alive(), 1);
    EXPECT_EQ(s.refs, 1);

    // What shutdown does next (cancel_owned): cancel it in place, which
    // hands the owned reference back through release.
    RawTask task = s.owned.front().task();
    ASSERT_TRUE(task_transition_to_shutdown(task.get()));
    task->vtable->cancel(task.get());
    task_complete(task, Notified());
    EXPECT_EQ(drops.alive(), 0);
    EXPECT_TRUE(s.owned.empty());
    EXPECT_THROW((void)poll_handle(*handle), JoinError);
    waker = Waker();
    EXPECT_EQ(s.refs, 0);
}

TEST(Notified, AYieldedEntryDroppedUnrunCancelsItsTask) {
    HoldingScheduler s;
    DropCounts drops;
    auto handle = spawn_onto(s, Tracked(YieldOnce{}, drops));
    s.run_one();  // wakes itself: re-queued as a yielded entry, still RUNNING
    ASSERT_EQ(s.queued.size(), 1u);
    EXPECT_TRUE(s.queued.front().is_yielded());

    s.queued.clear();  // nobody will poll it again: the entry cancels it

    EXPECT_EQ(drops.alive(), 0);
    EXPECT_EQ(s.released, 1);
    EXPECT_THROW((void)poll_handle(handle), JoinError);
    EXPECT_EQ(s.refs, 0);
}

TEST(Notified, AYieldedEntryRunPollsTheTaskAgain) {
    HoldingScheduler s;
    auto handle = spawn_onto(s, YieldOnce{});
    s.run_one();
    ASSERT_EQ(s.queued.size(), 1u);
    s.run_one();
    Poll<int> out = poll_handle(handle);
    ASSERT_TRUE(out.is_ready());
    EXPECT_EQ(std::move(out).take(), 7);
}

TEST(Notified, BitsRoundTripKeepTheReferenceAndTheYieldedMark) {
    HoldingScheduler s;
    auto handle = spawn_onto(s, YieldOnce{});
    s.run_one();
    std::uintptr_t bits = std::move(s.queued.front()).into_bits();
    EXPECT_FALSE(s.queued.front());  // gave its reference to the bits
    s.queued.clear();
    EXPECT_FALSE(handle.is_finished());

    Notified back = Notified::from_bits(bits);
    EXPECT_TRUE(back.is_yielded());
    std::move(back).run();
    EXPECT_TRUE(handle.is_finished());
}

TEST(TaskRef, KeepsTheCellAfterEveryOtherReferenceIsGone) {
    HoldingScheduler s;
    TaskRef keep;
    {
        auto handle = spawn_onto(s, test::AlwaysReady<int>{1});
        keep = TaskRef(RawTask(std::move(handle).into_raw()));  // a reference of its own
        task_drop_join_handle(keep.task().get());               // the handle's, given up
        s.run_one();
    }
    EXPECT_EQ(s.refs, 1);  // completed, but still readable
    EXPECT_NE(keep.task()->state.load() & state::kComplete, 0u);
    TaskRef copy = keep;
    keep = TaskRef();
    EXPECT_EQ(s.refs, 1);
    copy = TaskRef();
    EXPECT_EQ(s.refs, 0);
}

TEST(OwnedTask, DroppingTheLastReferenceFreesTheCell) {
    HoldingScheduler s;
    {
        auto handle = spawn_onto(s, test::AlwaysReady<int>{1});
        handle = JoinHandle<int>();  // detached
    }
    ASSERT_EQ(s.owned.size(), 1u);
    s.queued.clear();  // its only run-queue entry, dropped unrun
    EXPECT_EQ(s.refs, 1);
    s.owned.clear();  // the owned list lets go too: nothing holds the task
    EXPECT_EQ(s.refs, 0);
}

TEST(TaskAbort, AnIdleTaskIsQueuedAndItsRunCancelsIt) {
    HoldingScheduler s;
    bool ready = false;
    Waker waker;
    DropCounts drops;
    auto handle = spawn_onto(s, Tracked(Gate{&ready, &waker}, drops));
    s.run_one();
    ASSERT_TRUE(s.queued.empty());

    handle.abort();
    ASSERT_EQ(s.queued.size(), 1u);
    s.run_one();

    EXPECT_EQ(drops.alive(), 0);
    EXPECT_THROW((void)poll_handle(handle), JoinError);
    waker = Waker();
    EXPECT_EQ(s.refs, 0);
}

}  // namespace
}  // namespace corio::detail
