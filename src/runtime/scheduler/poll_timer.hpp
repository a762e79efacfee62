// Per-worker poll-time and schedule-latency histograms
// (Builder::enable_metrics_histograms).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include "corio/detail/sync.hpp"
#include "corio/detail/task_cell.hpp"
#include "corio/runtime/metrics.hpp"

namespace corio::detail {

/// Installed as the worker thread's poll_observer; each task's PollRecord
/// reports to it. Written by that worker, read by metrics() on any thread
/// (relaxed).
class PollHistogram final : public PollObserver {
public:
    void polled(std::int64_t took_ns, std::int64_t waited_ns) noexcept override {
        poll_times_.add(took_ns);
        if (waited_ns >= 0) schedule_latencies_.add(waited_ns);
    }

    void read_into(WorkerMetrics& m) const {
        poll_times_.read_into(m.poll_time_histogram, m.poll_time_total_ns);
        schedule_latencies_.read_into(m.schedule_latency_histogram, m.schedule_latency_total_ns);
    }

private:
    class Buckets {
    public:
        void add(std::int64_t ns) noexcept {
            auto& bucket = buckets_[RuntimeMetrics::poll_time_bucket(std::chrono::nanoseconds(ns))];
            increment_single_writer(bucket);
            total_ns_.store(total_ns_.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(ns),
                            std::memory_order_relaxed);
        }
        void read_into(std::vector<std::uint64_t>& histogram, std::uint64_t& total_ns) const {
            histogram.resize(buckets_.size());
            for (std::size_t k = 0; k < buckets_.size(); ++k)
                histogram[k] = buckets_[k].load(std::memory_order_relaxed);
            total_ns = total_ns_.load(std::memory_order_relaxed);
        }

    private:
        std::array<Atomic<std::uint64_t>, RuntimeMetrics::kPollTimeBuckets> buckets_{};
        Atomic<std::uint64_t> total_ns_{0};
    };

    Buckets poll_times_;
    Buckets schedule_latencies_;
};

}  // namespace corio::detail
