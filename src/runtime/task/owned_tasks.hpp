// The list of every live task a scheduler owns, so shutdown can find and
// destroy them all.
//
// Intrusive and circular around a sentinel: a linked task has non-null
// owned_prev/owned_next; owned_next == nullptr means "not linked" (a task
// spawned from a foreign thread is linked when the runtime thread first
// takes it). Not synchronised: the owner serialises access (size() excepted).
#pragma once

#include <atomic>
#include <cstddef>

#include "corio/detail/sync.hpp"
#include "corio/detail/task_cell.hpp"

namespace corio::detail {

class OwnedTasks {
public:
    OwnedTasks() noexcept : sentinel_(0, nullptr, nullptr) {
        sentinel_.owned_prev = &sentinel_;
        sentinel_.owned_next = &sentinel_;
    }
    OwnedTasks(const OwnedTasks&) = delete;
    OwnedTasks& operator=(const OwnedTasks&) = delete;

    static bool is_linked(const TaskHeader* t) noexcept { return t->owned_next != nullptr; }

    void push_back(TaskHeader* t) noexcept {
        t->owned_prev = sentinel_.owned_prev;
        t->owned_next = &sentinel_;
        sentinel_.owned_prev->owned_next = t;
        sentinel_.owned_prev = t;
        size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    void remove(TaskHeader* t) noexcept {
        t->owned_prev->owned_next = t->owned_next;
        t->owned_next->owned_prev = t->owned_prev;
        t->owned_prev = nullptr;
        t->owned_next = nullptr;
        size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }

    void unlink_if_linked(TaskHeader* t) noexcept {
        if (is_linked(t)) remove(t);
    }

    TaskHeader* front() noexcept { return empty() ? nullptr : sentinel_.owned_next; }
    /// Calls `fn(task)` for each task, oldest first; `fn` must not unlink any.
    template <class Fn>
    void for_each(Fn&& fn) {
        for (TaskHeader* t = sentinel_.owned_next; t != &sentinel_; t = t->owned_next) fn(t);
    }
    /// Any thread may read the size (a snapshot, for metrics).
    std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
    bool empty() const noexcept { return size() == 0; }

private:
    TaskHeader sentinel_;
    Atomic<std::size_t> size_{0};  // one writer at a time (the owner); atomic only for metrics readers
};

}  // namespace corio::detail
