// The blocking pool: threads for closures that block (task::spawn_blocking,
// net::lookup_host), so they never stall the threads that poll async tasks.
//
// A blocking task is an ordinary task cell whose future (BlockingTask, in
// <corio/runtime.hpp>) runs the closure once when polled; the pool is that
// cell's Scheduler, so JoinHandle, abort and exceptions work unchanged.
//
// Threads are started on demand, up to max_blocking_threads, and retire after
// keep_alive without work. Invariants, all under mutex_:
//   notified_ <= idle_ <= threads_ <= max_threads_
//   a queued task is picked up either by a notified idle thread or by a busy
//   thread when it finishes its current task (spawn starts or notifies one
//   whenever no idle thread is already on its way).
//
// Lifetime: the pool is reference counted (Scheduler::ref/unref). The runtime
// holds one reference, every live thread one, every task cell one; so a
// thread still running after shutdown gave up waiting for it, and a
// JoinHandle that outlives the runtime, never touch freed memory.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "corio/detail/sync.hpp"
#include "corio/detail/task_cell.hpp"
#include "corio/diag.hpp"
#include "corio/runtime.hpp"

namespace corio::detail {

class BlockingPool final : public Scheduler {
public:
    /// A pool with the runtime's settings (max_blocking_threads,
    /// thread_keep_alive, thread_name, on_thread_start/stop). The caller owns
    /// the one reference it starts with.
    static BlockingPool* create(const Builder::Config& config);

    BlockingPool(const BlockingPool&) = delete;
    BlockingPool& operator=(const BlockingPool&) = delete;

private:
    // Scheduler. spawn and schedule queue the task and start or wake a
    // thread; after shutdown they cancel it at once (JoinError). The pool
    // keeps no owned list: a queued spawn carries its owned reference, and
    // the thread that runs it holds that until the run is over, so release
    // has nothing to give back.
    void do_schedule(std::uintptr_t entry) override;
    void do_schedule_yielded(std::uintptr_t entry) override;
    void do_spawn(TaskHeader* new_task) override;
    TaskHeader* do_release(TaskHeader* task) noexcept override;

public:
    void ref() noexcept override;
    void unref() noexcept override;

    /// True while a task spawned here is queued or running. Any thread.
    bool busy() const noexcept {
        // acquire: pairs with the release decrement after a task finished, so
        // a caller that sees "idle" sees the task's effects.
        return active_.load(std::memory_order_acquire) != 0;
    }

    /// Called (on a pool thread, under the pool's lock, so it must not call
    /// back into the pool) each time the pool becomes idle: the runtime uses
    /// it to unpark its driver, which does not auto-advance a paused clock
    /// while the pool is busy. Cleared by shutdown.
    void set_on_idle(std::function<void()> on_idle);

    /// Stops the pool: cancels queued tasks (their JoinHandles throw
    /// JoinError), tells idle threads to exit, and waits up to `timeout` for
    /// running tasks and exiting threads. Threads still running afterwards
    /// finish on their own; their results are dropped unless a JoinHandle
    /// still wants them. Idempotent; later spawns are cancelled at once.
    void shutdown(std::chrono::nanoseconds timeout) noexcept;

    /// Live threads (busy or idle); for tests and diagnostics.
    std::size_t num_threads() const;

    /// Appends the queued (Scheduled) and running tasks to `dump`.
    void dump_into(diag::Dump& dump) const;

private:
    explicit BlockingPool(const Builder::Config& config);
    ~BlockingPool() = default;

    void push(NewTask entry);
    bool start_thread();  // with mutex_ held; false when the OS refused
    void worker_main();
    void task_done(std::unique_lock<Mutex>& lock);

    // Fixed at construction.
    const std::size_t max_threads_;
    const std::chrono::nanoseconds keep_alive_;
    const std::string thread_name_;
    const std::function<void()> on_thread_start_;
    const std::function<void()> on_thread_stop_;

    Atomic<std::size_t> refs_{1};
    Atomic<std::size_t> active_{0};  // queued + running; written under mutex_

    mutable Mutex mutex_;
    CondVar work_cv_;                // idle threads wait here for notified_ or shutdown_
    CondVar exit_cv_;                // shutdown waits here for threads_ to drop
    std::deque<NewTask> queue_;      // guarded by mutex_
    std::vector<RawTask> running_;   // guarded by mutex_: tasks being run (their threads keep them alive)
    std::size_t threads_ = 0;        // guarded by mutex_: threads that can still take work
    std::size_t exiting_ = 0;        // guarded by mutex_: threads past their loop, in on_thread_stop
    std::size_t idle_ = 0;           // guarded by mutex_
    std::size_t notified_ = 0;       // guarded by mutex_: idle threads told to take work
    bool shutdown_ = false;          // guarded by mutex_
    std::function<void()> on_idle_;  // guarded by mutex_
};

/// Owns one reference to a BlockingPool.
class BlockingPoolRef {
public:
    explicit BlockingPoolRef(BlockingPool* pool) noexcept : pool_(pool) {}
    BlockingPoolRef(const BlockingPoolRef&) = delete;
    BlockingPoolRef& operator=(const BlockingPoolRef&) = delete;
    ~BlockingPoolRef() { pool_->unref(); }

    BlockingPool& operator*() const noexcept { return *pool_; }
    BlockingPool* operator->() const noexcept { return pool_; }

private:
    BlockingPool* pool_;
};

}  // namespace corio::detail
