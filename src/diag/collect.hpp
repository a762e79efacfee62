// Reading a task's recorded state for Handle::dump() and stall reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "corio/detail/describe.hpp"
#include "corio/detail/task_cell.hpp"
#include "corio/diag.hpp"

namespace corio::detail {

/// The worker polling `t` in `polling` (Monitor::polling()), if any.
std::optional<std::size_t> worker_of(RawTask t, const std::vector<RawTask>& polling);

/// Reads `t` into `info`. A task that is neither running nor finished is
/// claimed for the moment of reading its await chain (it looks RUNNING to
/// a worker that pops it meanwhile; a wake that comes meanwhile re-queues
/// it afterwards), so its frames cannot change under the reader.
/// `polling_worker` says which worker polls `t` right now, if any.
void read_task(RawTask t, diag::TaskInfo& info, ChainBuffer& scratch, std::optional<std::size_t> polling_worker);

/// The identity and counters of `t` (not its state or chain); `busy` only
/// when `busy_measured`.
void read_identity(RawTask t, diag::TaskInfo& info, std::uint32_t now_ms, bool busy_measured);

/// Sets `info.state`, and what follows from it (wakes, idle_for).
void set_state(diag::TaskInfo& info, diag::TaskState state);

/// Appends `chain` to `info.awaiting`.
void append_chain(const ChainBuffer& chain, diag::TaskInfo& info);

/// Appends every task of `owned` (OwnedTasks or OwnedShards, about `count`
/// of them) to `dump`; `polling` is what each worker polls now, and
/// `busy_measured` whether the runtime times polls.
template <class Owned>
void read_owned_tasks(Owned& owned, std::size_t count, const std::vector<RawTask>& polling, bool busy_measured,
                      diag::Dump& dump) {
    dump.tasks.reserve(dump.tasks.size() + count + 16);
    auto scratch = std::make_unique<ChainBuffer>();
    scratch->now_ms = coarse_clock_ms();
    scratch->busy_measured = busy_measured;
    owned.for_each([&](RawTask t) {
        dump.tasks.emplace_back();
        read_task(t, dump.tasks.back(), *scratch, worker_of(t, polling));
    });
}

class RuntimeCore;

/// Appends the tasks of every LocalSet that `runtime` made or last drove
/// (defined with the LocalSet scheduler).
void dump_local_sets(const RuntimeCore* runtime, diag::Dump& dump);

/// Sorts by id.
void finish_dump(diag::Dump& dump);

}  // namespace corio::detail
