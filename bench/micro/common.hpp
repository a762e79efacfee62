// Helpers shared by the micro-benchmarks.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <corio/future.hpp>
#include <corio/runtime.hpp>
#include <corio/task.hpp>
#include <utility>

namespace corio_micro {

/// Runs `body` as a spawned task of a fresh current_thread runtime, so the
/// benchmark loop inside it runs in a real task context (its waker is a task
/// waker, its spawns take the local path).
inline void run_in_task(corio::Task<void> body) {
    corio::Runtime rt = corio::Builder::new_current_thread().build();
    rt.block_on(rt.spawn(std::move(body)));
}

/// A future that is ready at once with a clone of the polling task's waker.
struct GetWaker {
    using Output = corio::Waker;
    corio::Poll<corio::Waker> poll(corio::Context& cx) { return corio::Ready(cx.waker()); }
};

/// A future that never completes (and stores no waker: whoever wants to wake
/// the task holds a waker it captured earlier).
struct Forever {
    using Output = void;
    corio::Poll<void> poll(corio::Context&) { return corio::Pending; }
};

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

}  // namespace corio_micro
