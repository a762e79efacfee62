// The join protocol: how a JoinHandle waits for its task's output and gives
// it up (JOIN_INTEREST and JOIN_WAKER in the state word, task_state.hpp), and
// the shape of that output.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <variant>

#include "corio/detail/task_header.hpp"
#include "corio/detail/task_state.hpp"
#include "corio/future.hpp"

namespace corio::detail {

// ---- joining ---------------------------------------------------------------

/// True when the output is ready to take; otherwise stores `waker` as the
/// join waker (the most recent one) and returns false.
inline bool task_poll_join(TaskHeader* t, const Waker& waker) {
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    if (cur & state::kComplete) return true;
    if (cur & state::kJoinWaker) {
        if (t->join_waker.will_wake(waker)) return false;
        // Take the waker slot back before writing it.
        for (;;) {
            if (cur & state::kComplete) return true;
            if (t->state.compare_exchange_weak(cur, cur & ~state::kJoinWaker, std::memory_order_acq_rel,
                                               std::memory_order_acquire))
                break;
        }
    }
    t->join_waker = waker;                           // we own the slot: JOIN_WAKER is clear
    cur = t->state.load(std::memory_order_acquire);  // acquire: a COMPLETE seen here publishes the output
    for (;;) {
        if (cur & state::kComplete) return true;
        // release: the task side reads join_waker after seeing JOIN_WAKER.
        if (t->state.compare_exchange_weak(cur, cur | state::kJoinWaker, std::memory_order_acq_rel,
                                           std::memory_order_acquire))
            return false;
    }
}

/// The JoinHandle goes away. The output is dropped here if the task already
/// completed, else by the task when it completes.
inline void task_drop_join_handle(TaskHeader* t) noexcept {
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & state::kComplete) {
            t->vtable->drop_output(t);
            task_unref(t);
            return;
        }
        // Not complete: the task still holds references, so ours is never the last.
        std::uint64_t next = (cur & ~(state::kJoinInterest | state::kJoinWaker)) - state::kRefOne;
        if (t->state.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_acquire)) return;
    }
}

// ---- the typed cell ----------------------------------------------------------

template <class T>
using stored_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
using TaskOutcome = std::variant<stored_t<T>, std::exception_ptr>;

}  // namespace corio::detail
