// A growable FIFO ring of task pointers, owned by one thread.
//
// An entry is a task woken normally, or (low bit set) a task that yielded
// and is still RUNNING: see Scheduler::schedule_yielded.
//
// Capacity is a power of two; it doubles when full and never shrinks, so in
// steady state push and pop allocate nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

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

class LocalQueue {
public:
    explicit LocalQueue(std::size_t capacity = 256)
        : buffer_(std::make_unique<QueueEntry[]>(capacity)), mask_(capacity - 1) {}

    bool empty() const noexcept { return head_ == tail_; }
    std::size_t size() const noexcept { return tail_ - head_; }

    void push_back(QueueEntry e) {
        if (size() == mask_ + 1) grow();
        buffer_[tail_++ & mask_] = e;
    }

    QueueEntry pop_front() noexcept {
        if (head_ == tail_) return QueueEntry();
        return buffer_[head_++ & mask_];
    }

private:
    void grow() {
        std::size_t capacity = (mask_ + 1) * 2;
        auto bigger = std::make_unique<QueueEntry[]>(capacity);
        std::size_t n = size();
        for (std::size_t i = 0; i < n; ++i) bigger[i] = buffer_[(head_ + i) & mask_];
        buffer_ = std::move(bigger);
        mask_ = capacity - 1;
        head_ = 0;
        tail_ = n;
    }

    std::unique_ptr<QueueEntry[]> buffer_;
    std::size_t mask_;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
};

}  // namespace corio::detail
