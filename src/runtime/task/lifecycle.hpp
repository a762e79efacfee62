// What becomes of a task on its way through a run queue: the queue entry
// that runs it (QueueEntry) and the ways a scheduler gives a task up without
// running it (a refused spawn, an entry left in a queue at shutdown, the
// tasks left in an owned list at shutdown).
//
// This is the task layer under every scheduler and the blocking pool; it
// includes no scheduler header. Reference counts: a queued task holds one
// reference for the queue, and one for the owned list while it is linked;
// each function below says which of them it drops.
#pragma once

#include <atomic>
#include <cstdint>

#include "corio/detail/task_cell.hpp"

namespace corio::detail {

/// A run-queue entry: a task pointer whose low bit marks a yielded task.
class QueueEntry {
public:
    static QueueEntry woken(TaskHeader* t) noexcept { return QueueEntry(reinterpret_cast<std::uintptr_t>(t)); }
    static QueueEntry yielded(TaskHeader* t) noexcept { return QueueEntry(reinterpret_cast<std::uintptr_t>(t) | 1); }
    static QueueEntry from_bits(std::uintptr_t bits) noexcept { return QueueEntry(bits); }
    QueueEntry() noexcept = default;

    std::uintptr_t bits() const noexcept { return bits_; }

    explicit operator bool() const noexcept { return bits_ != 0; }
    bool is_yielded() const noexcept { return (bits_ & 1) != 0; }
    TaskHeader* task() const noexcept { return reinterpret_cast<TaskHeader*>(bits_ & ~std::uintptr_t{1}); }

    /// Runs the task once, as its kind requires.
    void run() const {
        TaskHeader* t = task();
        if (is_yielded()) {
            t->vtable->poll_yielded(t);
        } else {
            t->vtable->poll(t);
        }
    }

private:
    explicit QueueEntry(std::uintptr_t bits) noexcept : bits_(bits) {}
    std::uintptr_t bits_ = 0;
};

/// Cancels a freshly spawned task that never ran (a spawn refused by a
/// shut-down scheduler): destroys its future and drops the owned-list and
/// run-queue references it was spawned with.
inline void cancel_unstarted(TaskHeader* task) noexcept {
    if (task_transition_to_shutdown(task)) {
        task->vtable->cancel(task);
        task_complete(task, 1);
    } else {
        task_unref(task, 2);  // unreachable for a fresh spawn
    }
}

/// Gives up a queue entry without running it (shutdown): a yielded entry is
/// its task's poller, so it cancels the task; a woken one drops the queue's
/// reference.
inline void discard(QueueEntry entry) noexcept {
    TaskHeader* task = entry.task();
    if (entry.is_yielded()) {
        task->vtable->cancel(task);
        task_complete(task, 1);
    } else {
        task_unref(task);
    }
}

/// Gives up an entry of a remote queue at shutdown: a spawn never linked
/// into the owned list is cancelled, anything else drops the queue's reference.
inline void discard_remote(TaskHeader* task, bool linked) noexcept {
    if (!linked && !(task->state.load(std::memory_order_acquire) & state::kComplete)) {
        cancel_unstarted(task);
    } else {
        task_unref(task);
    }
}

/// Shutdown of a scheduler's owned list (an OwnedTasks, or the sharded
/// OwnedShards of the multi-thread scheduler): cancels every task still in
/// it, or, for one that is already finishing on its own, unlinks it and drops
/// the list's reference. Cancelling runs destructors that may wake or spawn
/// tasks; the caller has closed its queues first so those find them closed.
template <class Owned>
void cancel_owned(Owned& owned) noexcept {
    while (TaskHeader* task = owned.front()) {
        if (task_transition_to_shutdown(task)) {
            task->vtable->cancel(task);
            task_complete(task, 0);  // unlinks it and drops the owned list's reference
        } else {
            owned.unlink_if_linked(task);
            task_unref(task);
        }
    }
}

}  // namespace corio::detail
