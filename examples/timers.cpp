// timers: sleep, interval and timeout on the runtime's timer wheel.
//
// Each timer future registers the waker of the task that polls it with the
// runtime's timer wheel and returns Pending; the runtime wakes the task when
// the deadline passes. No thread sleeps per timer and nothing spins.
//
// Run: ./timers
#include <chrono>
#include <corio/corio.hpp>
#include <cstdio>

namespace {

using namespace std::chrono_literals;
using corio::time::Instant;

long ms_between(Instant from, Instant to) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count());
}

/// Prints a line when it is destroyed before its work was marked finished:
/// shows exactly when a cancelled task's locals are torn down.
struct CancellationReporter {
    const char* what;
    bool finished = false;
    ~CancellationReporter() {
        if (!finished) std::printf("%s cancelled\n", what);
    }
};

/// Work that takes far longer than anyone is willing to wait.
corio::Task<int> slow_operation() {
    CancellationReporter reporter{"slow operation"};
    co_await corio::time::sleep(10s);
    reporter.finished = true;
    co_return 42;
}

/// Work that finishes quickly.
corio::Task<int> fast_operation() {
    co_await corio::time::sleep(5ms);
    co_return 7;
}

/// Sleeps for an hour; returns how long that took on the runtime's clock.
corio::Task<long> sleep_an_hour() {
    Instant start = Instant::now();
    co_await corio::time::sleep(1h);
    co_return ms_between(start, Instant::now());
}

corio::Task<int> async_main() {
    // 1. sleep: suspends this task; the thread is free for other tasks.
    Instant start = Instant::now();
    co_await corio::time::sleep(50ms);
    std::printf("slept for %ld ms\n", ms_between(start, Instant::now()));

    // 2. interval: ticks every period. The first tick completes at once;
    //    tick() yields the instant the tick was scheduled for.
    Instant ticker_start = Instant::now();
    corio::time::Interval ticker = corio::time::interval(40ms);
    for (int i = 1; i <= 3; ++i) {
        Instant scheduled = co_await ticker.tick();
        std::printf("tick %d: scheduled at +%ld ms, arrived at +%ld ms\n", i, ms_between(ticker_start, scheduled),
                    ms_between(ticker_start, Instant::now()));
    }

    // 3. timeout: the inner future's output, or Elapsed. A future that
    //    finishes in time just gives its value...
    std::expected<int, corio::time::Elapsed> fast = co_await corio::time::timeout(100ms, fast_operation());
    if (!fast || *fast != 7) co_return 1;
    std::printf("fast operation finished in time: %d\n", *fast);

    // ...and one that does not is destroyed the moment time is up: its
    // coroutine frame goes away, its pending sleep is unlinked from the
    // wheel and its locals' destructors run, before timeout() returns.
    std::expected<int, corio::time::Elapsed> slow = co_await corio::time::timeout(50ms, slow_operation());
    if (slow.has_value()) co_return 1;
    std::puts("timed out");
    co_return 0;
}

}  // namespace

int main() {
    if (corio::run(async_main()) != 0) {
        std::puts("error: a timer did not behave as described");
        return 1;
    }

    // 4. The paused clock, for tests: time stands still until every task is
    //    waiting, then jumps straight to the next timer. An hour-long sleep
    //    finishes at once, and the program still sees an hour go by.
    corio::Runtime rt = corio::Builder::new_current_thread().start_paused(true).build();
    auto wall_start = std::chrono::steady_clock::now();
    long virtual_ms = rt.block_on(sleep_an_hour());
    auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - wall_start);
    std::printf("paused clock: slept %ld s of virtual time in %lld ms of real time\n", virtual_ms / 1000,
                static_cast<long long>(wall_ms.count()));
    return 0;
}
