// Micro-benchmarks of the uncontended paths of corio::sync: Mutex lock and
// unlock through a Task, try_lock, Semaphore try_acquire + release, and
// Notify notify_one followed by a notified() that completes at once.
#include <corio/sync/mutex.hpp>
#include <corio/sync/notify.hpp>
#include <corio/sync/semaphore.hpp>
#include <cstdint>

#include "common.hpp"

namespace {

using corio_micro::run_in_task;

// co_await lock() on a free mutex (one compare-exchange, no waker stored),
// write through the guard, unlock on destruction (one compare-exchange).
corio::Task<void> mutex_lock_body(benchmark::State& state) {
    corio::sync::Mutex<std::uint64_t> mutex(0);
    for (auto _ : state) {
        auto guard = co_await mutex.lock();
        ++*guard;
    }
    benchmark::DoNotOptimize(mutex.get_mut());
}

void BM_MutexLockUnlock(benchmark::State& state) { run_in_task(mutex_lock_body(state)); }
BENCHMARK(BM_MutexLockUnlock);

void BM_MutexTryLock(benchmark::State& state) {
    corio::sync::Mutex<std::uint64_t> mutex(0);
    for (auto _ : state) {
        auto guard = mutex.try_lock();
        ++**guard;
    }
    benchmark::DoNotOptimize(mutex.get_mut());
}
BENCHMARK(BM_MutexTryLock);

void BM_SemaphoreTryAcquireRelease(benchmark::State& state) {
    corio::sync::Semaphore sem(8);
    for (auto _ : state) {
        auto permit = sem.try_acquire(1);
        benchmark::DoNotOptimize(permit);
    }
}
BENCHMARK(BM_SemaphoreTryAcquireRelease);

// notify_one with nobody waiting stores the permit (one compare-exchange);
// notified() consumes it on its first poll (one compare-exchange).
corio::Task<void> notify_body(benchmark::State& state) {
    corio::sync::Notify notify;
    for (auto _ : state) {
        notify.notify_one();
        co_await notify.notified();
    }
}

void BM_NotifyOneThenNotified(benchmark::State& state) { run_in_task(notify_body(state)); }
BENCHMARK(BM_NotifyOneThenNotified);

}  // namespace
