// The list of every live task a scheduler owns, so shutdown can find and
// destroy them all.
//
// Intrusive and circular around a sentinel: a linked task has non-null
// owned_prev/owned_next; owned_next == nullptr means "not linked" (a task
// spawned from a foreign thread is linked when the runtime thread first
// takes it). Not synchronised: the owner serialises access.
#pragma once

#include <cstddef>

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
        ++size_;
    }

    void remove(TaskHeader* t) noexcept {
        t->owned_prev->owned_next = t->owned_next;
        t->owned_next->owned_prev = t->owned_prev;
        t->owned_prev = nullptr;
        t->owned_next = nullptr;
        --size_;
    }

    TaskHeader* front() noexcept { return size_ == 0 ? nullptr : sentinel_.owned_next; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

private:
    TaskHeader sentinel_;
    std::size_t size_ = 0;
};

}  // namespace corio::detail
