// Tests of <corio/sync/rwlock.hpp>: readers share, a writer excludes
// everyone, a waiting writer blocks readers that arrive after it (no writer
// starvation), try_read / try_write, downgrade, cancellation of queued
// writers and readers, and readers and writers on both runtimes checking an
// invariant that a torn write would break.
#include "corio/sync/rwlock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
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

namespace corio {
namespace {

using namespace std::chrono_literals;
using sync::RwLock;
using sync::RwLockReadGuard;
using sync::RwLockWriteGuard;
using test::bounded;
using test::make_counting_waker;
using test::poll_with;
using test::WakeCounts;

static_assert(Future<RwLock<int>::Read>);
static_assert(Future<RwLock<int>::Write>);

class RwLockOnRuntime : public test::RuntimeFlavorTest {};

INSTANTIATE_TEST_SUITE_P(Runtimes, RwLockOnRuntime, test::all_flavors(), test::flavor_name);

TEST(RwLock, ReadersShareTheLock) {
    RwLock<int> lock(3);
    auto a = lock.try_read();
    auto b = lock.try_read();
    ASSERT_TRUE(a && b);
    EXPECT_EQ(**a, 3);
    EXPECT_EQ(**b, 3);
    auto fut = lock.read();
    auto c = poll_with(fut, Waker::noop());
    ASSERT_TRUE(c.is_ready());
    EXPECT_FALSE(lock.try_write().has_value());
}

TEST(RwLock, AWriterExcludesReadersAndWriters) {
    RwLock<int> lock(0);
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto writer = lock.try_write();
    ASSERT_TRUE(writer.has_value());
    **writer = 9;
    EXPECT_FALSE(lock.try_read().has_value());
    EXPECT_FALSE(lock.try_write().has_value());
    auto read = lock.read();
    EXPECT_TRUE(poll_with(read, waker).is_pending());
    writer.reset();
    EXPECT_EQ(counts.total_wakes(), 1);
    auto r = poll_with(read, waker);
    ASSERT_TRUE(r.is_ready());
    EXPECT_EQ(**r, 9);
}

TEST(RwLock, AWaitingWriterBlocksNewReaders) {
    RwLock<int> lock(0);
    WakeCounts writer_counts;
    WakeCounts reader_counts;
    Waker writer_waker = make_counting_waker(writer_counts);
    Waker reader_waker = make_counting_waker(reader_counts);
    auto first_reader = lock.try_read();
    ASSERT_TRUE(first_reader.has_value());
    auto write = lock.write();
    EXPECT_TRUE(poll_with(write, writer_waker).is_pending());
    EXPECT_FALSE(lock.try_read().has_value()) << "a new reader overtook the waiting writer";
    auto late_read = lock.read();
    EXPECT_TRUE(poll_with(late_read, reader_waker).is_pending());
    first_reader.reset();
    EXPECT_EQ(writer_counts.total_wakes(), 1);
    EXPECT_EQ(reader_counts.total_wakes(), 0);
    auto w = poll_with(write, writer_waker);
    ASSERT_TRUE(w.is_ready());
    **w = 4;
    EXPECT_TRUE(poll_with(late_read, reader_waker).is_pending());
    w = Pending;  // unlock
    EXPECT_EQ(reader_counts.total_wakes(), 1);
    auto r = poll_with(late_read, reader_waker);
    ASSERT_TRUE(r.is_ready());
    EXPECT_EQ(**r, 4);
}

TEST(RwLock, AQueuedWriterThatIsDroppedLetsTheReadersBehindItIn) {
    RwLock<int> lock(0);
    WakeCounts counts;
    Waker waker = make_counting_waker(counts);
    auto holder = lock.try_read();
    auto read = lock.read();
    {
        auto write = lock.write();
        EXPECT_TRUE(poll_with(write, Waker::noop()).is_pending());
        EXPECT_TRUE(poll_with(read, waker).is_pending());
    }
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_TRUE(poll_with(read, waker).is_ready());
    EXPECT_TRUE(lock.try_read().has_value());
}

TEST(RwLock, AQueuedReaderThatIsDroppedHoldsNothing) {
    RwLock<int> lock(0);
    auto writer = lock.try_write();
    {
        auto read = lock.read();
        EXPECT_TRUE(poll_with(read, Waker::noop()).is_pending());
    }
    writer.reset();
    EXPECT_TRUE(lock.try_write().has_value());
}

TEST(RwLock, DowngradeKeepsReadAccessAndLetsQueuedReadersInButNotWriters) {
    RwLock<int> lock(1);
    auto writer = lock.try_write();
    ASSERT_TRUE(writer.has_value());
    **writer = 2;
    auto read = lock.read();
    EXPECT_TRUE(poll_with(read, Waker::noop()).is_pending());
    RwLockReadGuard<int> reader = std::move(*writer).downgrade();
    EXPECT_EQ(*reader, 2);
    auto r = poll_with(read, Waker::noop());
    ASSERT_TRUE(r.is_ready());
    EXPECT_EQ(**r, 2);
    EXPECT_FALSE(lock.try_write().has_value());
}

TEST(RwLock, GuardsMoveAndGetMutAndIntoInnerReachTheValue) {
    RwLock<std::string> lock;
    {
        auto w = lock.try_write();
        RwLockWriteGuard<std::string> moved = std::move(*w);
        moved->append("xy");
        EXPECT_FALSE(lock.try_read().has_value());
    }
    lock.get_mut().append("z");
    EXPECT_EQ(std::move(lock).into_inner(), "xyz");
}

TEST(RwLock, TheValueIsDestroyedExactlyOnce) {
    test::DropCounts counts;
    {
        RwLock<test::DropCounter> lock(test::DropCounter(counts, 1));
        auto r = lock.try_read();
        EXPECT_EQ((*r)->value(), 1);
    }
    EXPECT_EQ(counts.alive(), 0);
    EXPECT_EQ(counts.destroyed.load(), 1);
}

struct Pair {
    long a = 0;
    long b = 0;
};

Task<void> write_pairs(RwLock<Pair>& lock, int times) {
    for (int i = 0; i < times; ++i) {
        auto w = co_await lock.write();
        ++w->a;
        co_await task::yield_now();  // a reader that got in now would see a != b
        ++w->b;
    }
}

Task<long> read_pairs(RwLock<Pair>& lock, int times, std::atomic<int>* readers_inside, std::atomic<int>* most) {
    long torn = 0;
    for (int i = 0; i < times; ++i) {
        auto r = co_await lock.read();
        int now = readers_inside->fetch_add(1) + 1;
        int seen = most->load();
        while (now > seen && !most->compare_exchange_weak(seen, now)) {
        }
        if (r->a != r->b) ++torn;
        co_await task::yield_now();
        if (r->a != r->b) ++torn;
        readers_inside->fetch_sub(1);
    }
    co_return torn;
}

TEST_P(RwLockOnRuntime, ReadersNeverSeeAHalfDoneWriteAndWritersAllFinish) {
    Runtime rt = build();
    RwLock<Pair> lock;
    const int times = test::kSanitized ? 100 : 400;
    std::atomic<int> inside{0};
    std::atomic<int> most{0};
    auto body = [&]() -> Task<long> {
        std::vector<JoinHandle<void>> writers;
        std::vector<JoinHandle<long>> readers;
        for (int i = 0; i < 8; ++i) readers.push_back(spawn(read_pairs(lock, times, &inside, &most)));
        for (int i = 0; i < 3; ++i) writers.push_back(spawn(write_pairs(lock, times)));
        long torn = 0;
        for (auto& h : readers) torn += co_await h;
        for (auto& h : writers) co_await h;
        co_return torn;
    };
    auto r = rt.block_on(bounded(body()));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 0);
    EXPECT_EQ(lock.get_mut().a, 3L * times);
    EXPECT_EQ(lock.get_mut().b, 3L * times);
    EXPECT_GE(most.load(), 2) << "readers never shared the lock";
    EXPECT_TRUE(lock.try_write().has_value());
}

}  // namespace
}  // namespace corio
