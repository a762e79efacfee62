// The task cell: the one allocation behind every spawned task.
//
// A cell is a TaskHeader (atomic state word, vtable, owning scheduler, owned-
// list links, join waker) followed by the stage: the future while it runs,
// then its output. The state word packs flags and a reference count:
//
//   RUNNING        a thread is polling (or cancelling) the future
//   COMPLETE       the stage holds the output (or it was consumed/dropped)
//   NOTIFIED       woken: the task is in a run queue, or will be re-queued by
//                  the thread that is polling it (when RUNNING)
//   JOIN_INTEREST  a JoinHandle exists and owns the output once COMPLETE
//   JOIN_WAKER     join_waker holds the JoinHandle's waker; while set (and
//                  not COMPLETE) only the task side may read it
//   CANCELLED      abort() was called or the runtime is shutting down
//   refcount       one reference each for: the owned list, the JoinHandle,
//                  the run queue (while NOTIFIED and idle), every Waker
//
// The cell is freed when the count reaches zero.
//
// The header also carries what diagnostics read (corio/diag.hpp): the task's
// id, where it was spawned (and its name, if it has one), its poll count and
// when it was spawned. They cost 16 bytes; the last two sit in what was
// padding before the stage.
#pragma once

#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "corio/detail/coop.hpp"
#include "corio/detail/describe.hpp"
#include "corio/detail/frame_alloc.hpp"
#include "corio/detail/intrusive_list.hpp"
#include "corio/detail/sync.hpp"
#include "corio/future.hpp"
#include "corio/task/join_error.hpp"

namespace corio::detail {

struct TaskHeader;

namespace state {
inline constexpr std::uint64_t kRunning = 1u << 0;
inline constexpr std::uint64_t kComplete = 1u << 1;
inline constexpr std::uint64_t kNotified = 1u << 2;
inline constexpr std::uint64_t kJoinInterest = 1u << 3;
inline constexpr std::uint64_t kJoinWaker = 1u << 4;
inline constexpr std::uint64_t kCancelled = 1u << 5;
inline constexpr std::uint64_t kRefOne = 1u << 6;
inline constexpr std::uint64_t kFlagMask = kRefOne - 1;
}  // namespace state

/// What a task needs from the scheduler that owns it.
class Scheduler {
public:
    /// Queues a task that was just woken (state NOTIFIED, carrying a queue reference).
    virtual void schedule(TaskHeader* task) = 0;
    /// Re-queues the task running on this thread, which woke itself while it
    /// was polled (yield_now, budget, a self-waking future): it stays RUNNING
    /// and is polled again with TaskVTable::poll_yielded, so a yield costs no
    /// atomic operation.
    virtual void schedule_yielded(TaskHeader* task) = 0;
    /// Takes a newly spawned task (NOTIFIED, references for owned list, queue and JoinHandle).
    virtual void spawn(TaskHeader* task) = 0;
    /// The task completed: unlink it from the owned list if linked. The
    /// caller drops the owned list's reference.
    virtual void release(TaskHeader* task) noexcept = 0;
    /// Keeps the scheduler alive while a task, waker or handle refers to it.
    virtual void ref() noexcept = 0;
    virtual void unref() noexcept = 0;

protected:
    ~Scheduler() = default;
};

// ---- identity ------------------------------------------------------------------

/// A named task's origin: its name and spawn site, on the heap.
struct TaskName {
    std::string name;
    std::source_location where;
};

static_assert(sizeof(std::source_location) == sizeof(std::uintptr_t));

/// Where a task comes from, in one word: a std::source_location's bits, or
/// (low bit set) a TaskName the cell owns.
class TaskOrigin {
public:
    TaskOrigin() noexcept = default;
    explicit TaskOrigin(std::source_location where) noexcept : bits_(std::bit_cast<std::uintptr_t>(where)) {}
    TaskOrigin(std::string name, std::source_location where)
        : bits_(reinterpret_cast<std::uintptr_t>(new TaskName{std::move(name), where}) | 1) {}

    std::source_location where() const noexcept {
        if (const TaskName* n = named()) return n->where;
        return std::bit_cast<std::source_location>(bits_);
    }
    /// The name, or null for an unnamed task.
    const std::string* name() const noexcept { return named() != nullptr ? &named()->name : nullptr; }
    void destroy() noexcept {
        delete named();
        bits_ = 0;
    }

private:
    const TaskName* named() const noexcept {
        return (bits_ & 1) != 0 ? reinterpret_cast<const TaskName*>(bits_ & ~std::uintptr_t{1}) : nullptr;
    }
    std::uintptr_t bits_ = 0;
};

/// Task ids: each thread takes blocks of ids from one counter, so spawning
/// on several threads shares no cache line per spawn.
inline Atomic<std::uint64_t> next_task_id_block{1};
inline std::uint64_t next_task_id() noexcept {
    constexpr std::uint64_t kBlock = 1024;
    thread_local std::uint64_t next = 0;
    thread_local std::uint64_t end = 0;
    if (next == end) {
        next = next_task_id_block.fetch_add(kBlock, std::memory_order_relaxed);
        end = next + kBlock;
    }
    return next++;
}

/// Milliseconds on CLOCK_MONOTONIC_COARSE (wraps after 49 days; task ages
/// and idle times are differences). A scheduler thread reads a copy it
/// refreshes every scheduler tick, so a poll reads no clock.
std::uint32_t coarse_clock_ms() noexcept;
inline thread_local std::uint32_t worker_clock_ms = 0;
inline thread_local bool worker_clock_live = false;
inline std::uint32_t task_clock_ms() noexcept { return worker_clock_live ? worker_clock_ms : coarse_clock_ms(); }
inline void refresh_worker_clock() noexcept {
    worker_clock_ms = coarse_clock_ms();
    worker_clock_live = true;
}

struct TaskVTable {
    void (*poll)(TaskHeader*);                    // run once; the caller gave up its queue reference
    void (*poll_yielded)(TaskHeader*);            // run a task re-queued by schedule_yielded (still RUNNING)
    void (*cancel)(TaskHeader*);                  // drop the future as cancelled; caller set RUNNING
    void (*take_output)(TaskHeader*, void* out);  // emplace the output into *out (std::optional<TaskOutcome<T>>)
    void (*drop_output)(TaskHeader*) noexcept;
    void (*dealloc)(TaskHeader*) noexcept;
    /// Writes the await chain; only while the caller keeps the task from being polled.
    void (*describe)(const TaskHeader*, ChainBuffer& out) noexcept;
};

/// The tag of a task's links in its scheduler's owned list.
struct OwnedListTag {};

struct TaskHeader : ListHook<OwnedListTag> {
    corio::detail::Atomic<std::uint64_t> state;
    const TaskVTable* vtable;
    Scheduler* scheduler;
    Waker join_waker;
    std::uint64_t id = 0;  // task::Id
    TaskOrigin origin;
    // Written only by the poller (relaxed, no read-modify-write); atomic for dump readers.
    Atomic<std::uint32_t> polls{0};
    Atomic<std::uint32_t> self_wakes{0};      // polls that ended with the task waking itself (yields)
    Atomic<std::uint32_t> last_polled_ms{0};  // task_clock_ms() when it last went idle (or at spawn)
    Atomic<std::uint32_t> busy_us{0};         // time in poll, saturating; measured only under a PollObserver
    // The scheduler's own word: where schedule latency is measured, when the
    // task was last queued (stamp_scheduled; 0 if not stamped); a simulation,
    // which never measures it, keeps the task's host tag there instead.
    std::uint32_t scheduler_note = 0;
    // Last, so that a cell's first member (a one-byte stage) fills the byte
    // after it and a Task's cell stays at 112 bytes (seven 16-byte granules).
    std::uint8_t spawned_s[3] = {};  // task_clock_ms() / 1000 at spawn, 24 bits (wraps after 194 days)

    TaskHeader(std::uint64_t initial, const TaskVTable* vt, Scheduler* s, TaskOrigin from) noexcept
        : state(initial), vtable(vt), scheduler(s), id(next_task_id()), origin(from) {
        std::uint32_t now_ms = task_clock_ms();
        last_polled_ms.store(now_ms, std::memory_order_relaxed);
        std::uint32_t now_s = now_ms / 1000;
        spawned_s[0] = static_cast<std::uint8_t>(now_s);
        spawned_s[1] = static_cast<std::uint8_t>(now_s >> 8);
        spawned_s[2] = static_cast<std::uint8_t>(now_s >> 16);
    }

    /// Seconds since spawn (mod 2^24), given task_clock_ms() now.
    std::uint32_t age_s(std::uint32_t now_ms) const noexcept {
        std::uint32_t spawned = spawned_s[0] | (std::uint32_t{spawned_s[1]} << 8) | (std::uint32_t{spawned_s[2]} << 16);
        return (now_ms / 1000 - spawned) & 0xffffff;
    }
};

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
inline void stamp_scheduled(TaskHeader* t) noexcept {
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

// ---- reference counting ----------------------------------------------------

inline void task_ref(TaskHeader* t) noexcept {
    // relaxed: a new reference is made from an existing one, which already
    // orders everything before it (as shared_ptr's copy).
    t->state.fetch_add(state::kRefOne, std::memory_order_relaxed);
}

inline void task_unref(TaskHeader* t, std::uint64_t count = 1) noexcept {
    // acq_rel: the last owner must see every other owner's writes before freeing.
    std::uint64_t prev = t->state.fetch_sub(count * state::kRefOne, std::memory_order_acq_rel);
    if ((prev >> 6) == count) t->vtable->dealloc(t);
}

// ---- waking ----------------------------------------------------------------

/// The task being polled on this thread, and whether it woke itself meanwhile.
/// A self-wake needs no atomic: the poller re-queues the task afterwards.
/// `current_task` is atomic (relaxed: a plain load or store) so the stall
/// monitor can read another thread's; `poll_count` counts polls on this thread.
inline thread_local Atomic<TaskHeader*> current_task{nullptr};
inline thread_local bool current_task_woken = false;
inline thread_local Atomic<std::uint64_t> poll_count{0};

inline bool is_current_task(const TaskHeader* t) noexcept { return t == current_task.load(std::memory_order_relaxed); }

/// Marks the task NOTIFIED; queues it (with a new reference) if it was idle.
inline void task_wake_by_ref(TaskHeader* t) {
    if (is_current_task(t)) {
        current_task_woken = true;
        return;
    }
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & (state::kComplete | state::kNotified)) return;
        std::uint64_t next = cur | state::kNotified;
        bool idle = !(cur & state::kRunning);
        if (idle) next += state::kRefOne;  // the run queue's reference
        // acq_rel: pairs with the poller's transition so a wake after its
        // last look at our data is never missed.
        if (t->state.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
            if (idle) t->scheduler->schedule(t);
            return;
        }
    }
}

/// Like task_wake_by_ref, but consumes the caller's reference.
inline void task_wake_by_val(TaskHeader* t) {
    if (is_current_task(t)) {
        current_task_woken = true;
        task_unref(t);  // never the last reference: the poller holds one
        return;
    }
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & (state::kComplete | state::kNotified)) {
            task_unref(t);
            return;
        }
        if (cur & state::kRunning) {
            // The poller holds a reference, so ours is never the last one here.
            std::uint64_t next = (cur | state::kNotified) - state::kRefOne;
            if (t->state.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_acquire)) return;
            continue;
        }
        // Idle: our reference becomes the run queue's.
        if (t->state.compare_exchange_weak(cur, cur | state::kNotified, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
            t->scheduler->schedule(t);
            return;
        }
    }
}

inline RawWaker task_waker_clone(const void* p);
inline void task_waker_wake(const void* p) { task_wake_by_val(static_cast<TaskHeader*>(const_cast<void*>(p))); }
inline void task_waker_wake_by_ref(const void* p) { task_wake_by_ref(static_cast<TaskHeader*>(const_cast<void*>(p))); }
inline void task_waker_drop(const void* p) { task_unref(static_cast<TaskHeader*>(const_cast<void*>(p))); }
inline constexpr RawWakerVTable kTaskWakerVTable{&task_waker_clone, &task_waker_wake, &task_waker_wake_by_ref,
                                                 &task_waker_drop};
inline RawWaker task_waker_clone(const void* p) {
    task_ref(static_cast<TaskHeader*>(const_cast<void*>(p)));
    return RawWaker{p, &kTaskWakerVTable};
}

// ---- running ---------------------------------------------------------------

enum class RunTransition { Run, Cancel, Skip };

/// NOTIFIED -> RUNNING for the thread that popped the task from a queue.
inline RunTransition task_transition_to_running(TaskHeader* t) noexcept {
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & (state::kRunning | state::kComplete)) return RunTransition::Skip;
        std::uint64_t next = (cur | state::kRunning) & ~state::kNotified;
        // acquire: see everything the waker and the previous poller wrote.
        if (t->state.compare_exchange_weak(cur, next, std::memory_order_acquire, std::memory_order_acquire)) {
            return (cur & state::kCancelled) ? RunTransition::Cancel : RunTransition::Run;
        }
    }
}

enum class IdleTransition { Idle, Notified, Cancel };

/// RUNNING -> idle after a Pending poll; reports a wake or abort that came meanwhile.
inline IdleTransition task_transition_to_idle(TaskHeader* t) noexcept {
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & state::kCancelled) return IdleTransition::Cancel;  // stay RUNNING, the caller cancels
        if (cur & state::kNotified) {
            // Stay NOTIFIED; the caller re-queues with the reference it holds.
            if (t->state.compare_exchange_weak(cur, cur & ~state::kRunning, std::memory_order_acq_rel,
                                               std::memory_order_acquire))
                return IdleTransition::Notified;
            continue;
        }
        // release: our writes to the future are visible to the next poller.
        if (t->state.compare_exchange_weak(cur, cur & ~state::kRunning, std::memory_order_acq_rel,
                                           std::memory_order_acquire))
            return IdleTransition::Idle;
    }
}

/// Claims a task that is not running or complete so the caller can cancel it
/// in place (runtime shutdown). False when it is running elsewhere or done.
inline bool task_transition_to_shutdown(TaskHeader* t) noexcept {
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & (state::kRunning | state::kComplete)) return false;
        if (t->state.compare_exchange_weak(cur, cur | state::kRunning | state::kCancelled, std::memory_order_acq_rel,
                                           std::memory_order_acquire))
            return true;
    }
}

/// RUNNING -> COMPLETE once the stage holds the output: unlinks the task from
/// the owned list, notifies the joiner and drops the owned list's reference
/// plus `extra_refs` (the caller's queue reference, if it holds one).
inline void task_complete(TaskHeader* t, std::uint64_t extra_refs) noexcept {
    t->scheduler->release(t);
    std::uint64_t drop = (1 + extra_refs) * state::kRefOne;
    // acquire: JOIN_INTEREST, once clear, is never set again.
    if (!(t->state.load(std::memory_order_acquire) & state::kJoinInterest)) {
        // Detached: no JoinHandle will read the output, and while RUNNING the
        // stage is ours, so drop it now; then one atomic update finishes.
        t->vtable->drop_output(t);
        std::uint64_t cur = t->state.load(std::memory_order_relaxed);
        std::uint64_t next;
        do {
            next = (cur ^ (state::kRunning | state::kComplete)) - drop;
        } while (!t->state.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_relaxed));
        if ((next >> 6) == 0) t->vtable->dealloc(t);
        return;
    }
    // acq_rel: release the output to the JoinHandle; acquire its join waker.
    std::uint64_t prev = t->state.fetch_xor(state::kRunning | state::kComplete, std::memory_order_acq_rel);
    if (!(prev & state::kJoinInterest)) {
        t->vtable->drop_output(t);  // the JoinHandle went away meanwhile
    } else if (prev & state::kJoinWaker) {
        t->join_waker.wake_by_ref();
    }
    task_unref(t, 1 + extra_refs);
}

/// Requests cancellation; the task is dropped at its next scheduling.
inline void task_abort(TaskHeader* t) {
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & (state::kComplete | state::kCancelled)) return;
        std::uint64_t next = cur | state::kCancelled | state::kNotified;
        bool must_queue = !(cur & (state::kRunning | state::kNotified));
        if (must_queue) next += state::kRefOne;
        if (t->state.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
            if (must_queue) t->scheduler->schedule(t);
            return;
        }
    }
}

// ---- joining ---------------------------------------------------------------

/// True when the output is ready to take; otherwise stores `waker` as the
/// join waker (the most recent one) and returns false.
inline bool task_poll_join(TaskHeader* t, const Waker& waker) {
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    if (cur & state::kComplete) return true;
    if (cur & state::kJoinWaker) {
        if (t->join_waker.will_wake(waker)) return false;
        // Take the waker slot back before writing it.
        for (;;) {
            if (cur & state::kComplete) return true;
            if (t->state.compare_exchange_weak(cur, cur & ~state::kJoinWaker, std::memory_order_acq_rel,
                                               std::memory_order_acquire))
                break;
        }
    }
    t->join_waker = waker;                           // we own the slot: JOIN_WAKER is clear
    cur = t->state.load(std::memory_order_acquire);  // acquire: a COMPLETE seen here publishes the output
    for (;;) {
        if (cur & state::kComplete) return true;
        // release: the task side reads join_waker after seeing JOIN_WAKER.
        if (t->state.compare_exchange_weak(cur, cur | state::kJoinWaker, std::memory_order_acq_rel,
                                           std::memory_order_acquire))
            return false;
    }
}

/// The JoinHandle goes away. The output is dropped here if the task already
/// completed, else by the task when it completes.
inline void task_drop_join_handle(TaskHeader* t) noexcept {
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & state::kComplete) {
            t->vtable->drop_output(t);
            task_unref(t);
            return;
        }
        // Not complete: the task still holds references, so ours is never the last.
        std::uint64_t next = (cur & ~(state::kJoinInterest | state::kJoinWaker)) - state::kRefOne;
        if (t->state.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_acquire)) return;
    }
}

// ---- the typed cell ----------------------------------------------------------

template <class T>
using stored_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
using TaskOutcome = std::variant<stored_t<T>, std::exception_ptr>;

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
                cancel(t);
                task_complete(t, 1);
                return;
            case RunTransition::Run:
                run(t);
                return;
        }
    }

    static void poll_yielded(TaskHeader* t) {
        if (t->state.load(std::memory_order_acquire) & state::kCancelled) {
            cancel(t);
            task_complete(t, 1);
            return;
        }
        run(t);
    }

    // The task is RUNNING and the caller holds the run queue's reference.
    static void run(TaskHeader* t) {
        if (from(t)->poll_future()) {
            task_complete(t, 1);
            return;
        }
        if (current_task_woken) {
            current_task_woken = false;
            t->self_wakes.store(t->self_wakes.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            t->scheduler->schedule_yielded(t);
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
                t->scheduler->schedule(t);
                return;
            case IdleTransition::Cancel:
                cancel(t);
                task_complete(t, 1);
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
                current_task.store(t, std::memory_order_relaxed);
            }
            ~CurrentTask() { current_task.store(saved, std::memory_order_relaxed); }
            TaskHeader* saved;
        } current{this};
        current_task_woken = false;
        // Single writers (this thread, this task's poller): no read-modify-write.
        poll_count.store(poll_count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        polls.store(polls.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
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
