// The smallest futures and tasks that tests build on: one that never
// completes (a task parked on it waits for its destruction), a task ready
// with its value at once, and one that yields to the scheduler once first
// (so it really suspends and is resumed by a wake-up).
#pragma once

#include "corio/future.hpp"
#include "corio/task.hpp"

namespace corio::test {

/// Never ready and never wakes: a task parked here waits for its destruction.
struct PendingForever {
    using Output = void;
    Poll<void> poll(Context&) { return Pending; }
};

/// Completes with `v` on its first poll.
inline Task<int> value_task(int v) { co_return v; }

/// Yields once (pending, after waking itself), then completes with `v`.
inline Task<int> value_after_yield(int v) {
    co_await task::yield_now();
    co_return v;
}

}  // namespace corio::test
