// LocalQueue (src/runtime/scheduler/local_queue.hpp): a growable FIFO ring of
// run-queue entries that gives back what a burst grew once it drains.
//
// The entries here are the bits of addresses that are never dereferenced:
// every test pops what it pushed (into_bits), so no entry is ever discarded.
#include "runtime/scheduler/local_queue.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace corio::detail {
namespace {

/// Entry bits for fake task i: even (a woken entry), distinct, never dereferenced.
std::uintptr_t fake_entry(std::size_t i) { return (i + 1) * 16; }

void push_fakes(LocalQueue& q, std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) q.push_back(Notified::from_bits(fake_entry(i)));
}

/// Pops n entries and checks they come out as fakes from..from+n in order.
void expect_pops(LocalQueue& q, std::size_t from, std::size_t n) {
    for (std::size_t i = from; i < from + n; ++i) {
        Notified e = q.pop_front();
        ASSERT_TRUE(e);
        ASSERT_EQ(std::move(e).into_bits(), fake_entry(i));
    }
}

TEST(LocalQueue, KeepsFifoOrderAcrossGrowthAndWraparound) {
    LocalQueue q(4);
    push_fakes(q, 0, 3);
    expect_pops(q, 0, 2);  // head moves, so the next pushes wrap around
    push_fakes(q, 3, 1000);
    EXPECT_EQ(q.size(), 998u);
    EXPECT_GE(q.capacity(), 998u);
    expect_pops(q, 2, 998);
    EXPECT_TRUE(q.empty());
    EXPECT_FALSE(q.pop_front());
}

TEST(LocalQueue, ARingABurstGrewHalvesOnceAQuarterFullOrLess) {
    LocalQueue q;
    push_fakes(q, 0, 100'000);
    const std::size_t grown = q.capacity();
    ASSERT_GE(grown, 100'000u);
    q.shrink_if_sparse();  // full: kept
    EXPECT_EQ(q.capacity(), grown);
    expect_pops(q, 0, 100'000 - grown / 4 - 1);
    q.shrink_if_sparse();  // one entry more than a quarter: kept
    EXPECT_EQ(q.capacity(), grown);
    expect_pops(q, 100'000 - grown / 4 - 1, 1);
    q.shrink_if_sparse();  // a quarter: halved, and what is queued stays in order
    EXPECT_EQ(q.capacity(), grown / 2);
    push_fakes(q, 100'000, 100'010);
    expect_pops(q, 100'000 - grown / 4, grown / 4 + 10);
    EXPECT_TRUE(q.empty());
}

TEST(LocalQueue, ADrainedRingShrinksBackToTheKeptCapacityAndNoFurther) {
    LocalQueue q;
    push_fakes(q, 0, 50'000);
    expect_pops(q, 0, 50'000);
    for (int i = 0; i < 64; ++i) q.shrink_if_sparse();  // a driver calls it once per batch
    EXPECT_EQ(q.capacity(), LocalQueue::kKeptCapacity);
    push_fakes(q, 0, 10);  // and it still works
    expect_pops(q, 0, 10);
}

}  // namespace
}  // namespace corio::detail
