// Micro-benchmarks of tasks: spawn+join, yield, awaiting a ready child Task.
#include <cstdint>

#include "common.hpp"

namespace {

using corio_micro::run_in_task;

corio::Task<void> trivial() { co_return; }

// Spawn a trivial task and await its JoinHandle, one at a time, inside a task:
// cell allocation, queue push/pop, one poll, completion, join wake-up of the
// awaiting task, output hand-over, cell free.
corio::Task<void> spawn_join_body(benchmark::State& state) {
    for (auto _ : state) {
        co_await corio::spawn(trivial());
    }
}

void BM_SpawnJoin(benchmark::State& state) { run_in_task(spawn_join_body(state)); }
BENCHMARK(BM_SpawnJoin);

// One task yielding: wake_by_ref of itself, re-queue, pop, poll, resume.
corio::Task<void> yield_body(benchmark::State& state) {
    for (auto _ : state) {
        co_await corio::task::yield_now();
    }
}

void BM_Yield(benchmark::State& state) { run_in_task(yield_body(state)); }
BENCHMARK(BM_Yield);

// Awaiting a child Task that completes at once: frame allocate (recycled),
// symmetric transfer in and out, result hand-over, frame free.
corio::Task<std::uint64_t> ready_child(std::uint64_t x) { co_return x + 1; }

corio::Task<void> await_ready_body(benchmark::State& state) {
    std::uint64_t sum = 0;
    for (auto _ : state) {
        sum += co_await ready_child(sum);
        benchmark::DoNotOptimize(sum);
    }
}

void BM_TaskAwaitReadyChild(benchmark::State& state) { run_in_task(await_ready_body(state)); }
BENCHMARK(BM_TaskAwaitReadyChild);

}  // namespace
