// What the cancellation-safety tests (tests/*/cancel_safety*_test.cpp) share:
// race(op, plan) races an awaiting operation with select / select_biased
// against a branch that becomes ready after a random number of polls, so the
// cancel lands before the operation registered, while it waits, or after it
// was granted or woken but before it was polled again; run_bounded runs a
// test's root task on current_thread or multi_thread under time::timeout, so
// a lost wake-up fails instead of hanging; a Ledger of numbered Tickets
// records that every value was received and destroyed exactly as often as
// the operation's `///` comment promises, and a Tally that both outcomes of
// the races happened.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
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
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/sanitized.hpp"

// In a namespace of its own: Flavor and flavor_name differ from those of
// runtime_flavors.hpp, and both end up in one test binary.
namespace corio::test::race {

/// How long a test may run: only reached when a wake-up is lost.
inline constexpr std::chrono::seconds kBound{30};

/// `n` iterations, or a quarter of them under a sanitizer.
inline int scaled(int n) { return kSanitized ? std::max(1, n / 4) : n; }

// ---- the race --------------------------------------------------------------------------------

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
inline RacePlan next_plan(std::minstd_rand& rng) {
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
    using Output = std::optional<corio::detail::value_or_monostate_t<output_of<Op>>>;

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

/// Tallies of one test's races, to show that both outcomes happened.
struct Tally {
    std::atomic<int> completed{0};
    std::atomic<int> cancelled{0};
    void count(bool done) { (done ? completed : cancelled).fetch_add(1); }
};

/// Yields `n` times.
inline Task<void> yield_times(int n) {
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

/// Races a fresh `make_op()` against a cancel planned with `rng`, again and
/// again, until one completes; counts every race in `tally`. For operations
/// whose output is only the news that something happened (closed(),
/// cancelled()), which a cancelled attempt must not swallow.
template <class MakeOp>
Task<void> race_until_completed(MakeOp make_op, std::minstd_rand* rng, Tally* tally) {
    for (;;) {
        auto attempt = race(make_op(), next_plan(*rng));
        auto got = co_await attempt;
        tally->count(got.has_value());
        if (got.has_value()) co_return;
    }
}

// ---- runtimes --------------------------------------------------------------------------------

/// The runtimes each test runs on.
enum class Flavor { CurrentThread, TwoWorkers, FourWorkers };

/// Every Flavor, for ::testing::ValuesIn.
inline constexpr Flavor kFlavors[] = {Flavor::CurrentThread, Flavor::TwoWorkers, Flavor::FourWorkers};

/// The name of a test's instance on `info.param`, for INSTANTIATE_TEST_SUITE_P.
inline std::string flavor_name(const ::testing::TestParamInfo<Flavor>& info) {
    switch (info.param) {
        case Flavor::CurrentThread:
            return std::string("CurrentThread");
        case Flavor::TwoWorkers:
            return std::string("TwoWorkers");
        case Flavor::FourWorkers:
            break;
    }
    return std::string("FourWorkers");
}

/// A fresh runtime of `flavor`.
inline Runtime make_runtime(Flavor flavor) {
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

/// The one Spread of the test that runs now (run_bounded resets it).
inline Spread& spread() {
    static Spread instance;
    return instance;
}

/// Yields until `tasks` of the test's tasks are spread out (see Spread).
inline Task<void> spread_out(std::size_t tasks) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
    for (;;) {
        if (spread().arrived(tasks)) co_return;
        if (std::chrono::steady_clock::now() >= deadline) co_return;
        co_await task::yield_now();
    }
}

/// Runs `root` as a task on a fresh runtime of `flavor`, under
/// time::timeout(kBound); false when it timed out. Spawned, so that on
/// multi_thread the root and the tasks it spawns all run on the workers.
inline bool run_bounded(Flavor flavor, Task<void> root) {
    Runtime rt = make_runtime(flavor);
    spread().reset(flavor == Flavor::CurrentThread ? 1 : flavor == Flavor::TwoWorkers ? 2 : 4);
    return rt.block_on(time::timeout(kBound, rt.spawn(std::move(root)))).has_value();
}

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

}  // namespace corio::test::race
