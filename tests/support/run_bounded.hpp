// Running a test's root task to completion on a fresh runtime, under
// time::timeout on the real clock, so that a lost wake-up fails the test
// instead of hanging the suite. A test file states its bound once and calls
// the result like a function:
//   constexpr test::RunBounded run_bounded{5s};
//   TEST(TcpStream, PeekDoesNotConsumeBytes) { run_bounded(peek_keeps_bytes()); }
// The bound is far beyond any passing run; a call may widen it for one slow
// test (`run_bounded(copy_hundred_megabytes(), 120s)`).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <utility>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"

namespace corio::test {

/// Runs a root task on a fresh runtime (current_thread, or multi-thread with
/// a given number of workers) bounded by time::timeout; a root still running
/// when its bound passes fails the test and is dropped.
class RunBounded {
public:
    /// Runs each root on a fresh current_thread runtime, bounded by `bound`.
    constexpr explicit RunBounded(time::Duration bound) noexcept : bound_(bound) {}

    /// Runs each root on a fresh multi-thread runtime with `workers` workers,
    /// so the tasks it spawns run on different threads; bounded by `bound`.
    static constexpr RunBounded multi_thread(time::Duration bound, std::size_t workers) noexcept {
        RunBounded run(bound);
        run.workers_ = workers;
        return run;
    }

    /// Runs `root` to completion, bounded by this object's bound.
    void operator()(Task<void> root) const { (*this)(std::move(root), bound_); }

    /// Runs `root` to completion, bounded by `bound` instead.
    void operator()(Task<void> root, time::Duration bound) const {
        Runtime rt = build();
        auto result = rt.block_on(time::timeout(bound, std::move(root)));
        EXPECT_TRUE(result.has_value()) << "the test's root did not finish within "
                                        << std::chrono::duration_cast<std::chrono::milliseconds>(bound).count()
                                        << " ms (a lost wake-up?)";
    }

private:
    Runtime build() const {
        if (workers_ == 0) return Builder::new_current_thread().build();
        return Builder::new_multi_thread().worker_threads(workers_).build();
    }

    time::Duration bound_;
    std::size_t workers_ = 0;  // 0: current_thread
};

}  // namespace corio::test
