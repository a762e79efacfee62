// Micro-benchmarks of diagnostics: Handle::dump() over many idle tasks.
#include <corio/diag.hpp>
#include <corio/sync/notify.hpp>
#include <corio/time.hpp>

#include "common.hpp"

namespace {

corio::Task<void> idle(corio::sync::Notify* gate) { co_await gate->notified(); }

corio::Task<void> wait_a_level(corio::sync::Notify* gate) { co_await idle(gate); }

// Handle::dump() of N idle tasks, each suspended two frames deep on a
// Notify: reads every task's identity, claims it, walks its await chain and
// formats the leaf. (Not the text: dump().to_string() is timed separately.)
void BM_DumpIdleTasks(benchmark::State& state) {
    auto n = static_cast<std::size_t>(state.range(0));
    corio::Runtime rt = corio::Builder::new_multi_thread().worker_threads(2).build();
    corio::sync::Notify gate;
    rt.block_on([](corio::sync::Notify* gate, std::size_t n, benchmark::State* state) -> corio::Task<void> {
        for (std::size_t i = 0; i < n; ++i) corio::spawn(wait_a_level(gate));
        co_await corio::time::sleep(std::chrono::milliseconds(50));  // let every task reach its await
        corio::Handle h = corio::Handle::current();
        std::size_t tasks = 0;
        for (auto _ : *state) {
            corio::diag::Dump d = h.dump();
            tasks = d.tasks.size();
            benchmark::DoNotOptimize(d);
        }
        state->counters["tasks"] = static_cast<double>(tasks);
        gate->notify_waiters();
    }(&gate, n, &state));
}
BENCHMARK(BM_DumpIdleTasks)->Arg(10'000)->Unit(benchmark::kMillisecond);

void BM_DumpToString(benchmark::State& state) {
    corio::Runtime rt = corio::Builder::new_current_thread().build();
    corio::sync::Notify gate;
    rt.block_on([](corio::sync::Notify* gate, benchmark::State* state) -> corio::Task<void> {
        for (int i = 0; i < 10'000; ++i) corio::spawn(wait_a_level(gate));
        co_await corio::task::yield_now();
        corio::diag::Dump d = corio::Handle::current().dump();
        for (auto _ : *state) benchmark::DoNotOptimize(d.to_string());
        gate->notify_waiters();
    }(&gate, &state));
}
BENCHMARK(BM_DumpToString)->Unit(benchmark::kMillisecond);

}  // namespace
