// The queues of a scheduler whose tasks are polled on one thread at a time:
// the current_thread runtime and LocalSet share them.
//
// The driving thread owns `local` and `owned`; other threads reach the
// scheduler only through `remote` (a mutex), which the driver drains into
// `local`, linking remote spawns into `owned` as it takes them. What differs
// between the two schedulers is who drives (the runtime thread in block_on,
// or whichever future drives the set) and how a remote push gets the
// driver's attention (unparking the I/O driver, or waking the driving
// future): each passes those in.
#pragma once

#include <cstdint>

#include "corio/detail/task_cell.hpp"
#include "runtime/scheduler/local_queue.hpp"
#include "runtime/scheduler/remote_queue.hpp"
#include "runtime/task/lifecycle.hpp"
#include "runtime/task/owned_tasks.hpp"

namespace corio::detail {

class SingleThreadCore {
public:
    /// Queues a woken task: locally on the driving thread, else through
    /// `push_remote(entry)`, which drops the entry (so drops the queue's
    /// reference) once the scheduler shut down.
    template <class PushRemote>
    void schedule(Notified&& task, bool on_driver_thread, PushRemote&& push_remote) {
        if (on_driver_thread) {
            local.push_back(std::move(task));
            return;
        }
        push_remote(NewTask(std::move(task)));
    }

    /// Re-queues the task being polled, which woke itself (the driving thread).
    void schedule_yielded(Notified&& task) { local.push_back(std::move(task)); }

    /// Takes a new task: linked and queued on the driving thread, else sent
    /// through `push_remote`. Refused after shutdown: dropping `task` cancels it.
    template <class PushRemote>
    void spawn(NewTask&& task, bool on_driver_thread, PushRemote&& push_remote) {
        if (on_driver_thread) {
            if (shut_down) return;
            owned.push_back(std::move(task.owned));
            local.push_back(std::move(task.notified));
            return;
        }
        push_remote(std::move(task));
    }

    /// A task completed: unlinks it (only the driver links or completes
    /// tasks) and returns the list's reference.
    OwnedTask release(RawTask task) noexcept { return owned.unlink_if_linked(task); }

    /// The next task to poll, or an empty entry. Every `remote_first_interval`
    /// calls the remote queue goes first, so remote wakes do not starve
    /// behind local ones (a countdown: a division per poll showed in profiles).
    Notified next_task(std::uint32_t remote_first_interval) {
        if (--until_remote_first_ == 0) {
            until_remote_first_ = remote_first_interval;
            remote.take_into(owned, local);
        }
        if (Notified entry = local.pop_front()) return entry;
        if (remote.take_into(owned, local)) return local.pop_front();
        return Notified();
    }

    /// At shutdown, on the driving thread, after `remote` was closed: cancels
    /// every task. Yielded tasks in the local queue are RUNNING, so they are
    /// cancelled while draining, before cancel_owned; cancelling can wake or
    /// spawn further tasks, so it repeats until nothing is left.
    void cancel_all() noexcept {
        do {
            drain_queues();
            cancel_owned(owned);
        } while (drain_queues() || !owned.empty());
    }

    LocalQueue local;    // the driving thread's
    OwnedTasks owned;    // the driving thread's (size() from anywhere)
    RemoteQueue remote;  // wakes and spawns from other threads
    bool shut_down = false;

private:
    // Drops the queues' references; cancels remote spawns never linked. True when any.
    bool drain_queues() noexcept {
        bool any = false;
        while (Notified entry = local.pop_front()) {
            entry.reset();
            any = true;
        }
        return remote.discard_all() || any;
    }

    std::uint32_t until_remote_first_ = 1;
};

}  // namespace corio::detail
