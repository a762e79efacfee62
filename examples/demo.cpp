// demo: a short tour of corio, in numbered sections; runs in about half a second.
//
// Run: cmake --workflow --preset demo     (or ./demo from a build directory)
#include <chrono>
#include <corio/corio.hpp>
#include <cstdio>
#include <vector>

namespace {

using namespace std::chrono_literals;
using corio::time::Instant;

long ms_since(Instant start) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(start.elapsed()).count());
}

void section(int number, const char* title) { std::printf("\n%d. %s\n", number, title); }

/// A task that takes a while and then produces a value.
corio::Task<int> compute_answer() {
    co_await corio::time::sleep(20ms);
    co_return 42;
}

/// Sleeps `d`, then reports which worker it was.
corio::Task<int> worker(int id, std::chrono::milliseconds d) {
    co_await corio::time::sleep(d);
    std::printf("   worker %d woke after %lld ms\n", id, static_cast<long long>(d.count()));
    co_return id;
}

/// Says so when it is destroyed before it finished.
struct CancellationReporter {
    bool finished = false;
    ~CancellationReporter() {
        if (!finished) std::puts("   slow operation cancelled (its destructor ran)");
    }
};

corio::Task<int> slow_operation() {
    CancellationReporter reporter;
    co_await corio::time::sleep(10s);
    reporter.finished = true;
    co_return 0;
}

corio::Task<int> tour() {
    const Instant start = Instant::now();

    section(1, "spawn a task and await its JoinHandle");
    // spawn starts the task on the runtime at once; the JoinHandle is a
    // future of the task's result.
    corio::JoinHandle<int> answer = corio::spawn(compute_answer());
    std::puts("   spawned; this task carries on meanwhile");
    int value = co_await answer;
    std::printf("   the task returned %d\n", value);
    if (value != 42) co_return 1;

    section(2, "three 100 ms sleeps, concurrently");
    const Instant sleeps_start = Instant::now();
    std::vector<corio::JoinHandle<int>> workers;
    for (int id = 1; id <= 3; ++id) workers.push_back(corio::spawn(worker(id, 100ms)));
    for (corio::JoinHandle<int>& handle : workers) co_await handle;
    std::printf("   all three done after %ld ms, not 300: one thread, no blocking\n", ms_since(sleeps_start));

    section(3, "a timeout cancels a slow operation");
    // Dropping a future cancels it. timeout() drops the inner future when
    // time is up, which destroys the coroutine frame and runs destructors.
    auto result = co_await corio::time::timeout(50ms, slow_operation());
    std::puts(result ? "   finished in time?!" : "   timed out after 50 ms");
    if (result) co_return 1;

    section(4, "abort a spawned task");
    corio::JoinHandle<int> doomed = corio::spawn(slow_operation());
    co_await corio::task::yield_now();  // let it start and reach its sleep
    doomed.abort();
    try {
        co_await doomed;
        co_return 1;
    } catch (const corio::JoinError& e) {
        std::printf("   awaiting it throws corio::JoinError (%s)\n", e.what());
    }

    section(5, "an interval ticking every 30 ms");
    const Instant ticks_start = Instant::now();
    corio::time::Interval ticker = corio::time::interval(30ms);
    for (int i = 1; i <= 3; ++i) {
        co_await ticker.tick();
        std::printf("   tick %d at +%ld ms\n", i, ms_since(ticks_start));
    }

    section(6, "where to go next");
    std::puts("   docs/guide.md explains the model: futures, poll, wakers, tasks, cancellation, time.");
    std::puts("   examples/ holds small programs to copy from: hello_future, state_machine,");
    std::puts("   mini_executor (an executor from scratch), timers.");

    std::printf("\ndemo finished in %ld ms\n", ms_since(start));
    co_return 0;
}

}  // namespace

int main() {
    // corio::run: build a runtime, run the task to completion, shut down.
    int rc = corio::run(tour());
    if (rc != 0) std::puts("error: the tour went wrong");
    return rc;
}
