// Cancellation safety of the task-level awaiting operations (JoinSet::
// join_next, awaiting a JoinHandle, CancellationToken::cancelled,
// time::sleep): each test cancels the operation many times, at random points,
// by racing it with corio::select / select_biased against a branch that
// becomes ready after a random number of polls (0: at once), while the tasks
// or timers it waits for make progress concurrently. The checks are what each
// operation's `///` comment promises: no task output lost or taken twice (a
// per-value Ledger: received exactly once, destroyed exactly once), a later
// await still gets what a cancelled one would have, a dropped sleep loses
// nothing but the wait, and no hang (every test runs under time::timeout).
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

#include "corio/cancel.hpp"
#include "corio/runtime.hpp"
#include "corio/select.hpp"
#include "corio/task.hpp"
#include "corio/task/join_set.hpp"
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

class CancelSafetyOfTasks : public ::testing::TestWithParam<Flavor> {};

INSTANTIATE_TEST_SUITE_P(Runtimes, CancelSafetyOfTasks,
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

// ---- JoinSet::join_next ----------------------------------------------------------------------------

Task<Ticket> ticket_after(Ledger* ledger, int id, int yields) {
    co_await yield_times(yields);
    co_return Ticket(*ledger, id);
}

Task<void> join_set_rounds(int rounds, int tasks, Ledger* ledger, Tally* tally) {
    std::minstd_rand rng(41);
    for (int round = 0; round < rounds; ++round) {
        task::JoinSet<Ticket> set;
        for (int t = 0; t < tasks; ++t) {
            const int id = round * tasks + t;
            (void)set.spawn(ticket_after(ledger, id, static_cast<int>(rng() % 6)));
        }
        int joined = 0;
        for (;;) {
            auto attempt = race(set.join_next(), next_plan(rng));
            auto got = co_await attempt;
            tally->count(got.has_value());
            if (!got.has_value()) continue;  // cancelled: the result stays in the set
            if (!got->has_value()) break;    // the set is empty
            EXPECT_TRUE((*got)->has_value());
            if (!(*got)->has_value()) continue;
            ledger->receive((**got)->id());
            ++joined;
        }
        EXPECT_EQ(joined, tasks);
        EXPECT_TRUE(set.is_empty());
    }
}

TEST_P(CancelSafetyOfTasks, JoinNextCancelledAtRandomPointsLosesNoResult) {
    const int rounds = scaled(40);
    constexpr int kTasks = 24;
    Ledger ledger(static_cast<std::size_t>(rounds * kTasks));
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), join_set_rounds(rounds, kTasks, &ledger, &tally)));
    EXPECT_TRUE(ledger.all_received_once());
    EXPECT_GT(tally.cancelled.load(), 0);
}

// ---- JoinHandle ---------------------------------------------------------------------------------------

Task<void> join_handle_rounds(int rounds, Ledger* ledger, Tally* tally, std::vector<char>* detached) {
    std::minstd_rand rng(42);
    for (int id = 0; id < rounds; ++id) {
        JoinHandle<Ticket> handle = spawn(ticket_after(ledger, id, static_cast<int>(rng() % 6)));
        const bool detach = rng() % 8 == 0;  // drop the handle after the first cancel
        for (;;) {
            auto attempt = race(handle, next_plan(rng));  // borrowed: a cancel leaves the handle as it was
            auto got = co_await attempt;
            tally->count(got.has_value());
            if (got.has_value()) {
                EXPECT_EQ((*got).id(), id);
                ledger->receive((*got).id());
                break;
            }
            if (detach) {
                (*detached)[static_cast<std::size_t>(id)] = 1;
                handle = JoinHandle<Ticket>();  // detached: the output is destroyed with the task
                break;
            }
        }
    }
    // Detached tasks finish on their own; wait for their outputs to go.
    for (int id = 0; id < rounds; ++id) {
        while (ledger->destroyed(id) == 0) co_await task::yield_now();
    }
}

TEST_P(CancelSafetyOfTasks, JoinHandleAwaitCancelledAtRandomPointsLetsALaterAwaitGetTheOutput) {
    const int rounds = scaled(600);
    Ledger ledger(static_cast<std::size_t>(rounds));
    Tally tally;
    std::vector<char> detached(static_cast<std::size_t>(rounds), 0);
    ASSERT_TRUE(run_bounded(GetParam(), join_handle_rounds(rounds, &ledger, &tally, &detached)));
    EXPECT_TRUE(ledger.settled([&](int id) { return detached[static_cast<std::size_t>(id)] != 0 ? 0 : 1; }));
    EXPECT_GT(tally.cancelled.load(), 0);
}

// ---- CancellationToken::cancelled ---------------------------------------------------------------------

Task<void> cancel_after(CancellationToken token, int yields) {
    co_await yield_times(yields);
    token.cancel();
}

/// Awaits `token.cancelled()` with cancels until it completes.
Task<void> wait_cancelled(CancellationToken token, unsigned seed, Tally* tally) {
    std::minstd_rand rng(seed);
    for (;;) {
        auto attempt = race(token.cancelled(), next_plan(rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (got.has_value()) break;
    }
    EXPECT_TRUE(token.is_cancelled());
}

Task<void> token_rounds(int rounds, Tally* tally) {
    std::minstd_rand rng(43);
    for (int round = 0; round < rounds; ++round) {
        CancellationToken parent;
        CancellationToken child = parent.child_token();
        JoinHandle<void> other = spawn(wait_cancelled(child, static_cast<unsigned>(rng()), tally));
        JoinHandle<void> canceller = spawn(cancel_after(parent, static_cast<int>(rng() % 6)));
        const CancellationToken& mine = rng() % 2 == 0 ? parent : child;
        co_await wait_cancelled(mine, static_cast<unsigned>(rng()), tally);
        co_await other;
        co_await canceller;
        const bool parent_at_once = co_await ready_at_once(parent.cancelled());
        const bool child_at_once = co_await ready_at_once(child.cancelled());
        EXPECT_TRUE(parent_at_once);
        EXPECT_TRUE(child_at_once);
    }
}

TEST_P(CancelSafetyOfTasks, CancelledCancelledAtRandomPointsStillCompletesOnCancel) {
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), token_rounds(scaled(200), &tally)));
    EXPECT_GT(tally.cancelled.load(), 0);
}

// ---- time::sleep --------------------------------------------------------------------------------------

/// Sleeps raced against cancels: a third already due (they win or are
/// dropped before their first poll), the others up to 800 us (registered in
/// the wheel, and nearly always dropped there). A sleep that wins never wins
/// early; dropped ones leave nothing that fires later (ASan would see a timer
/// that outlived its Sleep), and the timers keep working.
Task<void> sleeper(int rounds, unsigned seed, Tally* tally) {
    co_await spread_out(3);
    std::minstd_rand rng(seed);
    for (int i = 0; i < rounds; ++i) {
        const auto d = std::chrono::microseconds(rng() % 3 == 0 ? 0 : rng() % 800);
        auto sleep = time::sleep(d);
        const time::Instant deadline = sleep.deadline();
        auto attempt = race(std::move(sleep), next_plan(rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (got.has_value()) {
            EXPECT_GE(time::Instant::now(), deadline) << "a sleep finished early";
        }
    }
}

Task<void> sleep_test(int rounds, Tally* tally) {
    JoinHandle<void> a = spawn(sleeper(rounds, 51, tally));
    JoinHandle<void> b = spawn(sleeper(rounds, 52, tally));
    co_await sleeper(rounds, 53, tally);
    co_await a;
    co_await b;
    // The timers still work: a fresh sleep fires on time.
    const time::Instant start = time::Instant::now();
    co_await time::sleep(2ms);
    EXPECT_GE(time::Instant::now() - start, 2ms);
}

TEST_P(CancelSafetyOfTasks, SleepCancelledAtRandomPointsLosesNothingButTheWait) {
    Tally tally;
    ASSERT_TRUE(run_bounded(GetParam(), sleep_test(scaled(300), &tally)));
    EXPECT_GT(tally.cancelled.load(), 0);
    EXPECT_GT(tally.completed.load(), 0);
}

}  // namespace
}  // namespace corio
