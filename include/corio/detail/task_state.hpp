// A task's state word: flags and a reference count in one atomic, and the
// transitions every poller, waker and canceller makes on it.
//
//   RUNNING        a thread is polling (or cancelling) the future
//   COMPLETE       the stage holds the output (or it was consumed/dropped)
//   NOTIFIED       woken: the task is in a run queue, or will be re-queued by
//                  the thread that is polling it (when RUNNING)
//   JOIN_INTEREST  a JoinHandle exists and owns the output once COMPLETE
//   JOIN_WAKER     join_waker holds the JoinHandle's waker; while set (and
//                  not COMPLETE) only the task side may read it
//   CANCELLED      abort() was called or the runtime is shutting down
//   refcount       one reference each for: the owned list, the JoinHandle,
//                  the run queue (while NOTIFIED and idle), every Waker
//
// The cell is freed when the count reaches zero. Outside the task layer the
// count is never spelled as a number: each reference is an object
// (task_ref.hpp).
#pragma once

#include <atomic>
#include <cstdint>

#include "corio/detail/task_header.hpp"

namespace corio::detail {

namespace state {
inline constexpr std::uint64_t kRunning = 1u << 0;
inline constexpr std::uint64_t kComplete = 1u << 1;
inline constexpr std::uint64_t kNotified = 1u << 2;
inline constexpr std::uint64_t kJoinInterest = 1u << 3;
inline constexpr std::uint64_t kJoinWaker = 1u << 4;
inline constexpr std::uint64_t kCancelled = 1u << 5;
inline constexpr std::uint64_t kRefOne = 1u << 6;
inline constexpr std::uint64_t kFlagMask = kRefOne - 1;
}  // namespace state

// ---- reference counting ----------------------------------------------------

inline void task_ref(TaskHeader* t) noexcept {
    // relaxed: a new reference is made from an existing one, which already
    // orders everything before it (as shared_ptr's copy).
    t->state.fetch_add(state::kRefOne, std::memory_order_relaxed);
}

inline void task_unref(TaskHeader* t, std::uint64_t count = 1) noexcept {
    // acq_rel: the last owner must see every other owner's writes before freeing.
    std::uint64_t prev = t->state.fetch_sub(count * state::kRefOne, std::memory_order_acq_rel);
    if ((prev >> 6) == count) t->vtable->dealloc(t);
}

// ---- running ---------------------------------------------------------------

enum class RunTransition { Run, Cancel, Skip };

/// NOTIFIED -> RUNNING for the thread that popped the task from a queue.
inline RunTransition task_transition_to_running(TaskHeader* t) noexcept {
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & (state::kRunning | state::kComplete)) return RunTransition::Skip;
        std::uint64_t next = (cur | state::kRunning) & ~state::kNotified;
        // acquire: see everything the waker and the previous poller wrote.
        if (t->state.compare_exchange_weak(cur, next, std::memory_order_acquire, std::memory_order_acquire)) {
            return (cur & state::kCancelled) ? RunTransition::Cancel : RunTransition::Run;
        }
    }
}

enum class IdleTransition { Idle, Notified, Cancel };

/// RUNNING -> idle after a Pending poll; reports a wake or abort that came meanwhile.
inline IdleTransition task_transition_to_idle(TaskHeader* t) noexcept {
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & state::kCancelled) return IdleTransition::Cancel;  // stay RUNNING, the caller cancels
        if (cur & state::kNotified) {
            // Stay NOTIFIED; the caller re-queues with the reference it holds.
            if (t->state.compare_exchange_weak(cur, cur & ~state::kRunning, std::memory_order_acq_rel,
                                               std::memory_order_acquire))
                return IdleTransition::Notified;
            continue;
        }
        // release: our writes to the future are visible to the next poller.
        if (t->state.compare_exchange_weak(cur, cur & ~state::kRunning, std::memory_order_acq_rel,
                                           std::memory_order_acquire))
            return IdleTransition::Idle;
    }
}

/// Claims a task that is not running or complete so the caller can cancel it
/// in place (runtime shutdown). False when it is running elsewhere or done.
inline bool task_transition_to_shutdown(TaskHeader* t) noexcept {
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & (state::kRunning | state::kComplete)) return false;
        if (t->state.compare_exchange_weak(cur, cur | state::kRunning | state::kCancelled, std::memory_order_acq_rel,
                                           std::memory_order_acquire))
            return true;
    }
}

}  // namespace corio::detail
