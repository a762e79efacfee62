// LocalQueue (src/runtime/scheduler/local_queue.hpp): a growable FIFO ring of
// run-queue entries that gives back what a burst grew once it is empty.
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

TEST(LocalQueue, ARingABurstGrewShrinksBackOnceEmpty) {
    LocalQueue q;
    push_fakes(q, 0, 50'000);
    const std::size_t grown = q.capacity();
    ASSERT_GE(grown, 50'000u);
    expect_pops(q, 0, 49'999);
    q.trim();  // one entry left: kept
    EXPECT_EQ(q.capacity(), grown);
    expect_pops(q, 49'999, 1);
    q.trim();
    EXPECT_EQ(q.capacity(), LocalQueue::kKeptCapacity);
    push_fakes(q, 0, 5000);  // and it grows again, in order
    expect_pops(q, 0, 5000);
    EXPECT_TRUE(q.empty());
}

TEST(LocalQueue, ASmallRingIsNeverTrimmed) {
    LocalQueue q;
    const std::size_t initial = q.capacity();
    push_fakes(q, 0, 10);
    expect_pops(q, 0, 10);
    q.trim();
    EXPECT_EQ(q.capacity(), initial);
}

}  // namespace
}  // namespace corio::detail
