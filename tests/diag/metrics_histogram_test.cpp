// Builder::enable_metrics_histograms and diag::prometheus_text.
#include <gtest/gtest.h>

#include <chrono>
#include <numeric>
#include <string>
#include <thread>

#include "corio/diag.hpp"
#include "corio/runtime.hpp"
#include "corio/task.hpp"

namespace {

using namespace std::chrono_literals;
using corio::RuntimeMetrics;
using corio::Task;

TEST(PollTimeBuckets, AreLog2MicrosecondsWithAnOpenLastBucket) {
    EXPECT_EQ(RuntimeMetrics::poll_time_bucket(0ns), 0u);
    EXPECT_EQ(RuntimeMetrics::poll_time_bucket(999ns), 0u);
    EXPECT_EQ(RuntimeMetrics::poll_time_bucket(1us), 1u);
    EXPECT_EQ(RuntimeMetrics::poll_time_bucket(3us), 2u);
    EXPECT_EQ(RuntimeMetrics::poll_time_bucket(4us), 3u);
    EXPECT_EQ(RuntimeMetrics::poll_time_bucket(10s), RuntimeMetrics::kPollTimeBuckets - 1);
    EXPECT_EQ(RuntimeMetrics::poll_time_bucket_upper(RuntimeMetrics::kPollTimeBuckets - 1),
              std::chrono::nanoseconds::max());
}

Task<void> short_and_long_polls() {
    for (int i = 0; i < 10; ++i) co_await corio::task::yield_now();
    std::this_thread::sleep_for(3ms);  // one poll of 3 ms: bucket [2048, 4096) us
    co_return;
}

TEST(MetricsHistograms, CountEveryPollInTheRightBucket) {
    for (bool multi : {false, true}) {
        auto builder =
            multi ? corio::Builder::new_multi_thread().worker_threads(2) : corio::Builder::new_current_thread();
        auto rt = builder.enable_metrics_histograms(true).stall_threshold(0ns).build();
        rt.block_on([]() -> Task<void> { co_await corio::spawn(short_and_long_polls()); }());
        // A worker counts a poll after it returns, which may be after
        // block_on saw the task finish: wait for the count to settle.
        auto total_polls = [&] {
            std::uint64_t n = 0;
            for (const auto& w : rt.handle().metrics().workers) n += w.polls;
            return n;
        };
        for (int i = 0; i < 5000 && total_polls() < 11; ++i) std::this_thread::sleep_for(1ms);
        RuntimeMetrics m = rt.handle().metrics();
        std::uint64_t polls = 0;
        std::uint64_t counted = 0;
        std::uint64_t long_ones = 0;
        std::uint64_t waits = 0;
        for (const auto& w : m.workers) {
            ASSERT_EQ(w.poll_time_histogram.size(), RuntimeMetrics::kPollTimeBuckets);
            ASSERT_EQ(w.schedule_latency_histogram.size(), RuntimeMetrics::kPollTimeBuckets);
            waits += std::accumulate(w.schedule_latency_histogram.begin(), w.schedule_latency_histogram.end(),
                                     std::uint64_t{0});
            polls += w.polls;
            counted += std::accumulate(w.poll_time_histogram.begin(), w.poll_time_histogram.end(), std::uint64_t{0});
            // The 3 ms poll: in [2, 4) ms, or later buckets on a loaded machine
            // where the sleep overruns; every other poll is far shorter.
            for (std::size_t k = RuntimeMetrics::poll_time_bucket(3ms); k < RuntimeMetrics::kPollTimeBuckets; ++k) {
                long_ones += w.poll_time_histogram[k];
            }
        }
        EXPECT_EQ(counted, polls);
        EXPECT_EQ(polls, 11u);
        EXPECT_EQ(long_ones, 1u);
        // Every poll followed a spawn or a yield, each of which stamped the task.
        EXPECT_EQ(waits, polls);
    }
}

TEST(MetricsHistograms, AreOffByDefault) {
    auto rt = corio::Builder::new_current_thread().build();
    rt.block_on([]() -> Task<void> { co_await corio::spawn(short_and_long_polls()); }());
    for (const auto& w : rt.handle().metrics().workers) {
        EXPECT_TRUE(w.poll_time_histogram.empty());
        EXPECT_TRUE(w.schedule_latency_histogram.empty());
    }
    std::string text = corio::diag::prometheus_text(rt.handle().metrics());
    EXPECT_EQ(text.find("poll_duration"), std::string::npos);
    EXPECT_EQ(text.find("schedule_latency"), std::string::npos);
}

TEST(Prometheus, TextHasTypedFamiliesPerWorkerSeriesAndACumulativeHistogram) {
    auto rt = corio::Builder::new_multi_thread().worker_threads(2).enable_metrics_histograms(true).build();
    rt.block_on([]() -> Task<void> { co_await corio::spawn(short_and_long_polls()); }());
    std::string text = corio::diag::prometheus_text(rt.handle().metrics());
    EXPECT_NE(text.find("# TYPE corio_workers gauge\ncorio_workers 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("# TYPE corio_worker_polls_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("corio_worker_polls_total{worker=\"1\"} "), std::string::npos);
    EXPECT_NE(text.find("# TYPE corio_worker_poll_duration_seconds histogram\n"), std::string::npos);
    EXPECT_NE(text.find("corio_worker_poll_duration_seconds_bucket{worker=\"0\",le=\"1e-06\"} "), std::string::npos)
        << text;
    EXPECT_NE(text.find("corio_worker_poll_duration_seconds_bucket{worker=\"0\",le=\"+Inf\"} "), std::string::npos);
    EXPECT_NE(text.find("corio_worker_poll_duration_seconds_sum{worker=\"1\"} "), std::string::npos);
    EXPECT_NE(text.find("# TYPE corio_worker_schedule_latency_seconds histogram\n"), std::string::npos);
    EXPECT_NE(text.find("corio_worker_schedule_latency_seconds_bucket{worker=\"1\",le=\"+Inf\"} "), std::string::npos);
    EXPECT_NE(text.find("corio_worker_schedule_latency_seconds_count{worker=\"0\"} "), std::string::npos);
    // Every line is a comment or "name{labels} value".
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        ASSERT_NE(end, std::string::npos) << "the text ends with a newline";
        std::string line = text.substr(start, end - start);
        EXPECT_TRUE(line.starts_with("# HELP ") || line.starts_with("# TYPE ") || line.starts_with("corio_")) << line;
        start = end + 1;
    }
}

}  // namespace
