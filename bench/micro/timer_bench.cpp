// Micro-benchmark of the timer wheel: register a far timer, cancel it.
#include <chrono>
#include <corio/time.hpp>

#include "common.hpp"

namespace {

using namespace corio_micro;

/// Polls a Sleep once with the task's context (registering it in the wheel)
/// and completes at once, whatever the Sleep said.
struct PollOnce {
    using Output = bool;  // true when the Sleep was pending (registered)
    corio::time::Sleep* sleep;
    corio::Poll<bool> poll(corio::Context& cx) { return corio::Ready(sleep->poll(cx).is_pending()); }
};

// Sleep::poll spends one unit of the task's cooperative budget (128 per
// poll): past it, the Sleep returns Pending without registering. So each
// iteration is a batch of kBatch (< 128) insert+cancel pairs, timed by hand,
// followed by an untimed yield that refreshes the budget. Per timer: the
// counter ns_per_timer.
constexpr int kBatch = 64;

corio::Task<void> insert_cancel_body(benchmark::State& state) {
    double total = 0;
    std::int64_t not_registered = 0;
    for (auto _ : state) {
        auto t0 = Clock::now();
        for (int i = 0; i < kBatch; ++i) {
            corio::time::Sleep s = corio::time::sleep(std::chrono::hours(1));  // reads the clock
            bool pending = co_await PollOnce{&s};                              // inserts into the wheel
            not_registered += pending ? 0 : 1;
        }  // ~Sleep unlinks it
        auto t1 = Clock::now();
        double secs = seconds_between(t0, t1);
        total += secs;
        state.SetIterationTime(secs);
        co_await corio::task::yield_now();
    }
    state.counters["ns_per_timer"] = total * 1e9 / (static_cast<double>(state.iterations()) * kBatch);
    if (not_registered != 0) state.SkipWithError("a Sleep completed at once: the benchmark measured nothing");
}

void BM_TimerInsertCancel(benchmark::State& state) { run_in_task(insert_cancel_body(state)); }
BENCHMARK(BM_TimerInsertCancel)->UseManualTime();

}  // namespace
