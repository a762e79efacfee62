// Diagnostics: what every task is waiting for (Handle::dump) and which task
// holds a worker (the stall detector, Builder::stall_threshold / on_stall).
//
// Both read state the runtime records as it goes: a task's id, name and
// spawn site, its poll count and times, and, for a suspended Task, the
// co_await each of its frames is suspended at. A dump never re-polls a task
// and never waits for one that is running.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <source_location>
#include <string>
#include <vector>

#include "corio/runtime/metrics.hpp"
#include "corio/task/id.hpp"

namespace corio::diag {

enum class TaskState {
    Idle,       // suspended, waiting to be woken
    Scheduled,  // woken, waiting in a run queue
    Running,    // being polled now
    Done,       // finished; its output not yet taken by its JoinHandle
};

/// "Idle", "Scheduled", "Running" or "Done".
const char* to_string(TaskState state) noexcept;

/// One frame of a task's await chain.
struct AwaitPoint {
    std::source_location where;  // the co_await expression (empty for a root that is not a Task)
    std::string what;            // at the leaf: what it waits for ("time::sleep (12 ms left)");
                                 // empty for a frame awaiting a child Task
};

struct TaskInfo {
    task::Id id{0};
    std::string name;  // empty unless spawned with task::Builder::name
    std::source_location spawned_at;
    TaskState state = TaskState::Idle;
    std::optional<std::size_t> worker;  // the worker polling it, while Running
    bool blocking = false;              // a task::spawn_blocking closure (on the blocking pool)
    bool local = false;                 // a LocalSet's task (polled by whoever drives the set)
    /// Root Task's co_await first, leaf last. Empty while Running (its frames
    /// are changing), while Scheduled (a worker may start polling it while
    /// the dump reads), for a Task never polled, and for a finished task.
    std::vector<AwaitPoint> awaiting;
    std::size_t awaiting_skipped = 0;  // frames left out of a very deep chain
    std::chrono::seconds age{0};       // since spawn, in whole seconds
    /// For an Idle task, since its last poll ended (since spawn if never
    /// polled); zero in the other states.
    std::chrono::milliseconds idle_for{0};
    std::uint64_t polls = 0;
    /// Wake-ups that led to a poll (every poll but the first follows one,
    /// and a Scheduled task has one pending); a wake of a task already
    /// queued is folded into that one, as the scheduler folds it.
    std::uint64_t wakes = 0;
    std::uint64_t self_wakes = 0;  // of those, the task's own while polled (yield_now, the budget)
    /// Total time in poll; only when the runtime times polls
    /// (Builder::enable_metrics_histograms), else empty.
    std::optional<std::chrono::microseconds> busy;
};

struct Dump {
    std::vector<TaskInfo> tasks;  // by id
    /// Tasks the dump could not read, with why (e.g. a current_thread
    /// runtime whose thread is stuck in a poll); empty normally.
    std::string incomplete;

    /// A readable tree per task.
    std::string to_string() const;
    /// {"tasks":[{"id":..,"name":..,...,"awaiting":[{"file":..,"line":..,"function":..,"what":..}]}]}
    std::string to_json() const;
};

/// A poll that has run past Builder::stall_threshold, reported while it is
/// still running.
struct StallReport {
    TaskInfo task;  // state Running; `awaiting` when the poll is stuck inside a
                    // leaf future polled again after a wake, else empty
    std::size_t worker = 0;
    std::chrono::nanoseconds in_poll{0};
    bool on_cpu = false;                 // false: blocked in the kernel (from /proc)
    std::vector<std::string> backtrace;  // the worker thread's frames, innermost first

    /// The lines the default handler writes to stderr.
    std::string to_string() const;
};

/// `metrics` in Prometheus' text exposition format (version 0.0.4): gauges
/// and counters named corio_*, one series per worker labelled worker="i",
/// and corio_worker_poll_duration_seconds as a histogram when recorded.
std::string prometheus_text(const RuntimeMetrics& metrics);

}  // namespace corio::diag
