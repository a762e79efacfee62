// Reading a task's recorded state for Handle::dump() and stall reports.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "corio/detail/describe.hpp"
#include "corio/detail/task_cell.hpp"
#include "corio/diag.hpp"

namespace corio::detail {

/// The worker polling `t` in `polling` (Monitor::polling()), if any.
std::optional<std::size_t> worker_of(const TaskHeader* t, const std::vector<const TaskHeader*>& polling);

/// Reads `t` into `info`. A task that is neither running nor finished is
/// claimed for the moment of reading its await chain (it looks RUNNING to
/// a worker that pops it meanwhile; a wake that comes meanwhile re-queues
/// it afterwards), so its frames cannot change under the reader.
/// `polling_worker` says which worker polls `t` right now, if any.
void read_task(TaskHeader* t, diag::TaskInfo& info, ChainBuffer& scratch, std::optional<std::size_t> polling_worker);

/// The identity and counters of `t` (not its state or chain).
void read_identity(const TaskHeader* t, diag::TaskInfo& info, std::uint32_t now_ms);

/// Appends `chain` to `info.awaiting`.
void append_chain(const ChainBuffer& chain, diag::TaskInfo& info);

/// Sorts by id.
void finish_dump(diag::Dump& dump);

}  // namespace corio::detail
