// Tests of <corio/sync/mpsc.hpp>: bounded and unbounded channels. Errors of
// every operation (closed, dropped sides, zero capacity, full), back-pressure
// and FIFO service of waiting senders, cancellation of sends, reserves and
// receives at any point, send_timeout on the paused clock, values destroyed
// exactly once, and many producers on both runtimes.
#include "corio/sync/mpsc.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/counting_waker.hpp"
#include "support/drop_counter.hpp"
#include "support/poll.hpp"
#include "support/runtime_flavors.hpp"
#include "support/sanitized.hpp"

namespace corio::sync {
namespace {

using namespace std::chrono_literals;
using test::DropCounter;
using test::DropCounts;
using test::poll_once;
using test::poll_with;

constexpr auto kBound = 20s;

// ---- bounded: by hand ------------------------------------------------------------------

TEST(MpscChannel, ZeroCapacityThrows) { EXPECT_THROW((void)mpsc::channel<int>(0), std::invalid_argument); }

TEST(MpscChannel, TrySendAndTryRecvKeepOrderAndCountCapacity) {
    auto [tx, rx] = mpsc::channel<int>(3);
    EXPECT_EQ(tx.max_capacity(), 3u);
    EXPECT_EQ(tx.capacity(), 3u);
    EXPECT_TRUE(rx.is_empty());
    ASSERT_TRUE(tx.try_send(1).has_value());
    ASSERT_TRUE(tx.try_send(2).has_value());
    EXPECT_EQ(tx.capacity(), 1u);
    EXPECT_EQ(rx.len(), 2u);
    EXPECT_EQ(rx.try_recv().value(), 1);
    EXPECT_EQ(tx.capacity(), 2u);
    EXPECT_EQ(rx.try_recv().value(), 2);
    EXPECT_EQ(rx.try_recv().error(), mpsc::TryRecvError::Empty);
}

TEST(MpscChannel, TrySendReportsFullWithTheValueBack) {
    auto [tx, rx] = mpsc::channel<std::string>(1);
    ASSERT_TRUE(tx.try_send("a").has_value());
    auto r = tx.try_send("b");
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(r.error().is_full());
    EXPECT_EQ(r.error().value, "b");
}

TEST(MpscChannel, ARingWrapsManyTimes) {
    auto [tx, rx] = mpsc::channel<int>(3);  // ring of 4 slots, capacity 3
    for (int i = 0; i < 1000; ++i) {
        ASSERT_TRUE(tx.try_send(i).has_value());
        ASSERT_TRUE(tx.try_send(i + 1).has_value());
        ASSERT_EQ(rx.try_recv().value(), i);
        ASSERT_EQ(rx.try_recv().value(), i + 1);
    }
}

TEST(MpscChannel, TryRecvIsDisconnectedOnceEverySenderIsGone) {
    auto [tx, rx] = mpsc::channel<int>(4);
    auto copy = tx;
    ASSERT_TRUE(copy.try_send(9).has_value());
    {
        auto drop = std::move(tx);
    }
    EXPECT_EQ(rx.try_recv().value(), 9);
    EXPECT_EQ(rx.try_recv().error(), mpsc::TryRecvError::Empty);
    {
        auto drop = std::move(copy);
    }
    EXPECT_EQ(rx.try_recv().error(), mpsc::TryRecvError::Disconnected);
}

TEST(MpscChannel, RecvWaitsThenYieldsNulloptWhenTheLastSenderGoes) {
    test::WakeCounts counts;
    auto [tx, rx] = mpsc::channel<int>(4);
    Waker waker = test::make_counting_waker(counts);
    auto recv = rx.recv();
    EXPECT_TRUE(poll_with(recv, waker).is_pending());
    ASSERT_TRUE(tx.try_send(5).has_value());
    EXPECT_EQ(counts.total_wakes(), 1);
    auto p = poll_with(recv, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(**p, 5);
    auto recv2 = rx.recv();
    EXPECT_TRUE(poll_with(recv2, waker).is_pending());
    {
        auto drop = std::move(tx);
    }
    EXPECT_EQ(counts.total_wakes(), 2);
    auto end = poll_with(recv2, waker);
    ASSERT_TRUE(end.is_ready());
    EXPECT_FALSE(end->has_value());
}

TEST(MpscChannel, SendsFailWithTheValueOnceTheReceiverIsDropped) {
    auto [tx, rx] = mpsc::channel<std::string>(2);
    EXPECT_FALSE(tx.is_closed());
    {
        auto drop = std::move(rx);
    }
    EXPECT_TRUE(tx.is_closed());
    auto t = tx.try_send("x");
    ASSERT_FALSE(t.has_value());
    EXPECT_TRUE(t.error().is_closed());
    EXPECT_EQ(t.error().value, "x");
    auto send = tx.send("y");
    auto p = poll_once(send);
    ASSERT_TRUE(p.is_ready());
    ASSERT_FALSE(p->has_value());
    EXPECT_EQ(p->error().value, "y");
    auto reserve = tx.reserve();
    auto q = poll_once(reserve);
    ASSERT_TRUE(q.is_ready());
    EXPECT_FALSE(q->has_value());
    EXPECT_EQ(tx.try_reserve().error(), mpsc::TryReserveError::Closed);
}

TEST(MpscChannel, CloseFailsSendsButLetsTheBufferDrain) {
    auto [tx, rx] = mpsc::channel<int>(4);
    ASSERT_TRUE(tx.try_send(1).has_value());
    ASSERT_TRUE(tx.try_send(2).has_value());
    rx.close();
    EXPECT_TRUE(tx.is_closed());
    EXPECT_TRUE(tx.try_send(3).error().is_closed());
    EXPECT_EQ(rx.try_recv().value(), 1);
    auto recv = rx.recv();
    auto p = poll_once(recv);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(**p, 2);
    auto end = rx.recv();
    auto q = poll_once(end);
    ASSERT_TRUE(q.is_ready());
    EXPECT_FALSE(q->has_value());
    EXPECT_EQ(rx.try_recv().error(), mpsc::TryRecvError::Disconnected);
}

TEST(MpscChannel, AfterCloseAnOutstandingPermitStillDelivers) {
    test::WakeCounts counts;
    auto [tx, rx] = mpsc::channel<int>(2);
    auto permit = tx.try_reserve();
    ASSERT_TRUE(permit.has_value());
    rx.close();
    Waker waker = test::make_counting_waker(counts);
    auto recv = rx.recv();
    EXPECT_TRUE(poll_with(recv, waker).is_pending());  // a permit is out: more may come
    permit->send(8);
    EXPECT_EQ(counts.total_wakes(), 1);
    auto p = poll_with(recv, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(**p, 8);
    EXPECT_EQ(rx.try_recv().error(), mpsc::TryRecvError::Disconnected);
}

TEST(MpscChannel, ClosedCompletesWhenTheReceiverIsClosedOrDropped) {
    test::WakeCounts counts;
    auto [tx, rx] = mpsc::channel<int>(1);
    Waker waker = test::make_counting_waker(counts);
    auto closed = tx.closed();
    EXPECT_TRUE(poll_with(closed, waker).is_pending());
    rx.close();
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(closed, waker).is_ready());
    auto again = tx.closed();
    EXPECT_TRUE(poll_once(again).is_ready());
}

TEST(MpscChannel, APermitFillsItsSlotAndADroppedOneReturnsIt) {
    auto [tx, rx] = mpsc::channel<int>(1);
    {
        auto permit = tx.try_reserve();
        ASSERT_TRUE(permit.has_value());
        EXPECT_EQ(tx.capacity(), 0u);
        EXPECT_EQ(tx.try_send(1).error().kind, mpsc::TrySendErrorKind::Full);
    }
    EXPECT_EQ(tx.capacity(), 1u);
    auto reserve = tx.reserve();
    auto p = poll_once(reserve);
    ASSERT_TRUE(p.is_ready());
    ASSERT_TRUE(p->has_value());
    (*p)->send(4);
    EXPECT_EQ(rx.try_recv().value(), 4);
}

TEST(MpscChannel, APermitKeepsTheChannelOpenForTheReceiver) {
    auto [tx, rx] = mpsc::channel<int>(1);
    auto permit = tx.try_reserve();
    ASSERT_TRUE(permit.has_value());
    {
        auto drop = std::move(tx);
    }
    EXPECT_EQ(rx.try_recv().error(), mpsc::TryRecvError::Empty);
    permit->send(2);
    EXPECT_EQ(rx.try_recv().value(), 2);
    EXPECT_EQ(rx.try_recv().error(), mpsc::TryRecvError::Disconnected);
}

TEST(MpscChannel, SenderWaitsWhileFullAndResumesWhenASlotFrees) {
    test::WakeCounts counts;
    auto [tx, rx] = mpsc::channel<int>(1);
    ASSERT_TRUE(tx.try_send(1).has_value());
    Waker waker = test::make_counting_waker(counts);
    auto send = tx.send(2);
    EXPECT_TRUE(poll_with(send, waker).is_pending());
    EXPECT_TRUE(poll_with(send, waker).is_pending());
    EXPECT_EQ(counts.total_wakes(), 0);
    EXPECT_EQ(rx.try_recv().value(), 1);
    EXPECT_EQ(counts.total_wakes(), 1);
    auto p = poll_with(send, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_TRUE(p->has_value());
    EXPECT_EQ(rx.try_recv().value(), 2);
}

TEST(MpscChannel, WaitingSendersAreServedInFifoOrderAndTrySendDoesNotOvertake) {
    auto [tx, rx] = mpsc::channel<int>(1);
    ASSERT_TRUE(tx.try_send(0).has_value());
    std::vector<std::unique_ptr<mpsc::Sender<int>::Send>> sends;
    for (int i = 1; i <= 3; ++i) {
        sends.push_back(std::make_unique<mpsc::Sender<int>::Send>(tx.send(i)));
        EXPECT_TRUE(poll_once(*sends.back()).is_pending());
    }
    for (int expect = 0; expect <= 3; ++expect) {
        EXPECT_TRUE(tx.try_send(100).error().is_full());  // queued senders come first
        EXPECT_EQ(rx.try_recv().value(), expect);
        if (expect < 3) {
            // The slot went to the oldest waiter; later ones stay pending.
            for (int later = expect + 1; later < 3; ++later) EXPECT_TRUE(poll_once(*sends[later]).is_pending());
            EXPECT_TRUE(poll_once(*sends[expect]).is_ready());
        }
    }
    EXPECT_TRUE(tx.try_send(4).has_value());  // no one waits any more: the fast path is back
    EXPECT_EQ(rx.try_recv().value(), 4);
}

TEST(MpscChannel, ASendCancelledWhileQueuedGivesItsPlaceToTheNext) {
    test::WakeCounts first_counts;
    test::WakeCounts second_counts;
    auto [tx, rx] = mpsc::channel<int>(1);
    ASSERT_TRUE(tx.try_send(0).has_value());
    Waker first_waker = test::make_counting_waker(first_counts);
    Waker second_waker = test::make_counting_waker(second_counts);
    auto first = std::make_unique<mpsc::Sender<int>::Send>(tx.send(1));
    auto second = tx.send(2);
    EXPECT_TRUE(poll_with(*first, first_waker).is_pending());
    EXPECT_TRUE(poll_with(second, second_waker).is_pending());
    first.reset();  // cancelled while queued
    EXPECT_EQ(rx.try_recv().value(), 0);
    EXPECT_EQ(second_counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(second, second_waker).is_ready());
    EXPECT_EQ(rx.try_recv().value(), 2);
}

TEST(MpscChannel, ASendDroppedAfterItsSlotWasGrantedPassesTheSlotOn) {
    DropCounts drops;
    test::WakeCounts counts;
    auto [tx, rx] = mpsc::channel<DropCounter>(1);
    ASSERT_TRUE(tx.try_send(DropCounter(drops, 0)).has_value());
    Waker waker = test::make_counting_waker(counts);
    auto first = std::make_unique<mpsc::Sender<DropCounter>::Send>(tx.send(DropCounter(drops, 1)));
    auto second = tx.send(DropCounter(drops, 2));
    EXPECT_TRUE(poll_with(*first, waker).is_pending());
    EXPECT_TRUE(poll_with(second, waker).is_pending());
    EXPECT_EQ(rx.try_recv().value().value(), 0);  // the slot is granted to `first`
    first.reset();                                // ... which is dropped without using it
    EXPECT_EQ(drops.alive(), 1);                  // its value went with it; `second` holds one
    auto p = poll_with(second, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_TRUE(p->has_value());
    EXPECT_EQ(rx.try_recv().value().value(), 2);
    EXPECT_EQ(drops.alive(), 0);
}

TEST(MpscChannel, AReserveDroppedAfterItsSlotWasGrantedPassesTheSlotOn) {
    auto [tx, rx] = mpsc::channel<int>(1);
    ASSERT_TRUE(tx.try_send(0).has_value());
    auto first = std::make_unique<mpsc::Sender<int>::Reserve>(tx.reserve());
    auto second = tx.reserve();
    EXPECT_TRUE(poll_once(*first).is_pending());
    EXPECT_TRUE(poll_once(second).is_pending());
    EXPECT_EQ(rx.try_recv().value(), 0);
    first.reset();
    auto p = poll_once(second);
    ASSERT_TRUE(p.is_ready());
    ASSERT_TRUE(p->has_value());
    (*p)->send(3);
    EXPECT_EQ(rx.try_recv().value(), 3);
}

TEST(MpscChannel, ClosingWakesQueuedSendersWithTheirValuesBack) {
    test::WakeCounts counts;
    auto [tx, rx] = mpsc::channel<int>(1);
    ASSERT_TRUE(tx.try_send(0).has_value());
    Waker waker = test::make_counting_waker(counts);
    auto send = tx.send(5);
    auto reserve = tx.reserve();
    EXPECT_TRUE(poll_with(send, waker).is_pending());
    EXPECT_TRUE(poll_with(reserve, waker).is_pending());
    rx.close();
    EXPECT_EQ(counts.total_wakes(), 2);
    auto p = poll_with(send, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->error().value, 5);
    auto q = poll_with(reserve, waker);
    ASSERT_TRUE(q.is_ready());
    EXPECT_FALSE(q->has_value());
}

TEST(MpscChannel, ValuesLeftInsideAreDestroyedExactlyOnce) {
    DropCounts drops;
    {  // receiver dropped first, then the senders
        auto [tx, rx] = mpsc::channel<DropCounter>(8);
        for (int i = 0; i < 5; ++i) ASSERT_TRUE(tx.try_send(DropCounter(drops, i)).has_value());
        {
            auto drop = std::move(rx);
        }
        EXPECT_EQ(drops.alive(), 0);
        EXPECT_TRUE(tx.try_send(DropCounter(drops)).error().is_closed());
    }
    EXPECT_EQ(drops.alive(), 0);
    {  // senders dropped first, then the receiver with values inside
        auto [tx, rx] = mpsc::channel<DropCounter>(8);
        for (int i = 0; i < 7; ++i) ASSERT_TRUE(tx.try_send(DropCounter(drops, i)).has_value());
        EXPECT_EQ(rx.try_recv().value().value(), 0);
    }
    EXPECT_EQ(drops.alive(), 0);
    {  // a permit sends after the receiver is gone: destroyed with the channel
        auto [tx, rx] = mpsc::channel<DropCounter>(2);
        auto permit = tx.try_reserve();
        ASSERT_TRUE(permit.has_value());
        {
            auto drop = std::move(rx);
        }
        permit->send(DropCounter(drops));
        EXPECT_EQ(drops.alive(), 1);
    }
    EXPECT_EQ(drops.alive(), 0);
    {  // pending sends dropped with their values
        auto [tx, rx] = mpsc::channel<DropCounter>(1);
        ASSERT_TRUE(tx.try_send(DropCounter(drops)).has_value());
        auto send = tx.send(DropCounter(drops));
        EXPECT_TRUE(poll_once(send).is_pending());
    }
    EXPECT_EQ(drops.alive(), 0);
    EXPECT_GT(drops.constructed.load(), 10);
}

TEST(MpscChannel, OnlyTheMostRecentReceiverWakerIsWoken) {
    test::WakeCounts a_counts;
    test::WakeCounts b_counts;
    auto [tx, rx] = mpsc::channel<int>(2);
    {
        Waker a = test::make_counting_waker(a_counts);
        Waker b = test::make_counting_waker(b_counts);
        auto recv = rx.recv();
        EXPECT_TRUE(poll_with(recv, a).is_pending());
        EXPECT_TRUE(poll_with(recv, b).is_pending());
        ASSERT_TRUE(tx.try_send(1).has_value());
        EXPECT_EQ(a_counts.total_wakes(), 0);
        EXPECT_EQ(b_counts.total_wakes(), 1);
        EXPECT_TRUE(poll_with(recv, b).is_ready());
    }
    {
        auto drop = std::move(rx);
    }
    {
        auto drop = std::move(tx);
    }
    EXPECT_EQ(a_counts.live.load(), 0);
    EXPECT_EQ(b_counts.live.load(), 0);
}

// ---- send_timeout on the paused clock ----------------------------------------------------

Task<std::expected<void, mpsc::SendTimeoutError<int>>> send_with_timeout(mpsc::Sender<int>* tx, int v,
                                                                         std::chrono::milliseconds d) {
    auto r = co_await tx->send_timeout(v, d);
    co_return r;
}

TEST(MpscChannel, SendTimeoutExpiresWithTheValueBackWhileFull) {
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto [tx, rx] = mpsc::channel<int>(1);
    ASSERT_TRUE(tx.try_send(0).has_value());
    auto t0 = rt.block_on([]() -> Task<time::Instant> { co_return time::Instant::now(); }());
    auto r = rt.block_on(send_with_timeout(&tx, 7, 50ms));
    auto t1 = rt.block_on([]() -> Task<time::Instant> { co_return time::Instant::now(); }());
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(r.error().is_timeout());
    EXPECT_EQ(r.error().value, 7);
    EXPECT_GE(t1 - t0, 50ms);
    // The expired sender left the queue: the fast path works again once a slot frees.
    EXPECT_EQ(rx.try_recv().value(), 0);
    EXPECT_TRUE(tx.try_send(8).has_value());
}

TEST(MpscChannel, SendTimeoutSucceedsWhenASlotFreesInTime) {
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto [tx, rx] = mpsc::channel<int>(1);
    ASSERT_TRUE(tx.try_send(0).has_value());
    auto freer = rt.spawn([](mpsc::Receiver<int>* r) -> Task<int> {
        co_await time::sleep(10ms);
        auto v = co_await r->recv();
        co_return v.value_or(-1);
    }(&rx));
    auto r = rt.block_on(send_with_timeout(&tx, 7, 1000ms));
    EXPECT_TRUE(r.has_value());
    EXPECT_EQ(rt.block_on(std::move(freer)), 0);
    EXPECT_EQ(rx.try_recv().value(), 7);
}

TEST(MpscChannel, SendTimeoutReportsClosed) {
    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    auto [tx, rx] = mpsc::channel<int>(1);
    rx.close();
    auto r = rt.block_on(send_with_timeout(&tx, 3, 10ms));
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(r.error().is_closed());
    EXPECT_EQ(r.error().value, 3);
}

// ---- unbounded ---------------------------------------------------------------------------

TEST(MpscUnbounded, SendNeverWaitsAndRecvKeepsOrder) {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(tx.send(i).has_value());
    EXPECT_EQ(rx.len(), 1000u);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(rx.try_recv().value(), i);
    EXPECT_TRUE(rx.is_empty());
    EXPECT_EQ(rx.try_recv().error(), mpsc::TryRecvError::Empty);
}

TEST(MpscUnbounded, RecvEndsOnceEverySenderIsGone) {
    test::WakeCounts counts;
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    auto copy = tx;
    Waker waker = test::make_counting_waker(counts);
    auto recv = rx.recv();
    EXPECT_TRUE(poll_with(recv, waker).is_pending());
    ASSERT_TRUE(copy.send(1).has_value());
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_EQ(poll_with(recv, waker)->value(), 1);
    {
        auto drop = std::move(tx);
    }
    {
        auto drop = std::move(copy);
    }
    auto end = rx.recv();
    auto p = poll_with(end, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_FALSE(p->has_value());
    EXPECT_EQ(rx.try_recv().error(), mpsc::TryRecvError::Disconnected);
}

TEST(MpscUnbounded, SendFailsWithTheValueOnceTheReceiverIsGoneAndClosedCompletes) {
    auto [tx, rx] = mpsc::unbounded_channel<std::string>();
    auto closed = tx.closed();
    EXPECT_TRUE(poll_once(closed).is_pending());
    EXPECT_FALSE(tx.is_closed());
    {
        auto drop = std::move(rx);
    }
    EXPECT_TRUE(tx.is_closed());
    EXPECT_TRUE(poll_once(closed).is_ready());
    auto r = tx.send("v");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().value, "v");
}

TEST(MpscUnbounded, CloseLetsTheBufferDrain) {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    ASSERT_TRUE(tx.send(1).has_value());
    rx.close();
    EXPECT_FALSE(tx.send(2).has_value());
    EXPECT_EQ(rx.try_recv().value(), 1);
    EXPECT_EQ(rx.try_recv().error(), mpsc::TryRecvError::Disconnected);
}

TEST(MpscUnbounded, ValuesLeftInsideAreDestroyedExactlyOnce) {
    DropCounts drops;
    {
        auto [tx, rx] = mpsc::unbounded_channel<DropCounter>();
        for (int i = 0; i < 10; ++i) ASSERT_TRUE(tx.send(DropCounter(drops, i)).has_value());
        EXPECT_EQ(rx.try_recv().value().value(), 0);
    }
    EXPECT_EQ(drops.alive(), 0);
    {
        auto [tx, rx] = mpsc::unbounded_channel<DropCounter>();
        for (int i = 0; i < 10; ++i) ASSERT_TRUE(tx.send(DropCounter(drops, i)).has_value());
        {
            auto drop = std::move(rx);
        }
        EXPECT_EQ(drops.alive(), 0);
    }
    EXPECT_EQ(drops.alive(), 0);
}

// ---- on both runtimes --------------------------------------------------------------------

class MpscRuntime : public test::RuntimeFlavorTest {};

constexpr int kProducers = 8;
int per_producer() { return test::kSanitized ? 3'000 : 100'000; }

template <class Tx>
Task<void> produce(Tx tx, int id, int n) {
    for (int i = 0; i < n; ++i) {
        std::uint64_t v = (static_cast<std::uint64_t>(id) << 32) | static_cast<std::uint32_t>(i);
        if constexpr (requires { tx.try_send(v); }) {
            auto r = co_await tx.send(v);
            if (!r) throw std::runtime_error("receiver gone");
        } else {
            if (!tx.send(v)) throw std::runtime_error("receiver gone");
            if (i % 64 == 0) co_await task::yield_now();
        }
    }
}

/// Receives until the end; true when every producer's values came complete and in order.
template <class Rx>
Task<bool> consume_in_order(Rx rx, int producers, int n) {
    std::vector<int> next(producers, 0);
    for (;;) {
        std::optional<std::uint64_t> v = co_await rx.recv();
        if (!v) break;
        int id = static_cast<int>(*v >> 32);
        int seq = static_cast<int>(*v & 0xffffffffu);
        if (id >= producers || next[id] != seq) co_return false;
        ++next[id];
    }
    co_return std::all_of(next.begin(), next.end(), [n](int c) { return c == n; });
}

TEST_P(MpscRuntime, EightProducersArriveCompleteAndInPerProducerOrder) {
    Runtime rt = build();
    const int n = per_producer();
    auto [tx, rx] = mpsc::channel<std::uint64_t>(64);
    for (int p = 0; p < kProducers; ++p) rt.spawn(produce(tx, p, n));
    {
        auto drop = std::move(tx);
    }
    auto r = rt.block_on(time::timeout(kBound, rt.spawn(consume_in_order(std::move(rx), kProducers, n))));
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(*r);
}

TEST_P(MpscRuntime, EightUnboundedProducersArriveCompleteAndInPerProducerOrder) {
    Runtime rt = build();
    const int n = per_producer();
    auto [tx, rx] = mpsc::unbounded_channel<std::uint64_t>();
    for (int p = 0; p < kProducers; ++p) rt.spawn(produce(tx, p, n));
    {
        auto drop = std::move(tx);
    }
    auto r = rt.block_on(time::timeout(kBound, rt.spawn(consume_in_order(std::move(rx), kProducers, n))));
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(*r);
}

TEST_P(MpscRuntime, ProducersOnPlainThreadsWakeTheReceivingTask) {
    Runtime rt = build();
    const int n = test::kSanitized ? 2'000 : 50'000;
    auto [tx, rx] = mpsc::unbounded_channel<std::uint64_t>();
    std::vector<std::thread> threads;
    for (int p = 0; p < 2; ++p) {
        threads.emplace_back([t = tx, p]() mutable {
            for (int i = 0; i < n; ++i)
                (void)t.send((static_cast<std::uint64_t>(p) << 32) | static_cast<std::uint32_t>(i));
        });
    }
    {
        auto drop = std::move(tx);
    }
    auto r = rt.block_on(time::timeout(kBound, consume_in_order(std::move(rx), 2, n)));
    for (auto& t : threads) t.join();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(*r);
}

/// Polls `inner` at most `attempts` times (yielding between), then drops it:
/// a cancellation at a chosen point. Yields the output if it came in time.
template <Future F>
class PollAtMost {
public:
    using Output = std::optional<output_of<F>>;
    PollAtMost(F inner, int attempts) : inner_(std::in_place, std::move(inner)), left_(attempts) {}
    Poll<Output> poll(Context& cx) {
        auto p = inner_->poll(cx);
        if (p.is_ready()) return Ready(Output(std::move(p).take()));
        if (--left_ <= 0) {
            inner_.reset();
            return Ready(Output());
        }
        cx.waker().wake_by_ref();  // come back soon, whatever the inner future waits for
        return Pending;
    }

private:
    std::optional<F> inner_;
    int left_;
};

Task<std::uint64_t> receive_with_cancellations(mpsc::Receiver<std::uint64_t> rx, unsigned seed) {
    std::mt19937 rng(seed);
    std::uint64_t count = 0;
    for (;;) {
        PollAtMost<mpsc::Receiver<std::uint64_t>::Recv> attempt(rx.recv(), static_cast<int>(rng() % 3) + 1);
        std::optional<std::optional<std::uint64_t>> got = co_await attempt;
        if (!got) continue;  // cancelled mid-wait
        if (!*got) break;    // the end
        ++count;
    }
    co_return count;
}

TEST_P(MpscRuntime, ARecvDroppedMidWaitLosesNoValue) {
    Runtime rt = build();
    const int n = test::kSanitized ? 2'000 : 20'000;
    auto [tx, rx] = mpsc::channel<std::uint64_t>(4);
    for (int p = 0; p < 4; ++p) {
        rt.spawn([](mpsc::Sender<std::uint64_t> t, int count) -> Task<void> {
            for (int i = 0; i < count; ++i) {
                auto r = co_await t.send(static_cast<std::uint64_t>(i));
                if (!r) co_return;
                if (i % 7 == 0) co_await task::yield_now();
            }
        }(tx, n));
    }
    {
        auto drop = std::move(tx);
    }
    auto r = rt.block_on(time::timeout(kBound, rt.spawn(receive_with_cancellations(std::move(rx), 12345))));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, static_cast<std::uint64_t>(4 * n));
}

TEST_P(MpscRuntime, SendsCancelledAtRandomPointsNeitherLoseNorLeakSlots) {
    Runtime rt = build();
    const int n = test::kSanitized ? 1'000 : 10'000;
    DropCounts drops;
    // unique_ptr: a co_await output must be move-assignable (DropCounter is not).
    using Value = std::unique_ptr<DropCounter>;
    auto [tx, rx] = mpsc::channel<Value>(2);
    std::atomic<int> sent{0};
    for (int p = 0; p < 4; ++p) {
        rt.spawn(
            [](mpsc::Sender<Value> t, int count, DropCounts* d, std::atomic<int>* ok, unsigned seed) -> Task<void> {
                std::mt19937 rng(seed);
                for (int i = 0; i < count; ++i) {
                    PollAtMost<mpsc::Sender<Value>::Send> attempt(t.send(std::make_unique<DropCounter>(*d, i)),
                                                                  static_cast<int>(rng() % 3) + 1);
                    auto r = co_await attempt;
                    if (r && r->has_value()) ok->fetch_add(1, std::memory_order_relaxed);
                }
            }(tx, n, &drops, &sent, static_cast<unsigned>(p)));
    }
    {
        auto drop = std::move(tx);
    }
    auto r = rt.block_on(time::timeout(kBound, rt.spawn([](mpsc::Receiver<Value> rx2) -> Task<int> {
        int count = 0;
        while (auto v = co_await rx2.recv()) ++count;
        co_return count;
    }(std::move(rx)))));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, sent.load());
    EXPECT_GT(sent.load(), 0);
    EXPECT_EQ(drops.alive(), 0);
}

TEST_P(MpscRuntime, BackPressureHoldsASenderUntilTheReceiverTakesAValue) {
    Runtime rt = build();
    auto [tx, rx] = mpsc::channel<int>(2);
    std::atomic<int> sent{0};
    auto producer = rt.spawn([](mpsc::Sender<int> t, std::atomic<int>* s) -> Task<void> {
        for (int i = 0; i < 30; ++i) {
            auto r = co_await t.send(i);
            if (!r) co_return;
            s->fetch_add(1, std::memory_order_release);
        }
    }(std::move(tx), &sent));
    auto r = rt.block_on(time::timeout(kBound, [](mpsc::Receiver<int>* rx2, std::atomic<int>* s) -> Task<bool> {
        for (int i = 0; i < 30; ++i) {
            co_await time::sleep(1ms);
            // Never more than capacity ahead of what was received.
            if (s->load(std::memory_order_acquire) > i + 2) co_return false;
            auto v = co_await rx2->recv();
            if (!v || *v != i) co_return false;
        }
        co_return true;
    }(&rx, &sent)));
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(*r);
    rt.block_on(std::move(producer));
}

INSTANTIATE_TEST_SUITE_P(Runtimes, MpscRuntime, test::all_flavors(), test::flavor_name);

}  // namespace
}  // namespace corio::sync
