// Tests of <corio/sync/semaphore.hpp>: try_acquire and acquire, RAII permits
// (forget, merge, split, move), FIFO fairness (a large request at the head
// blocks later small ones, try_acquire fails while others queue), close(),
// add_permits, the owned variants, and cancellation: a waiter dropped while
// queued (or after being granted) gives up its place and its permits.
//
// Single-future behaviour is driven by hand with a counting waker, so every
// wake is checked; concurrency runs on both runtimes (current_thread and a
// 4-worker multi_thread), each test bounded by time::timeout.
#include "corio/sync/semaphore.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
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
using sync::AcquireError;
using sync::OwnedSemaphorePermit;
using sync::Semaphore;
using sync::SemaphorePermit;
using sync::TryAcquireError;
using test::bounded;
using test::make_counting_waker;
using test::poll_with;
using test::WakeCounts;

class SemaphoreOnRuntime : public test::RuntimeFlavorTest {};

INSTANTIATE_TEST_SUITE_P(Runtimes, SemaphoreOnRuntime, test::all_flavors(), test::flavor_name);

// ---- try_acquire and permits ------------------------------------------------------------------

TEST(Semaphore, TryAcquireTakesPermitsAndThePermitReturnsThemWhenDestroyed) {
    Semaphore sem(3);
    {
        auto permit = sem.try_acquire(2);
        ASSERT_TRUE(permit.has_value());
        EXPECT_EQ(permit->num_permits(), 2u);
        EXPECT_EQ(sem.available_permits(), 1u);
        auto too_many = sem.try_acquire(2);
        ASSERT_FALSE(too_many.has_value());
        EXPECT_EQ(too_many.error(), TryAcquireError::NoPermits);
    }
    EXPECT_EQ(sem.available_permits(), 3u);
}

TEST(Semaphore, AForgottenPermitIsNotReturned) {
    Semaphore sem(2);
    sem.try_acquire(1)->forget();
    EXPECT_EQ(sem.available_permits(), 1u);
}

TEST(Semaphore, PermitsMoveMergeAndSplit) {
    Semaphore sem(5);
    auto a = sem.try_acquire(2);
    auto b = sem.try_acquire(1);
    ASSERT_TRUE(a && b);
    a->merge(std::move(*b));
    EXPECT_EQ(a->num_permits(), 3u);
    EXPECT_EQ(b->num_permits(), 0u);
    std::optional<SemaphorePermit> part = a->split(1);
    ASSERT_TRUE(part.has_value());
    EXPECT_EQ(part->num_permits(), 1u);
    EXPECT_EQ(a->num_permits(), 2u);
    EXPECT_FALSE(a->split(3).has_value());
    SemaphorePermit moved = std::move(*a);
    EXPECT_EQ(moved.num_permits(), 2u);
    EXPECT_EQ(sem.available_permits(), 2u);
    part.reset();
    EXPECT_EQ(sem.available_permits(), 3u);
}

TEST(Semaphore, MergingPermitsOfAnotherSemaphoreThrows) {
    Semaphore one(1);
    Semaphore two(1);
    auto a = one.try_acquire();
    auto b = two.try_acquire();
    EXPECT_THROW(a->merge(std::move(*b)), std::invalid_argument);
}

TEST(Semaphore, MoreThanTheMaximumOfPermitsIsRejected) {
    EXPECT_THROW(Semaphore(Semaphore::kMaxPermits + 1), std::invalid_argument);
    Semaphore sem(Semaphore::kMaxPermits - 1);
    EXPECT_THROW(sem.add_permits(2), std::length_error);
    sem.add_permits(1);
    EXPECT_EQ(sem.available_permits(), Semaphore::kMaxPermits);
}

TEST(Semaphore, ForgetPermitsRemovesOnlyAvailableOnes) {
    Semaphore sem(3);
    auto held = sem.try_acquire(1);
    EXPECT_EQ(sem.forget_permits(5), 2u);
    EXPECT_EQ(sem.available_permits(), 0u);
    held.value().forget();
}

// ---- acquire by hand ---------------------------------------------------------------------------

TEST(Semaphore, AcquireCompletesOnTheFirstPollWhenPermitsAreAvailable) {
    Semaphore sem(2);
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto fut = sem.acquire(2);
    auto r = poll_with(fut, waker);
    ASSERT_TRUE(r.is_ready());
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ((*r)->num_permits(), 2u);
    EXPECT_EQ(sem.available_permits(), 0u);
    EXPECT_EQ(counts.clones.load(), 0) << "an uncontended acquire stores no waker";
}

TEST(Semaphore, AcquireWaitsForAReleaseAndIsWokenByIt) {
    Semaphore sem(1);
    auto held = sem.try_acquire();
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto fut = sem.acquire();
    EXPECT_TRUE(poll_with(fut, waker).is_pending());
    EXPECT_TRUE(poll_with(fut, waker).is_pending());
    EXPECT_EQ(counts.total_wakes(), 0);
    held = std::unexpected(TryAcquireError::NoPermits);  // drops the permit
    EXPECT_EQ(counts.total_wakes(), 1);
    auto r = poll_with(fut, waker);
    ASSERT_TRUE(r.is_ready());
    EXPECT_TRUE(r->has_value());
    EXPECT_EQ(sem.available_permits(), 0u);
    r = Pending;
    EXPECT_EQ(sem.available_permits(), 1u);
    EXPECT_EQ(counts.live.load(), 1) << "the stored waker was released";
}

TEST(Semaphore, AWaiterIsWokenWithTheMostRecentWaker) {
    Semaphore sem(0);
    WakeCounts first_counts;
    WakeCounts second_counts;
    Waker first = make_counting_waker(first_counts);
    Waker second = make_counting_waker(second_counts);
    auto fut = sem.acquire();
    EXPECT_TRUE(poll_with(fut, first).is_pending());
    EXPECT_TRUE(poll_with(fut, second).is_pending());
    sem.add_permits(1);
    EXPECT_EQ(first_counts.total_wakes(), 0);
    EXPECT_EQ(second_counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(fut, second).is_ready());
}

TEST(Semaphore, ALargeRequestAtTheHeadBlocksLaterSmallerOnes) {
    Semaphore sem(2);
    Waker waker = Waker::noop();
    auto big = sem.acquire(5);
    auto small = sem.acquire(1);
    EXPECT_TRUE(poll_with(big, waker).is_pending());
    EXPECT_EQ(sem.available_permits(), 0u) << "the head waiter is assigned what there is";
    EXPECT_TRUE(poll_with(small, waker).is_pending());
    EXPECT_EQ(sem.try_acquire(1).error(), TryAcquireError::NoPermits);
    sem.add_permits(2);
    EXPECT_TRUE(poll_with(small, waker).is_pending()) << "a smaller request overtook the head";
    EXPECT_TRUE(poll_with(big, waker).is_pending());
    sem.add_permits(2);  // 1 more than the head still wants
    auto big_permit = poll_with(big, waker);
    ASSERT_TRUE(big_permit.is_ready());
    EXPECT_EQ((*big_permit)->num_permits(), 5u);
    auto small_permit = poll_with(small, waker);
    ASSERT_TRUE(small_permit.is_ready());
    EXPECT_EQ(sem.available_permits(), 0u);
    big_permit = Pending;
    small_permit = Pending;
    EXPECT_EQ(sem.available_permits(), 6u);
}

TEST(Semaphore, TryAcquireFailsWhileOthersAreQueuedEvenWhenItCouldFit) {
    Semaphore sem(1);
    auto big = sem.acquire(3);
    EXPECT_TRUE(poll_with(big, Waker::noop()).is_pending());
    sem.add_permits(1);
    EXPECT_EQ(sem.try_acquire(1).error(), TryAcquireError::NoPermits);
}

TEST(Semaphore, AcquiringZeroPermitsCompletesAtOnce) {
    Semaphore sem(0);
    auto fut = sem.acquire(0);
    auto r = poll_with(fut, Waker::noop());
    ASSERT_TRUE(r.is_ready());
    EXPECT_EQ((*r)->num_permits(), 0u);
}

TEST(Semaphore, AnAcquireFuturePolledAfterItCompletedThrows) {
    Semaphore sem(1);
    auto fut = sem.acquire();
    auto r = poll_with(fut, Waker::noop());
    ASSERT_TRUE(r.is_ready());
    EXPECT_THROW((void)poll_with(fut, Waker::noop()), std::logic_error);
}

// ---- close -------------------------------------------------------------------------------------

TEST(Semaphore, CloseWakesEveryWaiterWithAcquireErrorAndReturnsTheirAssignedPermits) {
    Semaphore sem(1);
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto big = sem.acquire(3);
    auto small = sem.acquire(1);
    EXPECT_TRUE(poll_with(big, waker).is_pending());
    EXPECT_TRUE(poll_with(small, waker).is_pending());
    EXPECT_EQ(sem.available_permits(), 0u);
    sem.close();
    EXPECT_TRUE(sem.is_closed());
    EXPECT_EQ(counts.total_wakes(), 2);
    auto r1 = poll_with(big, waker);
    auto r2 = poll_with(small, waker);
    ASSERT_TRUE(r1.is_ready() && r2.is_ready());
    EXPECT_EQ(r1->error(), AcquireError{});
    EXPECT_EQ(r2->error(), AcquireError{});
    EXPECT_EQ(sem.available_permits(), 1u) << "the permit assigned to the big waiter came back";
}

TEST(Semaphore, AClosedSemaphoreFailsNewAcquiresButTakesBackHeldPermits) {
    Semaphore sem(2);
    auto held = sem.try_acquire(1);
    sem.close();
    EXPECT_EQ(sem.try_acquire().error(), TryAcquireError::Closed);
    auto fut = sem.acquire();
    auto r = poll_with(fut, Waker::noop());
    ASSERT_TRUE(r.is_ready());
    EXPECT_FALSE(r->has_value());
    held = std::unexpected(TryAcquireError::Closed);
    EXPECT_EQ(sem.available_permits(), 2u);
    sem.add_permits(1);
    EXPECT_EQ(sem.available_permits(), 3u);
}

// ---- cancellation by hand ----------------------------------------------------------------------

TEST(Semaphore, AWaiterDroppedWhileQueuedGivesUpItsPlace) {
    Semaphore sem(1);
    auto held = sem.try_acquire();
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto second = sem.acquire();
    {
        auto first = sem.acquire();
        EXPECT_TRUE(poll_with(first, waker).is_pending());
        EXPECT_TRUE(poll_with(second, waker).is_pending());
    }
    held = std::unexpected(TryAcquireError::NoPermits);
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(second, waker).is_ready());
}

TEST(Semaphore, ADroppedWaiterPassesItsPartlyAssignedPermitsToTheNext) {
    Semaphore sem(2);
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto small = sem.acquire(2);
    {
        auto big = sem.acquire(5);
        EXPECT_TRUE(poll_with(big, waker).is_pending());  // assigned 2 of 5
        EXPECT_TRUE(poll_with(small, waker).is_pending());
        EXPECT_EQ(counts.total_wakes(), 0);
    }
    EXPECT_EQ(counts.total_wakes(), 1) << "the small waiter was woken by the big one leaving";
    auto r = poll_with(small, waker);
    ASSERT_TRUE(r.is_ready());
    EXPECT_EQ(sem.available_permits(), 0u);
    r = Pending;
    EXPECT_EQ(sem.available_permits(), 2u);
}

TEST(Semaphore, ADroppedLastWaiterReturnsItsPartlyAssignedPermitsToTheSemaphore) {
    Semaphore sem(2);
    {
        auto big = sem.acquire(5);
        EXPECT_TRUE(poll_with(big, Waker::noop()).is_pending());
        EXPECT_EQ(sem.available_permits(), 0u);
    }
    EXPECT_EQ(sem.available_permits(), 2u);
    EXPECT_TRUE(sem.try_acquire(2).has_value()) << "nobody is queued any more";
}

TEST(Semaphore, AWaiterGrantedButDroppedBeforeItsNextPollReturnsTheGrant) {
    Semaphore sem(0);
    {
        auto fut = sem.acquire(3);
        EXPECT_TRUE(poll_with(fut, Waker::noop()).is_pending());
        sem.add_permits(4);
        EXPECT_EQ(sem.available_permits(), 1u);
    }
    EXPECT_EQ(sem.available_permits(), 4u);
}

// ---- owned permits -----------------------------------------------------------------------------

TEST(Semaphore, TryAcquireOwnedKeepsTheSemaphoreAlive) {
    auto sem = std::make_shared<Semaphore>(1);
    auto permit = Semaphore::try_acquire_owned(sem);
    ASSERT_TRUE(permit.has_value());
    EXPECT_EQ(Semaphore::try_acquire_owned(sem).error(), TryAcquireError::NoPermits);
    std::weak_ptr<Semaphore> weak = sem;
    sem.reset();
    EXPECT_FALSE(weak.expired());
    EXPECT_EQ(permit->semaphore()->available_permits(), 0u);
    permit = std::unexpected(TryAcquireError::Closed);
    EXPECT_TRUE(weak.expired());
}

TEST_P(SemaphoreOnRuntime, AnOwnedPermitMovedIntoASpawnedTaskIsReturnedWhenThatTaskEnds) {
    Runtime rt = build();
    auto body = [](std::shared_ptr<Semaphore> sem) -> Task<std::size_t> {
        auto permit = co_await Semaphore::acquire_owned(sem, 2);
        EXPECT_TRUE(permit.has_value());
        EXPECT_EQ(sem->available_permits(), 1u);
        auto holder = [](OwnedSemaphorePermit p) -> Task<std::uint32_t> {
            co_await task::yield_now();
            co_return p.num_permits();
        };
        auto handle = spawn(holder(std::move(*permit)));
        std::uint32_t held = co_await handle;
        EXPECT_EQ(held, 2u);
        auto again = co_await Semaphore::acquire_owned(sem, 3);
        EXPECT_TRUE(again.has_value());
        co_return sem->available_permits();
    };
    auto sem = std::make_shared<Semaphore>(3);
    auto r = rt.block_on(bounded(body(sem)));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 0u);
    EXPECT_EQ(sem->available_permits(), 3u);
}

// ---- on the runtimes ---------------------------------------------------------------------------

TEST_P(SemaphoreOnRuntime, AcquiringMoreThanAvailableCompletesWhenAnotherThreadAddsPermits) {
    Runtime rt = build();
    Semaphore sem(2);
    std::atomic<bool> queued{false};
    auto waiter = [](Semaphore& s, std::atomic<bool>& q) -> Task<std::uint32_t> {
        auto fut = s.acquire(10);
        q.store(true);
        auto permit = co_await fut;
        co_return permit ? permit->num_permits() : 0u;
    };
    std::thread adder([&] {
        while (!queued.load()) std::this_thread::yield();
        for (int i = 0; i < 8; ++i) sem.add_permits(1);
    });
    auto r = rt.block_on(bounded(waiter(sem, queued)));
    adder.join();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 10u);
    EXPECT_EQ(sem.available_permits(), 10u);
}

TEST_P(SemaphoreOnRuntime, CloseFromAnotherThreadFailsEveryPendingAcquire) {
    Runtime rt = build();
    Semaphore sem(0);
    constexpr int kWaiters = 20;
    std::atomic<int> started{0};
    auto waiter = [](Semaphore& s, std::atomic<int>& st) -> Task<bool> {
        auto fut = s.acquire(1);
        st.fetch_add(1);
        auto permit = co_await fut;
        co_return permit.has_value();
    };
    auto body = [&]() -> Task<int> {
        std::vector<JoinHandle<bool>> handles;
        for (int i = 0; i < kWaiters; ++i) handles.push_back(spawn(waiter(sem, started)));
        std::thread closer([&] {
            while (started.load() < kWaiters) std::this_thread::yield();
            sem.close();
        });
        int failed = 0;
        for (auto& h : handles) {
            bool got = co_await h;
            if (!got) ++failed;
        }
        closer.join();
        co_return failed;
    };
    auto r = rt.block_on(bounded(body()));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, kWaiters);
}

TEST_P(SemaphoreOnRuntime, NoMoreThanThePermitCountHoldAtOnce) {
    Runtime rt = build();
    Semaphore sem(3);
    std::atomic<int> inside{0};
    std::atomic<int> most{0};
    auto worker = [](Semaphore& s, std::atomic<int>& in, std::atomic<int>& hi) -> Task<void> {
        for (int i = 0; i < 20; ++i) {
            auto permit = co_await s.acquire();
            int now = in.fetch_add(1) + 1;
            int seen = hi.load();
            while (now > seen && !hi.compare_exchange_weak(seen, now)) {
            }
            co_await task::yield_now();
            in.fetch_sub(1);
        }
    };
    auto body = [&]() -> Task<void> {
        std::vector<JoinHandle<void>> handles;
        for (int i = 0; i < 16; ++i) handles.push_back(spawn(worker(sem, inside, most)));
        for (auto& h : handles) co_await h;
    };
    ASSERT_TRUE(rt.block_on(bounded(body())).has_value());
    EXPECT_LE(most.load(), 3);
    EXPECT_GE(most.load(), 1);
    EXPECT_EQ(sem.available_permits(), 3u);
}

/// Polls the inner acquire once; if it is pending, lets the task yield
/// `yields` times (other waiters and releases go on meanwhile; the grant may
/// arrive) and then drops it. Ready(true) when it completed on the first poll.
class AcquireThenCancel {
public:
    using Output = bool;
    AcquireThenCancel(Semaphore& sem, std::uint32_t n, int yields)
        : fut_(std::in_place, sem.acquire(n)), yields_(yields) {}
    Poll<bool> poll(Context& cx) {
        if (!polled_) {
            polled_ = true;
            auto r = fut_->poll(cx);
            if (r.is_ready()) {
                fut_.reset();
                return Ready(true);  // the permit is returned at once
            }
        }
        if (yields_-- > 0) {
            cx.waker().wake_by_ref();
            return Pending;
        }
        fut_.reset();  // cancelled: queued, or granted and never polled again
        return Ready(false);
    }

private:
    std::optional<Semaphore::Acquire> fut_;
    bool polled_ = false;
    int yields_;
};

TEST_P(SemaphoreOnRuntime, WaitersCancelledAtRandomPointsWhileQueuedLeakNoPermits) {
    Runtime rt = build();
    constexpr std::size_t kPermits = 4;
    const int tasks = test::kSanitized ? 1000 : 5000;
    Semaphore sem(kPermits);
    std::atomic<int> completed{0};
    auto body = [&]() -> Task<void> {
        std::mt19937 rng(12345);
        std::vector<JoinHandle<void>> handles;
        for (int i = 0; i < tasks; ++i) {
            auto n = static_cast<std::uint32_t>(1 + rng() % 3);
            if (rng() % 3 == 0) {
                int yields = static_cast<int>(rng() % 4);
                handles.push_back(spawn([](Semaphore& s, std::uint32_t k, int y) -> Task<void> {
                    co_await AcquireThenCancel(s, k, y);
                }(sem, n, yields)));
            } else {
                handles.push_back(spawn([](Semaphore& s, std::uint32_t k, std::atomic<int>& done) -> Task<void> {
                    auto permit = co_await s.acquire(k);
                    EXPECT_TRUE(permit.has_value());
                    co_await task::yield_now();
                    done.fetch_add(1);
                }(sem, n, completed)));
            }
        }
        for (auto& h : handles) co_await h;
    };
    ASSERT_TRUE(rt.block_on(bounded(body())).has_value());
    EXPECT_GT(completed.load(), 0);
    EXPECT_EQ(sem.available_permits(), kPermits);
    EXPECT_TRUE(sem.try_acquire(kPermits).has_value()) << "nobody is left in the queue";
}

TEST_P(SemaphoreOnRuntime, AcquireAndReleaseFromManyTasksAndAThreadKeepTheCount) {
    Runtime rt = build();
    constexpr std::size_t kPermits = 2;
    const int rounds = test::kSanitized ? 300 : 3000;
    Semaphore sem(kPermits);
    std::atomic<bool> stop{false};
    std::thread outsider([&] {  // takes and returns permits with try_acquire, off the runtime
        while (!stop.load()) {
            if (auto p = sem.try_acquire(1)) std::this_thread::yield();
        }
    });
    auto worker = [](Semaphore& s, int n, std::uint32_t k) -> Task<void> {
        for (int i = 0; i < n; ++i) {
            auto permit = co_await s.acquire(k);
            EXPECT_TRUE(permit.has_value());
        }
    };
    auto body = [&]() -> Task<void> {
        std::vector<JoinHandle<void>> handles;
        for (std::uint32_t k = 0; k < 4; ++k) handles.push_back(spawn(worker(sem, rounds, 1 + k % 2)));
        for (auto& h : handles) co_await h;
    };
    auto r = rt.block_on(bounded(body()));
    stop.store(true);
    outsider.join();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(sem.available_permits(), kPermits);
}

}  // namespace
}  // namespace corio
