// The task workloads (CONTRACT.md), one function per workload, each the
// counterpart of the Tokio peer's function of the same name.
//
// Timing: std::chrono::steady_clock inside the process, from just before the
// first spawn to the moment the waiting task observes completion. Runtime
// construction and shutdown are outside the measured region (main.cpp).
#include "workloads.hpp"

#include <atomic>
#include <chrono>
#include <corio/sync/mpsc.hpp>
#include <corio/sync/oneshot.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "signal.hpp"

namespace corio_bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// Runs `body` as a spawned task (so its spawns take the worker-local path,
/// as the Tokio peer's `in_task`) and returns its output.
template <class T>
T in_task(corio::Runtime& rt, corio::Task<T> body) {
    return rt.block_on(rt.spawn(std::move(body)));
}

// The task each of spawn_many / spawn_remote spawns: one latch hit.
corio::Task<void> hit(Latch* latch) {
    latch->hit();
    co_return;
}

// ---- spawn_many --------------------------------------------------------------------

corio::Task<double> spawn_many_body(std::uint64_t n) {
    Latch latch(n);
    auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < n; ++i) {
        corio::spawn(hit(&latch));  // JoinHandle dropped: detached, as the peer
    }
    co_await latch.wait();
    co_return seconds_since(t0);
}

// ---- spawn_remote ------------------------------------------------------------------

// The root future of block_on (as in the peer): a plain OS thread, not a
// runtime thread, spawns all N tasks through a Handle (the inject path).
corio::Task<double> spawn_remote_body(std::uint64_t n, corio::Handle handle, std::thread* spawner) {
    Latch latch(n);
    auto t0 = Clock::now();
    *spawner = std::thread([n, &latch, handle]() mutable {
        for (std::uint64_t i = 0; i < n; ++i) handle.spawn(hit(&latch));
    });
    co_await latch.wait();
    co_return seconds_since(t0);
}

// ---- yield_many --------------------------------------------------------------------

constexpr std::uint64_t kYieldTasks = 64;

corio::Task<void> yielder(std::uint64_t per) {
    for (std::uint64_t i = 0; i < per; ++i) co_await corio::task::yield_now();
}

corio::Task<double> yield_many_body(std::uint64_t n) {
    const std::uint64_t per = n / kYieldTasks;
    auto t0 = Clock::now();
    std::vector<corio::JoinHandle<void>> handles;
    handles.reserve(kYieldTasks);
    for (std::uint64_t i = 0; i < kYieldTasks; ++i) handles.push_back(corio::spawn(yielder(per)));
    for (auto& h : handles) co_await h;
    co_return seconds_since(t0);
}

// ---- ping_pong ---------------------------------------------------------------------

// One ping: the sender for the pong and the receiver the next ping comes on.
struct Ping {
    corio::sync::oneshot::Sender<std::monostate> pong;
    corio::sync::oneshot::Receiver<Ping> next;
};

corio::Task<void> ponger(corio::sync::oneshot::Receiver<Ping> first) {
    corio::sync::oneshot::Receiver<Ping> cur = std::move(first);
    for (;;) {
        auto ping = co_await cur;
        if (!ping) co_return;  // the pinger dropped its sender: done
        (void)ping->pong.send(std::monostate{});
        cur = std::move(ping->next);
    }
}

corio::Task<double> ping_pong_body(std::uint64_t n) {
    auto [first_tx, first_rx] = corio::sync::oneshot::channel<Ping>();
    corio::sync::oneshot::Sender<Ping> cur_tx = std::move(first_tx);
    auto pong_task = corio::spawn(ponger(std::move(first_rx)));
    auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < n; ++i) {
        auto [next_tx, next_rx] = corio::sync::oneshot::channel<Ping>();
        auto [pong_tx, pong_rx] = corio::sync::oneshot::channel<std::monostate>();
        if (!cur_tx.send(Ping{std::move(pong_tx), std::move(next_rx)})) throw std::runtime_error("ponger gone");
        auto pong = co_await pong_rx;
        if (!pong) throw std::runtime_error("pong lost");
        cur_tx = std::move(next_tx);
    }
    double secs = seconds_since(t0);
    cur_tx = {};  // the ponger sees a closed channel and exits
    co_await pong_task;
    co_return secs;
}

// ---- chained_spawn -----------------------------------------------------------------

constexpr std::uint64_t kChainRepeats = 10;

corio::Task<void> chain_link(std::uint64_t n, Event* done);

// A plain function, as the peer's `chain`: signals at the end, else spawns the next link.
void chain(std::uint64_t n, Event* done) {
    if (n == 0) {
        done->notify();
    } else {
        corio::spawn(chain_link(n - 1, done));
    }
}

corio::Task<void> chain_link(std::uint64_t n, Event* done) {
    chain(n, done);
    co_return;
}

corio::Task<double> chained_spawn_body(std::uint64_t n) {
    auto t0 = Clock::now();
    for (std::uint64_t r = 0; r < kChainRepeats; ++r) {
        auto done = std::make_unique<Event>();  // fresh, as the peer's fresh oneshot
        chain(n, done.get());
        co_await done->wait();
    }
    co_return seconds_since(t0);
}

// ---- mpsc --------------------------------------------------------------------------

constexpr std::uint64_t kMpscProducers = 4;
constexpr std::size_t kMpscCapacity = 1024;

corio::Task<void> mpsc_producer(corio::sync::mpsc::Sender<std::uint64_t> tx, std::uint64_t per) {
    for (std::uint64_t i = 0; i < per; ++i) {
        auto sent = co_await tx.send(i);
        if (!sent) throw std::runtime_error("receiver gone");
    }
}

corio::Task<double> mpsc_body(std::uint64_t n) {
    const std::uint64_t per = n / kMpscProducers;
    auto [tx, rx] = corio::sync::mpsc::channel<std::uint64_t>(kMpscCapacity);
    auto t0 = Clock::now();
    for (std::uint64_t p = 0; p < kMpscProducers; ++p) corio::spawn(mpsc_producer(tx, per));
    {
        auto drop = std::move(tx);
    }  // only the producers' copies keep the channel open
    std::uint64_t count = 0;
    std::uint64_t sum = 0;
    for (;;) {
        std::optional<std::uint64_t> v = co_await rx.recv();
        if (!v) break;
        ++count;
        sum += *v;
    }
    double secs = seconds_since(t0);
    if (count != per * kMpscProducers || sum != kMpscProducers * (per * (per == 0 ? 0 : per - 1) / 2))
        throw std::runtime_error("mpsc: wrong count or sum");
    co_return secs;
}

// ---- timers ------------------------------------------------------------------------

corio::Task<void> sleeper(std::uint64_t i, Latch* latch, std::atomic<std::uint64_t>* late_ns) {
    const auto d = std::chrono::milliseconds(timer_delay_ms(i));
    const auto start = corio::time::Instant::now();
    co_await corio::time::sleep(d);
    const auto slept = start.elapsed();
    const auto over = slept > d ? slept - d : corio::time::Duration::zero();
    late_ns->fetch_add(static_cast<std::uint64_t>(over.count()), std::memory_order_relaxed);
    latch->hit();
}

struct TimersResult {
    double seconds;
    double late_ms;
};

corio::Task<TimersResult> timers_body(std::uint64_t n) {
    Latch latch(n);
    std::atomic<std::uint64_t> late_ns{0};
    auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < n; ++i) corio::spawn(sleeper(i, &latch, &late_ns));
    co_await latch.wait();
    double secs = seconds_since(t0);
    co_return TimersResult{secs, static_cast<double>(late_ns.load(std::memory_order_relaxed)) / n / 1e6};
}

// ---- idle_tasks --------------------------------------------------------------------

// Parks on its own gate (an Event, where the Tokio peer uses a oneshot) until
// the harness releases it.
corio::Task<void> idler(Event* gate, Latch* started, Latch* finished) {
    started->hit();
    co_await gate->wait();
    finished->hit();
}

struct IdleResult {
    double seconds;
    double bytes_per_task;
};

corio::Task<IdleResult> idle_tasks_body(std::uint64_t n) {
    // The harness's own bookkeeping, allocated and touched before the first
    // RSS reading. The gates themselves are allocated per task inside the
    // measured region and so are charged to the tasks, like the peer's
    // oneshot channels and the Asio peer's timers.
    std::vector<std::unique_ptr<Event>> gates(n);
    Latch started(n);
    Latch finished(n);
    const std::uint64_t rss0 = status_kb("VmRSS:");
    auto t0 = Clock::now();
    for (auto& g : gates) {
        g = std::make_unique<Event>();
        corio::spawn(idler(g.get(), &started, &finished));
    }
    co_await started.wait();
    co_await corio::task::yield_now();  // let the last starters reach their await
    const std::uint64_t rss1 = status_kb("VmRSS:");
    for (auto& g : gates) g->notify();
    co_await finished.wait();
    double secs = seconds_since(t0);
    double bytes = (static_cast<double>(rss1) - static_cast<double>(rss0)) * 1024.0 / static_cast<double>(n);
    co_return IdleResult{secs, bytes};
}

std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

}  // namespace

std::uint64_t status_kb(const char* field) {
    std::FILE* f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) return 0;
    char line[256];
    std::uint64_t kb = 0;
    const std::size_t len = std::strlen(field);
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::strncmp(line, field, len) == 0) {
            kb = std::strtoull(line + len, nullptr, 10);
            break;
        }
    }
    std::fclose(f);
    return kb;
}

std::uint64_t timer_delay_ms(std::uint64_t i) noexcept {
    std::uint64_t z = (i ^ 0x5EED) + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return 1 + z % 50;
}

Outcome spawn_many(corio::Runtime& rt, std::uint64_t n) { return {in_task(rt, spawn_many_body(n)), n, {}}; }

Outcome spawn_remote(corio::Runtime& rt, std::uint64_t n) {
    std::thread spawner;
    double secs = rt.block_on(spawn_remote_body(n, rt.handle(), &spawner));
    spawner.join();
    return {secs, n, {}};
}

Outcome yield_many(corio::Runtime& rt, std::uint64_t n) {
    return {in_task(rt, yield_many_body(n)), n / kYieldTasks * kYieldTasks, {}};
}

Outcome ping_pong(corio::Runtime& rt, std::uint64_t n) { return {in_task(rt, ping_pong_body(n)), n, {}}; }

Outcome mpsc(corio::Runtime& rt, std::uint64_t n) {
    return {in_task(rt, mpsc_body(n)), n / kMpscProducers * kMpscProducers, {}};
}

Outcome chained_spawn(corio::Runtime& rt, std::uint64_t n) {
    return {in_task(rt, chained_spawn_body(n)), n * kChainRepeats, {}};
}

Outcome timers(corio::Runtime& rt, std::uint64_t n) {
    TimersResult r = in_task(rt, timers_body(n));
    return {r.seconds, n, fmt(",\"late_ms\":%.4f", r.late_ms)};
}

Outcome idle_tasks(corio::Runtime& rt, std::uint64_t n) {
    IdleResult r = in_task(rt, idle_tasks_body(n));
    return {r.seconds, n, fmt(",\"bytes_per_task\":%.1f", r.bytes_per_task)};
}

}  // namespace corio_bench
