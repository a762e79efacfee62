// Micro-benchmarks of channels, each inside a task of a current_thread
// runtime: a oneshot created, sent on and received; a bounded mpsc send+recv
// with room to spare (no waiting); an unbounded send+recv.
#include <corio/sync/mpsc.hpp>
#include <corio/sync/oneshot.hpp>
#include <cstdint>
#include <optional>

#include "common.hpp"

namespace {

using corio_micro::run_in_task;

// One allocation, one send (CAS), one receive (ready at once), the free.
corio::Task<void> oneshot_body(benchmark::State& state) {
    std::uint64_t sum = 0;
    for (auto _ : state) {
        auto [tx, rx] = corio::sync::oneshot::channel<std::uint64_t>();
        (void)tx.send(sum);
        auto v = co_await rx;
        sum += *v + 1;
    }
    benchmark::DoNotOptimize(sum);
}

void BM_OneshotCreateSendRecv(benchmark::State& state) { run_in_task(oneshot_body(state)); }
BENCHMARK(BM_OneshotCreateSendRecv);

// send().await with a free slot, then recv().await of a buffered value: the
// uncontended path (one CAS to send, one fetch_add to give the slot back).
corio::Task<void> mpsc_body(benchmark::State& state) {
    auto [tx, rx] = corio::sync::mpsc::channel<std::uint64_t>(1024);
    std::uint64_t sum = 0;
    for (auto _ : state) {
        auto sent = co_await tx.send(sum);
        benchmark::DoNotOptimize(sent);
        std::optional<std::uint64_t> v = co_await rx.recv();
        sum += *v + 1;
    }
    benchmark::DoNotOptimize(sum);
}

void BM_MpscSendRecvUncontended(benchmark::State& state) { run_in_task(mpsc_body(state)); }
BENCHMARK(BM_MpscSendRecvUncontended);

// try_send / try_recv: the same without the futures.
corio::Task<void> mpsc_try_body(benchmark::State& state) {
    auto [tx, rx] = corio::sync::mpsc::channel<std::uint64_t>(1024);
    std::uint64_t sum = 0;
    for (auto _ : state) {
        (void)tx.try_send(sum);
        sum += *rx.try_recv() + 1;
    }
    benchmark::DoNotOptimize(sum);
    co_return;
}

void BM_MpscTrySendTryRecv(benchmark::State& state) { run_in_task(mpsc_try_body(state)); }
BENCHMARK(BM_MpscTrySendTryRecv);

// Unbounded: one node allocated per send, freed by the receive.
corio::Task<void> unbounded_body(benchmark::State& state) {
    auto [tx, rx] = corio::sync::mpsc::unbounded_channel<std::uint64_t>();
    std::uint64_t sum = 0;
    for (auto _ : state) {
        (void)tx.send(sum);
        std::optional<std::uint64_t> v = co_await rx.recv();
        sum += *v + 1;
    }
    benchmark::DoNotOptimize(sum);
}

void BM_UnboundedSendRecv(benchmark::State& state) { run_in_task(unbounded_body(state)); }
BENCHMARK(BM_UnboundedSendRecv);

}  // namespace
