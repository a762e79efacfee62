// RuntimeMetrics: a snapshot of a runtime's counters, as Handle::metrics()
// returns it (Tokio's runtime::RuntimeMetrics). <corio/runtime.hpp> includes
// this header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace corio {

/// One worker's counters (a current_thread runtime has one worker).
struct WorkerMetrics {
    std::uint64_t polls = 0;            ///< task polls run
    std::uint64_t steals = 0;           ///< successful steals from other workers
    std::uint64_t parks = 0;            ///< times the worker went to sleep
    std::size_t local_queue_depth = 0;  ///< tasks in its run queue now
};

/// A snapshot of a runtime's counters (Handle::metrics()).
struct RuntimeMetrics {
    std::size_t num_workers = 0;
    std::size_t alive_tasks = 0;             ///< spawned and not yet finished
    std::size_t inject_queue_depth = 0;      ///< tasks waiting in the global/remote queue
    std::uint64_t remote_schedules = 0;      ///< spawns and wakes that came from outside the workers
    std::uint64_t budget_forced_yields = 0;  ///< polls cut short by the cooperative budget
    std::vector<WorkerMetrics> workers;
};

}  // namespace corio
