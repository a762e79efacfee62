// Micro-benchmarks of task wakers: clone+drop, wake_by_ref.
#include <cstdint>
#include <vector>

#include "common.hpp"

namespace {

using namespace corio_micro;

// Clone + drop of a task waker (refcount increment and decrement).
corio::Task<void> clone_drop_body(benchmark::State& state) {
    corio::Waker waker = co_await GetWaker{};
    for (auto _ : state) {
        corio::Waker copy = waker;
        benchmark::DoNotOptimize(copy);
    }
}

void BM_WakerCloneDrop(benchmark::State& state) { run_in_task(clone_drop_body(state)); }
BENCHMARK(BM_WakerCloneDrop);

// wake_by_ref of the running task's own waker: the first call sets NOTIFIED,
// every later one finds it set and returns (the dedup fast path).
corio::Task<void> wake_notified_body(benchmark::State& state) {
    corio::Waker waker = co_await GetWaker{};
    for (auto _ : state) {
        waker.wake_by_ref();
    }
}

void BM_WakeByRef_AlreadyNotified(benchmark::State& state) { run_in_task(wake_notified_body(state)); }
BENCHMARK(BM_WakeByRef_AlreadyNotified);

// wake_by_ref of an idle (parked) task: the CAS to NOTIFIED plus taking a
// queue reference and pushing it onto the run queue. Each iteration wakes
// kParked parked tasks (timed by hand), then yields untimed so they run and
// park again; the per-wake time is the counter ns_per_wake.
constexpr int kParked = 256;

corio::Task<void> parked(corio::Waker* slot) {
    *slot = co_await GetWaker{};
    co_await Forever{};
}

corio::Task<void> wake_idle_body(benchmark::State& state) {
    std::vector<corio::Waker> wakers(kParked);
    for (auto& w : wakers) corio::spawn(parked(&w));
    co_await corio::task::yield_now();  // they run (ahead of us) and park
    double total = 0;
    for (auto _ : state) {
        auto t0 = Clock::now();
        for (const auto& w : wakers) w.wake_by_ref();
        auto t1 = Clock::now();
        double secs = seconds_between(t0, t1);
        total += secs;
        state.SetIterationTime(secs);
        co_await corio::task::yield_now();  // the woken tasks run and park again
    }
    state.counters["ns_per_wake"] = total * 1e9 / (static_cast<double>(state.iterations()) * kParked);
    // The parked tasks are destroyed with the runtime; the wakers go first.
}

void BM_WakeByRef_IdleTask(benchmark::State& state) { run_in_task(wake_idle_body(state)); }
BENCHMARK(BM_WakeByRef_IdleTask)->UseManualTime();

}  // namespace
