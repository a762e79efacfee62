// The list of every live task a scheduler owns, so shutdown can find and
// destroy them all.
//
// An IntrusiveList through each task's ListHook<OwnedListTag>: a task is
// linked from spawn until it completes (a task spawned from a foreign thread
// is linked when the runtime thread first takes it). Not synchronised: the
// owner serialises access (size() excepted).
#pragma once

#include <atomic>
#include <cstddef>

#include "corio/detail/intrusive_list.hpp"
#include "corio/detail/sync.hpp"
#include "corio/detail/task_cell.hpp"

namespace corio::detail {

class OwnedTasks {
public:
    OwnedTasks() noexcept = default;
    OwnedTasks(const OwnedTasks&) = delete;
    OwnedTasks& operator=(const OwnedTasks&) = delete;

    static bool is_linked(const TaskHeader* t) noexcept { return t->ListHook<OwnedListTag>::is_linked(); }

    void push_back(TaskHeader* t) noexcept {
        list_.push_back(*t);
        size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    void remove(TaskHeader* t) noexcept {
        List::remove(*t);
        size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }

    void unlink_if_linked(TaskHeader* t) noexcept {
        if (is_linked(t)) remove(t);
    }

    TaskHeader* front() noexcept { return list_.front(); }
    /// Calls fn(task) for each task, oldest first; fn may unlink that task.
    template <class Fn>
    void for_each(Fn&& fn) {
        list_.for_each([&](TaskHeader& t) { fn(&t); });
    }
    std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
    bool empty() const noexcept { return list_.empty(); }

private:
    using List = IntrusiveList<TaskHeader, OwnedListTag>;
    List list_;
    Atomic<std::size_t> size_{0};  // one writer at a time (the owner); atomic only for metrics readers
};

}  // namespace corio::detail
