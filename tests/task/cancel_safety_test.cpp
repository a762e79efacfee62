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
#include <expected>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "corio/cancel.hpp"
#include "corio/runtime.hpp"
#include "corio/select.hpp"
#include "corio/task.hpp"
#include "corio/task/join_set.hpp"
#include "corio/time.hpp"
#include "support/cancel_race.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using namespace test::race;  // the races, runtimes and Ledger of support/cancel_race.hpp

class CancelSafetyOfTasks : public ::testing::TestWithParam<Flavor> {};

INSTANTIATE_TEST_SUITE_P(Runtimes, CancelSafetyOfTasks, ::testing::ValuesIn(kFlavors), flavor_name);

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
            set.spawn(ticket_after(ledger, id, static_cast<int>(rng() % 6)));
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
    auto cancelled = [&token] { return token.cancelled(); };
    co_await race_until_completed(cancelled, &rng, tally);
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
