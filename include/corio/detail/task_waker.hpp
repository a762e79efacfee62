// Waking a task: the Waker of every spawned task points at its header, and
// a wake marks the task NOTIFIED and hands its scheduler a run-queue
// reference (task_ref.hpp) when the task was idle.
#pragma once

#include <atomic>
#include <cstdint>

#include "corio/detail/sync.hpp"
#include "corio/detail/task_header.hpp"
#include "corio/detail/task_ref.hpp"
#include "corio/detail/task_state.hpp"
#include "corio/future.hpp"

namespace corio::detail {

// ---- waking ----------------------------------------------------------------

/// The task being polled on this thread, and whether it woke itself meanwhile.
/// A self-wake needs no atomic: the poller re-queues the task afterwards.
/// `current_task` is atomic (relaxed: a plain load or store) so the stall
/// monitor can read another thread's; `poll_count` counts polls on this thread.
inline thread_local Atomic<RawTask> current_task{RawTask()};
inline thread_local bool current_task_woken = false;
inline thread_local Atomic<std::uint64_t> poll_count{0};

inline bool is_current_task(const TaskHeader* t) noexcept {
    return t == current_task.load(std::memory_order_relaxed).get();
}

/// Marks the task NOTIFIED; queues it (with a new reference) if it was idle.
inline void task_wake_by_ref(TaskHeader* t) {
    if (is_current_task(t)) {
        current_task_woken = true;
        return;
    }
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & (state::kComplete | state::kNotified)) return;
        std::uint64_t next = cur | state::kNotified;
        bool idle = !(cur & state::kRunning);
        if (idle) next += state::kRefOne;  // the run queue's reference
        // acq_rel: pairs with the poller's transition so a wake after its
        // last look at our data is never missed.
        if (t->state.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
            if (idle) t->scheduler->schedule(Notified::woken(t));
            return;
        }
    }
}

/// Like task_wake_by_ref, but consumes the caller's reference.
inline void task_wake_by_val(TaskHeader* t) {
    if (is_current_task(t)) {
        current_task_woken = true;
        task_unref(t);  // never the last reference: the poller holds one
        return;
    }
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & (state::kComplete | state::kNotified)) {
            task_unref(t);
            return;
        }
        if (cur & state::kRunning) {
            // The poller holds a reference, so ours is never the last one here.
            std::uint64_t next = (cur | state::kNotified) - state::kRefOne;
            if (t->state.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_acquire)) return;
            continue;
        }
        // Idle: our reference becomes the run queue's.
        if (t->state.compare_exchange_weak(cur, cur | state::kNotified, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
            t->scheduler->schedule(Notified::woken(t));
            return;
        }
    }
}

inline RawWaker task_waker_clone(const void* p);
inline void task_waker_wake(const void* p) { task_wake_by_val(static_cast<TaskHeader*>(const_cast<void*>(p))); }
inline void task_waker_wake_by_ref(const void* p) { task_wake_by_ref(static_cast<TaskHeader*>(const_cast<void*>(p))); }
inline void task_waker_drop(const void* p) { task_unref(static_cast<TaskHeader*>(const_cast<void*>(p))); }
inline constexpr RawWakerVTable kTaskWakerVTable{&task_waker_clone, &task_waker_wake, &task_waker_wake_by_ref,
                                                 &task_waker_drop};
inline RawWaker task_waker_clone(const void* p) {
    task_ref(static_cast<TaskHeader*>(const_cast<void*>(p)));
    return RawWaker{p, &kTaskWakerVTable};
}

}  // namespace corio::detail
