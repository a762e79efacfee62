// The multi-thread work-stealing scheduler.
//
// Each worker owns a 256-entry run queue (others steal half of it when they
// run dry) and a LIFO slot holding the task the running task just woke, so a
// message ping-pong runs back to back on one worker. Spawns and wakes from
// outside the workers, and queue overflow, go to the global inject queue,
// which each worker also checks every `event_interval` polls. Idle workers
// park: one of them on the shared driver (I/O and timers), the rest on
// condition variables. At most half the workers search for work at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "corio/detail/runtime_core.hpp"
#include "corio/detail/sync.hpp"
#include "corio/runtime.hpp"
#include "diag/monitor.hpp"
#include "runtime/blocking/pool.hpp"
#include "runtime/scheduler/local_queue.hpp"
#include "runtime/scheduler/multi_thread/idle.hpp"
#include "runtime/scheduler/multi_thread/inject.hpp"
#include "runtime/scheduler/multi_thread/park.hpp"
#include "runtime/scheduler/multi_thread/queue.hpp"
#include "runtime/scheduler/poll_timer.hpp"
#include "runtime/task/lifecycle.hpp"
#include "runtime/task/owned_shards.hpp"

namespace corio::detail::mt {

/// Per-worker counters, written by the worker, read by anyone (relaxed).
struct WorkerStats {
    Atomic<std::uint64_t> polls{0};
    Atomic<std::uint64_t> steals{0};
    Atomic<std::uint64_t> parks{0};
    Atomic<std::uint64_t> forced_yields{0};
    PollHistogram poll_times;  // only with Config::metrics_histograms
};

struct Worker {
    RunQueue queue;
    Parker parker;
    WorkerStats stats;
    // The LIFO slot of a stalled worker, moved here by the stall monitor's
    // signal handler on the worker's own thread; other workers steal it.
    Atomic<std::uintptr_t> rescued{0};
    // Touched only by the worker's own thread (and its signal handler):
    Notified lifo;
    Atomic<bool> lifo_busy{false};  // the worker is updating `lifo` (see swap_lifo)
    bool searching = false;
    std::uint32_t until_maintenance = 1;  // polls until the next driver/inject check
    bool inject_first = false;            // this tick, look at the inject queue before the local one
    bool notify_deferred = false;         // spawned work not yet announced to parked workers
    std::uint32_t rng = 0;
    // Counts of the runtime's reference count that this worker took in a
    // block and hands out without an atomic operation (MultiThread::ref).
    std::size_t spare_refs = 0;
    std::vector<Notified> overflow;  // spill of a full run queue, for the inject queue
    std::vector<Notified> batch;     // entries taken from the inject queue
    std::thread thread;
};

class MultiThread final : public RuntimeCore {
public:
    explicit MultiThread(const Builder::Config& config);
    MultiThread(const MultiThread&) = delete;
    MultiThread& operator=(const MultiThread&) = delete;

private:
    // Scheduler (what its typed calls dispatch to)
    void do_schedule(std::uintptr_t entry) override;
    void do_schedule_yielded(std::uintptr_t entry) override;
    void do_spawn(TaskHeader* new_task) override;
    TaskHeader* do_release(TaskHeader* task) noexcept override;

public:
    void ref() noexcept override;
    void unref() noexcept override;

    // RuntimeCore
    void block_on(bool (*poll_root)(void* ctx, Context& cx), void* ctx) override;
    void shutdown(std::chrono::nanoseconds timeout) noexcept override;
    TimeDriver& time_driver() noexcept override { return driver_.driver.time(); }
    IoDriver& io_driver() noexcept override { return driver_.driver.io(); }
    IoBackend io_backend() const noexcept override { return driver_.driver.io().kind(); }
    RuntimeMetrics metrics() const override;
    BlockingPool* blocking_pool() noexcept override { return &*blocking_; }
    diag::Dump dump() override;

private:
    ~MultiThread();
    class Enter;

    Worker* current_worker() const noexcept;
    void run_worker(std::size_t index);
    Notified next_task(Worker& w);
    Notified steal_work(Worker& w, std::size_t index);
    void run_task(Worker& w, Notified entry);
    void park_worker(Worker& w, std::size_t index);
    void maintenance(Worker& w);
    void push_local(Worker& w, Notified entry);
    void push_remote(Notified task);
    void notify_parked();
    void flush_deferred_notify(Worker& w);
    bool has_work() const noexcept;

    static constexpr std::size_t kRefBlock = 64;  // see ref()

    Builder::Config config_;
    Atomic<std::size_t> refs_{1};
    BlockingPoolRef blocking_;
    SharedDriver driver_;
    InjectQueue inject_;
    Idle idle_;
    OwnedShards owned_;
    std::vector<std::unique_ptr<Worker>> workers_;
    Mutex dump_mutex_;  // a dump and shutdown never overlap
    bool dumps_closed_ = false;
    Monitor monitor_;  // after what dump() reads
    Atomic<bool> stopping_{false};
    Atomic<std::uint64_t> remote_schedules_{0};
    bool shut_down_ = false;
};

}  // namespace corio::detail::mt
