// Per-worker poll-time histogram (Builder::enable_metrics_histograms).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include "corio/detail/sync.hpp"
#include "corio/runtime/metrics.hpp"

namespace corio::detail {

/// Written by one worker, read by metrics() on any thread (relaxed).
class PollHistogram {
public:
    /// Runs `run()` and records how long it took.
    template <class Run>
    void time(Run&& run) {
        auto start = std::chrono::steady_clock::now();
        run();
        auto took = std::chrono::steady_clock::now() - start;
        auto& bucket = buckets_[RuntimeMetrics::poll_time_bucket(took)];
        bucket.store(bucket.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // single writer
        total_ns_.store(total_ns_.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(took.count()),
                        std::memory_order_relaxed);
    }

    void read_into(WorkerMetrics& m) const {
        m.poll_time_histogram.resize(buckets_.size());
        for (std::size_t k = 0; k < buckets_.size(); ++k) {
            m.poll_time_histogram[k] = buckets_[k].load(std::memory_order_relaxed);
        }
        m.poll_time_total_ns = total_ns_.load(std::memory_order_relaxed);
    }

private:
    std::array<Atomic<std::uint64_t>, RuntimeMetrics::kPollTimeBuckets> buckets_{};
    Atomic<std::uint64_t> total_ns_{0};
};

}  // namespace corio::detail
