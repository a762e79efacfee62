// Tests of <corio/sync/barrier.hpp>: nobody passes before all n arrived,
// exactly one leader per generation over many generations (on both
// runtimes), Barrier(1) and Barrier(0), more waiters than one wake batch, and
// a waiter dropped before its generation completed withdrawing its arrival.
#include "corio/sync/barrier.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/counting_waker.hpp"
#include "support/poll.hpp"
#include "support/runtime_flavors.hpp"
#include "support/sanitized.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using sync::Barrier;
using sync::BarrierWaitResult;
using test::bounded;
using test::make_counting_waker;
using test::poll_with;
using test::WakeCounts;

class BarrierOnRuntime : public test::RuntimeFlavorTest {};

INSTANTIATE_TEST_SUITE_P(Runtimes, BarrierOnRuntime, test::all_flavors(), test::flavor_name);

TEST(Barrier, NobodyPassesBeforeAllArrivedAndTheLastToArriveLeads) {
    Barrier barrier(3);
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto a = barrier.wait();
    auto b = barrier.wait();
    auto c = barrier.wait();
    EXPECT_TRUE(poll_with(a, waker).is_pending());
    EXPECT_TRUE(poll_with(b, waker).is_pending());
    EXPECT_TRUE(poll_with(a, waker).is_pending());
    EXPECT_EQ(counts.total_wakes(), 0);
    auto rc = poll_with(c, waker);
    ASSERT_TRUE(rc.is_ready());
    EXPECT_TRUE(rc->is_leader());
    EXPECT_EQ(counts.total_wakes(), 2);
    auto ra = poll_with(a, waker);
    auto rb = poll_with(b, waker);
    ASSERT_TRUE(ra.is_ready() && rb.is_ready());
    EXPECT_FALSE(ra->is_leader());
    EXPECT_FALSE(rb->is_leader());
}

TEST(Barrier, ABarrierOfOneOrZeroReleasesEveryWaiterAsLeader) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}}) {
        Barrier barrier(n);
        for (int i = 0; i < 3; ++i) {
            auto w = barrier.wait();
            auto r = poll_with(w, Waker::noop());
            ASSERT_TRUE(r.is_ready());
            EXPECT_TRUE(r->is_leader());
        }
    }
}

TEST(Barrier, AWaiterDroppedBeforeItsGenerationCompletedWithdrawsItsArrival) {
    Barrier barrier(2);
    {
        auto gone = barrier.wait();
        EXPECT_TRUE(poll_with(gone, Waker::noop()).is_pending());
    }
    auto a = barrier.wait();
    EXPECT_TRUE(poll_with(a, Waker::noop()).is_pending()) << "the dropped waiter still counted";
    auto b = barrier.wait();
    auto rb = poll_with(b, Waker::noop());
    ASSERT_TRUE(rb.is_ready());
    EXPECT_TRUE(rb->is_leader());
    EXPECT_TRUE(poll_with(a, Waker::noop()).is_ready());
}

TEST(Barrier, AReleasedWaiterDroppedBeforeItsNextPollDoesNotDisturbTheNextGeneration) {
    Barrier barrier(2);
    {
        auto a = barrier.wait();
        EXPECT_TRUE(poll_with(a, Waker::noop()).is_pending());
        auto b = barrier.wait();
        EXPECT_TRUE(poll_with(b, Waker::noop()).is_ready());
    }  // `a` was released but never polled again
    auto c = barrier.wait();
    EXPECT_TRUE(poll_with(c, Waker::noop()).is_pending());
    auto d = barrier.wait();
    EXPECT_TRUE(poll_with(d, Waker::noop()).is_ready());
    EXPECT_TRUE(poll_with(c, Waker::noop()).is_ready());
}

TEST(Barrier, MoreWaitersThanOneWakeBatchAreAllReleased) {
    constexpr int kWaiters = 100;
    Barrier barrier(kWaiters);
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    std::vector<std::optional<Barrier::Wait>> waits(kWaiters - 1);
    for (auto& w : waits) {
        w.emplace(barrier.wait());
        EXPECT_TRUE(poll_with(*w, waker).is_pending());
    }
    auto last = barrier.wait();
    EXPECT_TRUE(poll_with(last, waker).is_ready());
    EXPECT_EQ(counts.total_wakes(), kWaiters - 1);
    for (auto& w : waits) EXPECT_TRUE(poll_with(*w, waker).is_ready());
}

TEST(Barrier, AWaitPolledAfterItCompletedThrows) {
    Barrier barrier(1);
    auto w = barrier.wait();
    EXPECT_TRUE(poll_with(w, Waker::noop()).is_ready());
    EXPECT_THROW((void)poll_with(w, Waker::noop()), std::logic_error);
}

struct Tally {
    std::vector<std::atomic<int>> leaders;
    std::vector<std::atomic<int>> arrived;
    std::atomic<int> early{0};  // passed a generation before all had arrived
    explicit Tally(int generations) : leaders(generations), arrived(generations) {}
};

Task<void> run_generations(Barrier& barrier, Tally& tally, int n, int generations) {
    for (int g = 0; g < generations; ++g) {
        tally.arrived[g].fetch_add(1);
        BarrierWaitResult r = co_await barrier.wait();
        if (tally.arrived[g].load() != n) tally.early.fetch_add(1);
        if (r.is_leader()) tally.leaders[g].fetch_add(1);
        if (g % 3 == 0) co_await task::yield_now();
    }
}

TEST_P(BarrierOnRuntime, ExactlyOneLeaderPerGenerationOverManyGenerations) {
    Runtime rt = build();
    constexpr int kTasks = 6;
    const int generations = test::kSanitized ? 100 : 400;
    Barrier barrier(kTasks);
    Tally tally(generations);
    auto body = [&]() -> Task<void> {
        std::vector<JoinHandle<void>> handles;
        for (int i = 0; i < kTasks; ++i) handles.push_back(spawn(run_generations(barrier, tally, kTasks, generations)));
        for (auto& h : handles) co_await h;
    };
    ASSERT_TRUE(rt.block_on(bounded(body())).has_value());
    EXPECT_EQ(tally.early.load(), 0);
    for (int g = 0; g < generations; ++g) {
        EXPECT_EQ(tally.leaders[g].load(), 1) << "generation " << g;
        EXPECT_EQ(tally.arrived[g].load(), kTasks) << "generation " << g;
    }
}

}  // namespace
}  // namespace corio
