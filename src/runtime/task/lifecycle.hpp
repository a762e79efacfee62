// How a scheduler gives up the tasks it still owns at shutdown.
//
// This is the task layer under every scheduler and the blocking pool; it
// includes no scheduler header. The references a scheduler holds are typed
// (corio/detail/task_ref.hpp): a run queue's entries are Notified, which
// discard themselves when dropped; what is left is the owned list.
#pragma once

#include "corio/detail/task_cell.hpp"

namespace corio::detail {

/// Shutdown of a scheduler's owned list (an OwnedTasks, or the sharded
/// OwnedShards of the multi-thread scheduler): cancels every task still in
/// it, or, for one that is already finishing on its own, unlinks it and drops
/// the list's reference. Cancelling runs destructors that may wake or spawn
/// tasks; the caller has closed its queues first so those find them closed.
template <class Owned>
void cancel_owned(Owned& owned) noexcept {
    while (RawTask task = owned.front()) {
        if (task_transition_to_shutdown(task.get())) {
            task->vtable->cancel(task.get());
            task_complete(task, Notified());  // unlinks it and drops the owned list's reference
        } else {
            owned.unlink_if_linked(task);  // the returned reference drops here
        }
    }
}

}  // namespace corio::detail
