// Tests of <corio/future.hpp>: Poll, Waker, Context and the Future concept.
#include "corio/future.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "corio/task.hpp"
#include "support/counting_waker.hpp"

namespace corio {
namespace {

using test::make_counting_waker;
using test::WakeCounts;

// ---- Poll: compile-time properties -----------------------------------------

// Ready(x) is the only way in: a stray `false` must not become a Poll<bool>.
static_assert(!std::is_convertible_v<int, Poll<int>>);
static_assert(!std::is_convertible_v<bool, Poll<bool>>);
static_assert(!std::is_convertible_v<std::string, Poll<std::string>>);
static_assert(!std::is_constructible_v<Poll<int>, int>);
static_assert(std::is_convertible_v<PendingT, Poll<int>>);
static_assert(std::is_convertible_v<PendingT, Poll<void>>);
static_assert(std::is_same_v<decltype(Ready(1)), Poll<int>>);
static_assert(std::is_same_v<decltype(Ready()), Poll<void>>);
static_assert(std::is_same_v<decltype(Ready(std::string("x"))), Poll<std::string>>);
// Ready(x) converts to a Poll of a type constructible from x's type.
static_assert(std::is_convertible_v<Poll<int>, Poll<long>>);
static_assert(std::is_convertible_v<Poll<const char*>, Poll<std::string>>);
static_assert(!std::is_convertible_v<Poll<std::string>, Poll<int>>);
// A Poll is not contextually a bool by accident of conversion.
static_assert(!std::is_convertible_v<Poll<int>, bool>);
static_assert(std::is_constructible_v<bool, Poll<int>>);

TEST(Poll, ReadyHoldsItsValue) {
    Poll<int> p = Ready(42);
    EXPECT_TRUE(p.is_ready());
    EXPECT_FALSE(p.is_pending());
    EXPECT_TRUE(static_cast<bool>(p));
    EXPECT_EQ(p.value(), 42);
    EXPECT_EQ(*p, 42);
}

TEST(Poll, PendingHoldsNothing) {
    Poll<int> p = Pending;
    EXPECT_TRUE(p.is_pending());
    EXPECT_FALSE(p.is_ready());
    EXPECT_FALSE(static_cast<bool>(p));
}

TEST(Poll, ReadyOfFalseIsReadyNotPending) {
    Poll<bool> p = Ready(false);
    EXPECT_TRUE(p.is_ready());
    EXPECT_FALSE(*p);
}

TEST(Poll, ValueCanBeModifiedInPlace) {
    Poll<std::string> p = Ready(std::string("ab"));
    p.value() += "c";
    *p += "d";
    EXPECT_EQ(p->size(), 4u);
    EXPECT_EQ(*p, "abcd");
}

TEST(Poll, ConstPollExposesConstValue) {
    const Poll<std::string> p = Ready(std::string("x"));
    static_assert(std::is_same_v<decltype(p.value()), const std::string&>);
    static_assert(std::is_same_v<decltype(*p), const std::string&>);
    EXPECT_EQ(p->size(), 1u);
}

TEST(Poll, TakeMovesTheValueOut) {
    Poll<std::string> p = Ready(std::string(100, 'x'));
    std::string s = std::move(p).take();
    EXPECT_EQ(s, std::string(100, 'x'));
}

TEST(Poll, TakeWorksForMoveOnlyValues) {
    Poll<std::unique_ptr<int>> p = Ready(std::make_unique<int>(7));
    std::unique_ptr<int> v = std::move(p).take();
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(*v, 7);
}

TEST(Poll, RvalueValueAndDereferenceMoveTheValue) {
    Poll<std::unique_ptr<int>> p = Ready(std::make_unique<int>(1));
    static_assert(std::is_same_v<decltype(std::move(p).value()), std::unique_ptr<int>&&>);
    static_assert(std::is_same_v<decltype(*std::move(p)), std::unique_ptr<int>&&>);
    std::unique_ptr<int> v = *std::move(p);
    EXPECT_EQ(*v, 1);
}

TEST(Poll, ReadyConvertsToAPollOfAWiderType) {
    Poll<long> p = Ready(5);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 5L);
    Poll<std::string> s = Ready("hello");
    ASSERT_TRUE(s.is_ready());
    EXPECT_EQ(*s, "hello");
}

TEST(Poll, ConvertingAPendingPollStaysPending) {
    Poll<int> pending = Pending;
    Poll<long> p = std::move(pending);
    EXPECT_TRUE(p.is_pending());
}

TEST(Poll, MapTransformsAReadyValue) {
    Poll<std::string> p = Ready(std::string("four"));
    Poll<std::size_t> n = std::move(p).map([](std::string s) { return s.size(); });
    ASSERT_TRUE(n.is_ready());
    EXPECT_EQ(*n, 4u);
}

TEST(Poll, MapCanChangeToAMoveOnlyType) {
    Poll<int> p = Ready(3);
    auto q = std::move(p).map([](int v) { return std::make_unique<int>(v * 2); });
    static_assert(std::is_same_v<decltype(q), Poll<std::unique_ptr<int>>>);
    ASSERT_TRUE(q.is_ready());
    EXPECT_EQ(**q, 6);
}

TEST(Poll, MapOnPendingStaysPendingAndDoesNotCallTheFunction) {
    Poll<int> p = Pending;
    bool called = false;
    Poll<int> q = std::move(p).map([&](int v) {
        called = true;
        return v + 1;
    });
    EXPECT_TRUE(q.is_pending());
    EXPECT_FALSE(called);
}

TEST(Poll, InPlaceConstructsTheValue) {
    Poll<std::string> p(std::in_place, 3, 'z');
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, "zzz");
}

TEST(Poll, VoidReadyAndPending) {
    Poll<void> ready = Ready();
    EXPECT_TRUE(ready.is_ready());
    EXPECT_FALSE(ready.is_pending());
    EXPECT_TRUE(static_cast<bool>(ready));
    std::move(ready).take();

    Poll<void> pending = Pending;
    EXPECT_TRUE(pending.is_pending());
    EXPECT_FALSE(pending.is_ready());
    EXPECT_FALSE(static_cast<bool>(pending));
}

// ---- Waker ------------------------------------------------------------------

TEST(Waker, DefaultConstructedIsANoop) {
    Waker w;
    EXPECT_TRUE(w.is_noop());
    w.wake_by_ref();
    Waker clone = w;
    EXPECT_TRUE(clone.is_noop());
    std::move(w).wake();
    EXPECT_TRUE(w.is_noop());
}

TEST(Waker, NoopWakersWakeNothingAndWillWakeEachOther) {
    Waker a = Waker::noop();
    Waker b = Waker::noop();
    EXPECT_TRUE(a.is_noop());
    EXPECT_TRUE(a.will_wake(b));
    a.wake_by_ref();
    std::move(b).wake();
    EXPECT_TRUE(b.is_noop());
}

TEST(Waker, FromRawAdoptsTheReferenceAndDropsItOnDestruction) {
    WakeCounts counts;
    {
        Waker w = make_counting_waker(counts);
        EXPECT_FALSE(w.is_noop());
        EXPECT_EQ(counts.live.load(), 1);
        EXPECT_EQ(counts.clones.load(), 0);
    }
    EXPECT_EQ(counts.clones.load(), 0);
    EXPECT_EQ(counts.drops.load(), 1);
    EXPECT_EQ(counts.live.load(), 0);
}

TEST(Waker, FromRawKeepsTheDataAndVTable) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    EXPECT_EQ(w.as_raw().data, &counts);
    Waker again = Waker::from_raw(RawWaker{w.as_raw().data, w.as_raw().vtable});
    counts.live.fetch_add(1);  // `again` owns a reference that no clone accounted for
    EXPECT_TRUE(again.will_wake(w));
    again.wake_by_ref();
    EXPECT_EQ(counts.wakes_by_ref.load(), 1);
}

TEST(Waker, CopyClonesAndEveryCloneIsDropped) {
    WakeCounts counts;
    {
        Waker w = make_counting_waker(counts);
        {
            Waker a = w;
            Waker b = a;
            EXPECT_EQ(counts.clones.load(), 2);
            EXPECT_EQ(counts.live.load(), 3);
            EXPECT_TRUE(a.will_wake(w));
            EXPECT_TRUE(b.will_wake(w));
        }
        EXPECT_EQ(counts.drops.load(), 2);
        EXPECT_EQ(counts.live.load(), 1);
    }
    EXPECT_EQ(counts.clones.load(), 2);
    EXPECT_EQ(counts.drops.load(), 3);
    EXPECT_EQ(counts.live.load(), 0);
    EXPECT_EQ(counts.total_wakes(), 0);
}

TEST(Waker, WakeConsumesTheWakerAndReleasesItsReference) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Waker clone = w;
    std::move(clone).wake();
    EXPECT_EQ(counts.wakes.load(), 1);
    EXPECT_EQ(counts.wakes_by_ref.load(), 0);
    EXPECT_EQ(counts.drops.load(), 1);  // wake() released the clone's reference
    EXPECT_EQ(counts.live.load(), 1);
    EXPECT_TRUE(clone.is_noop());
    // The consumed waker is a no-op now: waking or destroying it counts nothing.
    clone.wake_by_ref();
    std::move(clone).wake();
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_EQ(counts.drops.load(), 1);
}

TEST(Waker, WakeByRefKeepsTheReference) {
    WakeCounts counts;
    {
        Waker w = make_counting_waker(counts);
        w.wake_by_ref();
        w.wake_by_ref();
        EXPECT_EQ(counts.wakes_by_ref.load(), 2);
        EXPECT_EQ(counts.wakes.load(), 0);
        EXPECT_EQ(counts.drops.load(), 0);
        EXPECT_EQ(counts.live.load(), 1);
        EXPECT_FALSE(w.is_noop());
    }
    EXPECT_EQ(counts.drops.load(), 1);
    EXPECT_EQ(counts.live.load(), 0);
}

TEST(Waker, WillWakeIsTrueForTheSameTargetAndFalseForAnother) {
    WakeCounts a_counts;
    WakeCounts b_counts;
    Waker a = make_counting_waker(a_counts);
    Waker a2 = a;
    Waker b = make_counting_waker(b_counts);
    EXPECT_TRUE(a.will_wake(a));
    EXPECT_TRUE(a.will_wake(a2));
    EXPECT_TRUE(a2.will_wake(a));
    EXPECT_FALSE(a.will_wake(b));
    EXPECT_FALSE(b.will_wake(a));
    EXPECT_FALSE(a.will_wake(Waker::noop()));
    EXPECT_FALSE(Waker::noop().will_wake(a));
}

TEST(Waker, CloneFromSkipsTheCloneWhenItWouldWakeTheSameTarget) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Waker stored = w;
    ASSERT_EQ(counts.clones.load(), 1);
    stored.clone_from(w);
    stored.clone_from(w);
    EXPECT_EQ(counts.clones.load(), 1);
    EXPECT_EQ(counts.drops.load(), 0);
    EXPECT_EQ(counts.live.load(), 2);
}

TEST(Waker, CloneFromADifferentTargetClonesItAndDropsTheOldOne) {
    WakeCounts old_counts;
    WakeCounts new_counts;
    Waker old_waker = make_counting_waker(old_counts);
    Waker new_waker = make_counting_waker(new_counts);
    Waker stored = old_waker;
    stored.clone_from(new_waker);
    EXPECT_TRUE(stored.will_wake(new_waker));
    EXPECT_EQ(old_counts.drops.load(), 1);
    EXPECT_EQ(old_counts.live.load(), 1);
    EXPECT_EQ(new_counts.clones.load(), 1);
    EXPECT_EQ(new_counts.live.load(), 2);
    stored.wake_by_ref();
    EXPECT_EQ(new_counts.wakes_by_ref.load(), 1);
    EXPECT_EQ(old_counts.total_wakes(), 0);
}

TEST(Waker, CloneFromIntoANoopWakerClones) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Waker stored;  // what a leaf future starts with
    stored.clone_from(w);
    EXPECT_EQ(counts.clones.load(), 1);
    EXPECT_TRUE(stored.will_wake(w));
    stored.clone_from(w);
    EXPECT_EQ(counts.clones.load(), 1);
}

TEST(Waker, CopyAssignmentSkipsTheCloneForTheSameTarget) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Waker stored;
    stored = w;
    EXPECT_EQ(counts.clones.load(), 1);
    stored = w;
    EXPECT_EQ(counts.clones.load(), 1);
    Waker& self = stored;
    stored = self;
    EXPECT_EQ(counts.clones.load(), 1);
    EXPECT_EQ(counts.live.load(), 2);
}

TEST(Waker, CopyAssignmentOfANoopReleasesTheOldTarget) {
    WakeCounts counts;
    Waker stored = make_counting_waker(counts);
    stored = Waker::noop();  // move assignment from a temporary
    EXPECT_EQ(counts.drops.load(), 1);
    EXPECT_EQ(counts.live.load(), 0);
    Waker w = make_counting_waker(counts);
    counts.live.fetch_add(1);
    Waker other = w;
    const Waker noop = Waker::noop();
    other = noop;  // copy assignment
    EXPECT_TRUE(other.is_noop());
    EXPECT_EQ(counts.drops.load(), 2);
}

TEST(Waker, MovedFromWakerIsANoop) {
    WakeCounts counts;
    Waker a = make_counting_waker(counts);
    Waker b = std::move(a);
    EXPECT_TRUE(a.is_noop());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
    EXPECT_FALSE(b.is_noop());
    a.wake_by_ref();
    std::move(a).wake();
    Waker c = a;
    EXPECT_EQ(counts.total_wakes(), 0);
    EXPECT_EQ(counts.clones.load(), 0);
    EXPECT_EQ(counts.drops.load(), 0);
    EXPECT_EQ(counts.live.load(), 1);
    b.wake_by_ref();
    EXPECT_EQ(counts.wakes_by_ref.load(), 1);
}

TEST(Waker, MoveAssignmentDropsTheOldTargetAndTransfersTheNewOne) {
    WakeCounts old_counts;
    WakeCounts new_counts;
    Waker stored = make_counting_waker(old_counts);
    Waker incoming = make_counting_waker(new_counts);
    stored = std::move(incoming);
    EXPECT_EQ(old_counts.drops.load(), 1);
    EXPECT_EQ(old_counts.live.load(), 0);
    EXPECT_EQ(new_counts.clones.load(), 0);
    EXPECT_EQ(new_counts.drops.load(), 0);
    EXPECT_TRUE(incoming.is_noop());  // NOLINT(bugprone-use-after-move)
    Waker& self = stored;
    stored = std::move(self);
    EXPECT_FALSE(stored.is_noop());
    EXPECT_EQ(new_counts.drops.load(), 0);
}

TEST(Waker, IntoRawGivesUpOwnershipWithoutDropping) {
    WakeCounts counts;
    RawWaker raw;
    {
        Waker w = make_counting_waker(counts);
        raw = std::move(w).into_raw();
        EXPECT_TRUE(w.is_noop());  // NOLINT(bugprone-use-after-move)
    }
    EXPECT_EQ(counts.drops.load(), 0);
    EXPECT_EQ(counts.live.load(), 1);
    {
        Waker back = Waker::from_raw(raw);
        std::move(back).wake();
    }
    EXPECT_EQ(counts.wakes.load(), 1);
    EXPECT_EQ(counts.drops.load(), 1);
    EXPECT_EQ(counts.live.load(), 0);
}

TEST(Waker, ClonesAndWakesFromManyThreadsBalance) {
    constexpr int kThreads = 4;
    constexpr int kPerThread = 1000;
    WakeCounts counts;
    {
        Waker w = make_counting_waker(counts);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            Waker mine = w;  // cloned here, moved to the thread
            threads.emplace_back([mine = std::move(mine)] {
                for (int i = 0; i < kPerThread; ++i) {
                    Waker c = mine;
                    if (i % 2 == 0) {
                        std::move(c).wake();
                    } else {
                        c.wake_by_ref();
                    }
                }
            });
        }
        for (auto& t : threads) t.join();
    }
    EXPECT_EQ(counts.clones.load(), kThreads + kThreads * kPerThread);
    EXPECT_EQ(counts.drops.load(), counts.clones.load() + 1);
    EXPECT_EQ(counts.live.load(), 0);
    EXPECT_EQ(counts.total_wakes(), kThreads * kPerThread);
}

// ---- Context ------------------------------------------------------------------

TEST(Context, ExposesTheWakerItWasBuiltFromWithoutCloning) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    EXPECT_EQ(&cx.waker(), &w);
    EXPECT_TRUE(cx.waker().will_wake(w));
    EXPECT_EQ(counts.clones.load(), 0);
    cx.waker().wake_by_ref();
    EXPECT_EQ(counts.wakes_by_ref.load(), 1);
}

TEST(Context, IsCopyableAndCannotBeBuiltFromATemporaryByConversion) {
    static_assert(std::is_trivially_copyable_v<Context>);
    static_assert(!std::is_convertible_v<const Waker&, Context>);  // explicit
    static_assert(!std::is_default_constructible_v<Context>);
    Waker w = Waker::noop();
    Context a(w);
    Context b = a;
    EXPECT_EQ(&b.waker(), &w);
}

// ---- The Future concept --------------------------------------------------------

struct CountdownFuture {
    using Output = int;
    int remaining;
    Poll<int> poll(Context& cx) {
        if (remaining == 0) return Ready(7);
        --remaining;
        cx.waker().wake_by_ref();
        return Pending;
    }
};

struct VoidFuture {
    using Output = void;
    Poll<void> poll(Context&) { return Ready(); }
};

struct NoOutput {
    Poll<int> poll(Context&) { return Ready(1); }
};

struct PollReturnsTheWrongPollType {
    using Output = int;
    Poll<long> poll(Context&) { return Ready(1L); }
};

struct PollReturnsABool {
    using Output = bool;
    bool poll(Context&) { return true; }
};

struct PollTakesNoContext {
    using Output = int;
    Poll<int> poll() { return Ready(1); }
};

struct PollTakesAWaker {
    using Output = int;
    Poll<int> poll(const Waker&) { return Ready(1); }
};

struct PollIsNotAFunction {
    using Output = int;
    int poll = 0;
};

struct PollWantsAnRvalueContext {
    using Output = int;
    Poll<int> poll(Context&&) { return Ready(1); }
};

static_assert(Future<CountdownFuture>);
static_assert(Future<VoidFuture>);
static_assert(Future<Task<int>>);
static_assert(Future<Task<void>>);
static_assert(Future<Task<std::unique_ptr<int>>>);
static_assert(Future<task::YieldNow>);
static_assert(!Future<NoOutput>);
static_assert(!Future<PollReturnsTheWrongPollType>);
static_assert(!Future<PollReturnsABool>);
static_assert(!Future<PollTakesNoContext>);
static_assert(!Future<PollTakesAWaker>);
static_assert(!Future<PollIsNotAFunction>);
static_assert(!Future<PollWantsAnRvalueContext>);
static_assert(!Future<int>);
static_assert(!Future<Poll<int>>);
static_assert(std::is_same_v<output_of<CountdownFuture>, int>);
static_assert(std::is_same_v<output_of<VoidFuture>, void>);
static_assert(std::is_same_v<output_of<Task<std::string>>, std::string>);

TEST(Future, AHandWrittenFutureIsDrivenToCompletionByPolling) {
    WakeCounts counts;
    Waker w = make_counting_waker(counts);
    Context cx(w);
    CountdownFuture fut{3};
    int polls = 0;
    Poll<int> p = Pending;
    while (polls < 100) {
        ++polls;
        p = fut.poll(cx);
        if (p.is_ready()) break;
    }
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 7);
    EXPECT_EQ(polls, 4);
    EXPECT_EQ(counts.wakes_by_ref.load(), 3);  // woken before every Pending
}

}  // namespace
}  // namespace corio
