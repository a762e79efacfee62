// RemoteQueue: the tasks other threads schedule or spawn onto a scheduler
// that one thread drives (current_thread, LocalSet), handed to that thread in
// batches. An entry is a NewTask: a spawn carries the owned list's reference
// too, for the driver to link; a wake carries only the run queue's.
//
// Invariant: `pending_` is set (release) after every push and cleared only
// under the mutex, by the taker of the batch; a push after the take sets it
// again, so the driver never misses a task. After close() nothing is pushed.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

#include "corio/detail/sync.hpp"
#include "corio/detail/task_cell.hpp"
#include "runtime/scheduler/local_queue.hpp"
#include "runtime/task/owned_tasks.hpp"

namespace corio::detail {

class RemoteQueue {
public:
    /// Appends `task` unless the queue is closed; `under_lock()` runs with
    /// the queue's lock held. False once closed: then `task` is dropped (a
    /// wake's reference goes, a spawn is cancelled), after the lock is let go.
    template <class F>
    bool push(NewTask task, F&& under_lock) {
        {
            std::lock_guard lock(mutex_);
            if (closed_) return false;
            tasks_.push_back(std::move(task));
            under_lock();
        }
        // release: pairs with the acquire in take_into, so the driver sees the push.
        pending_.store(true, std::memory_order_release);
        return true;
    }
    bool push(NewTask task) {
        return push(std::move(task), [] {});
    }

    /// Driver only: moves every queued task to the back of `local`, linking
    /// newly spawned ones into `owned`. True when anything moved.
    bool take_into(OwnedTasks& owned, LocalQueue& local) {
        // acquire: pairs with push's release.
        if (!pending_.load(std::memory_order_acquire)) return false;
        take_batch();
        for (NewTask& task : batch_) {
            if (task.owned) owned.push_back(std::move(task.owned));
            local.push_back(std::move(task.notified));
        }
        return finish_batch();
    }

    /// Driver only, at shutdown: drops the queue's references and cancels
    /// remote spawns never linked (dropping each entry does). True when there were any.
    bool discard_all() noexcept {
        take_batch();
        return finish_batch();
    }

    /// Runs `f(closed)` with the queue's lock held (for state guarded by the
    /// same lock, such as LocalSet's driver waker) and returns its result.
    template <class F>
    auto with_lock(F&& f) {
        std::lock_guard lock(mutex_);
        return f(closed_);
    }

    /// Refuses every later push.
    void close() {
        with_lock([](bool& closed) { closed = true; });
    }

    /// A hint that something may be queued (no ordering).
    bool pending() const noexcept { return pending_.load(std::memory_order_relaxed); }

    /// How many tasks wait now.
    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return tasks_.size();
    }

private:
    void take_batch() {
        std::lock_guard lock(mutex_);
        batch_.swap(tasks_);
        pending_.store(false, std::memory_order_relaxed);  // under the mutex: a later push sets it again
    }
    bool finish_batch() noexcept {
        bool any = !batch_.empty();
        batch_.clear();
        return any;
    }

    mutable Mutex mutex_;
    std::vector<NewTask> tasks_;   // guarded by mutex_
    bool closed_ = false;          // guarded by mutex_
    Atomic<bool> pending_{false};  // hint: tasks_ may be non-empty
    std::vector<NewTask> batch_;   // the driver's swap buffer
};

}  // namespace corio::detail
