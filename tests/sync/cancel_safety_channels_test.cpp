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
#include <cstdint>
#include <expected>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/select.hpp"
#include "corio/sync/broadcast.hpp"
#include "corio/sync/mpsc.hpp"
#include "corio/sync/oneshot.hpp"
#include "corio/sync/watch.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/sanitized.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;

constexpr auto kBound = 30s;  // only reached when a wake-up is lost

/// `n` iterations, or a quarter of them under a sanitizer.
int scaled(int n) { return test::kSanitized ? std::max(1, n / 4) : n; }

// ---- the race --------------------------------------------------------------------------------
// (The same few helpers open each cancel_safety test file; they would move to
// tests/support/ once that is shared.)

/// The branch that cancels: ready on its (polls + 1)-th poll. Each Pending
/// poll wakes its task first, as yield_now does, so the race is polled again
/// after the other tasks ran.
class ReadyAfter {
public:
    using Output = void;
    explicit ReadyAfter(int polls) noexcept : left_(polls) {}
    Poll<void> poll(Context& cx) {
        if (left_ == 0) return Ready();
        --left_;
        cx.waker().wake_by_ref();
        return Pending;
    }

private:
    int left_;
};

/// Which combinator a race uses.
enum class Order : std::uint8_t {
    Fair,         ///< select(op, ready): a random branch first on every poll
    OpFirst,      ///< select_biased(op, ready): the operation wins whenever it is ready
    CancelFirst,  ///< select_biased(ready, op): a grant that arrives with the cancel is dropped unpolled
};

/// How one race is run: the combinator, and after how many polls the
/// cancelling branch is ready.
struct RacePlan {
    Order order;
    int polls;
};

/// A random plan: often at once or after a poll or two, sometimes later.
RacePlan next_plan(std::minstd_rand& rng) {
    static constexpr int kPolls[] = {0, 0, 1, 1, 2, 3, 5, 8, 16};
    const int polls = kPolls[rng() % std::size(kPolls)];
    return RacePlan{static_cast<Order>(rng() % 3), polls};
}

/// The future of race(): the operation's output, or std::nullopt when the
/// cancelling branch won and the operation was dropped (or, if borrowed,
/// left as it was).
template <class A>
class Race {
    using Op = std::remove_reference_t<A>;
    using Fair = Select<false, A, ReadyAfter>;
    using OpFirst = Select<true, A, ReadyAfter>;
    using CancelFirst = Select<true, ReadyAfter, A>;
    using Selects = std::variant<Fair, OpFirst, CancelFirst>;

public:
    using Output = std::optional<detail::value_or_monostate_t<output_of<Op>>>;

    Race(A&& op, RacePlan plan) : select_(make(std::forward<A>(op), plan)) {}

    Poll<Output> poll(Context& cx) {
        switch (select_.index()) {
            case 0:
                return finish<0>(std::get<0>(select_), cx);
            case 1:
                return finish<0>(std::get<1>(select_), cx);
            default:
                return finish<1>(std::get<2>(select_), cx);
        }
    }

private:
    static Selects make(A&& op, RacePlan plan) {
        switch (plan.order) {
            case Order::Fair:
                return Selects(std::in_place_index<0>, std::forward<A>(op), ReadyAfter(plan.polls));
            case Order::OpFirst:
                return Selects(std::in_place_index<1>, std::forward<A>(op), ReadyAfter(plan.polls));
            case Order::CancelFirst:
                break;
        }
        return Selects(std::in_place_index<2>, ReadyAfter(plan.polls), std::forward<A>(op));
    }

    template <std::size_t OpIndex, class S>
    static Poll<Output> finish(S& select, Context& cx) {
        auto polled = select.poll(cx);
        if (polled.is_pending()) return Pending;
        auto won = std::move(polled).take();
        if (won.index() != OpIndex) return Ready(Output());
        return Ready(Output(std::in_place, std::get<OpIndex>(std::move(won))));
    }

    Selects select_;
};

/// Races `op` (moved in, or borrowed when an lvalue) against ReadyAfter as `plan` says.
template <class F>
    requires Future<std::remove_cvref_t<F>>
Race<F> race(F&& op, RacePlan plan) {
    return Race<F>(std::forward<F>(op), plan);
}

Task<void> yield_times(int n) {
    for (int i = 0; i < n; ++i) co_await task::yield_now();
}

/// True when `op` is ready on its first poll (made with a fresh budget).
template <Future F>
Task<bool> ready_at_once(F op) {
    co_await task::yield_now();
    auto attempt = race(std::move(op), RacePlan{Order::OpFirst, 0});
    auto got = co_await attempt;
    co_return got.has_value();
}

// ---- runtimes --------------------------------------------------------------------------------

enum class Flavor { CurrentThread, TwoWorkers, FourWorkers };

Runtime make_runtime(Flavor flavor) {
    switch (flavor) {
        case Flavor::CurrentThread:
            return Builder::new_current_thread().build();
        case Flavor::TwoWorkers:
            return Builder::new_multi_thread().worker_threads(2).build();
        case Flavor::FourWorkers:
            break;
    }
    return Builder::new_multi_thread().worker_threads(4).build();
}

/// Spreads a test's concurrent tasks over the workers of a multi_thread
/// runtime before they start racing: on this (possibly busy) machine the
/// workers woken by a spawn may only get a CPU after the whole test ran on
/// one of them. Each task calls spread_out() first; it yields until the
/// test's tasks were seen on min(tasks, workers) different threads, or 20 ms
/// passed (a bound on the wait, not a condition of the test).
class Spread {
public:
    void reset(std::size_t workers) {
        std::lock_guard lock(mutex_);
        threads_.clear();
        workers_ = workers;
    }
    bool arrived(std::size_t tasks) {
        std::lock_guard lock(mutex_);
        threads_.insert(std::this_thread::get_id());
        return threads_.size() >= std::min(tasks, workers_);
    }

private:
    std::mutex mutex_;
    std::set<std::thread::id> threads_;
    std::size_t workers_ = 1;
};

Spread& spread() {
    static Spread instance;
    return instance;
}

Task<void> spread_out(std::size_t tasks) {
    const auto deadline = std::chrono::steady_clock::now() + 20ms;
    for (;;) {
        if (spread().arrived(tasks)) co_return;
        if (std::chrono::steady_clock::now() >= deadline) co_return;
        co_await task::yield_now();
    }
}

/// Runs `root` as a task on a fresh runtime of `flavor`, under
/// time::timeout(kBound); false when it timed out. Spawned, so that on
/// multi_thread the root and the tasks it spawns all run on the workers.
bool run_bounded(Flavor flavor, Task<void> root) {
    Runtime rt = make_runtime(flavor);
    spread().reset(flavor == Flavor::CurrentThread ? 1 : flavor == Flavor::TwoWorkers ? 2 : 4);
    return rt.block_on(time::timeout(kBound, rt.spawn(std::move(root)))).has_value();
}

class CancelSafetyOfChannels : public ::testing::TestWithParam<Flavor> {};

INSTANTIATE_TEST_SUITE_P(Runtimes, CancelSafetyOfChannels,
                         ::testing::Values(Flavor::CurrentThread, Flavor::TwoWorkers, Flavor::FourWorkers),
                         [](const ::testing::TestParamInfo<Flavor>& info) {
                             switch (info.param) {
                                 case Flavor::CurrentThread:
                                     return std::string("CurrentThread");
                                 case Flavor::TwoWorkers:
                                     return std::string("TwoWorkers");
                                 case Flavor::FourWorkers:
                                     break;
                             }
                             return std::string("FourWorkers");
                         });

// ---- values whose fate is recorded -------------------------------------------------------------

/// Where each numbered value ended: accepted by the channel (the send
/// reported success), received by the test, destroyed.
class Ledger {
public:
    explicit Ledger(std::size_t ids) : accepted_(ids), received_(ids), destroyed_(ids) {}
    void accept(int id) { accepted_[static_cast<std::size_t>(id)].fetch_add(1); }
    void receive(int id) { received_[static_cast<std::size_t>(id)].fetch_add(1); }
    void destroy(int id) { destroyed_[static_cast<std::size_t>(id)].fetch_add(1); }
    int accepted(int id) const { return accepted_[static_cast<std::size_t>(id)].load(); }
    int received(int id) const { return received_[static_cast<std::size_t>(id)].load(); }
    int destroyed(int id) const { return destroyed_[static_cast<std::size_t>(id)].load(); }
    int size() const { return static_cast<int>(destroyed_.size()); }

    /// Success when every id was destroyed exactly once and received exactly
    /// `want_received(id)` times.
    template <class WantReceived>
    ::testing::AssertionResult settled(WantReceived want_received) const {
        for (int id = 0; id < size(); ++id) {
            if (destroyed(id) != 1 || received(id) != want_received(id)) {
                return ::testing::AssertionFailure()
                       << "value " << id << ": destroyed " << destroyed(id) << " times, received " << received(id)
                       << " times (wanted " << want_received(id) << "), accepted " << accepted(id) << " times";
            }
        }
        return ::testing::AssertionSuccess();
    }

    /// Every id received once (and destroyed once).
    ::testing::AssertionResult all_received_once() const {
        return settled([](int) { return 1; });
    }

    /// Every id received exactly when its send was accepted.
    ::testing::AssertionResult received_iff_accepted() const {
        return settled([this](int id) { return accepted(id); });
    }

private:
    std::vector<std::atomic<int>> accepted_;
    std::vector<std::atomic<int>> received_;
    std::vector<std::atomic<int>> destroyed_;
};

/// A move-only numbered value that reports its destruction to a Ledger (a
/// moved-from one reports nothing).
class Ticket {
public:
    Ticket(Ledger& ledger, int id) noexcept : ledger_(&ledger), id_(id) {}
    Ticket(Ticket&& other) noexcept : ledger_(std::exchange(other.ledger_, nullptr)), id_(other.id_) {}
    Ticket& operator=(Ticket&& other) noexcept {
        if (this != &other) {
            release();
            ledger_ = std::exchange(other.ledger_, nullptr);
            id_ = other.id_;
        }
        return *this;
    }
    ~Ticket() { release(); }
    int id() const noexcept { return id_; }

private:
    void release() noexcept {
        if (ledger_ != nullptr) std::exchange(ledger_, nullptr)->destroy(id_);
    }

    Ledger* ledger_;
    int id_;
};

/// Tallies of one test's races, to show that both outcomes happened.
struct Tally {
    std::atomic<int> completed{0};
    std::atomic<int> cancelled{0};
    void count(bool done) { (done ? completed : cancelled).fetch_add(1); }
};

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
        JoinHandle<void> sender = spawn(send_after(std::move(pair.first), Ticket(*ledger, id), static_cast<int>(rng() % 4)));
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

Task<void> oneshot_closed_rounds(int rounds, Tally* tally) {
    std::minstd_rand rng(12);
    for (int i = 0; i < rounds; ++i) {
        auto pair = sync::oneshot::channel<int>();
        sync::oneshot::Sender<int> tx = std::move(pair.first);
        JoinHandle<void> closer =
            spawn(close_after(std::move(pair.second), static_cast<int>(rng() % 6), rng() % 2 == 0));
        for (;;) {
            auto attempt = race(tx.closed(), next_plan(rng));
            auto got = co_await attempt;
            tally->count(got.has_value());
            if (got.has_value()) break;
        }
        EXPECT_TRUE(tx.is_closed());
        co_await closer;
        const bool closed_at_once = co_await ready_at_once(tx.closed());
        EXPECT_TRUE(closed_at_once) << "a later closed() is not left waiting";
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

Task<void> bounded_recv_test(Ledger* ledger, Tally* tally, int per_producer) {
    auto pair = sync::mpsc::channel<Ticket>(2);
    sync::mpsc::Receiver<Ticket> rx = std::move(pair.second);
    std::vector<JoinHandle<void>> producers;
    for (int p = 0; p < kProducers; ++p)
        producers.push_back(spawn(produce_bounded(pair.first, ledger, p * per_producer, per_producer, 100u + p)));
    { auto drop = std::move(pair.first); }
    co_await receive_all_with_cancels(&rx, ledger, tally, 13);
    for (auto& p : producers) co_await p;
}

TEST_P(CancelSafetyOfChannels, MpscRecvCancelledAtRandomPointsLosesNoValue) {
    const int per_producer = scaled(400);
    Ledger ledger(static_cast<std::size_t>(kProducers * per_producer));
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), bounded_recv_test(&ledger, &tally, per_producer)));
    EXPECT_TRUE(ledger.all_received_once());
    EXPECT_GT(tally.cancelled.load(), 0);
}

Task<void> unbounded_recv_test(Ledger* ledger, Tally* tally, int per_producer) {
    auto pair = sync::mpsc::unbounded_channel<Ticket>();
    sync::mpsc::UnboundedReceiver<Ticket> rx = std::move(pair.second);
    std::vector<JoinHandle<void>> producers;
    for (int p = 0; p < kProducers; ++p)
        producers.push_back(spawn(produce_unbounded(pair.first, ledger, p * per_producer, per_producer, 200u + p)));
    { auto drop = std::move(pair.first); }
    co_await receive_all_with_cancels(&rx, ledger, tally, 14);
    for (auto& p : producers) co_await p;
}

TEST_P(CancelSafetyOfChannels, UnboundedRecvCancelledAtRandomPointsLosesNoValue) {
    const int per_producer = scaled(400);
    Ledger ledger(static_cast<std::size_t>(kProducers * per_producer));
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), unbounded_recv_test(&ledger, &tally, per_producer)));
    EXPECT_TRUE(ledger.all_received_once());
    EXPECT_GT(tally.cancelled.load(), 0);
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
    const auto timeout = (*rng)() % 4 == 0 ? std::chrono::microseconds((*rng)() % 500) : std::chrono::microseconds(kBound);
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
    { auto drop = std::move(probe); }
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
            sync::mpsc::Sender<int> tx = std::move(pair.first);
            JoinHandle<void> closer = spawn(close_after(std::move(pair.second), yields, close_first));
            for (;;) {
                auto attempt = race(tx.closed(), next_plan(rng));
                auto got = co_await attempt;
                tally->count(got.has_value());
                if (got.has_value()) break;
            }
            EXPECT_TRUE(tx.is_closed());
            co_await closer;
            const bool closed_at_once = co_await ready_at_once(tx.closed());
            EXPECT_TRUE(closed_at_once);
        } else {
            auto pair = sync::mpsc::unbounded_channel<int>();
            sync::mpsc::UnboundedSender<int> tx = std::move(pair.first);
            JoinHandle<void> closer = spawn(close_after(std::move(pair.second), yields, close_first));
            for (;;) {
                auto attempt = race(tx.closed(), next_plan(rng));
                auto got = co_await attempt;
                tally->count(got.has_value());
                if (got.has_value()) break;
            }
            EXPECT_TRUE(tx.is_closed());
            co_await closer;
            const bool closed_at_once = co_await ready_at_once(tx.closed());
            EXPECT_TRUE(closed_at_once);
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
        auto attempt = race(rx.wait_for([target](const int& v) { return v >= target; }), next_plan(rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (!got.has_value()) {
            bool matches_now = false;
            {
                auto now = rx.borrow();
                matches_now = *now >= target;
            }
            if (matches_now) {
                const bool at_once = co_await ready_at_once(rx.wait_for([target](const int& v) { return v >= target; }));
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
        for (;;) {
            auto attempt = race(tx.closed(), next_plan(rng));
            auto got = co_await attempt;
            tally->count(got.has_value());
            if (got.has_value()) break;
        }
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
