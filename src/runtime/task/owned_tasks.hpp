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

    static bool is_linked(RawTask t) noexcept { return t->ListHook<OwnedListTag>::is_linked(); }

    /// Links the task; the list holds its reference until the task is unlinked.
    void push_back(OwnedTask t) noexcept {
        list_.push_back(*std::move(t).into_raw());
        size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    /// Unlinks a linked task and returns the list's reference to it.
    OwnedTask remove(RawTask t) noexcept {
        List::remove(*t);
        size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        return OwnedTask::adopt(t.get());
    }

    /// The list's reference to `t`, unlinking it; empty when `t` is not linked.
    OwnedTask unlink_if_linked(RawTask t) noexcept { return is_linked(t) ? remove(t) : OwnedTask(); }

    RawTask front() noexcept { return RawTask(list_.front()); }
    /// Calls fn(task) for each task (a RawTask), oldest first; fn must not unlink it.
    template <class Fn>
    void for_each(Fn&& fn) {
        list_.for_each([&](TaskHeader& t) { fn(RawTask(&t)); });
    }
    std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
    bool empty() const noexcept { return list_.empty(); }

private:
    using List = IntrusiveList<TaskHeader, OwnedListTag>;
    List list_;
    Atomic<std::size_t> size_{0};  // one writer at a time (the owner); atomic only for metrics readers
};

}  // namespace corio::detail
