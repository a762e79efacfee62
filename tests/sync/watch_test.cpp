// Tests of <corio/sync/watch.hpp>: borrowing, the version that tells a
// change from a value already seen (several sends coalesce into one
// change), send/send_modify/send_if_modified/send_replace and their error
// paths, subscribe and copies, mark_changed/mark_unchanged, changed() and
// wait_for() waking on send and failing once the sender is gone, closed()
// waking when the last receiver goes, deregistration of dropped waits, and
// many receivers on both runtimes, with changed() dropped mid-wait at
// random points.
//
// Hand-driven tests poll with counting wakers; runtime tests are bounded by
// time::timeout (a lost wake-up fails, it does not hang).
#include "corio/sync/watch.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/counting_waker.hpp"
#include "support/drop_after_polls.hpp"
#include "support/drop_counter.hpp"
#include "support/poll.hpp"
#include "support/runtime_flavors.hpp"
#include "support/sanitized.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using sync::watch::RecvError;
using test::bounded;
using test::DropAfterPolls;
using test::make_counting_waker;
using test::poll_with;
using test::WakeCounts;

// ---- borrowing and versions -----------------------------------------------------

TEST(WatchChannel, BorrowShowsTheInitialValueAsSeen) {
    auto [tx, rx] = sync::watch::channel<std::string>("init");
    {
        auto ref = rx.borrow();
        EXPECT_EQ(*ref, "init");
        EXPECT_EQ(ref->size(), 4u);
        EXPECT_FALSE(ref.has_changed());
    }
    EXPECT_EQ(*tx.borrow(), "init");
    EXPECT_EQ(rx.has_changed().value(), false);
}

TEST(WatchChannel, SendReplacesTheValueAndMarksItChanged) {
    auto [tx, rx] = sync::watch::channel(1);
    ASSERT_TRUE(tx.send(2).has_value());
    EXPECT_EQ(rx.has_changed().value(), true);
    {
        auto ref = rx.borrow();  // does not mark seen
        EXPECT_EQ(*ref, 2);
        EXPECT_TRUE(ref.has_changed());
    }
    EXPECT_EQ(rx.has_changed().value(), true);
    {
        auto ref = rx.borrow_and_update();
        EXPECT_EQ(*ref, 2);
        EXPECT_TRUE(ref.has_changed());
    }
    EXPECT_EQ(rx.has_changed().value(), false);
    EXPECT_FALSE(rx.borrow_and_update().has_changed());
}

TEST(WatchChannel, SendFailsWithoutReceiversAndGivesTheValueBack) {
    auto [tx, rx] = sync::watch::channel<std::string>("a");
    {
        auto gone = std::move(rx);
    }
    auto result = tx.send("b");
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().value, "b");
    EXPECT_EQ(*tx.borrow(), "a");  // unchanged
}

TEST(WatchChannel, SendReplaceWorksWithoutReceiversAndReturnsTheOldValue) {
    auto [tx, rx] = sync::watch::channel<std::string>("a");
    EXPECT_EQ(tx.send_replace("b"), "a");
    EXPECT_EQ(rx.has_changed().value(), true);
    {
        auto gone = std::move(rx);
    }
    EXPECT_EQ(tx.send_replace("c"), "b");
    EXPECT_EQ(*tx.borrow(), "c");
    auto late = tx.subscribe();
    EXPECT_EQ(*late.borrow(), "c");
}

TEST(WatchChannel, SendModifyChangesInPlaceAndAlwaysNotifies) {
    auto [tx, rx] = sync::watch::channel(std::vector<int>{1});
    tx.send_modify([](std::vector<int>& v) { v.push_back(2); });
    EXPECT_EQ(rx.has_changed().value(), true);
    EXPECT_EQ(rx.borrow_and_update()->size(), 2u);
    tx.send_modify([](std::vector<int>&) {});  // no change in value, still a new version
    EXPECT_EQ(rx.has_changed().value(), true);
}

TEST(WatchChannel, SendIfModifiedNotifiesOnlyWhenTheFunctionSaysSo) {
    auto [tx, rx] = sync::watch::channel(5);
    EXPECT_FALSE(tx.send_if_modified([](int& v) {
        v = 6;  // changed but reported unchanged: receivers are not told
        return false;
    }));
    EXPECT_EQ(rx.has_changed().value(), false);
    EXPECT_EQ(*rx.borrow(), 6);
    EXPECT_TRUE(tx.send_if_modified([](int& v) {
        v = 7;
        return true;
    }));
    EXPECT_EQ(rx.has_changed().value(), true);
}

TEST(WatchChannel, AThrowingModifyPropagatesAndNotifiesNobody) {
    auto [tx, rx] = sync::watch::channel(1);
    EXPECT_THROW(tx.send_modify([](int& v) {
        v = 2;
        throw std::runtime_error("boom");
    }),
                 std::runtime_error);
    EXPECT_EQ(rx.has_changed().value(), false);
    EXPECT_EQ(*rx.borrow(), 2);
    ASSERT_TRUE(tx.send(3).has_value());  // the lock was released
    EXPECT_EQ(*rx.borrow_and_update(), 3);
}

TEST(WatchChannel, SeveralSendsCoalesceIntoOneChange) {
    auto [tx, rx] = sync::watch::channel(0);
    for (int v = 1; v <= 5; ++v) ASSERT_TRUE(tx.send(v).has_value());
    auto first = rx.changed();
    auto p = poll_with(first, Waker::noop());
    ASSERT_TRUE(p.is_ready());
    EXPECT_TRUE(p->has_value());
    EXPECT_EQ(*rx.borrow(), 5);
    auto second = rx.changed();
    EXPECT_TRUE(poll_with(second, Waker::noop()).is_pending());
}

TEST(WatchChannel, MarkChangedAndMarkUnchangedSetTheSeenState) {
    auto [tx, rx] = sync::watch::channel(0);
    rx.mark_changed();
    EXPECT_EQ(rx.has_changed().value(), true);
    {
        auto fut = rx.changed();
        EXPECT_TRUE(poll_with(fut, Waker::noop()).is_ready());
    }
    EXPECT_EQ(rx.has_changed().value(), false);
    ASSERT_TRUE(tx.send(1).has_value());
    rx.mark_unchanged();
    EXPECT_EQ(rx.has_changed().value(), false);
    auto fut = rx.changed();
    EXPECT_TRUE(poll_with(fut, Waker::noop()).is_pending());
}

TEST(WatchChannel, SubscribeAndCopiesTrackWhatTheyHaveSeen) {
    auto [tx, rx] = sync::watch::channel(0);
    ASSERT_TRUE(tx.send(1).has_value());
    auto sub = tx.subscribe();  // the current value counts as seen
    EXPECT_EQ(sub.has_changed().value(), false);
    auto copy = rx;  // copies rx's unseen state
    EXPECT_EQ(copy.has_changed().value(), true);
    (void)copy.borrow_and_update();
    EXPECT_EQ(copy.has_changed().value(), false);
    EXPECT_EQ(rx.has_changed().value(), true);
    EXPECT_EQ(tx.receiver_count(), 3u);
    sync::watch::Receiver<int> assigned = tx.subscribe();
    assigned = rx;
    EXPECT_EQ(assigned.has_changed().value(), true);
    EXPECT_EQ(tx.receiver_count(), 4u);
    EXPECT_TRUE(assigned.same_channel(rx));
}

// ---- changed() -------------------------------------------------------------------

TEST(WatchChannel, ChangedWakesOnSend) {
    auto [tx, rx] = sync::watch::channel(0);
    WakeCounts counts;
    {
        Waker waker = make_counting_waker(counts);
        auto fut = rx.changed();
        EXPECT_TRUE(poll_with(fut, waker).is_pending());
        EXPECT_TRUE(poll_with(fut, waker).is_pending());
        EXPECT_EQ(counts.clones.load(), 1);  // same waker: not cloned again
        ASSERT_TRUE(tx.send(1).has_value());
        EXPECT_EQ(counts.total_wakes(), 1);
        auto p = poll_with(fut, waker);
        ASSERT_TRUE(p.is_ready());
        EXPECT_TRUE(p->has_value());
        EXPECT_EQ(rx.has_changed().value(), false);  // marked seen
    }
    EXPECT_EQ(counts.live.load(), 0);
}

TEST(WatchChannel, SendModifyWakesAWaitingReceiver) {
    auto [tx, rx] = sync::watch::channel(0);
    WakeCounts counts;
    auto fut = rx.changed();
    EXPECT_TRUE(poll_with(fut, make_counting_waker(counts)).is_pending());
    tx.send_modify([](int& v) { ++v; });
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(fut, Waker::noop()).is_ready());
}

TEST(WatchChannel, ChangedStoresTheMostRecentWaker) {
    auto [tx, rx] = sync::watch::channel(0);
    WakeCounts first, second;
    {
        auto fut = rx.changed();
        EXPECT_TRUE(poll_with(fut, make_counting_waker(first)).is_pending());
        EXPECT_TRUE(poll_with(fut, make_counting_waker(second)).is_pending());
        ASSERT_TRUE(tx.send(1).has_value());
        EXPECT_EQ(first.total_wakes(), 0);
        EXPECT_EQ(second.total_wakes(), 1);
    }
    EXPECT_EQ(first.live.load(), 0);
    EXPECT_EQ(second.live.load(), 0);
}

TEST(WatchChannel, EveryWaitingReceiverIsWokenBySend) {
    auto [tx, rx] = sync::watch::channel(0);
    constexpr int kReceivers = 70;  // more than one wake batch
    std::vector<sync::watch::Receiver<int>> receivers(kReceivers, rx);
    std::vector<WakeCounts> counts(kReceivers);
    std::vector<std::optional<sync::watch::Changed<int>>> futs(kReceivers);
    for (int i = 0; i < kReceivers; ++i) {
        futs[i].emplace(receivers[i].changed());
        EXPECT_TRUE(poll_with(*futs[i], make_counting_waker(counts[i])).is_pending());
    }
    ASSERT_TRUE(tx.send(1).has_value());
    for (int i = 0; i < kReceivers; ++i) {
        EXPECT_EQ(counts[i].total_wakes(), 1) << i;
        EXPECT_TRUE(poll_with(*futs[i], Waker::noop()).is_ready());
        futs[i].reset();
        EXPECT_EQ(counts[i].live.load(), 0);
    }
}

TEST(WatchChannel, DroppingAPendingChangedDeregistersItAndLosesNoChange) {
    auto [tx, rx] = sync::watch::channel(0);
    WakeCounts counts;
    {
        auto fut = rx.changed();
        EXPECT_TRUE(poll_with(fut, make_counting_waker(counts)).is_pending());
        EXPECT_EQ(counts.live.load(), 1);
    }
    EXPECT_EQ(counts.live.load(), 0);
    ASSERT_TRUE(tx.send(1).has_value());
    EXPECT_EQ(counts.total_wakes(), 0);
    EXPECT_EQ(rx.has_changed().value(), true);  // the change is still there
}

TEST(WatchChannel, ChangedErrorsOnceTheSenderIsGone) {
    auto [tx, rx] = sync::watch::channel(0);
    WakeCounts counts;
    auto fut = rx.changed();
    EXPECT_TRUE(poll_with(fut, make_counting_waker(counts)).is_pending());
    {
        auto gone = std::move(tx);
    }
    EXPECT_EQ(counts.total_wakes(), 1);
    auto p = poll_with(fut, Waker::noop());
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->error(), RecvError{});
    EXPECT_EQ(rx.has_changed().error(), RecvError{});
    EXPECT_EQ(*rx.borrow(), 0);  // the last value stays readable
}

TEST(WatchChannel, AChangeSentBeforeTheSenderWentIsStillReported) {
    auto [tx, rx] = sync::watch::channel(0);
    ASSERT_TRUE(tx.send(9).has_value());
    {
        auto gone = std::move(tx);
    }
    EXPECT_EQ(rx.has_changed().value(), true);
    auto first = rx.changed();
    auto p = poll_with(first, Waker::noop());
    ASSERT_TRUE(p.is_ready());
    EXPECT_TRUE(p->has_value());
    auto second = rx.changed();
    auto q = poll_with(second, Waker::noop());
    ASSERT_TRUE(q.is_ready());
    EXPECT_FALSE(q->has_value());
}

// ---- wait_for() ------------------------------------------------------------------

TEST(WatchChannel, WaitForReturnsAtOnceWhenTheCurrentValueMatches) {
    auto [tx, rx] = sync::watch::channel(4);
    auto fut = rx.wait_for([](const int& v) { return v % 2 == 0; });
    auto p = poll_with(fut, Waker::noop());
    ASSERT_TRUE(p.is_ready());
    ASSERT_TRUE(p->has_value());
    EXPECT_EQ(***p, 4);
    EXPECT_FALSE((*p)->has_changed());
}

TEST(WatchChannel, WaitForWaitsUntilAValueMatchesAndMarksItSeen) {
    auto [tx, rx] = sync::watch::channel(1);
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto fut = rx.wait_for([](const int& v) { return v >= 3; });
    EXPECT_TRUE(poll_with(fut, waker).is_pending());
    ASSERT_TRUE(tx.send(2).has_value());
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(fut, waker).is_pending());
    ASSERT_TRUE(tx.send(3).has_value());
    EXPECT_EQ(counts.total_wakes(), 2);
    {
        auto p = poll_with(fut, waker);
        ASSERT_TRUE(p.is_ready());
        ASSERT_TRUE(p->has_value());
        EXPECT_EQ(***p, 3);
        EXPECT_TRUE((*p)->has_changed());
    }
    EXPECT_EQ(rx.has_changed().value(), false);
}

TEST(WatchChannel, WaitForErrorsWhenTheSenderGoesWithoutAMatch) {
    auto [tx, rx] = sync::watch::channel(1);
    auto fut = rx.wait_for([](const int& v) { return v > 10; });
    EXPECT_TRUE(poll_with(fut, Waker::noop()).is_pending());
    ASSERT_TRUE(tx.send(2).has_value());
    {
        auto gone = std::move(tx);
    }
    auto p = poll_with(fut, Waker::noop());
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->error(), RecvError{});
}

TEST(WatchChannel, WaitForSeesAMatchingFinalValueAfterTheSenderWent) {
    auto [tx, rx] = sync::watch::channel(1);
    ASSERT_TRUE(tx.send(20).has_value());
    {
        auto gone = std::move(tx);
    }
    auto fut = rx.wait_for([](const int& v) { return v > 10; });
    auto p = poll_with(fut, Waker::noop());
    ASSERT_TRUE(p.is_ready());
    ASSERT_TRUE(p->has_value());
    EXPECT_EQ(***p, 20);
}

// ---- closed() --------------------------------------------------------------------

TEST(WatchChannel, ClosedWakesWhenTheLastReceiverGoes) {
    auto [tx, rx] = sync::watch::channel(0);
    auto rx2 = rx;
    EXPECT_FALSE(tx.is_closed());
    WakeCounts counts;
    auto fut = tx.closed();
    EXPECT_TRUE(poll_with(fut, make_counting_waker(counts)).is_pending());
    {
        auto gone = std::move(rx);
    }
    EXPECT_EQ(counts.total_wakes(), 0);
    EXPECT_TRUE(poll_with(fut, make_counting_waker(counts)).is_pending());
    {
        auto gone = std::move(rx2);
    }
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(tx.is_closed());
    EXPECT_EQ(tx.receiver_count(), 0u);
    EXPECT_TRUE(poll_with(fut, Waker::noop()).is_ready());
    auto again = tx.closed();
    EXPECT_TRUE(poll_with(again, Waker::noop()).is_ready());
}

TEST(WatchChannel, DroppingAPendingClosedDeregistersIt) {
    auto [tx, rx] = sync::watch::channel(0);
    WakeCounts counts;
    {
        auto fut = tx.closed();
        EXPECT_TRUE(poll_with(fut, make_counting_waker(counts)).is_pending());
        EXPECT_EQ(counts.live.load(), 1);
    }
    EXPECT_EQ(counts.live.load(), 0);
    {
        auto gone = std::move(rx);
    }
    EXPECT_EQ(counts.total_wakes(), 0);
}

TEST(WatchChannel, TheValueIsDestroyedOnceWhenTheChannelGoes) {
    test::DropCounts counts;
    {
        auto [tx, rx] = sync::watch::channel(std::optional<test::DropCounter>(std::in_place, counts, 1));
        tx.send_modify([&](std::optional<test::DropCounter>& v) { v.emplace(counts, 2); });
        EXPECT_EQ(counts.alive(), 1);
        {
            auto gone = std::move(tx);
        }
        EXPECT_EQ(counts.alive(), 1);  // receivers keep the last value
        EXPECT_EQ((*rx.borrow())->value(), 2);
    }
    EXPECT_EQ(counts.alive(), 0);
}

// ---- on the runtimes ------------------------------------------------------------

class WatchOnRuntime : public test::RuntimeFlavorTest {};

/// Follows the value until the sender goes: every value seen is larger than
/// the one before; returns the last one (0 if it saw none) or -1 on disorder.
Task<int> follow(sync::watch::Receiver<int> rx) {
    int last = *rx.borrow_and_update();
    for (;;) {
        auto changed = co_await rx.changed();
        if (!changed) break;
        int now = *rx.borrow_and_update();
        if (now <= last) co_return -1;
        last = now;
    }
    co_return last;
}

/// Like follow(), dropping each changed() after a random number of Pending polls.
Task<int> follow_with_random_drops(sync::watch::Receiver<int> rx, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> limit(1, 3);
    std::bernoulli_distribution self_wake(0.5);
    int last = *rx.borrow_and_update();
    for (;;) {
        DropAfterPolls<sync::watch::Changed<int>> attempt(rx.changed(), limit(rng), self_wake(rng));
        auto got = co_await attempt;
        if (!got) continue;  // dropped mid-wait
        if (!got->has_value()) break;
        int now = *rx.borrow_and_update();
        if (now <= last) co_return -1;
        last = now;
    }
    co_return last;
}

Task<void> send_increasing(sync::watch::Sender<int> tx, int count) {
    for (int v = 1; v <= count; ++v) {
        if (v % 2 == 0) {
            tx.send_modify([](int& x) { ++x; });
        } else {
            (void)tx.send(v);
        }
        co_await task::yield_now();
    }
}

Task<std::vector<int>> follow_while_sending(int receivers, int count, bool drops) {
    auto [tx, rx] = sync::watch::channel(0);
    std::vector<JoinHandle<int>> followers;
    for (int r = 0; r < receivers; ++r) {
        if (drops) {
            followers.push_back(spawn(follow_with_random_drops(rx, 99u + static_cast<unsigned>(r))));
        } else {
            followers.push_back(spawn(follow(rx)));
        }
    }
    auto writer = spawn(send_increasing(std::move(tx), count));
    co_await writer;
    std::vector<int> last;
    for (auto& f : followers) {
        int v = co_await f;
        last.push_back(v);
    }
    co_return last;
}

TEST_P(WatchOnRuntime, ManyReceiversFollowTheValueToItsLastVersion) {
    const int receivers = test::kSanitized ? 8 : 32;
    const int count = test::kSanitized ? 300 : 2000;
    Runtime rt = build();
    auto result = rt.block_on(bounded(follow_while_sending(receivers, count, false)));
    ASSERT_TRUE(result.has_value()) << "timed out";
    for (int last : *result) EXPECT_EQ(last, count);
}

TEST_P(WatchOnRuntime, ChangedDroppedMidWaitAtRandomPointsLosesNoChange) {
    const int receivers = test::kSanitized ? 4 : 8;
    const int count = test::kSanitized ? 300 : 2000;
    Runtime rt = build();
    auto result = rt.block_on(bounded(follow_while_sending(receivers, count, true)));
    ASSERT_TRUE(result.has_value()) << "timed out";
    for (int last : *result) EXPECT_EQ(last, count);
}

Task<void> drop_after_yields([[maybe_unused]] sync::watch::Receiver<int> rx, int yields) {
    for (int i = 0; i < yields; ++i) co_await task::yield_now();
    co_return;  // rx goes here
}

Task<bool> wait_for_all_receivers_to_go(int receivers) {
    auto [tx, rx] = sync::watch::channel(0);
    std::vector<JoinHandle<void>> tasks;
    for (int r = 0; r < receivers; ++r) tasks.push_back(spawn(drop_after_yields(rx, r % 5)));
    {
        auto first = std::move(rx);
    }
    co_await tx.closed();
    co_return tx.is_closed();
}

TEST_P(WatchOnRuntime, ClosedCompletesWhenReceiversOnOtherTasksGo) {
    Runtime rt = build();
    auto result = rt.block_on(bounded(wait_for_all_receivers_to_go(test::kSanitized ? 16 : 64)));
    ASSERT_TRUE(result.has_value()) << "timed out";
    EXPECT_TRUE(*result);
}

Task<int> wait_for_at_least(sync::watch::Receiver<int> rx, int target) {
    auto fut = rx.wait_for([target](const int& v) { return v >= target; });
    auto ref = co_await fut;
    co_return ref ? **ref : -1;
}

Task<int> wait_for_while_sending(int count) {
    auto [tx, rx] = sync::watch::channel(0);
    auto waiter = spawn(wait_for_at_least(std::move(rx), count / 2));
    auto writer = spawn(send_increasing(std::move(tx), count));
    co_await writer;
    int v = co_await waiter;
    co_return v;
}

TEST_P(WatchOnRuntime, WaitForCompletesOnAMatchingValueFromAnotherTask) {
    Runtime rt = build();
    constexpr int kCount = 200;
    auto result = rt.block_on(bounded(wait_for_while_sending(kCount)));
    ASSERT_TRUE(result.has_value()) << "timed out";
    EXPECT_GE(*result, kCount / 2);
}

INSTANTIATE_TEST_SUITE_P(Flavors, WatchOnRuntime, test::all_flavors(), test::flavor_name);

}  // namespace
}  // namespace corio
