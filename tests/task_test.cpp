// Tests of <corio/task.hpp>: the lazy Task coroutine driven by hand (no
// runtime), awaiting hand-written futures and child Tasks, exceptions,
// cancellation by destruction, O(1) wakes at any await depth, yield_now.
#include "corio/task.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "corio/future.hpp"
#include "support/counting_waker.hpp"
#include "support/drop_counter.hpp"
#include "support/manual_future.hpp"
#include "support/parking_waker.hpp"

namespace corio {
namespace {

using test::DropCounter;
using test::DropCounts;
using test::make_counting_waker;
using test::ManualFuture;
using test::ManualState;
using test::ParkingWaker;
using test::WakeCounts;

static_assert(Future<Task<>>);
static_assert(std::is_same_v<Task<>, Task<void>>);
static_assert(std::is_same_v<Task<std::string>::Output, std::string>);
static_assert(!std::is_copy_constructible_v<Task<int>>);
static_assert(std::is_nothrow_move_constructible_v<Task<int>>);
static_assert(std::is_nothrow_move_assignable_v<Task<int>>);

template <class T>
std::shared_ptr<ManualState<T>> manual_state() {
    return std::make_shared<ManualState<T>>();
}

/// Where the stack is in the caller: the frame address of a function that
/// cannot be inlined into it.
[[gnu::noinline]] std::uintptr_t stack_position() {
    return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}

std::uintptr_t distance(std::uintptr_t a, std::uintptr_t b) { return a > b ? a - b : b - a; }

// ---- coroutines and futures the tests drive ---------------------------------

Task<int> set_flag_and_return(bool& ran, int value) {
    ran = true;
    co_return value;
}

Task<int> unused_parameter_holder(DropCounter counter, bool& ran) {
    ran = true;
    co_return counter.value();
}

Task<int> add_one(ManualFuture<int> fut) {
    int v = co_await fut;
    co_return v + 1;
}

Task<int> answer() { co_return 42; }

/// Pending on its first poll (after storing and waking the most recent
/// waker), ready with `value` on the next.
class PendingOnce {
public:
    using Output = int;
    explicit PendingOnce(int value) : value_(value) {}
    Poll<int> poll(Context& cx) {
        if (polled_) return Ready(value_);
        polled_ = true;
        waker_.clone_from(cx.waker());
        waker_.wake_by_ref();
        return Pending;
    }

private:
    int value_;
    bool polled_ = false;
    Waker waker_;  // held until the future is destroyed, as a real leaf holds it
};

Task<int> inner_pending_once(int value) {
    int v = co_await PendingOnce(value);
    co_return v * 2;
}

Task<int> outer_pending_once(int value) {
    int a = co_await inner_pending_once(value);
    int b = co_await PendingOnce(1);
    co_return a + b;
}

// ---- laziness -----------------------------------------------------------------

TEST(Task, BodyDoesNotRunBeforeTheFirstPoll) {
    bool ran = false;
    Task<int> t = set_flag_and_return(ran, 5);
    EXPECT_FALSE(ran);
    EXPECT_TRUE(t.valid());
    Waker w = Waker::noop();
    Context cx(w);
    Poll<int> p = t.poll(cx);
    EXPECT_TRUE(ran);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 5);
    EXPECT_FALSE(t.valid());  // completed: the frame is gone
}

TEST(Task, DestroyingAnUnpolledTaskNeverRunsItsBodyAndDestroysItsParameters) {
    DropCounts drops;
    bool ran = false;
    {
        Task<int> t = unused_parameter_holder(DropCounter(drops, 3), ran);
        EXPECT_EQ(drops.alive(), 1);  // the parameter lives in the frame
    }
    EXPECT_FALSE(ran);
    EXPECT_EQ(drops.alive(), 0);
}

TEST(Task, ACoroutineThatNeverSuspendsIsReadyOnTheFirstPoll) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    Task<int> t = answer();
    Poll<int> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 42);
    EXPECT_EQ(counts.clones.load(), 0);
    EXPECT_EQ(counts.total_wakes(), 0);
}

// ---- polling by hand ------------------------------------------------------------

TEST(Task, PolledByHandAwaitsAManualFutureAndStoresTheMostRecentWaker) {
    WakeCounts counts;
    {
        Waker w = make_counting_waker(counts);
        Context cx(w);
        auto state = manual_state<int>();
        Task<int> t = add_one(ManualFuture<int>(state));

        EXPECT_TRUE(t.poll(cx).is_pending());
        EXPECT_EQ(state->polls, 1);
        EXPECT_TRUE(state->waker.will_wake(w));
        EXPECT_EQ(counts.total_wakes(), 0);

        state->complete(41);
        EXPECT_EQ(counts.wakes_by_ref.load(), 1);
        Poll<int> p = t.poll(cx);
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(*p, 42);
        EXPECT_EQ(state->polls, 2);
    }
    EXPECT_EQ(counts.live.load(), 0);
    EXPECT_EQ(counts.clones.load() + 1, counts.drops.load());
}

TEST(Task, AwaitingAHandWrittenFutureBalancesWakerReferences) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    {
        Task<int> t = outer_pending_once(10);
        int polls = 0;
        int wakes_seen = 0;
        Poll<int> p = Pending;
        for (;;) {
            p = t.poll(cx);
            ++polls;
            if (p.is_ready()) break;
            // Poll again only after being woken.
            ASSERT_GT(counts.total_wakes(), wakes_seen) << "Pending without a wake";
            wakes_seen = counts.total_wakes();
            ASSERT_LT(polls, 10);
        }
        EXPECT_EQ(*p, 21);
        EXPECT_EQ(polls, 3);
        EXPECT_EQ(counts.wakes_by_ref.load(), 2);
    }
    // Everything the Task cloned was dropped; only `w` is left.
    EXPECT_EQ(counts.live.load(), 1);
    EXPECT_EQ(counts.clones.load(), counts.drops.load());
    EXPECT_EQ(counts.clones.load(), 2);
}

TEST(Task, LeafSeesTheWakerOfTheMostRecentPoll) {
    WakeCounts first_counts;
    WakeCounts second_counts;
    Waker first = make_counting_waker(first_counts);
    Waker second = make_counting_waker(second_counts);
    auto state = manual_state<int>();
    Task<int> t = add_one(ManualFuture<int>(state));
    {
        Context cx(first);
        EXPECT_TRUE(t.poll(cx).is_pending());
    }
    {
        Context cx(second);
        EXPECT_TRUE(t.poll(cx).is_pending());
    }
    EXPECT_TRUE(state->waker.will_wake(second));
    EXPECT_EQ(first_counts.live.load(), 1);  // the stale clone was dropped
    state->complete(1);
    EXPECT_EQ(first_counts.total_wakes(), 0);
    EXPECT_EQ(second_counts.total_wakes(), 1);
    Context cx(second);
    Poll<int> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 2);
}

TEST(Task, ASuspendedTaskCanBeMovedAndFinishesFromItsNewPlace) {
    Waker w = Waker::noop();
    Context cx(w);
    auto state = manual_state<int>();
    Task<int> a = add_one(ManualFuture<int>(state));
    EXPECT_TRUE(a.poll(cx).is_pending());
    Task<int> b = std::move(a);
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
    Task<int> c;
    c = std::move(b);
    state->complete(9);
    Poll<int> p = c.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 10);
}

Task<int> hold_counter_then_await(DropCounts& drops, std::shared_ptr<ManualState<int>> state) {
    DropCounter local(drops);
    co_return co_await ManualFuture<int>(std::move(state));
}

TEST(Task, MoveAssigningOverASuspendedTaskCancelsIt) {
    DropCounts drops;
    Waker w = Waker::noop();
    Context cx(w);
    auto state = manual_state<int>();
    Task<int> t = hold_counter_then_await(drops, state);
    EXPECT_TRUE(t.poll(cx).is_pending());
    EXPECT_EQ(drops.alive(), 1);
    t = answer();
    EXPECT_EQ(drops.alive(), 0);
    EXPECT_EQ(state.use_count(), 1);  // the awaited future was destroyed
    Poll<int> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 42);
}

// ---- waking from another thread ----------------------------------------------

/// A queue of ints filled by another thread; the receiving future takes the
/// waker out under the lock so the sender wakes it by value outside the lock.
struct Mailbox {
    std::mutex mutex;
    std::deque<int> items;
    bool closed = false;
    Waker waker;
    int pending_polls = 0;

    void push(int v) {
        Waker to_wake;
        {
            std::lock_guard lock(mutex);
            items.push_back(v);
            to_wake = std::move(waker);
        }
        std::move(to_wake).wake();
    }
    void close() {
        Waker to_wake;
        {
            std::lock_guard lock(mutex);
            closed = true;
            to_wake = std::move(waker);
        }
        std::move(to_wake).wake();
    }
};

class MailboxRecv {
public:
    using Output = std::optional<int>;
    explicit MailboxRecv(Mailbox& box) : box_(&box) {}
    Poll<std::optional<int>> poll(Context& cx) {
        std::lock_guard lock(box_->mutex);
        if (!box_->items.empty()) {
            int v = box_->items.front();
            box_->items.pop_front();
            return Ready(std::optional<int>(v));
        }
        if (box_->closed) return Ready(std::optional<int>());
        ++box_->pending_polls;
        box_->waker.clone_from(cx.waker());
        return Pending;
    }

private:
    Mailbox* box_;
};

Task<long> sum_mailbox(Mailbox& box) {
    long sum = 0;
    for (;;) {
        std::optional<int> v = co_await MailboxRecv(box);
        if (!v) break;
        sum += *v;
    }
    co_return sum;
}

Task<long> sum_mailbox_nested(Mailbox& box) { co_return co_await sum_mailbox(box); }

TEST(Task, AWakeFromAnotherThreadLetsTheTaskFinish) {
    ParkingWaker parker;
    {
        Mailbox box;
        Waker w = parker.waker();
        Context cx(w);
        Task<long> t = sum_mailbox_nested(box);
        ASSERT_TRUE(t.poll(cx).is_pending());

        std::jthread sender([&box] {
            box.push(7);
            box.close();
        });
        Poll<long> p = Pending;
        for (int polls = 0; polls < 10 && p.is_pending(); ++polls) {
            ASSERT_TRUE(parker.wait_for_wake()) << "the other thread's wake never arrived";
            p = t.poll(cx);
        }
        sender.join();
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(*p, 7);
    }
    EXPECT_EQ(parker.live(), 0);  // every clone the future took was dropped
}

TEST(Task, ManyWakesFromAnotherThreadArePolledOnlyAfterEachWake) {
    constexpr int kItems = 2000;
    ParkingWaker parker;
    {
        Mailbox box;
        Waker w = parker.waker();
        Context cx(w);
        Task<long> t = sum_mailbox_nested(box);
        std::jthread sender([&box] {
            for (int i = 1; i <= kItems; ++i) box.push(i);
            box.close();
        });
        int polls = 1;
        Poll<long> p = t.poll(cx);
        while (p.is_pending()) {
            ASSERT_TRUE(parker.wait_for_wake()) << "lost wake after " << polls << " polls";
            p = t.poll(cx);
            ++polls;
            ASSERT_LE(polls, kItems + 2);
        }
        sender.join();
        EXPECT_EQ(*p, static_cast<long>(kItems) * (kItems + 1) / 2);
        // Every Pending poll was followed by exactly one wait for a wake.
        EXPECT_LE(polls, parker.wakes() + 1);
    }
    EXPECT_EQ(parker.live(), 0);
}

TEST(Task, WakingAfterCompletionIsHarmless) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    auto state = manual_state<int>();
    Task<int> t = add_one(ManualFuture<int>(state));
    EXPECT_TRUE(t.poll(cx).is_pending());
    state->complete(1);
    ASSERT_TRUE(t.poll(cx).is_ready());
    EXPECT_FALSE(t.valid());

    // The leaf's stored waker outlives the task; waking it does nothing bad.
    state->waker.wake_by_ref();
    std::move(state->waker).wake();
    EXPECT_EQ(counts.total_wakes(), 3);
    EXPECT_THROW((void)t.poll(cx), std::logic_error);
    state.reset();
    EXPECT_EQ(counts.live.load(), 1);
    EXPECT_EQ(counts.clones.load(), counts.drops.load());
}

TEST(Task, WakingAfterCancellationIsHarmless) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    auto state = manual_state<int>();
    {
        Task<int> t = add_one(ManualFuture<int>(state));
        EXPECT_TRUE(t.poll(cx).is_pending());
    }
    EXPECT_EQ(state.use_count(), 1);
    state->complete(5);
    std::move(state->waker).wake();
    EXPECT_EQ(counts.total_wakes(), 2);
    EXPECT_EQ(counts.live.load(), 1);
}

// ---- exceptions -----------------------------------------------------------------

struct DeepError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

Task<int> throw_at_level_3(DropCounts& drops) {
    DropCounter local(drops, 3);
    throw DeepError("thrown at level 3");
    co_return local.value();
}

Task<int> level_2_of_throw(DropCounts& drops) {
    DropCounter local(drops, 2);
    int v = co_await throw_at_level_3(drops);
    co_return v + local.value();
}

Task<int> level_1_of_throw(DropCounts& drops) {
    DropCounter local(drops, 1);
    int v = co_await level_2_of_throw(drops);
    co_return v + local.value();
}

TEST(Task, AnExceptionPropagatesThroughThreeLevelsOfAwait) {
    DropCounts drops;
    Waker w = Waker::noop();
    Context cx(w);
    Task<int> t = level_1_of_throw(drops);
    try {
        (void)t.poll(cx);
        ADD_FAILURE() << "poll did not throw";
    } catch (const DeepError& e) {
        EXPECT_STREQ(e.what(), "thrown at level 3");
    }
    EXPECT_EQ(drops.constructed.load(), 3);
    EXPECT_EQ(drops.alive(), 0);  // every frame was unwound and freed
    EXPECT_FALSE(t.valid());
    EXPECT_THROW((void)t.poll(cx), std::logic_error);
}

Task<int> throw_after_resuming(std::shared_ptr<ManualState<int>> state) {
    int v = co_await ManualFuture<int>(std::move(state));
    if (v < 0) throw DeepError("negative");
    co_return v;
}

Task<int> middle_after_resuming(std::shared_ptr<ManualState<int>> state) {
    co_return co_await throw_after_resuming(std::move(state));
}

Task<int> outer_after_resuming(std::shared_ptr<ManualState<int>> state) {
    co_return co_await middle_after_resuming(std::move(state));
}

TEST(Task, AnExceptionThrownAfterAResumePropagatesThroughThreeLevels) {
    Waker w = Waker::noop();
    Context cx(w);
    auto state = manual_state<int>();
    Task<int> t = outer_after_resuming(state);
    EXPECT_TRUE(t.poll(cx).is_pending());
    state->complete(-1);
    EXPECT_THROW((void)t.poll(cx), DeepError);
    EXPECT_FALSE(t.valid());
}

Task<int> catch_from_child(std::shared_ptr<ManualState<int>> state) {
    try {
        co_return co_await throw_after_resuming(std::move(state));
    } catch (const DeepError&) {
        co_return -100;
    }
}

TEST(Task, AParentCanCatchItsChildsException) {
    Waker w = Waker::noop();
    Context cx(w);
    auto state = manual_state<int>();
    Task<int> t = catch_from_child(state);
    EXPECT_TRUE(t.poll(cx).is_pending());
    state->complete(-1);
    Poll<int> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, -100);
}

/// Pending on its first poll; throws when polled again (after a wake).
struct RepollState {
    Waker waker;
    int polls = 0;
};

class ThrowsWhenRepolled {
public:
    using Output = int;
    explicit ThrowsWhenRepolled(RepollState& state) : state_(&state) {}
    Poll<int> poll(Context& cx) {
        if (++state_->polls == 1) {
            state_->waker.clone_from(cx.waker());
            return Pending;
        }
        throw DeepError("leaf failed on re-poll");
    }

private:
    RepollState* state_;
};

Task<int> catch_leaf_error_and_continue(RepollState& repoll, std::shared_ptr<ManualState<int>> next,
                                        std::string& caught) {
    try {
        int unexpected = co_await ThrowsWhenRepolled(repoll);
        caught = "no exception, got " + std::to_string(unexpected);
    } catch (const DeepError& e) {
        caught = e.what();
    }
    int v = co_await ManualFuture<int>(std::move(next));  // the chain goes on suspending normally
    co_return v;
}

Task<int> outer_of_leaf_error(RepollState& repoll, std::shared_ptr<ManualState<int>> next, std::string& caught) {
    int v = co_await catch_leaf_error_and_continue(repoll, std::move(next), caught);
    co_return v + 1;
}

TEST(Task, ALeafThatThrowsOnAWakeDrivenRepollCanBeCaughtByItsAwaiter) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    RepollState repoll;
    auto next = manual_state<int>();
    std::string caught;
    {
        Task<int> t = outer_of_leaf_error(repoll, next, caught);
        EXPECT_TRUE(t.poll(cx).is_pending());
        EXPECT_EQ(repoll.polls, 1);
        EXPECT_TRUE(caught.empty());

        repoll.waker.wake_by_ref();
        EXPECT_TRUE(t.poll(cx).is_pending());  // caught, then pending on `next`
        EXPECT_EQ(repoll.polls, 2);
        EXPECT_EQ(caught, "leaf failed on re-poll");
        EXPECT_EQ(next->polls, 1);

        next->complete(10);
        Poll<int> p = t.poll(cx);
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(*p, 11);
    }
    repoll.waker = Waker();
    next.reset();
    EXPECT_EQ(counts.live.load(), 1);
    EXPECT_EQ(counts.clones.load(), counts.drops.load());
}

Task<int> await_repoll_thrower(RepollState& repoll, DropCounts& drops) {
    DropCounter local(drops, 3);
    co_return co_await ThrowsWhenRepolled(repoll);
}

Task<int> middle_of_repoll_thrower(RepollState& repoll, DropCounts& drops) {
    DropCounter local(drops, 2);
    co_return co_await await_repoll_thrower(repoll, drops);
}

Task<int> outer_of_repoll_thrower(RepollState& repoll, DropCounts& drops) {
    DropCounter local(drops, 1);
    co_return co_await middle_of_repoll_thrower(repoll, drops);
}

TEST(Task, ALeafThatThrowsOnAWakeDrivenRepollPropagatesToThePoller) {
    DropCounts drops;
    Waker w = Waker::noop();
    Context cx(w);
    RepollState repoll;
    Task<int> t = outer_of_repoll_thrower(repoll, drops);
    EXPECT_TRUE(t.poll(cx).is_pending());
    EXPECT_EQ(drops.alive(), 3);
    EXPECT_THROW((void)t.poll(cx), DeepError);
    EXPECT_EQ(drops.alive(), 0);
    EXPECT_FALSE(t.valid());
}

// ---- cancellation by destruction -------------------------------------------------

/// A leaf future that owns a DropCounter, so its destruction is observable.
///
/// Has a constructor on purpose: GCC 12 destroys a member twice when an
/// aggregate is brace-initialised from prvalues inside a co_await operand
/// (`co_await Agg{x, Member()}`); Clang 19 does not.
class CountedLeaf {
public:
    using Output = int;
    CountedLeaf(ManualFuture<int> inner, DropCounts& drops) : inner_(std::move(inner)), guard_(drops) {}
    Poll<int> poll(Context& cx) { return inner_.poll(cx); }

private:
    ManualFuture<int> inner_;
    DropCounter guard_;
};

Task<int> depth_3(DropCounts& drops, std::shared_ptr<ManualState<int>> state) {
    DropCounter local(drops, 3);
    int v = co_await CountedLeaf(ManualFuture<int>(std::move(state)), drops);
    co_return v + local.value();
}

Task<int> depth_2(DropCounts& drops, std::shared_ptr<ManualState<int>> state) {
    DropCounter local(drops, 2);
    int v = co_await depth_3(drops, std::move(state));
    co_return v + local.value();
}

Task<int> depth_1(DropCounts& drops, std::shared_ptr<ManualState<int>> state) {
    DropCounter local(drops, 1);
    int v = co_await depth_2(drops, std::move(state));
    co_return v + local.value();
}

TEST(Task, DestroyingASuspendedTaskAtDepthThreeRunsEveryDestructor) {
    DropCounts drops;
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    auto state = manual_state<int>();
    {
        Task<int> t = depth_1(drops, state);
        EXPECT_TRUE(t.poll(cx).is_pending());
        EXPECT_EQ(drops.constructed.load(), 4);  // three locals and the leaf's guard
        EXPECT_EQ(drops.alive(), 4);
        EXPECT_EQ(state.use_count(), 2);
    }
    EXPECT_EQ(drops.alive(), 0);
    EXPECT_EQ(state.use_count(), 1);  // the leaf future was destroyed
    state.reset();
    EXPECT_EQ(counts.live.load(), 1);
    EXPECT_EQ(counts.clones.load(), counts.drops.load());
}

TEST(Task, TheSameChainCompletesWhenItsLeafIsReady) {
    DropCounts drops;
    Waker w = Waker::noop();
    Context cx(w);
    auto state = manual_state<int>();
    Task<int> t = depth_1(drops, state);
    EXPECT_TRUE(t.poll(cx).is_pending());
    state->complete(100);
    Poll<int> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 106);
    EXPECT_EQ(drops.alive(), 0);
}

TEST(Task, ATaskSuspendedOnOneThreadIsResumedAndFreedOnAnother) {
    DropCounts drops;
    WakeCounts counts;
    {
        Waker w = make_counting_waker(counts);
        auto state = manual_state<int>();
        Task<int> t = depth_1(drops, state);
        {
            Context cx(w);
            ASSERT_TRUE(t.poll(cx).is_pending());
        }
        int result = 0;
        std::thread other([&] {
            // As a work-stealing worker would: complete, poll, finish, free.
            Context cx(w);
            state->complete(10);
            Poll<int> p = t.poll(cx);
            if (p.is_ready()) result = *p;
            t = Task<int>();
        });
        other.join();
        EXPECT_EQ(result, 16);
        EXPECT_EQ(drops.alive(), 0);
    }
    EXPECT_EQ(counts.live.load(), 0);
}

struct LoggedDestruction {
    std::vector<int>* log;
    int id;
    ~LoggedDestruction() { log->push_back(id); }
};

struct LoggedLeaf {
    using Output = int;
    ManualFuture<int> inner;
    std::vector<int>* log;
    Poll<int> poll(Context& cx) { return inner.poll(cx); }
    LoggedLeaf(ManualFuture<int> f, std::vector<int>* l) : inner(std::move(f)), log(l) {}
    LoggedLeaf(LoggedLeaf&& other) noexcept : inner(std::move(other.inner)), log(std::exchange(other.log, nullptr)) {}
    ~LoggedLeaf() {
        if (log) log->push_back(0);
    }
};

Task<int> logged(int level, std::vector<int>& log, std::shared_ptr<ManualState<int>> state) {
    LoggedDestruction local{&log, level};
    if (level == 3) co_return co_await LoggedLeaf(ManualFuture<int>(std::move(state)), &log);
    co_return co_await logged(level + 1, log, std::move(state));
}

TEST(Task, DestroyingASuspendedChainDestroysTheInnermostFrameFirst) {
    std::vector<int> log;
    Waker w = Waker::noop();
    Context cx(w);
    auto state = manual_state<int>();
    {
        Task<int> t = logged(1, log, state);
        EXPECT_TRUE(t.poll(cx).is_pending());
        EXPECT_TRUE(log.empty());
    }
    EXPECT_EQ(log, (std::vector<int>{0, 3, 2, 1}));
}

// ---- deep chains: constant stack, O(1) wakes ----------------------------------

/// A leaf that records where the stack is when it is polled.
class ProbeLeaf {
public:
    using Output = int;

    [[gnu::noinline]] Poll<int> poll(Context& cx) {
        auto frame = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
        if (polls == 0) first_poll_frame = frame;
        last_poll_frame = frame;
        ++polls;
        if (ready_) return Ready(value_);
        waker_.clone_from(cx.waker());
        return Pending;
    }

    void wake() const { waker_.wake_by_ref(); }
    void complete(int value) {
        value_ = value;
        ready_ = true;
        waker_.wake_by_ref();
    }

    int polls = 0;
    std::uintptr_t first_poll_frame = 0;
    std::uintptr_t last_poll_frame = 0;

private:
    bool ready_ = false;
    int value_ = 0;
    Waker waker_;
};

struct ChainCounters {
    long entered = 0;  // frames that started running
    long resumed = 0;  // frames that ran code after their await finished
    std::uintptr_t last_resume_frame = 0;
};

/// `depth` nested Task frames; the innermost awaits `leaf` in place. Each
/// frame adds one to the leaf's value.
Task<int> nest(int depth, ProbeLeaf& leaf, ChainCounters& c) {
    ++c.entered;
    int v = 0;
    if (depth == 1) {
        v = co_await leaf;
    } else {
        v = co_await nest(depth - 1, leaf, c);
    }
    ++c.resumed;
    c.last_resume_frame = stack_position();  // the outermost frame writes last
    co_return v + 1;
}

struct StackProbe {
    std::uintptr_t first_poll = 0;  // leaf poll reached by starting the chain
    std::uintptr_t repoll = 0;      // leaf poll after a wake
    std::uintptr_t resume = 0;      // outermost frame resumed by completion
    int result = 0;
};

[[gnu::noinline]] StackProbe probe_chain(int depth) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    ProbeLeaf leaf;
    ChainCounters c;
    StackProbe probe;
    Task<int> t = nest(depth, leaf, c);
    if (!t.poll(cx).is_pending()) return probe;
    probe.first_poll = leaf.first_poll_frame;
    leaf.wake();
    if (!t.poll(cx).is_pending()) return probe;
    probe.repoll = leaf.last_poll_frame;
    leaf.complete(0);
    Poll<int> p = t.poll(cx);
    if (!p.is_ready()) return probe;
    probe.resume = c.last_resume_frame;
    probe.result = *p;
    return probe;
}

TEST(Task, StackUseIsTheSameAtDepthOneAndTenThousand) {
    constexpr int kDeep = 10'000;
    StackProbe shallow = probe_chain(1);
    StackProbe deep = probe_chain(kDeep);
    ASSERT_EQ(shallow.result, 1);
    ASSERT_EQ(deep.result, kDeep);
    // A wake re-polls the leaf directly: no frame per level on the stack.
    EXPECT_LT(distance(shallow.repoll, deep.repoll), 4096u);
    // Starting the chain (symmetric transfer into each child) and finishing it
    // (final_suspend transferring to each parent) are tail calls.
    EXPECT_LT(distance(shallow.first_poll, deep.first_poll), 4096u);
    EXPECT_LT(distance(shallow.resume, deep.resume), 4096u);
}

TEST(Task, TenThousandWakesAtDepthTenThousandRepollOnlyTheLeaf) {
    constexpr int kDepth = 10'000;
    constexpr int kWakes = 10'000;
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    ProbeLeaf leaf;
    ChainCounters c;
    Task<int> t = nest(kDepth, leaf, c);
    ASSERT_TRUE(t.poll(cx).is_pending());
    ASSERT_EQ(c.entered, kDepth);
    ASSERT_EQ(c.resumed, 0);
    ASSERT_EQ(leaf.polls, 1);

    for (int i = 0; i < kWakes; ++i) {
        leaf.wake();
        ASSERT_TRUE(t.poll(cx).is_pending());
    }
    EXPECT_EQ(leaf.polls, 1 + kWakes);
    // No intermediate frame ran any code between the wakes.
    EXPECT_EQ(c.entered, kDepth);
    EXPECT_EQ(c.resumed, 0);
    EXPECT_EQ(counts.clones.load(), 1);  // the leaf kept its waker (will_wake)

    leaf.complete(5);
    Poll<int> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 5 + kDepth);
    EXPECT_EQ(c.resumed, kDepth);
}

TEST(Task, AChainOneHundredThousandDeepStartsAndCompletes) {
    constexpr int kDepth = 100'000;
    Waker w = Waker::noop();
    Context cx(w);
    ProbeLeaf leaf;
    ChainCounters c;
    Task<int> t = nest(kDepth, leaf, c);
    ASSERT_TRUE(t.poll(cx).is_pending());
    EXPECT_EQ(c.entered, kDepth);
    leaf.complete(0);
    Poll<int> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, kDepth);
    EXPECT_EQ(c.resumed, kDepth);
}

Task<void> nest_with_local(int depth, ProbeLeaf& leaf, DropCounts& drops) {
    DropCounter local(drops, depth);
    if (depth == 1) {
        (void)co_await leaf;
    } else {
        co_await nest_with_local(depth - 1, leaf, drops);
    }
}

TEST(Task, DestroyingASuspendedChainTenThousandDeepRunsEveryDestructor) {
    constexpr int kDepth = 10'000;
    DropCounts drops;
    Waker w = Waker::noop();
    Context cx(w);
    ProbeLeaf leaf;
    {
        Task<void> t = nest_with_local(kDepth, leaf, drops);
        ASSERT_TRUE(t.poll(cx).is_pending());
        EXPECT_EQ(drops.alive(), kDepth);
    }
    EXPECT_EQ(drops.constructed.load(), kDepth);
    EXPECT_EQ(drops.alive(), 0);
}

TEST(Task, DestroyingASuspendedChainOneHundredThousandDeepNeedsNoDeepStack) {
    constexpr int kDepth = 100'000;
    DropCounts drops;
    Waker w = Waker::noop();
    Context cx(w);
    ProbeLeaf leaf;
    {
        Task<void> t = nest_with_local(kDepth, leaf, drops);
        ASSERT_TRUE(t.poll(cx).is_pending());
        EXPECT_EQ(drops.alive(), kDepth);
    }
    EXPECT_EQ(drops.alive(), 0);
}

Task<int> immediately_ready_child(int i) { co_return i % 3; }

Task<long> await_many_children(int n) {
    long sum = 0;
    for (int i = 0; i < n; ++i) sum += co_await immediately_ready_child(i);
    co_return sum;
}

TEST(Task, AwaitingOneHundredThousandReadyChildrenInALoopNeedsNoDeepStack) {
    constexpr int kChildren = 100'000;
    Waker w = Waker::noop();
    Context cx(w);
    Task<long> t = await_many_children(kChildren);
    Poll<long> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    long expected = 0;
    for (int i = 0; i < kChildren; ++i) expected += i % 3;
    EXPECT_EQ(*p, expected);
}

// ---- empty and consumed Tasks ----------------------------------------------------

TEST(Task, PollingAnEmptyTaskThrowsLogicError) {
    Waker w = Waker::noop();
    Context cx(w);
    Task<int> empty;
    EXPECT_FALSE(empty.valid());
    EXPECT_FALSE(static_cast<bool>(empty));
    EXPECT_THROW((void)empty.poll(cx), std::logic_error);

    Task<int> a = answer();
    Task<int> b = std::move(a);
    EXPECT_THROW((void)a.poll(cx), std::logic_error);  // NOLINT(bugprone-use-after-move)
    Poll<int> p = b.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 42);
    EXPECT_THROW((void)b.poll(cx), std::logic_error);  // completed
}

Task<int> await_moved_from_task(bool& threw) {
    Task<int> a = answer();
    Task<int> b = std::move(a);
    try {
        (void)co_await a;  // NOLINT(bugprone-use-after-move): that is the point
    } catch (const std::logic_error&) {
        threw = true;
    }
    co_return co_await b;
}

TEST(Task, AwaitingAMovedFromTaskThrowsLogicError) {
    Waker w = Waker::noop();
    Context cx(w);
    bool threw = false;
    Task<int> t = await_moved_from_task(threw);
    Poll<int> p = t.poll(cx);
    EXPECT_TRUE(threw);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 42);
}

Task<int> await_moved_from_task_uncaught() {
    Task<int> a = answer();
    Task<int> b = std::move(a);
    co_return co_await a;  // NOLINT(bugprone-use-after-move)
}

TEST(Task, AwaitingAMovedFromTaskThrowsToThePoller) {
    Waker w = Waker::noop();
    Context cx(w);
    Task<int> t = await_moved_from_task_uncaught();
    EXPECT_THROW((void)t.poll(cx), std::logic_error);
}

Task<int> await_lvalue_task_twice(bool& valid_after_first, bool& second_threw) {
    Task<int> child = answer();
    int v = co_await child;
    valid_after_first = child.valid();
    try {
        v += co_await child;
    } catch (const std::logic_error&) {
        second_threw = true;
    }
    co_return v;
}

TEST(Task, AwaitingAnLvalueTaskConsumesIt) {
    Waker w = Waker::noop();
    Context cx(w);
    bool valid_after_first = true;
    bool second_threw = false;
    Task<int> t = await_lvalue_task_twice(valid_after_first, second_threw);
    Poll<int> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 42);
    EXPECT_FALSE(valid_after_first);
    EXPECT_TRUE(second_threw);
}

// ---- output types -----------------------------------------------------------------

Task<void> set_after_yield(int& x) {
    co_await task::yield_now();
    x = 1;
}

Task<void> void_parent(int& x) {
    co_await set_after_yield(x);
    x += 1;
}

TEST(Task, TaskOfVoidWorks) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    int x = 0;
    Task<void> t = void_parent(x);
    Poll<void> p = t.poll(cx);
    EXPECT_TRUE(p.is_pending());
    EXPECT_EQ(x, 0);
    EXPECT_EQ(counts.wakes_by_ref.load(), 1);
    p = t.poll(cx);
    EXPECT_TRUE(p.is_ready());
    EXPECT_EQ(x, 2);
}

Task<std::string> make_string(std::string prefix) {
    co_await task::yield_now();
    co_return prefix + std::string(200, '!');
}

Task<std::string> wrap_string() {
    std::string s = co_await make_string("hello");
    co_return "[" + s + "]";
}

TEST(Task, TaskOfStringWorks) {
    Waker w = Waker::noop();
    Context cx(w);
    Task<std::string> t = wrap_string();
    EXPECT_TRUE(t.poll(cx).is_pending());
    Poll<std::string> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, "[hello" + std::string(200, '!') + "]");
}

Task<std::unique_ptr<int>> make_box(int v) {
    co_await task::yield_now();
    auto box = std::make_unique<int>(v);
    co_return box;  // implicitly moved
}

Task<int> unbox(int v) {
    std::unique_ptr<int> box = co_await make_box(v);
    co_return *box;
}

TEST(Task, TaskOfAMoveOnlyTypeWorks) {
    Waker w = Waker::noop();
    Context cx(w);
    {
        Task<std::unique_ptr<int>> t = make_box(8);
        EXPECT_TRUE(t.poll(cx).is_pending());
        Poll<std::unique_ptr<int>> p = t.poll(cx);
        ASSERT_TRUE(p.is_ready());
        std::unique_ptr<int> box = std::move(p).take();
        ASSERT_NE(box, nullptr);
        EXPECT_EQ(*box, 8);
    }
    Task<int> t = unbox(9);
    EXPECT_TRUE(t.poll(cx).is_pending());
    Poll<int> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 9);
}

// ---- awaiting futures in place ------------------------------------------------------

/// Cannot be copied or moved; records the address it is polled at.
class ImmovableFuture {
public:
    using Output = int;
    explicit ImmovableFuture(std::vector<const void*>& seen) : seen_(&seen) {}
    ImmovableFuture(const ImmovableFuture&) = delete;
    ImmovableFuture& operator=(const ImmovableFuture&) = delete;
    Poll<int> poll(Context& cx) {
        seen_->push_back(this);
        if (seen_->size() == 1) {
            cx.waker().wake_by_ref();
            return Pending;
        }
        return Ready(3);
    }

private:
    std::vector<const void*>* seen_;
};

Task<int> await_in_place(std::vector<const void*>& seen, const void*& where) {
    ImmovableFuture fut(seen);
    where = &fut;
    int v = co_await fut;
    co_return v;
}

TEST(Task, AwaitingAnLvalueFutureAwaitsItInPlace) {
    Waker w = Waker::noop();
    Context cx(w);
    std::vector<const void*> seen;
    const void* where = nullptr;
    Task<int> t = await_in_place(seen, where);
    EXPECT_TRUE(t.poll(cx).is_pending());
    Poll<int> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 3);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0], where);
    EXPECT_EQ(seen[1], where);
}

/// A hand-written future that drives a Task inside its own poll: the inner
/// Task's chain must stay separate from the Task awaiting this future.
template <class T>
class PollsATask {
public:
    using Output = T;
    explicit PollsATask(Task<T> inner) : inner_(std::move(inner)) {}
    Poll<T> poll(Context& cx) { return inner_.poll(cx); }

private:
    Task<T> inner_;
};

Task<int> await_future_that_polls_a_task(std::shared_ptr<ManualState<int>> inner_state,
                                         std::shared_ptr<ManualState<int>> outer_state, DropCounts& drops) {
    DropCounter local(drops);
    int a = co_await PollsATask<int>(add_one(ManualFuture<int>(std::move(inner_state))));
    int b = co_await ManualFuture<int>(std::move(outer_state));
    co_return a * 100 + b;
}

TEST(Task, ATaskPolledInsideAnotherTasksFutureKeepsItsOwnChain) {
    DropCounts drops;
    Waker w = Waker::noop();
    Context cx(w);
    auto inner_state = manual_state<int>();
    auto outer_state = manual_state<int>();
    Task<int> t = await_future_that_polls_a_task(inner_state, outer_state, drops);
    EXPECT_TRUE(t.poll(cx).is_pending());
    EXPECT_EQ(inner_state->polls, 1);
    EXPECT_EQ(outer_state->polls, 0);
    EXPECT_TRUE(t.poll(cx).is_pending());  // spurious re-poll: reaches the inner leaf
    EXPECT_EQ(inner_state->polls, 2);
    inner_state->complete(4);
    EXPECT_TRUE(t.poll(cx).is_pending());
    EXPECT_EQ(outer_state->polls, 1);
    outer_state->complete(7);
    Poll<int> p = t.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 507);
    EXPECT_EQ(drops.alive(), 0);
}

TEST(Task, DestroyingATaskAlsoDestroysATaskHeldByItsAwaitedFuture) {
    DropCounts drops;
    Waker w = Waker::noop();
    Context cx(w);
    auto inner_state = manual_state<int>();
    auto outer_state = manual_state<int>();
    {
        Task<int> t = await_future_that_polls_a_task(inner_state, outer_state, drops);
        EXPECT_TRUE(t.poll(cx).is_pending());
    }
    EXPECT_EQ(drops.alive(), 0);
    EXPECT_EQ(inner_state.use_count(), 1);
    EXPECT_EQ(outer_state.use_count(), 1);
}

Task<int> await_started_child(Task<int> child) { co_return co_await std::move(child); }

// A child Task already polled by hand (suspended on its own leaf) is awaited
// as an ordinary future: polled once when awaited, then again on each wake,
// and it completes only when its leaf does (as a started future in Tokio).
TEST(Task, AwaitingATaskThatWasAlreadyPolledWaitsForItsLeaf) {
    Waker w = Waker::noop();
    Context cx(w);
    auto state = manual_state<int>();
    Task<int> child = add_one(ManualFuture<int>(state));
    ASSERT_TRUE(child.poll(cx).is_pending());
    Task<int> parent = await_started_child(std::move(child));
    EXPECT_TRUE(parent.poll(cx).is_pending());
    EXPECT_EQ(state->polls, 2);  // by hand, then once when the parent awaited it
    state->complete(1);
    Poll<int> p = parent.poll(cx);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 2);
}

// ---- yield_now ----------------------------------------------------------------------

TEST(Task, YieldNowIsPendingExactlyOnceAndWakesItsTask) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    auto fut = task::yield_now();
    EXPECT_TRUE(fut.poll(cx).is_pending());
    EXPECT_EQ(counts.wakes_by_ref.load(), 1);
    EXPECT_EQ(counts.clones.load(), 0);
    EXPECT_TRUE(fut.poll(cx).is_ready());
    EXPECT_TRUE(fut.poll(cx).is_ready());
    EXPECT_EQ(counts.total_wakes(), 1);
}

Task<int> yield_n_times(int n) {
    int yielded = 0;
    for (int i = 0; i < n; ++i) {
        co_await task::yield_now();
        ++yielded;
    }
    co_return yielded;
}

TEST(Task, EachYieldNowInATaskIsOnePendingPollAndOneWake) {
    constexpr int kYields = 1000;
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    Task<int> t = yield_n_times(kYields);
    int pending = 0;
    Poll<int> p = t.poll(cx);
    while (p.is_pending() && pending < 2 * kYields) {
        ++pending;
        ASSERT_EQ(counts.wakes_by_ref.load(), pending);  // woken before every Pending
        p = t.poll(cx);
    }
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, kYields);
    EXPECT_EQ(pending, kYields);
    EXPECT_EQ(counts.live.load(), 1);
}

// A future whose output can be move-constructed but not move-assigned.
struct ReadyDropCounter {
    using Output = test::DropCounter;
    test::DropCounts* counts;
    int value;
    Poll<test::DropCounter> poll(Context&) { return Ready(test::DropCounter(*counts, value)); }
};

TEST(Task, AwaitsFuturesAndTasksWhoseOutputCannotBeAssigned) {
    test::DropCounts counts;
    {
        auto child = [](test::DropCounts& c) -> Task<test::DropCounter> { co_return test::DropCounter(c, 2); };
        auto parent = [](test::DropCounts& c, auto make_child) -> Task<int> {
            test::DropCounter a = co_await ReadyDropCounter{&c, 1};
            test::DropCounter b = co_await make_child(c);
            co_return a.value() + b.value();
        };
        Task<int> task = parent(counts, child);
        Waker w = Waker::noop();
        Context cx(w);
        Poll<int> p = task.poll(cx);
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(*p, 3);
    }
    EXPECT_EQ(counts.alive(), 0);
}

}  // namespace
}  // namespace corio
