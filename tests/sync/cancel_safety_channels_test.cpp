// Cancellation safety of the channels' awaiting operations (oneshot, mpsc,
// broadcast, watch): each test cancels the operation many times, at random
// points, by racing it with corio::select / select_biased against a branch
// that becomes ready after a random number of polls (0: at once), while other
// tasks send, receive or close concurrently. The cancel thus lands before the
// operation registered, while it is queued, or after it was granted or woken
// but before it was polled again. Afterwards the test checks exactly what the
// operation's `///` comment promises: every value received exactly once or
// destroyed exactly once (a per-value Ledger), every slot given back, no
// waiter left behind, and no hang (every test runs under time::timeout).
// Each test runs on current_thread and on multi_thread with 2 and 4 workers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <expected>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/select.hpp"
#include "corio/sync/broadcast.hpp"
#include "corio/sync/mpsc.hpp"
#include "corio/sync/oneshot.hpp"
#include "corio/sync/watch.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/cancel_race.hpp"

namespace corio {
namespace {

using namespace test::race;  // the races, runtimes and Ledger of support/cancel_race.hpp

class CancelSafetyOfChannels : public ::testing::TestWithParam<Flavor> {};

INSTANTIATE_TEST_SUITE_P(Runtimes, CancelSafetyOfChannels, ::testing::ValuesIn(kFlavors), flavor_name);

// ---- oneshot --------------------------------------------------------------------------------------

Task<void> send_after(sync::oneshot::Sender<Ticket> tx, Ticket ticket, int yields) {
    co_await yield_times(yields);
    (void)tx.send(std::move(ticket));  // on failure the value comes back and is destroyed here
}

Task<void> oneshot_receiver_rounds(int rounds, Ledger* ledger, Tally* tally) {
    std::minstd_rand rng(11);
    for (int id = 0; id < rounds; ++id) {
        auto pair = sync::oneshot::channel<Ticket>();
        sync::oneshot::Receiver<Ticket> rx = std::move(pair.second);
        JoinHandle<void> sender =
            spawn(send_after(std::move(pair.first), Ticket(*ledger, id), static_cast<int>(rng() % 4)));
        const bool give_up = rng() % 8 == 0;  // drop the Receiver after the first cancel
        for (;;) {
            auto attempt = race(rx, next_plan(rng));  // borrowed: a cancel leaves the Receiver as it was
            auto got = co_await attempt;
            tally->count(got.has_value());
            if (got.has_value()) {
                EXPECT_TRUE(got->has_value());
                if (got->has_value()) {
                    EXPECT_EQ((*got)->id(), id);
                    ledger->receive((*got)->id());
                }
                break;
            }
            if (give_up) {
                rx = sync::oneshot::Receiver<Ticket>();  // closes: a value in it, or a later send's, is destroyed
                break;
            }
        }
        co_await sender;
        if (!give_up) {
            EXPECT_EQ(ledger->destroyed(id), 1) << "the received value was destroyed with its holder";
        }
    }
}

TEST_P(CancelSafetyOfChannels, OneshotReceiverAwaitCancelledAtRandomPointsStillDeliversTheValueExactlyOnce) {
    const int rounds = scaled(600);
    Ledger ledger(static_cast<std::size_t>(rounds));
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), oneshot_receiver_rounds(rounds, &ledger, &tally)));
    // Received unless the Receiver was dropped; destroyed exactly once either way.
    EXPECT_TRUE(ledger.settled([&](int id) { return ledger.received(id) == 1 ? 1 : 0; }));
    int received = 0;
    for (int id = 0; id < rounds; ++id) received += ledger.received(id);
    EXPECT_GT(received, rounds / 2);
    EXPECT_GT(tally.cancelled.load(), 0);
}

/// Drops a watch Receiver after `yields` yields.
Task<void> close_receiver_after([[maybe_unused]] sync::watch::Receiver<int> rx, int yields) {
    co_await yield_times(yields);
}

template <class Rx>
Task<void> close_after(Rx rx, int yields, bool close_first) {
    co_await yield_times(yields);
    if (close_first) rx.close();
    co_await task::yield_now();
}  // rx dropped here

/// Awaits the sender's closed() with cancels while another task drops the
/// receiver (closing it first when `close_first`) after `yields` yields;
/// then a later closed() is ready at once.
template <class Tx, class Rx>
Task<void> closed_when_the_receiver_goes(std::pair<Tx, Rx> pair, int yields, bool close_first, std::minstd_rand* rng,
                                         Tally* tally) {
    Tx tx = std::move(pair.first);
    JoinHandle<void> closer = spawn(close_after(std::move(pair.second), yields, close_first));
    auto closed = [&tx] { return tx.closed(); };
    co_await race_until_completed(closed, rng, tally);
    EXPECT_TRUE(tx.is_closed());
    co_await closer;
    const bool closed_at_once = co_await ready_at_once(tx.closed());
    EXPECT_TRUE(closed_at_once) << "a later closed() is not left waiting";
}

Task<void> oneshot_closed_rounds(int rounds, Tally* tally) {
    std::minstd_rand rng(12);
    for (int i = 0; i < rounds; ++i) {
        auto pair = sync::oneshot::channel<int>();
        co_await closed_when_the_receiver_goes(std::move(pair), static_cast<int>(rng() % 6), rng() % 2 == 0, &rng,
                                               tally);
    }
}

TEST_P(CancelSafetyOfChannels, OneshotSenderClosedCancelledAtRandomPointsStillCompletesWhenTheReceiverGoes) {
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), oneshot_closed_rounds(scaled(400), &tally)));
    EXPECT_GT(tally.cancelled.load(), 0);
}

// ---- mpsc: receivers -----------------------------------------------------------------------------

constexpr int kProducers = 3;

Task<void> produce_bounded(sync::mpsc::Sender<Ticket> tx, Ledger* ledger, int first, int count, unsigned seed) {
    co_await spread_out(kProducers + 1);
    std::minstd_rand rng(seed);
    for (int id = first; id < first + count; ++id) {
        auto send = tx.send(Ticket(*ledger, id));
        auto sent = co_await send;
        EXPECT_TRUE(sent.has_value());
        if (rng() % 4 == 0) co_await task::yield_now();
    }
}

Task<void> produce_unbounded(sync::mpsc::UnboundedSender<Ticket> tx, Ledger* ledger, int first, int count,
                             unsigned seed) {
    co_await spread_out(kProducers + 1);
    std::minstd_rand rng(seed);
    for (int id = first; id < first + count; ++id) {
        EXPECT_TRUE(tx.send(Ticket(*ledger, id)).has_value());
        if (rng() % 3 == 0) co_await task::yield_now();
    }
}

/// Receives until the channel ends, each recv raced against a cancel.
template <class Rx>
Task<void> receive_all_with_cancels(Rx* rx, Ledger* ledger, Tally* tally, unsigned seed) {
    co_await spread_out(kProducers + 1);
    std::minstd_rand rng(seed);
    for (;;) {
        auto attempt = race(rx->recv(), next_plan(rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (!got.has_value()) continue;  // cancelled: nothing may have been taken
        if (!got->has_value()) break;    // every sender gone, buffer drained
        ledger->receive((**got).id());
    }
}

/// kProducers tasks send per_producer Tickets each with `produce` into the
/// channel of `pair`, while this task receives them all with cancels.
template <class Tx, class Rx, class Produce>
Task<void> recv_test(std::pair<Tx, Rx> pair, Produce produce, unsigned producer_seed, unsigned receiver_seed,
                     Ledger* ledger, Tally* tally, int per_producer) {
    Rx rx = std::move(pair.second);
    std::vector<JoinHandle<void>> producers;
    for (int p = 0; p < kProducers; ++p)
        producers.push_back(spawn(produce(pair.first, ledger, p * per_producer, per_producer, producer_seed + p)));
    {
        auto drop = std::move(pair.first);
    }
    co_await receive_all_with_cancels(&rx, ledger, tally, receiver_seed);
    for (auto& p : producers) co_await p;
}

Task<void> bounded_recv_test(Ledger* ledger, Tally* tally, int per_producer) {
    return recv_test(sync::mpsc::channel<Ticket>(2), produce_bounded, 100u, 13, ledger, tally, per_producer);
}

Task<void> unbounded_recv_test(Ledger* ledger, Tally* tally, int per_producer) {
    return recv_test(sync::mpsc::unbounded_channel<Ticket>(), produce_unbounded, 200u, 14, ledger, tally, per_producer);
}

/// Runs `recv_test` on `flavor`: every value received exactly once, some receives cancelled.
void expect_recv_loses_no_value(Flavor flavor, Task<void> (*recv_test)(Ledger*, Tally*, int)) {
    const int per_producer = scaled(400);
    Ledger ledger(static_cast<std::size_t>(kProducers * per_producer));
    Tally tally;
    ASSERT_TRUE(run_bounded(flavor, recv_test(&ledger, &tally, per_producer)));
    EXPECT_TRUE(ledger.all_received_once());
    EXPECT_GT(tally.cancelled.load(), 0);
}

TEST_P(CancelSafetyOfChannels, MpscRecvCancelledAtRandomPointsLosesNoValue) {
    expect_recv_loses_no_value(GetParam(), bounded_recv_test);
}

TEST_P(CancelSafetyOfChannels, UnboundedRecvCancelledAtRandomPointsLosesNoValue) {
    expect_recv_loses_no_value(GetParam(), unbounded_recv_test);
}

// ---- mpsc: senders -----------------------------------------------------------------------------

/// Which sending operation a sender task races.
enum class SendOp { Send, Reserve, SendTimeout };

/// One attempt to send `id` with `op`, raced against a cancel. Records in the
/// ledger whether the channel accepted it; checks that a cancelled or failed
/// attempt destroyed (or gave back) its value at once.
Task<void> send_once(sync::mpsc::Sender<Ticket>* tx, SendOp op, Ledger* ledger, int id, RacePlan plan,
                     std::minstd_rand* rng, Tally* tally) {
    switch (op) {
        case SendOp::Send: {
            auto attempt = race(tx->send(Ticket(*ledger, id)), plan);
            auto got = co_await attempt;
            tally->count(got.has_value());
            if (!got.has_value()) {
                EXPECT_EQ(ledger->destroyed(id), 1) << "a dropped send destroys its value";
                co_return;
            }
            EXPECT_TRUE(got->has_value());
            if (got->has_value()) ledger->accept(id);
            co_return;
        }
        case SendOp::Reserve: {
            auto attempt = race(tx->reserve(), plan);
            auto got = co_await attempt;
            tally->count(got.has_value());
            if (!got.has_value()) {
                ledger->destroy(id);  // nothing to send: the id is settled as never made
                co_return;
            }
            EXPECT_TRUE(got->has_value());
            if (!got->has_value()) co_return;
            if ((*rng)() % 4 == 0) {
                ledger->destroy(id);  // the permit is dropped unused: its slot must come back
                co_return;
            }
            (**got).send(Ticket(*ledger, id));
            ledger->accept(id);
            co_return;
        }
        case SendOp::SendTimeout:
            break;
    }
    // Mostly a timeout that never expires; sometimes one that may.
    const auto timeout =
        (*rng)() % 4 == 0 ? std::chrono::microseconds((*rng)() % 500) : std::chrono::microseconds(kBound);
    auto attempt = race(tx->send_timeout(Ticket(*ledger, id), timeout), plan);
    auto got = co_await attempt;
    tally->count(got.has_value());
    if (!got.has_value()) {
        EXPECT_EQ(ledger->destroyed(id), 1) << "a dropped send_timeout destroys its value";
        co_return;
    }
    if (got->has_value()) {
        ledger->accept(id);
        co_return;
    }
    EXPECT_TRUE(got->error().is_timeout());
    EXPECT_EQ(got->error().value.id(), id) << "a timed-out send gives its value back";
}

Task<void> sender_with_cancels(sync::mpsc::Sender<Ticket> tx, SendOp op, Ledger* ledger, int first, int count,
                               unsigned seed, Tally* tally) {
    co_await spread_out(kProducers + 1);
    std::minstd_rand rng(seed);
    for (int id = first; id < first + count; ++id) co_await send_once(&tx, op, ledger, id, next_plan(rng), &rng, tally);
}

/// Receives until the end, yielding now and then so that senders queue.
Task<void> receive_slowly(sync::mpsc::Receiver<Ticket> rx, Ledger* ledger, std::atomic<int>* received) {
    co_await spread_out(kProducers + 1);
    std::minstd_rand rng(15);
    for (;;) {
        if (rng() % 2 == 0) co_await yield_times(static_cast<int>(rng() % 3));
        auto recv = rx.recv();
        std::optional<Ticket> got = co_await recv;
        if (!got.has_value()) break;
        ledger->receive(got->id());
        received->fetch_add(1);
    }
}

Task<void> senders_test(SendOp op, Ledger* ledger, Tally* tally, int per_producer) {
    constexpr std::size_t kCapacity = 2;
    auto pair = sync::mpsc::channel<Ticket>(kCapacity);
    sync::mpsc::Sender<Ticket> probe = std::move(pair.first);
    std::atomic<int> received{0};
    JoinHandle<void> consumer = spawn(receive_slowly(std::move(pair.second), ledger, &received));
    std::vector<JoinHandle<void>> producers;
    for (int p = 0; p < kProducers; ++p)
        producers.push_back(
            spawn(sender_with_cancels(probe, op, ledger, p * per_producer, per_producer, 300u + p, tally)));
    for (auto& p : producers) co_await p;
    int accepted = 0;
    for (int id = 0; id < kProducers * per_producer; ++id) accepted += ledger->accepted(id);
    while (received.load() < accepted) co_await task::yield_now();
    // Every slot is back, and no queued sender is left holding one: a send
    // goes through at once.
    EXPECT_EQ(probe.capacity(), kCapacity);
    const int last = kProducers * per_producer;
    EXPECT_TRUE(probe.try_send(Ticket(*ledger, last)).has_value());
    ledger->accept(last);
    {
        auto drop = std::move(probe);
    }
    co_await consumer;
}

void expect_senders_lose_and_leak_nothing(Flavor flavor, SendOp op) {
    const int per_producer = scaled(400);
    Ledger ledger(static_cast<std::size_t>(kProducers * per_producer + 1));
    Tally tally;
    ASSERT_TRUE(run_bounded(flavor, senders_test(op, &ledger, &tally, per_producer)));
    EXPECT_TRUE(ledger.received_iff_accepted());
    EXPECT_GT(tally.cancelled.load(), 0);
    EXPECT_GT(tally.completed.load(), 0);
}

TEST_P(CancelSafetyOfChannels, MpscSendCancelledAtRandomPointsDestroysItsValueAndLeaksNoSlot) {
    expect_senders_lose_and_leak_nothing(GetParam(), SendOp::Send);
}

TEST_P(CancelSafetyOfChannels, MpscReserveCancelledAtRandomPointsHoldsNoSlot) {
    expect_senders_lose_and_leak_nothing(GetParam(), SendOp::Reserve);
}

TEST_P(CancelSafetyOfChannels, MpscSendTimeoutCancelledAtRandomPointsDestroysItsValueAndLeaksNoSlot) {
    expect_senders_lose_and_leak_nothing(GetParam(), SendOp::SendTimeout);
}

Task<void> mpsc_closed_rounds(int rounds, Tally* tally) {
    std::minstd_rand rng(16);
    for (int i = 0; i < rounds; ++i) {
        const int yields = static_cast<int>(rng() % 6);
        const bool close_first = rng() % 2 == 0;
        if (i % 2 == 0) {
            auto pair = sync::mpsc::channel<int>(1);
            co_await closed_when_the_receiver_goes(std::move(pair), yields, close_first, &rng, tally);
        } else {
            auto pair = sync::mpsc::unbounded_channel<int>();
            co_await closed_when_the_receiver_goes(std::move(pair), yields, close_first, &rng, tally);
        }
    }
}

TEST_P(CancelSafetyOfChannels, MpscSenderClosedCancelledAtRandomPointsStillCompletesWhenTheReceiverGoes) {
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), mpsc_closed_rounds(scaled(400), &tally)));
    EXPECT_GT(tally.cancelled.load(), 0);
}

// ---- broadcast -------------------------------------------------------------------------------------

Task<void> broadcast_values(sync::broadcast::Sender<int> tx, int count, unsigned seed) {
    co_await spread_out(3);
    std::minstd_rand rng(seed);
    for (int v = 0; v < count; ++v) {
        EXPECT_TRUE(tx.send(v).has_value());
        if (rng() % 3 == 0) co_await yield_times(static_cast<int>(rng() % 3));
    }
}  // the last sender goes: receivers read the rest, then Closed

/// Receives until Closed with cancels; every value must come, in order (the
/// ring is large enough that nobody lags).
Task<void> broadcast_receive_in_order(sync::broadcast::Receiver<int> rx, int count, unsigned seed, Tally* tally) {
    co_await spread_out(3);
    std::minstd_rand rng(seed);
    int next = 0;
    for (;;) {
        auto attempt = race(rx.recv(), next_plan(rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (!got.has_value()) continue;
        if (!got->has_value()) {
            EXPECT_TRUE(got->error().is_closed()) << "lagged by " << got->error().missed();
            break;
        }
        EXPECT_EQ(**got, next) << "a cancelled recv lost or repeated a value";
        next = **got + 1;
    }
    EXPECT_EQ(next, count);
}

Task<void> broadcast_test(int rounds, int count, Tally* tally) {
    for (int round = 0; round < rounds; ++round) {
        auto pair = sync::broadcast::channel<int>(static_cast<std::size_t>(count));
        sync::broadcast::Receiver<int> second = pair.first.subscribe();
        JoinHandle<void> r1 = spawn(broadcast_receive_in_order(std::move(pair.second), count, 400u + round, tally));
        JoinHandle<void> r2 = spawn(broadcast_receive_in_order(std::move(second), count, 500u + round, tally));
        JoinHandle<void> tx = spawn(broadcast_values(std::move(pair.first), count, 600u + round));
        co_await tx;
        co_await r1;
        co_await r2;
    }
}

TEST_P(CancelSafetyOfChannels, BroadcastRecvCancelledAtRandomPointsLosesNoValue) {
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), broadcast_test(4, scaled(512), &tally)));
    EXPECT_GT(tally.cancelled.load(), 0);
}

// ---- watch -----------------------------------------------------------------------------------------

Task<void> watch_values(sync::watch::Sender<int> tx, int last, unsigned seed) {
    co_await spread_out(3);
    std::minstd_rand rng(seed);
    for (int v = 1; v <= last; ++v) {
        EXPECT_TRUE(tx.send(v).has_value());
        if (rng() % 2 == 0) co_await yield_times(static_cast<int>(rng() % 3));
    }
}  // the Sender goes: waits end with RecvError once nothing new is left

/// changed() with cancels until RecvError: the values seen rise, the last
/// one is seen, and a cancel never marks a change seen.
Task<void> watch_follow_changes(sync::watch::Receiver<int> rx, int last, unsigned seed, Tally* tally) {
    co_await spread_out(3);
    std::minstd_rand rng(seed);
    int seen = 0;
    for (;;) {
        auto attempt = race(rx.changed(), next_plan(rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (!got.has_value()) {
            auto now = rx.borrow();
            if (*now != seen) {
                EXPECT_TRUE(now.has_changed()) << "a cancelled changed() marked " << *now << " seen";
            }
            continue;
        }
        if (!got->has_value()) break;
        int v = *rx.borrow_and_update();
        EXPECT_GT(v, seen);
        seen = v;
    }
    EXPECT_EQ(seen, last) << "the last change was lost";
}

/// wait_for(v >= target) with cancels, for rising targets up to `last`: a
/// value that satisfies the predicate is never missed because of a cancel.
Task<void> watch_wait_for_targets(sync::watch::Receiver<int> rx, int last, unsigned seed, Tally* tally) {
    co_await spread_out(3);
    std::minstd_rand rng(seed);
    int target = 1;
    for (;;) {
        const auto reached = [target](const int& v) { return v >= target; };
        auto attempt = race(rx.wait_for(reached), next_plan(rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (!got.has_value()) {
            bool matches_now = false;
            {
                auto now = rx.borrow();
                matches_now = *now >= target;
            }
            if (matches_now) {
                auto again = rx.wait_for(reached);
                const bool at_once = co_await ready_at_once(std::move(again));
                EXPECT_TRUE(at_once) << "a value matching the predicate was missed after a cancel";
            }
            continue;
        }
        EXPECT_TRUE(got->has_value());
        if (!got->has_value()) break;
        const int v = *got->value();
        got.reset();  // releases the read lock before the next await
        EXPECT_GE(v, target);
        if (v >= last) break;
        target = std::min(last, v + 1 + static_cast<int>(rng() % 4));
    }
}

Task<void> watch_test(int rounds, int last, Tally* changed_tally, Tally* wait_for_tally) {
    for (int round = 0; round < rounds; ++round) {
        auto pair = sync::watch::channel<int>(0);
        sync::watch::Receiver<int> second = pair.second;
        JoinHandle<void> r1 = spawn(watch_follow_changes(std::move(pair.second), last, 700u + round, changed_tally));
        JoinHandle<void> r2 = spawn(watch_wait_for_targets(std::move(second), last, 800u + round, wait_for_tally));
        JoinHandle<void> tx = spawn(watch_values(std::move(pair.first), last, 900u + round));
        co_await tx;
        co_await r1;
        co_await r2;
    }
}

TEST_P(CancelSafetyOfChannels, WatchChangedAndWaitForCancelledAtRandomPointsLoseNoChange) {
    Tally changed, wait_for;
    ASSERT_TRUE(run_bounded(GetParam(), watch_test(4, scaled(400), &changed, &wait_for)));
    EXPECT_GT(changed.cancelled.load(), 0);
    EXPECT_GT(wait_for.cancelled.load(), 0);
}

Task<void> watch_closed_rounds(int rounds, Tally* tally) {
    std::minstd_rand rng(17);
    for (int i = 0; i < rounds; ++i) {
        auto pair = sync::watch::channel<int>(0);
        sync::watch::Sender<int> tx = std::move(pair.first);
        sync::watch::Receiver<int> second = pair.second;
        JoinHandle<void> d1 = spawn(close_receiver_after(std::move(pair.second), static_cast<int>(rng() % 6)));
        JoinHandle<void> d2 = spawn(close_receiver_after(std::move(second), static_cast<int>(rng() % 6)));
        auto closed = [&tx] { return tx.closed(); };
        co_await race_until_completed(closed, &rng, tally);
        EXPECT_TRUE(tx.is_closed());
        co_await d1;
        co_await d2;
        const bool closed_at_once = co_await ready_at_once(tx.closed());
        EXPECT_TRUE(closed_at_once);
    }
}

TEST_P(CancelSafetyOfChannels, WatchSenderClosedCancelledAtRandomPointsStillCompletesWhenTheReceiversGo) {
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), watch_closed_rounds(scaled(400), &tally)));
    EXPECT_GT(tally.cancelled.load(), 0);
}

}  // namespace
}  // namespace corio
