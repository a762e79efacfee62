// JoinHandle and AbortHandle: what spawning a task returns (Tokio's
// task::JoinHandle and task::AbortHandle). <corio/runtime.hpp> includes this
// header.
#pragma once

#include <atomic>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include "corio/detail/coop.hpp"
#include "corio/detail/task_cell.hpp"
#include "corio/future.hpp"
#include "corio/task/id.hpp"
#include "corio/task/join_error.hpp"

namespace corio {

class AbortHandle;

/// Owned permission to join a spawned task: a Future of the task's output.
///
/// Awaiting it yields the task's value, rethrows the exception the task
/// ended with, or throws JoinError when the task was aborted or dropped by a
/// shutting-down runtime. Destroying the handle detaches the task, which
/// runs on. Awaiting is cancellation-safe: dropping the await loses nothing,
/// a later await still gets the output. Awaiting after the output was taken
/// throws std::logic_error.
///
/// Not [[nodiscard]]: `corio::spawn(work());` on its own line is the way to
/// start a task that nobody joins, exactly as dropping Tokio's JoinHandle.
template <class T>
class JoinHandle {
public:
    using Output = T;

    JoinHandle() noexcept = default;
    explicit JoinHandle(detail::TaskHeader* task) noexcept : task_(task) {}
    JoinHandle(JoinHandle&& other) noexcept : task_(std::exchange(other.task_, nullptr)) {}
    JoinHandle& operator=(JoinHandle&& other) noexcept {
        if (this != &other) {
            reset();
            task_ = std::exchange(other.task_, nullptr);
        }
        return *this;
    }
    JoinHandle(const JoinHandle&) = delete;
    JoinHandle& operator=(const JoinHandle&) = delete;
    ~JoinHandle() { reset(); }

    Poll<T> poll(Context& cx) {
        if (task_ == nullptr) throw std::logic_error("corio: JoinHandle awaited after it returned (or moved from)");
        if (!detail::poll_proceed(cx)) return Pending;
        if (!detail::task_poll_join(task_, cx.waker())) return Pending;
        std::optional<detail::TaskOutcome<T>> outcome;
        task_->vtable->take_output(task_, &outcome);
        reset();
        if (outcome->index() == 1) std::rethrow_exception(std::get<1>(std::move(*outcome)));
        if constexpr (std::is_void_v<T>) {
            return Ready();
        } else {
            return Ready(std::get<0>(std::move(*outcome)));
        }
    }

    /// Cancels the task: it is destroyed at its next scheduling point (or
    /// now, if it is idle), and awaiting this handle throws JoinError. No
    /// effect on a finished task.
    void abort() const {
        if (task_ != nullptr) detail::task_abort(detail::RawTask(task_));
    }

    /// True once the task has finished (completed, failed or cancelled).
    bool is_finished() const noexcept {
        return task_ == nullptr || (task_->state.load(std::memory_order_acquire) & detail::state::kComplete) != 0;
    }

    /// A handle that can abort the task without owning its output.
    AbortHandle abort_handle() const;

    /// For task dumps: "JoinHandle (task 42)".
    void describe(detail::DescribeSink& out) const noexcept {
        out << "JoinHandle";
        if (task_ != nullptr) out << " (task " << task_->id << ")";
    }

    /// The task's id. Throws std::logic_error on an empty handle.
    task::Id id() const {
        if (task_ == nullptr) throw std::logic_error("corio: JoinHandle::id() on an empty handle");
        return task::Id(task_->id);
    }

    /// False for a default-constructed or moved-from handle, or after the output was taken.
    bool valid() const noexcept { return task_ != nullptr; }

    /// Gives up the task without detaching it: the caller now owns the join
    /// reference (JoinSet adopts tasks this way). Null for an empty handle.
    detail::TaskHeader* into_raw() && noexcept { return std::exchange(task_, nullptr); }

private:
    void reset() noexcept {
        if (task_ != nullptr) detail::task_drop_join_handle(std::exchange(task_, nullptr));
    }

    detail::TaskHeader* task_ = nullptr;
};

/// Aborts a task from anywhere without owning its output. Copyable.
class AbortHandle {
public:
    explicit AbortHandle(detail::RawTask task) noexcept : task_(task) {}

    /// Same as JoinHandle::abort().
    void abort() const {
        if (task_) detail::task_abort(task_.task());
    }
    bool is_finished() const noexcept {
        return !task_ || (task_.task()->state.load(std::memory_order_acquire) & detail::state::kComplete) != 0;
    }
    /// The task's id. Throws std::logic_error on a moved-from handle.
    task::Id id() const {
        if (!task_) throw std::logic_error("corio: AbortHandle::id() on a moved-from handle");
        return task::Id(task_.task()->id);
    }

private:
    detail::TaskRef task_;  // keeps the cell, not the output
};

namespace detail {

/// Spawns `fut` onto `scheduler`: allocates its cell and hands the scheduler
/// the new task; the JoinHandle holds the cell's third reference. (If spawn
/// throws, its NewTask cancels the task as it unwinds and the handle lets go.)
template <class F>
JoinHandle<output_of<F>> spawn_task(F&& fut, Scheduler& scheduler, TaskOrigin origin) {
    TaskHeader* task = TaskCell<F>::allocate(std::forward<F>(fut), &scheduler, origin);
    scheduler.ref();  // the task's reference, dropped when the cell is freed
    JoinHandle<output_of<F>> handle(task);
    scheduler.spawn(NewTask(task));
    return handle;
}

}  // namespace detail

template <class T>
AbortHandle JoinHandle<T>::abort_handle() const {
    return AbortHandle(detail::RawTask(task_));
}

}  // namespace corio
