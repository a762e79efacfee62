// Tests of <corio/sync/broadcast.hpp>: capacity rules, send results and
// errors, every receiver seeing every value in order, exact lag counts,
// closing, subscribe/resubscribe/copy positions, len, the destruction of
// every value exactly once in every ending (read by all, overwritten, left
// in the ring, owed by a dropped receiver), wake-ups and deregistration of
// a pending recv, and concurrent senders and receivers on both runtimes,
// with recv futures dropped mid-wait at random points.
//
// Hand-driven tests poll with counting wakers; runtime tests are bounded by
// time::timeout (a lost wake-up fails, it does not hang).
#include "corio/sync/broadcast.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
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
using sync::broadcast::RecvError;
using sync::broadcast::TryRecvError;
using test::bounded;
using test::DropAfterPolls;
using test::DropCounter;
using test::DropCounts;
using test::make_counting_waker;
using test::poll_with;
using test::WakeCounts;

// ---- construction ---------------------------------------------------------------

TEST(BroadcastChannel, ZeroCapacityThrowsInvalidArgument) {
    EXPECT_THROW((void)sync::broadcast::channel<int>(0), std::invalid_argument);
}

TEST(BroadcastChannel, CapacityIsRoundedUpToAPowerOfTwo) {
    auto [tx, rx] = sync::broadcast::channel<int>(3);
    EXPECT_EQ(tx.capacity(), 4u);
    EXPECT_EQ(rx.capacity(), 4u);
    auto [tx1, rx1] = sync::broadcast::channel<int>(1);
    EXPECT_EQ(tx1.capacity(), 1u);
    auto [tx8, rx8] = sync::broadcast::channel<int>(8);
    EXPECT_EQ(tx8.capacity(), 8u);
}

TEST(BroadcastChannel, ErrorsCompareByKindAndCount) {
    EXPECT_EQ(RecvError::lagged(3), RecvError::lagged(3));
    EXPECT_NE(RecvError::lagged(3), RecvError::lagged(4));
    EXPECT_NE(RecvError::closed(), RecvError::lagged(0));
    EXPECT_TRUE(RecvError::closed().is_closed());
    EXPECT_EQ(RecvError::lagged(5).missed(), 5u);
    EXPECT_TRUE(TryRecvError::empty().is_empty());
    EXPECT_EQ(TryRecvError::lagged(2).kind(), TryRecvError::Kind::Lagged);
}

// ---- send -----------------------------------------------------------------------

TEST(BroadcastChannel, SendReturnsTheNumberOfReceivers) {
    auto [tx, rx] = sync::broadcast::channel<int>(4);
    EXPECT_EQ(tx.send(1).value(), 1u);
    auto rx2 = tx.subscribe();
    auto rx3 = rx;
    EXPECT_EQ(tx.receiver_count(), 3u);
    EXPECT_EQ(rx.receiver_count(), 3u);
    EXPECT_EQ(tx.send(2).value(), 3u);
}

TEST(BroadcastChannel, SendWithoutReceiversFailsAndGivesTheValueBack) {
    auto [tx, rx] = sync::broadcast::channel<std::string>(4);
    {
        auto gone = std::move(rx);
    }
    EXPECT_EQ(tx.receiver_count(), 0u);
    auto result = tx.send("lost");
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().value, "lost");
    // A new subscriber makes sends succeed again.
    auto rx2 = tx.subscribe();
    EXPECT_EQ(tx.send("kept").value(), 1u);
    EXPECT_EQ(rx2.try_recv().value(), "kept");
}

// ---- receive --------------------------------------------------------------------

TEST(BroadcastChannel, EveryReceiverSeesEveryValueInOrder) {
    auto [tx, rx] = sync::broadcast::channel<int>(16);
    std::vector<sync::broadcast::Receiver<int>> receivers;
    receivers.push_back(std::move(rx));
    for (int i = 0; i < 4; ++i) receivers.push_back(tx.subscribe());
    for (int v = 0; v < 10; ++v) ASSERT_EQ(tx.send(v).value(), 5u);
    for (auto& r : receivers) {
        EXPECT_EQ(r.len(), 10u);
        for (int v = 0; v < 10; ++v) EXPECT_EQ(r.try_recv().value(), v);
        EXPECT_EQ(r.try_recv().error(), TryRecvError::empty());
        EXPECT_TRUE(r.is_empty());
    }
}

TEST(BroadcastChannel, TryRecvOnAnEmptyChannelReportsEmpty) {
    auto [tx, rx] = sync::broadcast::channel<int>(2);
    EXPECT_EQ(rx.try_recv().error(), TryRecvError::empty());
    EXPECT_TRUE(rx.is_empty());
    EXPECT_EQ(rx.len(), 0u);
}

TEST(BroadcastChannel, LagCountIsExactAndTheOldestKeptValueFollows) {
    constexpr int kCap = 4;
    for (int k = 1; k <= 6; ++k) {
        auto [tx, rx] = sync::broadcast::channel<int>(kCap);
        auto rx_async = tx.subscribe();
        for (int v = 0; v < kCap + k; ++v) ASSERT_TRUE(tx.send(v).has_value());
        EXPECT_EQ(rx.len(), static_cast<std::size_t>(kCap + k));
        EXPECT_EQ(rx.try_recv().error(), TryRecvError::lagged(k)) << "k=" << k;
        for (int v = k; v < kCap + k; ++v) EXPECT_EQ(rx.try_recv().value(), v);
        EXPECT_EQ(rx.try_recv().error(), TryRecvError::empty());

        // The same through recv().
        auto fut = rx_async.recv();
        auto lag = poll_with(fut, Waker::noop());
        ASSERT_TRUE(lag.is_ready());
        EXPECT_EQ(lag->error(), RecvError::lagged(k));
        auto fut2 = rx_async.recv();
        auto oldest = poll_with(fut2, Waker::noop());
        ASSERT_TRUE(oldest.is_ready());
        EXPECT_EQ(oldest->value(), k);
    }
}

TEST(BroadcastChannel, ClosedOnlyOnceSendersAreGoneAndTheRingIsDrained) {
    auto [tx, rx] = sync::broadcast::channel<int>(4);
    auto tx2 = tx;
    ASSERT_TRUE(tx.send(1).has_value());
    ASSERT_TRUE(tx2.send(2).has_value());
    {
        auto gone = std::move(tx);
    }
    EXPECT_EQ(rx.try_recv().value(), 1);
    EXPECT_EQ(rx.try_recv().value(), 2);
    EXPECT_EQ(rx.try_recv().error(), TryRecvError::empty());  // tx2 still alive
    {
        auto gone = std::move(tx2);
    }
    EXPECT_EQ(rx.try_recv().error(), TryRecvError::closed());
    auto fut = rx.recv();
    auto p = poll_with(fut, Waker::noop());
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->error(), RecvError::closed());
}

TEST(BroadcastChannel, ValuesSentBeforeClosingAreStillReceived) {
    auto [tx, rx] = sync::broadcast::channel<int>(4);
    ASSERT_TRUE(tx.send(7).has_value());
    ASSERT_TRUE(tx.send(8).has_value());
    {
        auto gone = std::move(tx);
    }
    EXPECT_EQ(rx.try_recv().value(), 7);
    EXPECT_EQ(rx.try_recv().value(), 8);
    EXPECT_EQ(rx.try_recv().error(), TryRecvError::closed());
}

TEST(BroadcastChannel, LagIsReportedBeforeClosed) {
    auto [tx, rx] = sync::broadcast::channel<int>(2);
    for (int v = 0; v < 5; ++v) ASSERT_TRUE(tx.send(v).has_value());
    {
        auto gone = std::move(tx);
    }
    EXPECT_EQ(rx.try_recv().error(), TryRecvError::lagged(3));
    EXPECT_EQ(rx.try_recv().value(), 3);
    EXPECT_EQ(rx.try_recv().value(), 4);
    EXPECT_EQ(rx.try_recv().error(), TryRecvError::closed());
}

TEST(BroadcastChannel, ANewSubscriberSeesOnlyLaterValues) {
    auto [tx, rx] = sync::broadcast::channel<int>(8);
    ASSERT_TRUE(tx.send(1).has_value());
    auto late = tx.subscribe();
    auto resub = rx.resubscribe();
    EXPECT_EQ(late.len(), 0u);
    EXPECT_EQ(late.try_recv().error(), TryRecvError::empty());
    EXPECT_EQ(resub.try_recv().error(), TryRecvError::empty());
    ASSERT_EQ(tx.send(2).value(), 3u);
    EXPECT_EQ(late.try_recv().value(), 2);
    EXPECT_EQ(resub.try_recv().value(), 2);
    EXPECT_EQ(rx.try_recv().value(), 1);
    EXPECT_EQ(rx.try_recv().value(), 2);
}

TEST(BroadcastChannel, ACopiedReceiverStartsAtTheSamePosition) {
    auto [tx, rx] = sync::broadcast::channel<int>(8);
    for (int v = 0; v < 4; ++v) ASSERT_TRUE(tx.send(v).has_value());
    EXPECT_EQ(rx.try_recv().value(), 0);
    auto copy = rx;
    EXPECT_EQ(copy.len(), 3u);
    for (int v = 1; v < 4; ++v) EXPECT_EQ(copy.try_recv().value(), v);
    for (int v = 1; v < 4; ++v) EXPECT_EQ(rx.try_recv().value(), v);
    sync::broadcast::Receiver<int> assigned = tx.subscribe();
    ASSERT_TRUE(tx.send(9).has_value());
    assigned = rx;  // drops the old one, copies rx's position
    EXPECT_EQ(tx.receiver_count(), 3u);
    EXPECT_EQ(assigned.try_recv().value(), 9);
    EXPECT_EQ(rx.try_recv().value(), 9);
    EXPECT_EQ(copy.try_recv().value(), 9);
}

TEST(BroadcastChannel, ReceiverCountFollowsCopiesAndDrops) {
    auto [tx, rx] = sync::broadcast::channel<int>(2);
    {
        auto a = rx;
        auto b = tx.subscribe();
        auto c = std::move(b);
        EXPECT_EQ(tx.receiver_count(), 3u);
    }
    EXPECT_EQ(tx.receiver_count(), 1u);
}

// ---- values are destroyed exactly once ----------------------------------------

TEST(BroadcastChannel, AValueIsDestroyedWhenTheLastReceiverReadsIt) {
    DropCounts counts;
    {
        auto [tx, rx] = sync::broadcast::channel<DropCounter>(4);
        auto rx2 = tx.subscribe();
        ASSERT_TRUE(tx.send(DropCounter(counts, 1)).has_value());
        EXPECT_EQ(counts.alive(), 1);
        {
            auto got = rx.try_recv();
            ASSERT_TRUE(got.has_value());
            EXPECT_EQ(got->value(), 1);
        }
        EXPECT_EQ(counts.alive(), 1);  // rx2 still has to read it
        {
            auto got = rx2.try_recv();
            ASSERT_TRUE(got.has_value());
        }
        EXPECT_EQ(counts.alive(), 0);  // read by all: gone from the ring
    }
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_EQ(counts.destroyed.load(), counts.constructed.load());
}

TEST(BroadcastChannel, AnOverwrittenValueIsDestroyedAtOnce) {
    DropCounts counts;
    {
        auto [tx, rx] = sync::broadcast::channel<DropCounter>(2);
        for (int v = 0; v < 2; ++v) ASSERT_TRUE(tx.send(DropCounter(counts, v)).has_value());
        EXPECT_EQ(counts.alive(), 2);
        for (int v = 2; v < 7; ++v) {
            ASSERT_TRUE(tx.send(DropCounter(counts, v)).has_value());
            EXPECT_EQ(counts.alive(), 2);  // never more than the ring holds
        }
        EXPECT_EQ(rx.try_recv().error(), TryRecvError::lagged(5));
        EXPECT_EQ(rx.try_recv()->value(), 5);
        EXPECT_EQ(counts.alive(), 1);
    }
    EXPECT_EQ(counts.alive(), 0);
}

TEST(BroadcastChannel, ValuesLeftInTheRingAreDestroyedOnceWithTheChannel) {
    DropCounts counts;
    {
        auto [tx, rx] = sync::broadcast::channel<DropCounter>(8);
        auto rx2 = rx;
        for (int v = 0; v < 5; ++v) ASSERT_TRUE(tx.send(DropCounter(counts, v)).has_value());
        ASSERT_TRUE(rx.try_recv().has_value());
        ASSERT_TRUE(rx2.try_recv().has_value());
        EXPECT_EQ(counts.alive(), 4);
        {
            auto gone = std::move(tx);
        }  // closing does not destroy unread values
        EXPECT_EQ(counts.alive(), 4);
    }
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_EQ(counts.destroyed.load(), counts.constructed.load());
}

TEST(BroadcastChannel, DroppingAReceiverReleasesTheValuesOnlyItStillOwed) {
    DropCounts counts;
    auto [tx, rx] = sync::broadcast::channel<DropCounter>(8);
    auto rx2 = tx.subscribe();
    for (int v = 0; v < 3; ++v) ASSERT_TRUE(tx.send(DropCounter(counts, v)).has_value());
    for (int v = 0; v < 3; ++v) ASSERT_TRUE(rx.try_recv().has_value());
    EXPECT_EQ(counts.alive(), 3);  // rx2 owes all three
    {
        auto copy = rx2;  // the copy owes them as well
        auto gone = std::move(rx2);
    }
    EXPECT_EQ(counts.alive(), 0);
    // The sender keeps working for the remaining receiver.
    ASSERT_EQ(tx.send(DropCounter(counts, 9)).value(), 1u);
    EXPECT_EQ(rx.try_recv()->value(), 9);
    EXPECT_EQ(counts.alive(), 0);
}

TEST(BroadcastChannel, AValueSentWithoutReceiversIsReturnedNotLeaked) {
    DropCounts counts;
    {
        auto [tx, rx] = sync::broadcast::channel<DropCounter>(2);
        {
            auto gone = std::move(rx);
        }
        auto result = tx.send(DropCounter(counts, 4));
        ASSERT_FALSE(result.has_value());
        EXPECT_EQ(result.error().value.value(), 4);
    }
    EXPECT_EQ(counts.alive(), 0);
}

// ---- waiting ---------------------------------------------------------------------

TEST(BroadcastChannel, APendingRecvIsWokenBySend) {
    auto [tx, rx] = sync::broadcast::channel<int>(4);
    WakeCounts counts;
    {
        Waker waker = make_counting_waker(counts);
        auto fut = rx.recv();
        EXPECT_TRUE(poll_with(fut, waker).is_pending());
        EXPECT_TRUE(poll_with(fut, waker).is_pending());  // same waker: no second clone
        EXPECT_EQ(counts.clones.load(), 1);
        EXPECT_EQ(counts.total_wakes(), 0);
        ASSERT_TRUE(tx.send(5).has_value());
        EXPECT_EQ(counts.total_wakes(), 1);
        auto p = poll_with(fut, waker);
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(p->value(), 5);
    }
    EXPECT_EQ(counts.live.load(), 0);
}

TEST(BroadcastChannel, APendingRecvStoresTheMostRecentWaker) {
    auto [tx, rx] = sync::broadcast::channel<int>(4);
    WakeCounts first, second;
    {
        Waker w1 = make_counting_waker(first);
        Waker w2 = make_counting_waker(second);
        auto fut = rx.recv();
        EXPECT_TRUE(poll_with(fut, w1).is_pending());
        EXPECT_TRUE(poll_with(fut, w2).is_pending());
        ASSERT_TRUE(tx.send(1).has_value());
        EXPECT_EQ(first.total_wakes(), 0);
        EXPECT_EQ(second.total_wakes(), 1);
    }
    EXPECT_EQ(first.live.load(), 0);
    EXPECT_EQ(second.live.load(), 0);
}

TEST(BroadcastChannel, EveryWaitingReceiverIsWokenBySend) {
    auto [tx, rx] = sync::broadcast::channel<int>(4);
    constexpr int kReceivers = 70;  // more than one wake batch
    std::vector<sync::broadcast::Receiver<int>> receivers;
    for (int i = 0; i < kReceivers; ++i) receivers.push_back(tx.subscribe());
    std::vector<WakeCounts> counts(kReceivers);
    std::vector<std::optional<sync::broadcast::Recv<int>>> futs(kReceivers);
    for (int i = 0; i < kReceivers; ++i) {
        futs[i].emplace(receivers[i].recv());
        Waker w = make_counting_waker(counts[i]);
        EXPECT_TRUE(poll_with(*futs[i], w).is_pending());
    }
    ASSERT_EQ(tx.send(3).value(), static_cast<std::size_t>(kReceivers + 1));
    for (int i = 0; i < kReceivers; ++i) {
        EXPECT_EQ(counts[i].total_wakes(), 1) << i;
        auto p = poll_with(*futs[i], Waker::noop());
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(p->value(), 3);
        futs[i].reset();
        EXPECT_EQ(counts[i].live.load(), 0);
    }
}

TEST(BroadcastChannel, DroppingAPendingRecvDeregistersItAndLosesNoValue) {
    auto [tx, rx] = sync::broadcast::channel<int>(4);
    WakeCounts counts;
    {
        auto fut = rx.recv();
        EXPECT_TRUE(poll_with(fut, make_counting_waker(counts)).is_pending());
        EXPECT_EQ(counts.live.load(), 1);  // the clone held by the queue
    }
    EXPECT_EQ(counts.live.load(), 0);
    ASSERT_TRUE(tx.send(1).has_value());
    EXPECT_EQ(counts.total_wakes(), 0);
    EXPECT_EQ(rx.try_recv().value(), 1);
}

TEST(BroadcastChannel, DroppingTheLastSenderWakesWaitersWithClosed) {
    auto [tx, rx] = sync::broadcast::channel<int>(4);
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto fut = rx.recv();
    EXPECT_TRUE(poll_with(fut, waker).is_pending());
    {
        auto gone = std::move(tx);
    }
    EXPECT_EQ(counts.total_wakes(), 1);
    auto p = poll_with(fut, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->error(), RecvError::closed());
}

// ---- on the runtimes ------------------------------------------------------------

class BroadcastOnRuntime : public test::RuntimeFlavorTest {};

struct Stamp {
    int sender;
    int seq;
};

Task<void> send_stamps(sync::broadcast::Sender<Stamp> tx, int sender, int count) {
    for (int i = 0; i < count; ++i) {
        auto sent = tx.send(Stamp{sender, i});
        if (!sent) throw std::runtime_error("send failed: no receivers");
        if (i % 8 == 7) co_await task::yield_now();
    }
}

struct Tally {
    std::uint64_t received = 0;
    std::uint64_t missed = 0;
    bool in_order = true;
};

/// Reads until Closed, checking each sender's values arrive in order.
Task<Tally> read_stamps(sync::broadcast::Receiver<Stamp> rx, int senders) {
    Tally tally;
    std::vector<int> last(senders, -1);
    for (;;) {
        auto got = co_await rx.recv();
        if (!got) {
            if (got.error().is_closed()) break;
            tally.missed += got.error().missed();
            continue;
        }
        ++tally.received;
        if (got->seq <= last[got->sender]) tally.in_order = false;
        last[got->sender] = got->seq;
    }
    co_return tally;
}

Task<std::vector<Tally>> run_senders_and_receivers(int senders, int receivers, int per_sender, std::size_t cap) {
    auto [tx, rx] = sync::broadcast::channel<Stamp>(cap);
    std::vector<JoinHandle<Tally>> readers;
    for (int r = 0; r < receivers; ++r) readers.push_back(spawn(read_stamps(rx.resubscribe(), senders)));
    {
        auto first = std::move(rx);
    }
    std::vector<JoinHandle<void>> writers;
    for (int s = 0; s < senders; ++s) writers.push_back(spawn(send_stamps(tx, s, per_sender)));
    {
        auto last = std::move(tx);
    }  // closes once every writer is done
    for (auto& w : writers) co_await w;
    std::vector<Tally> tallies;
    for (auto& r : readers) {
        Tally t = co_await r;
        tallies.push_back(t);
    }
    co_return tallies;
}

TEST_P(BroadcastOnRuntime, ManyReceiversSeeEveryValueOfConcurrentSendersInOrder) {
    constexpr int kSenders = 3;
    const int receivers = test::kSanitized ? 8 : 16;
    const int per_sender = test::kSanitized ? 300 : 2000;
    // Room for everything: nobody may lag, so every value must arrive.
    const auto cap = static_cast<std::size_t>(kSenders * per_sender);
    Runtime rt = build();
    auto result = rt.block_on(bounded(run_senders_and_receivers(kSenders, receivers, per_sender, cap)));
    ASSERT_TRUE(result.has_value()) << "timed out";
    for (const Tally& t : *result) {
        EXPECT_EQ(t.received, static_cast<std::uint64_t>(kSenders * per_sender));
        EXPECT_EQ(t.missed, 0u);
        EXPECT_TRUE(t.in_order);
    }
}

TEST_P(BroadcastOnRuntime, SlowReceiversOnASmallRingAccountForEveryValueAsReceivedOrMissed) {
    constexpr int kSenders = 3;
    const int receivers = test::kSanitized ? 8 : 16;
    const int per_sender = test::kSanitized ? 300 : 2000;
    Runtime rt = build();
    auto result = rt.block_on(bounded(run_senders_and_receivers(kSenders, receivers, per_sender, 8)));
    ASSERT_TRUE(result.has_value()) << "timed out";
    for (const Tally& t : *result) {
        EXPECT_EQ(t.received + t.missed, static_cast<std::uint64_t>(kSenders * per_sender));
        EXPECT_TRUE(t.in_order);
    }
}

/// Receives until it has `count` values, dropping each recv after a random
/// number of Pending polls; checks the values are 0, 1, 2, ... exactly.
Task<bool> read_with_random_drops(sync::broadcast::Receiver<int> rx, int count, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> limit(1, 3);
    std::bernoulli_distribution self_wake(0.5);
    int expected = 0;
    while (expected < count) {
        DropAfterPolls<sync::broadcast::Recv<int>> attempt(rx.recv(), limit(rng), self_wake(rng));
        auto got = co_await attempt;
        if (!got) continue;                      // dropped mid-wait
        if (!got->has_value()) co_return false;  // closed or lagged: something was lost
        if (**got != expected) co_return false;
        ++expected;
    }
    co_return true;
}

Task<void> send_counting(sync::broadcast::Sender<int> tx, int count) {
    for (int i = 0; i < count; ++i) {
        (void)tx.send(i);
        co_await task::yield_now();
    }
}

Task<std::vector<bool>> drop_recvs_while_sending(int receivers, int count) {
    auto [tx, rx] = sync::broadcast::channel<int>(static_cast<std::size_t>(count));
    std::vector<JoinHandle<bool>> readers;
    for (int r = 0; r < receivers; ++r) {
        readers.push_back(spawn(read_with_random_drops(rx.resubscribe(), count, 1234u + static_cast<unsigned>(r))));
    }
    auto writer = spawn(send_counting(std::move(tx), count));
    co_await writer;
    std::vector<bool> ok;
    for (auto& r : readers) {
        bool b = co_await r;
        ok.push_back(b);
    }
    co_return ok;
}

TEST_P(BroadcastOnRuntime, RecvDroppedMidWaitAtRandomPointsLosesNothing) {
    const int receivers = test::kSanitized ? 4 : 8;
    const int count = test::kSanitized ? 300 : 2000;
    Runtime rt = build();
    auto result = rt.block_on(bounded(drop_recvs_while_sending(receivers, count)));
    ASSERT_TRUE(result.has_value()) << "timed out";
    for (bool ok : *result) EXPECT_TRUE(ok);
}

Task<int> recv_one(sync::broadcast::Receiver<int>* rx) {
    auto got = co_await rx->recv();
    co_return got.value();
}

Task<int> wait_then_send(sync::broadcast::Sender<int> tx, sync::broadcast::Receiver<int> rx) {
    auto reader = spawn(recv_one(&rx));
    co_await task::yield_now();
    co_await task::yield_now();
    (void)tx.send(42);
    int v = co_await reader;
    co_return v;
}

TEST_P(BroadcastOnRuntime, AReceiverWaitingInATaskGetsTheNextSend) {
    auto [tx, rx] = sync::broadcast::channel<int>(2);
    Runtime rt = build();
    auto result = rt.block_on(bounded(wait_then_send(std::move(tx), std::move(rx))));
    ASSERT_TRUE(result.has_value()) << "timed out";
    EXPECT_EQ(*result, 42);
}

INSTANTIATE_TEST_SUITE_P(Flavors, BroadcastOnRuntime, test::all_flavors(), test::flavor_name);

}  // namespace
}  // namespace corio
