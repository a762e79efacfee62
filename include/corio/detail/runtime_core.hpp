// The interface between the public Runtime/Handle templates and the
// schedulers compiled in src/, plus the thread-local "current runtime".
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "corio/detail/sync.hpp"
#include "corio/detail/task_cell.hpp"
#include "corio/diag.hpp"
#include "corio/runtime/io_backend.hpp"
#include "corio/runtime/metrics.hpp"

namespace corio::detail {

class TimeDriver;
class IoDriver;
class BlockingPool;

/// A scheduler together with its drivers (timers, later I/O).
class RuntimeCore : public Scheduler {
public:
    /// Polls the root future (`poll_root(ctx, cx)` returns true when it is done),
    /// running tasks and drivers until it is. Throws std::logic_error when
    /// called from inside a runtime or after shutdown.
    virtual void block_on(bool (*poll_root)(void* ctx, Context& cx), void* ctx) = 0;
    /// Cancels (destroys) every task, waits up to `timeout` for blocking work,
    /// then stops the drivers. Idempotent.
    virtual void shutdown(std::chrono::nanoseconds timeout) noexcept = 0;
    virtual TimeDriver& time_driver() noexcept = 0;
    virtual IoDriver& io_driver() noexcept = 0;
    /// The backend io_driver() uses (never Auto).
    virtual IoBackend io_backend() const noexcept = 0;
    virtual RuntimeMetrics metrics() const = 0;
    /// Every task's recorded state (Handle::dump); any thread.
    virtual diag::Dump dump() = 0;
    /// The pool that runs this runtime's spawn_blocking closures; null for a
    /// scheduler that has none (spawn_blocking then throws std::logic_error).
    virtual BlockingPool* blocking_pool() noexcept { return nullptr; }

    /// Counts a poll cut short by the cooperative budget (rare path).
    void note_forced_yield() noexcept { forced_yields_.fetch_add(1, std::memory_order_relaxed); }

protected:
    ~RuntimeCore() = default;

    // Counters only: relaxed is enough.
    Atomic<std::uint64_t> forced_yields_{0};
};

/// The runtime whose task or block_on is running on this thread, if any.
inline thread_local RuntimeCore* current_runtime = nullptr;

/// current_runtime, or throws std::logic_error naming `what` needed one.
RuntimeCore& current_runtime_or_throw(const char* what);

}  // namespace corio::detail
