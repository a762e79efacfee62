// Micro-benchmarks of streams: draining an AsyncGenerator with stream::next
// inside a task (one resume of the generator and one move per item), the
// same through a chain of adapters, and a plain loop for the floor.
#include <corio/stream.hpp>
#include <cstdint>
#include <optional>

#include "common.hpp"

namespace {

using corio_micro::run_in_task;

corio::AsyncGenerator<std::uint64_t> naturals() {
    for (std::uint64_t i = 0;; ++i) co_yield std::uint64_t{i};
}

// One item per iteration: co_await stream::next on an endless generator.
corio::Task<void> drain_generator_body(benchmark::State& state) {
    auto gen = naturals();
    std::uint64_t sum = 0;
    for (auto _ : state) {
        auto v = co_await corio::stream::next(gen);
        sum += *v;
        benchmark::DoNotOptimize(sum);
    }
}

void BM_GeneratorNext(benchmark::State& state) {
    run_in_task(drain_generator_body(state));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GeneratorNext);

// The same generator polled by hand (no task around it): the generator's
// own cost per item.
void BM_GeneratorPollNext(benchmark::State& state) {
    auto gen = naturals();
    corio::Waker waker = corio::Waker::noop();
    corio::Context cx(waker);
    std::uint64_t sum = 0;
    for (auto _ : state) {
        auto p = gen.poll_next(cx);
        sum += **p;
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GeneratorPollNext);

// stream::next's future polled by hand: what stream::next adds to poll_next.
void BM_GeneratorNextPolledByHand(benchmark::State& state) {
    auto gen = naturals();
    corio::Waker waker = corio::Waker::noop();
    corio::Context cx(waker);
    std::uint64_t sum = 0;
    for (auto _ : state) {
        auto next = corio::stream::next(gen);
        auto p = next.poll(cx);
        sum += **p;
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GeneratorNextPolledByHand);

// A generator through map | filter | take, drained with stream::next.
corio::Task<void> adapters_body(benchmark::State& state) {
    auto s = naturals() | corio::stream::map([](std::uint64_t v) { return v * 3; }) |
             corio::stream::filter([](std::uint64_t v) { return (v & 1U) == 0; }) | corio::stream::take(UINT64_MAX);
    std::uint64_t sum = 0;
    for (auto _ : state) {
        auto v = co_await corio::stream::next(s);
        sum += *v;
        benchmark::DoNotOptimize(sum);
    }
}

void BM_GeneratorThroughAdapters(benchmark::State& state) {
    run_in_task(adapters_body(state));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GeneratorThroughAdapters);

// stream::iter | map drained with stream::next: adapters alone, no coroutine.
corio::Task<void> iter_body(benchmark::State& state) {
    auto s = corio::stream::repeat(std::uint64_t{1}) | corio::stream::map([](std::uint64_t v) { return v + 1; });
    std::uint64_t sum = 0;
    for (auto _ : state) {
        auto v = co_await corio::stream::next(s);
        sum += *v;
        benchmark::DoNotOptimize(sum);
    }
}

void BM_RepeatMapNext(benchmark::State& state) {
    run_in_task(iter_body(state));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RepeatMapNext);

}  // namespace
