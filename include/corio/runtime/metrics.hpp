// RuntimeMetrics: a snapshot of a runtime's counters, as Handle::metrics()
// returns it (Tokio's runtime::RuntimeMetrics). <corio/runtime.hpp> includes
// this header.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace corio {

/// One worker's counters (a current_thread runtime has one worker).
struct WorkerMetrics {
    std::uint64_t polls = 0;            ///< task polls run
    std::uint64_t steals = 0;           ///< successful steals from other workers
    std::uint64_t parks = 0;            ///< times the worker went to sleep
    std::size_t local_queue_depth = 0;  ///< tasks in its run queue now
    /// How long its polls took, in RuntimeMetrics::kPollTimeBuckets log2
    /// buckets (see poll_time_bucket_upper); empty unless the runtime was
    /// built with Builder::enable_metrics_histograms(true).
    std::vector<std::uint64_t> poll_time_histogram;
    std::uint64_t poll_time_total_ns = 0;  ///< sum of those polls' durations
    /// How long tasks waited between being woken (or spawned, or yielding)
    /// and being polled by this worker, in the same buckets; empty unless
    /// enable_metrics_histograms. A LocalSet's tasks are not counted here.
    std::vector<std::uint64_t> schedule_latency_histogram;
    std::uint64_t schedule_latency_total_ns = 0;  ///< sum of those waits
};

/// A snapshot of a runtime's counters (Handle::metrics()).
struct RuntimeMetrics {
    std::size_t num_workers = 0;
    std::size_t alive_tasks = 0;             ///< spawned and not yet finished
    std::size_t inject_queue_depth = 0;      ///< tasks waiting in the global/remote queue
    std::uint64_t remote_schedules = 0;      ///< spawns and wakes that came from outside the workers
    std::uint64_t budget_forced_yields = 0;  ///< polls cut short by the cooperative budget
    std::vector<WorkerMetrics> workers;

    /// Poll-time buckets: bucket k < kPollTimeBuckets - 1 counts polls
    /// shorter than 2^k microseconds (and, from k = 1, at least 2^(k-1));
    /// the last one counts the rest (2^18 us, 262 ms, and longer).
    static constexpr std::size_t kPollTimeBuckets = 20;
    /// The exclusive upper bound of bucket k; nanoseconds::max() for the last.
    static constexpr std::chrono::nanoseconds poll_time_bucket_upper(std::size_t k) noexcept {
        if (k + 1 >= kPollTimeBuckets) return std::chrono::nanoseconds::max();
        return std::chrono::microseconds(std::int64_t{1} << k);
    }
    /// The bucket a poll of duration `d` falls in.
    static constexpr std::size_t poll_time_bucket(std::chrono::nanoseconds d) noexcept {
        std::size_t k = 0;
        while (k + 1 < kPollTimeBuckets && d >= poll_time_bucket_upper(k)) ++k;
        return k;
    }
};

}  // namespace corio
