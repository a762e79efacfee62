// The current_thread scheduler: every task runs on the thread inside block_on.
//
// Queues: a local FIFO (only the driving thread touches it) and a remote
// inject queue (mutex) for spawns and wakes from other threads, which unpark
// the driver. Every `event_interval` polls the scheduler checks the inject
// queue first and fires due timers, so neither remote work nor timers starve
// behind a busy local queue.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "corio/detail/runtime_core.hpp"
#include "corio/detail/sync.hpp"
#include "corio/runtime.hpp"
#include "diag/monitor.hpp"
#include "runtime/blocking/pool.hpp"
#include "runtime/driver.hpp"
#include "runtime/scheduler/poll_timer.hpp"
#include "runtime/scheduler/single_thread_core.hpp"

namespace corio::detail {

class CurrentThread final : public RuntimeCore {
public:
    explicit CurrentThread(const Builder::Config& config);
    CurrentThread(const CurrentThread&) = delete;
    CurrentThread& operator=(const CurrentThread&) = delete;

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
    TimeDriver& time_driver() noexcept override { return driver_.time(); }
    IoDriver& io_driver() noexcept override { return driver_.io(); }
    IoBackend io_backend() const noexcept override { return driver_.io().kind(); }
    BlockingPool* blocking_pool() noexcept override { return &*blocking_; }
    RuntimeMetrics metrics() const override;
    diag::Dump dump() override;

private:
    ~CurrentThread();
    class Enter;

    bool on_driver_thread() const noexcept { return current_runtime == this; }
    bool run_batch();
    void wake_deferred();
    void push_remote(NewTask task);
    diag::Dump dump_here();
    void serve_dump_requests();

    static RawWaker root_waker_clone(const void* self);
    static void root_waker_wake(const void* self);
    static void root_waker_wake_by_ref(const void* self);
    static void root_waker_drop(const void* self);
    static const RawWakerVTable kRootWakerVTable;

    Builder::Config config_;
    Atomic<std::size_t> refs_{1};
    BlockingPoolRef blocking_;  // before driver_: the driver's hooks point into it
    Driver driver_;

    // Its local queue and owned list are touched only by the thread inside
    // block_on (or running shutdown).
    SingleThreadCore core_;
    // Tasks that yielded (yield_now, or a budget that ran out), as yielded
    // entries: they run again only after the driver's next poll, so
    // a task yielding in a loop cannot keep sockets and timers waiting for a
    // whole batch (Tokio's defer list). Keeps its capacity: no allocation
    // per yield.
    LocalQueue deferred_;
    Atomic<std::uint64_t> polls_{0};  // counters: relaxed
    Atomic<std::uint64_t> parks_{0};
    Atomic<std::uint64_t> remote_schedules_{0};
    Atomic<std::size_t> local_depth_{0};
    PollHistogram poll_times_;  // only with config_.metrics_histograms

    Atomic<bool> root_woken_{false};
    Atomic<bool> driving_{false};

    // A dump asked for on another thread is made by the runtime's thread,
    // the only one that may walk the owned list, between two polls.
    Mutex dump_mutex_;
    CondVar dump_cv_;
    Atomic<std::uint64_t> dump_requests_{0};
    std::uint64_t dump_seen_ = 0;    // the runtime's thread only
    std::uint64_t dump_served_ = 0;  // guarded by dump_mutex_
    diag::Dump dump_result_;         // guarded by dump_mutex_
    Monitor monitor_;                // last: its thread calls dump()
};

}  // namespace corio::detail
