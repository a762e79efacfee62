// The task cell: the one allocation behind every spawned task, a TaskHeader
// (task_header.hpp) followed by the stage: the future while it runs, then
// its output. This header is the task layer's umbrella: the state word
// (task_state.hpp), references (task_ref.hpp), waking (task_waker.hpp) and
// joining (task_join.hpp), plus what times a poll.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "corio/detail/coop.hpp"
#include "corio/detail/describe.hpp"
#include "corio/detail/frame_alloc.hpp"
#include "corio/detail/task_header.hpp"
#include "corio/detail/task_join.hpp"
#include "corio/detail/task_ref.hpp"
#include "corio/detail/task_state.hpp"
#include "corio/detail/task_waker.hpp"
#include "corio/future.hpp"
#include "corio/task/join_error.hpp"

namespace corio::detail {

// ---- poll timing (Builder::enable_metrics_histograms) ---------------------

/// Told about every task poll on a thread that has one (a worker of a
/// runtime built with enable_metrics_histograms): how long it took, and how
/// long the task had waited in a run queue (negative when not stamped).
class PollObserver {
public:
    virtual void polled(std::int64_t took_ns, std::int64_t waited_ns) noexcept = 0;

protected:
    ~PollObserver() = default;
};

inline thread_local PollObserver* poll_observer = nullptr;

/// Nanoseconds on the steady clock.
inline std::int64_t poll_clock_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

/// Records when `t` was queued, for the schedule-latency histogram: a
/// scheduler that measures calls it as it queues a task.
inline void stamp_scheduled(RawTask t) noexcept {
    t->scheduler_note = static_cast<std::uint32_t>(poll_clock_ns() / 1000) | 1;  // never 0: 0 means not stamped
}

/// Brackets one poll of a task under a PollObserver: how long it took (the
/// task's busy time and the observer's histogram) and how long the task had
/// waited in a run queue before it.
class PollTiming {
public:
    PollTiming(TaskHeader& t, PollObserver& observer) noexcept : task_(t), observer_(&observer) {
        start_ns_ = poll_clock_ns();
        if (std::uint32_t queued = std::exchange(task_.scheduler_note, 0); queued != 0) {
            std::uint32_t waited_us = static_cast<std::uint32_t>(start_ns_ / 1000) - queued;  // mod 2^32
            waited_ns_ = std::int64_t{waited_us} * 1000;
        }
    }
    PollTiming(const PollTiming&) = delete;
    PollTiming& operator=(const PollTiming&) = delete;
    ~PollTiming() {
        std::int64_t took = poll_clock_ns() - start_ns_;
        std::uint64_t busy = task_.busy_us.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(took) / 1000;
        task_.busy_us.store(busy > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(busy),
                            std::memory_order_relaxed);
        observer_->polled(took, waited_ns_);
    }

private:
    TaskHeader& task_;
    PollObserver* observer_;
    std::int64_t start_ns_ = 0;
    std::int64_t waited_ns_ = -1;
};

template <Future F>
struct TaskCell final : TaskHeader {
    using Out = output_of<F>;
    enum class Stage : std::uint8_t { Running, Finished, Consumed };

    TaskCell(F&& fut, Scheduler* s, TaskOrigin from) : TaskHeader(kInitialState, &kVTable, s, from) {
        new (&future_) F(std::move(fut));
    }

    static constexpr std::uint64_t kInitialState =
        state::kNotified | state::kJoinInterest | 3 * state::kRefOne;  // owned list, run queue, JoinHandle

    static TaskCell* from(TaskHeader* t) noexcept { return static_cast<TaskCell*>(t); }

    /// Takes ownership of `from` (also when it throws).
    static TaskHeader* allocate(F&& fut, Scheduler* s, TaskOrigin from = TaskOrigin()) {
        void* mem = nullptr;
        try {
            mem = frame_allocate(sizeof(TaskCell));
            return new (mem) TaskCell(std::move(fut), s, from);
        } catch (...) {
            from.destroy();
            if (mem != nullptr) frame_deallocate(mem, sizeof(TaskCell));
            throw;
        }
    }

    static void poll(TaskHeader* t) {
        switch (task_transition_to_running(t)) {
            case RunTransition::Skip:
                task_unref(t);
                return;
            case RunTransition::Cancel:
                cancel_polled(t);
                return;
            case RunTransition::Run:
                run(t);
                return;
        }
    }

    static void poll_yielded(TaskHeader* t) {
        if (t->state.load(std::memory_order_acquire) & state::kCancelled) {
            cancel_polled(t);
            return;
        }
        run(t);
    }

    // The task is RUNNING and the caller holds the run queue's reference.
    static void run(TaskHeader* t) {
        if (from(t)->poll_future()) {
            task_complete_dropping(t, 1);  // the poll's run-queue reference
            return;
        }
        if (current_task_woken) {
            current_task_woken = false;
            increment_single_writer(t->self_wakes);
            t->scheduler->schedule_yielded(Notified::yielded(t));
            return;
        }
        // Still RUNNING: no other thread writes it. (A yield is not idleness,
        // so the yield path above skips the store.)
        t->last_polled_ms.store(task_clock_ms(), std::memory_order_relaxed);
        switch (task_transition_to_idle(t)) {
            case IdleTransition::Idle:
                task_unref(t);
                return;
            case IdleTransition::Notified:
                t->scheduler->schedule(Notified::woken(t));
                return;
            case IdleTransition::Cancel:
                cancel_polled(t);
                return;
        }
    }

    // Polls the future once; true when it finished (the stage now holds the output).
    bool poll_future() {
        if (PollObserver* observer = poll_observer) [[unlikely]]
            return poll_future_timed(*observer);
        return poll_future_once();
    }

    [[gnu::noinline]] bool poll_future_timed(PollObserver& observer) {
        PollTiming timing(*this, observer);
        return poll_future_once();
    }

    [[gnu::always_inline]] bool poll_future_once() {
        BorrowedWaker waker(RawWaker{static_cast<TaskHeader*>(this), &kTaskWakerVTable});
        Context cx(waker.get());
        BudgetScope budget;
        struct CurrentTask {
            explicit CurrentTask(TaskHeader* t) noexcept : saved(current_task.load(std::memory_order_relaxed)) {
                current_task.store(RawTask(t), std::memory_order_relaxed);
            }
            ~CurrentTask() { current_task.store(saved, std::memory_order_relaxed); }
            RawTask saved;
        } current{this};
        current_task_woken = false;
        // Single writers (this thread, this task's poller): no read-modify-write.
        increment_single_writer(poll_count);
        increment_single_writer(polls);
        try {
            Poll<Out> result = future_.poll(cx);
            if (result.is_pending()) return false;
            destroy_future();
            if constexpr (std::is_void_v<Out>) {
                new (&outcome_) TaskOutcome<Out>(std::in_place_index<0>);
            } else {
                new (&outcome_) TaskOutcome<Out>(std::in_place_index<0>, std::move(result).take());
            }
        } catch (...) {
            if (stage_ == Stage::Running) destroy_future();
            new (&outcome_) TaskOutcome<Out>(std::in_place_index<1>, std::current_exception());
        }
        stage_ = Stage::Finished;
        return true;
    }

    // The poll found the task cancelled: drop the future and complete,
    // giving up the poll's run-queue reference. Out of line: it is rare.
    [[gnu::noinline]] static void cancel_polled(TaskHeader* t) {
        cancel(t);
        task_complete_dropping(t, 1);
    }

    static void cancel(TaskHeader* t) {
        TaskCell* cell = from(t);
        cell->destroy_future();
        std::exception_ptr error;
        try {
            error = std::make_exception_ptr(JoinError());
        } catch (...) {
            error = std::current_exception();  // bad_alloc
        }
        new (&cell->outcome_) TaskOutcome<Out>(std::in_place_index<1>, std::move(error));
        cell->stage_ = Stage::Finished;
    }

    static void take_output(TaskHeader* t, void* out) {
        TaskCell* cell = from(t);
        static_cast<std::optional<TaskOutcome<Out>>*>(out)->emplace(std::move(cell->outcome_));
        cell->outcome_.~TaskOutcome<Out>();
        cell->stage_ = Stage::Consumed;
    }

    static void drop_output(TaskHeader* t) noexcept {
        TaskCell* cell = from(t);
        if (cell->stage_ == Stage::Finished) {
            cell->outcome_.~TaskOutcome<Out>();
            cell->stage_ = Stage::Consumed;
        }
    }

    static void dealloc(TaskHeader* t) noexcept {
        TaskCell* cell = from(t);
        Scheduler* s = t->scheduler;
        if (cell->stage_ == Stage::Running) cell->destroy_future();
        drop_output(t);
        cell->origin.destroy();
        cell->~TaskCell();
        frame_deallocate(cell, sizeof(TaskCell));
        s->unref();
    }

    void destroy_future() noexcept {
        stage_ = Stage::Consumed;  // first: a destructor that wakes this task must find no future
        future_.~F();
    }

    ~TaskCell() {}

    static void describe(const TaskHeader* t, ChainBuffer& out) noexcept {
        const TaskCell* cell = static_cast<const TaskCell*>(t);
        if (cell->stage_ != Stage::Running) return;
        describe_chain_of(cell->future_, out);
    }

    static constexpr TaskVTable kVTable{&poll, &poll_yielded, &cancel, &take_output, &drop_output, &dealloc, &describe};

    Stage stage_ = Stage::Running;
    union {
        F future_;
        TaskOutcome<Out> outcome_;
    };
};

}  // namespace corio::detail
