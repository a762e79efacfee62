// Tests of <corio/sync/oneshot.hpp>: send/recv, try_recv, close, closed(),
// the errors of a dropped side, values destroyed exactly once, the most
// recent waker woken, and sends across threads on both runtimes.
#include "corio/sync/oneshot.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <expected>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

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

constexpr auto kBound = 10s;

// ---- single-threaded, polled by hand ------------------------------------------------

TEST(Oneshot, SendThenTryRecvYieldsTheValue) {
    auto [tx, rx] = oneshot::channel<std::string>();
    ASSERT_TRUE(tx.send("hello").has_value());
    EXPECT_FALSE(tx.valid());
    auto v = rx.try_recv();
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, "hello");
    EXPECT_FALSE(rx.valid());
    EXPECT_EQ(rx.try_recv().error(), oneshot::TryRecvError::Closed);
}

TEST(Oneshot, TryRecvIsEmptyUntilSentAndClosedWhenTheSenderIsDropped) {
    auto [tx, rx] = oneshot::channel<int>();
    EXPECT_EQ(rx.try_recv().error(), oneshot::TryRecvError::Empty);
    {
        auto drop = std::move(tx);
    }
    EXPECT_EQ(rx.try_recv().error(), oneshot::TryRecvError::Closed);
}

TEST(Oneshot, PendingReceiverIsWokenBySendAndYieldsTheValue) {
    test::WakeCounts counts;
    auto [tx, rx] = oneshot::channel<int>();
    {
        Waker waker = test::make_counting_waker(counts);
        EXPECT_TRUE(poll_with(rx, waker).is_pending());
        ASSERT_TRUE(tx.send(7).has_value());
        EXPECT_EQ(counts.total_wakes(), 1);
        auto p = poll_with(rx, waker);
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(p->value(), 7);
    }
    EXPECT_EQ(counts.live.load(), 0);  // the channel kept no waker alive after both sides went
}

TEST(Oneshot, OnlyTheMostRecentWakerIsWoken) {
    test::WakeCounts first;
    test::WakeCounts second;
    auto [tx, rx] = oneshot::channel<int>();
    {
        Waker a = test::make_counting_waker(first);
        Waker b = test::make_counting_waker(second);
        EXPECT_TRUE(poll_with(rx, a).is_pending());
        EXPECT_TRUE(poll_with(rx, a).is_pending());  // same waker: no clone
        EXPECT_EQ(first.clones.load(), 1);
        EXPECT_TRUE(poll_with(rx, b).is_pending());
        ASSERT_TRUE(tx.send(1).has_value());
        EXPECT_EQ(first.total_wakes(), 0);
        EXPECT_EQ(second.total_wakes(), 1);
        EXPECT_TRUE(poll_with(rx, b).is_ready());
    }
    EXPECT_EQ(first.live.load(), 0);
    EXPECT_EQ(second.live.load(), 0);
}

TEST(Oneshot, ReceiverLearnsTheSenderWasDroppedWithoutSending) {
    test::WakeCounts counts;
    auto [tx, rx] = oneshot::channel<int>();
    Waker waker = test::make_counting_waker(counts);
    EXPECT_TRUE(poll_with(rx, waker).is_pending());
    {
        auto drop = std::move(tx);
    }
    EXPECT_EQ(counts.total_wakes(), 1);
    auto p = poll_with(rx, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->error(), oneshot::RecvError{});
}

TEST(Oneshot, SendGivesTheValueBackWhenTheReceiverIsDropped) {
    auto [tx, rx] = oneshot::channel<std::string>();
    EXPECT_FALSE(tx.is_closed());
    {
        auto drop = std::move(rx);
    }
    EXPECT_TRUE(tx.is_closed());
    auto r = tx.send("back");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), "back");
}

TEST(Oneshot, CloseMakesSendFailButKeepsAValueSentBefore) {
    {
        auto [tx, rx] = oneshot::channel<int>();
        rx.close();
        EXPECT_TRUE(tx.is_closed());
        EXPECT_EQ(tx.send(3).error(), 3);
        EXPECT_EQ(rx.try_recv().error(), oneshot::TryRecvError::Closed);
    }
    {
        auto [tx, rx] = oneshot::channel<int>();
        ASSERT_TRUE(tx.send(4).has_value());
        rx.close();
        EXPECT_EQ(rx.try_recv().value(), 4);
    }
    {
        auto [tx, rx] = oneshot::channel<int>();
        rx.close();
        auto p = poll_once(rx);
        ASSERT_TRUE(p.is_ready());
        EXPECT_FALSE(p->has_value());
    }
}

TEST(Oneshot, ClosedCompletesWhenTheReceiverIsDroppedOrClosed) {
    {
        test::WakeCounts counts;
        auto [tx, rx] = oneshot::channel<int>();
        Waker waker = test::make_counting_waker(counts);
        auto closed = tx.closed();
        EXPECT_TRUE(poll_with(closed, waker).is_pending());
        {
            auto drop = std::move(rx);
        }
        EXPECT_EQ(counts.total_wakes(), 1);
        EXPECT_TRUE(poll_with(closed, waker).is_ready());
    }
    {
        test::WakeCounts counts;
        auto [tx, rx] = oneshot::channel<int>();
        Waker waker = test::make_counting_waker(counts);
        auto closed = tx.closed();
        EXPECT_TRUE(poll_with(closed, waker).is_pending());
        rx.close();
        EXPECT_EQ(counts.total_wakes(), 1);
        EXPECT_TRUE(poll_with(closed, waker).is_ready());
    }
}

TEST(Oneshot, UsingASpentHandleThrows) {
    auto [tx, rx] = oneshot::channel<int>();
    ASSERT_TRUE(tx.send(1).has_value());
    EXPECT_THROW((void)tx.send(2), std::logic_error);
    ASSERT_TRUE(poll_once(rx).is_ready());
    EXPECT_THROW((void)poll_once(rx), std::logic_error);
}

TEST(Oneshot, EveryValueIsDestroyedExactlyOnce) {
    DropCounts counts;
    {  // sent, never received, receiver dropped last
        auto [tx, rx] = oneshot::channel<DropCounter>();
        ASSERT_TRUE(tx.send(DropCounter(counts)).has_value());
    }
    EXPECT_EQ(counts.alive(), 0);
    {  // sent, receiver dropped first
        auto [tx, rx] = oneshot::channel<DropCounter>();
        auto sender = std::move(tx);
        ASSERT_TRUE(sender.send(DropCounter(counts)).has_value());
        {
            auto drop = std::move(rx);
        }
        EXPECT_EQ(counts.alive(), 0);
    }
    {  // refused: the value comes back and is destroyed by the caller
        auto [tx, rx] = oneshot::channel<DropCounter>();
        rx.close();
        auto r = tx.send(DropCounter(counts));
        EXPECT_FALSE(r.has_value());
        EXPECT_EQ(counts.alive(), 1);
    }
    EXPECT_EQ(counts.alive(), 0);
    {  // received
        auto [tx, rx] = oneshot::channel<DropCounter>();
        ASSERT_TRUE(tx.send(DropCounter(counts, 5)).has_value());
        auto p = poll_once(rx);
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(p->value().value(), 5);
    }
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_GT(counts.constructed.load(), 0);
}

// ---- on both runtimes ----------------------------------------------------------------

class OneshotRuntime : public test::RuntimeFlavorTest {};

Task<int> receive(oneshot::Receiver<int> rx) {
    auto v = co_await rx;
    co_return v ? *v : -1;
}

Task<void> send_later(oneshot::Sender<int> tx, int v) {
    co_await task::yield_now();
    (void)tx.send(v);
}

Task<bool> await_closed(oneshot::Sender<int> tx) {
    co_await tx.closed();
    co_return tx.is_closed();
}

TEST_P(OneshotRuntime, AwaitingTheReceiverYieldsAValueSentByAnotherTask) {
    Runtime rt = build();
    auto [tx, rx] = oneshot::channel<int>();
    auto sender = rt.spawn(send_later(std::move(tx), 42));
    auto fut = time::timeout(kBound, receive(std::move(rx)));
    auto r = rt.block_on(std::move(fut));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 42);
    rt.block_on(std::move(sender));
}

TEST_P(OneshotRuntime, ClosedCompletesWhenAnotherTaskDropsTheReceiver) {
    Runtime rt = build();
    auto [tx, rx] = oneshot::channel<int>();
    auto waiter = rt.spawn(await_closed(std::move(tx)));
    auto dropper = rt.spawn([](oneshot::Receiver<int> r) -> Task<void> {
        co_await task::yield_now();
        {
            auto drop = std::move(r);
        }
    }(std::move(rx)));
    auto r = rt.block_on(time::timeout(kBound, std::move(waiter)));
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(*r);
    rt.block_on(std::move(dropper));
}

Task<int> ping_many(int n) {
    int sum = 0;
    for (int i = 0; i < n; ++i) {
        auto [tx, rx] = oneshot::channel<int>();
        auto [back_tx, back_rx] = oneshot::channel<int>();
        auto echo = spawn([](oneshot::Receiver<int> in, oneshot::Sender<int> out) -> Task<void> {
            auto v = co_await in;
            if (v) (void)out.send(*v + 1);
        }(std::move(rx), std::move(back_tx)));
        (void)tx.send(i);
        auto v = co_await back_rx;
        if (!v) co_return -1;
        sum += *v - i;
        co_await echo;
    }
    co_return sum;
}

TEST_P(OneshotRuntime, ValuesCrossBetweenTasksManyTimes) {
    const int n = test::kSanitized ? 5'000 : 100'000;
    Runtime rt = build();
    auto r = rt.block_on(time::timeout(kBound * 3, rt.spawn(ping_many(n))));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, n);
}

TEST_P(OneshotRuntime, SendsFromAPlainThreadWakeTheReceivingTask) {
    const int n = test::kSanitized ? 300 : 2'000;
    Runtime rt = build();
    int received = 0;
    for (int i = 0; i < n; ++i) {
        auto [tx, rx] = oneshot::channel<int>();
        std::thread sender([t = std::move(tx), i]() mutable { (void)t.send(i); });
        auto r = rt.block_on(time::timeout(kBound, std::move(rx)));
        sender.join();
        ASSERT_TRUE(r.has_value());
        ASSERT_TRUE(r->has_value());
        received += **r == i;
    }
    EXPECT_EQ(received, n);
}

TEST_P(OneshotRuntime, ADroppedSenderOnAnotherThreadEndsTheAwait) {
    Runtime rt = build();
    auto [tx, rx] = oneshot::channel<int>();
    std::thread dropper([t = std::move(tx)]() mutable { auto drop = std::move(t); });
    auto r = rt.block_on(time::timeout(kBound, std::move(rx)));
    dropper.join();
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->has_value());
}

INSTANTIATE_TEST_SUITE_P(Runtimes, OneshotRuntime, test::all_flavors(), test::flavor_name);

}  // namespace
}  // namespace corio::sync
