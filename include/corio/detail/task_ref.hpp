// References to a task: each object owns one count of the task's reference
// count (task_state.hpp) and says by its type whose count it is, as Tokio's
// Task, Notified and UnownedTask do.
//
//   TaskRef    a plain counted reference (an AbortHandle, a blocking thread
//              keeping a running task readable for dumps)
//   OwnedTask  the owned list's: from spawn until the task completes, held by
//              whoever tracks the task for shutdown (the scheduler's owned
//              list, a remote queue carrying a spawn, a blocking thread)
//   Notified   the run queue's: a woken (or yielded) task on its way to a poll
//   NewTask    what spawn hands a scheduler: both of the above for one task
//
// Dropping a reference does what giving it up means: a TaskRef or OwnedTask
// drops its count; a Notified dropped without running is discarded (a
// yielded one cancels its task, since it is that task's poller); a NewTask
// dropped whole is a refused spawn, and cancels its task.
//
// The types keep the ordinary C++ calling convention (no [[clang::trivial_abi]]:
// a library built by GCC must stay callable from code built by Clang). They
// cross Scheduler's virtual calls as plain words instead, through the inline
// wrappers at the end of this file.
//
// Below the types: completing and aborting a task, the two transitions that
// hand references back and forth between a task and its scheduler.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#include "corio/detail/task_header.hpp"
#include "corio/detail/task_state.hpp"

namespace corio::detail {

/// A counted reference to a task: keeps the cell alive, nothing more.
class TaskRef {
public:
    TaskRef() noexcept = default;
    /// Takes a new reference to `task`, which the caller keeps alive meanwhile.
    explicit TaskRef(RawTask task) noexcept : t_(task.get()) {
        if (t_ != nullptr) task_ref(t_);
    }
    TaskRef(const TaskRef& other) noexcept : TaskRef(other.task()) {}
    TaskRef(TaskRef&& other) noexcept : t_(std::exchange(other.t_, nullptr)) {}
    TaskRef& operator=(TaskRef other) noexcept {
        std::swap(t_, other.t_);
        return *this;
    }
    ~TaskRef() {
        if (t_ != nullptr) task_unref(t_);
    }

    RawTask task() const noexcept { return RawTask(t_); }
    explicit operator bool() const noexcept { return t_ != nullptr; }

private:
    TaskHeader* t_ = nullptr;
};

/// The owned list's reference to a task (move-only).
class OwnedTask {
public:
    OwnedTask() noexcept = default;
    /// Adopts the owned-list count the caller holds (a fresh cell, an unlinked list entry).
    static OwnedTask adopt(TaskHeader* t) noexcept { return OwnedTask(t); }
    OwnedTask(OwnedTask&& other) noexcept : t_(std::exchange(other.t_, nullptr)) {}
    OwnedTask& operator=(OwnedTask&& other) noexcept {
        if (this != &other) {
            reset();
            t_ = std::exchange(other.t_, nullptr);
        }
        return *this;
    }
    ~OwnedTask() { reset(); }

    RawTask task() const noexcept { return RawTask(t_); }
    explicit operator bool() const noexcept { return t_ != nullptr; }

    /// Drops the reference now.
    void reset() noexcept {
        if (TaskHeader* t = std::exchange(t_, nullptr)) task_unref(t);
    }
    /// Hands the count to a holder that keeps it by address: an intrusive
    /// owned list, which gives it back through adopt() when it unlinks.
    TaskHeader* into_raw() && noexcept { return std::exchange(t_, nullptr); }
    /// Hands the count to a caller that drops it with others in one update: 1, or 0 if empty.
    std::uint64_t into_count() && noexcept { return std::exchange(t_, nullptr) != nullptr ? 1 : 0; }

private:
    explicit OwnedTask(TaskHeader* t) noexcept : t_(t) {}
    TaskHeader* t_ = nullptr;
};

/// The run queue's reference to a task: an entry that polls the task once.
/// The low bit marks a yielded entry: the task woke itself while polled and
/// is still RUNNING, so the entry is its poller (TaskVTable::poll_yielded).
/// Queues that keep entries in atomics store them as bits (into_bits,
/// from_bits).
class Notified {
public:
    Notified() noexcept = default;
    /// Adopts the run-queue count of a woken task (state NOTIFIED).
    static Notified woken(TaskHeader* t) noexcept { return Notified(reinterpret_cast<std::uintptr_t>(t)); }
    /// The entry of the task being polled, which woke itself (it holds the
    /// poller's reference).
    static Notified yielded(TaskHeader* t) noexcept { return Notified(reinterpret_cast<std::uintptr_t>(t) | 1); }
    /// Adopts an entry stored as bits by into_bits().
    static Notified from_bits(std::uintptr_t bits) noexcept { return Notified(bits); }

    Notified(Notified&& other) noexcept : bits_(std::exchange(other.bits_, 0)) {}
    Notified& operator=(Notified&& other) noexcept {
        if (this != &other) {
            reset();
            bits_ = std::exchange(other.bits_, 0);
        }
        return *this;
    }
    ~Notified() { reset(); }

    explicit operator bool() const noexcept { return bits_ != 0; }
    bool is_yielded() const noexcept { return (bits_ & 1) != 0; }
    RawTask task() const noexcept { return RawTask(reinterpret_cast<TaskHeader*>(bits_ & ~std::uintptr_t{1})); }

    /// Stores the entry as bits (a lock-free run queue's slot); from_bits() takes it back.
    std::uintptr_t into_bits() && noexcept { return std::exchange(bits_, 0); }

    /// Polls the task once, as the entry's kind requires; the poll takes the reference.
    void run() && {
        TaskHeader* t = task().get();
        bool yielded = is_yielded();
        bits_ = 0;
        if (yielded) {
            t->vtable->poll_yielded(t);
        } else {
            t->vtable->poll(t);
        }
    }

    /// Gives the entry up without running it (shutdown, a closed queue): a
    /// woken entry drops its reference; a yielded one cancels its task.
    void reset() noexcept {
        if (bits_ != 0) discard(std::exchange(bits_, 0));
    }

private:
    explicit Notified(std::uintptr_t bits) noexcept : bits_(bits) {}
    [[gnu::cold]] static void discard(std::uintptr_t bits) noexcept;
    std::uintptr_t bits_ = 0;
};

/// A new task as spawn hands it to its scheduler: the owned list's reference
/// and the run queue's. The scheduler links `owned` and queues `notified`;
/// where it cannot link at once (a spawn from another thread onto a
/// single-thread scheduler, the blocking pool) the two travel together.
/// Dropped while it still holds both, the spawn was refused: the task is
/// cancelled (its JoinHandle throws JoinError).
class NewTask {
public:
    /// Adopts both references of a freshly allocated cell (TaskCell::allocate).
    explicit NewTask(TaskHeader* t) noexcept : owned(OwnedTask::adopt(t)), notified(Notified::woken(t)) {}
    /// An entry with only a run-queue reference (a wake, where spawns and
    /// wakes share one queue).
    explicit NewTask(Notified n) noexcept : notified(std::move(n)) {}
    NewTask(NewTask&&) noexcept = default;
    NewTask& operator=(NewTask&& other) noexcept {
        if (this != &other) {
            if (owned || notified) drop();
            owned = std::move(other.owned);
            notified = std::move(other.notified);
        }
        return *this;
    }
    ~NewTask() {
        if (owned || notified) [[unlikely]]
            drop();
    }

    RawTask task() const noexcept { return notified ? notified.task() : owned.task(); }

    /// Cancels the task in place unless it is running elsewhere or already
    /// done, and gives up both references.
    void cancel() && noexcept;

    OwnedTask owned;    // empty once linked (or for a wake)
    Notified notified;  // empty once queued

private:
    // What the destructor does with what is left (out of line: a scheduler
    // normally takes both).
    [[gnu::cold]] void drop() noexcept {
        if (owned && notified) {
            std::move(*this).cancel();
        } else {
            notified.reset();
            owned.reset();
        }
    }
};

// ---- completing and aborting ------------------------------------------------

/// RUNNING -> COMPLETE once the stage holds the output: takes the owned
/// list's reference back from the scheduler (Scheduler::release), notifies
/// the joiner, and drops that reference together with the `held` ones the
/// caller gives up. The task layer's own form: a poll holds its run-queue
/// reference as a count (TaskVTable::poll); everyone else calls the typed
/// task_complete below.
inline void task_complete_dropping(TaskHeader* t, std::uint64_t held) noexcept {
    std::uint64_t refs = held + t->scheduler->release(RawTask(t)).into_count();
    std::uint64_t drop = refs * state::kRefOne;
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
    if (refs != 0) task_unref(t, refs);
}

/// task_complete_dropping, giving up the caller's run-queue entry (if any)
/// and the owned reference when the caller held it itself (a spawn never
/// linked).
inline void task_complete(RawTask task, Notified queue_ref, OwnedTask owned = OwnedTask()) noexcept {
    std::uint64_t held = (std::move(queue_ref).into_bits() != 0 ? 1 : 0) + std::move(owned).into_count();
    task_complete_dropping(task.get(), held);
}

/// Requests cancellation; the task is dropped at its next scheduling.
inline void task_abort(RawTask task) {
    TaskHeader* t = task.get();
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    for (;;) {
        if (cur & (state::kComplete | state::kCancelled)) return;
        std::uint64_t next = cur | state::kCancelled | state::kNotified;
        bool must_queue = !(cur & (state::kRunning | state::kNotified));
        if (must_queue) next += state::kRefOne;
        if (t->state.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
            if (must_queue) t->scheduler->schedule(Notified::woken(t));
            return;
        }
    }
}

inline void Notified::discard(std::uintptr_t bits) noexcept {
    Notified entry(bits);
    TaskHeader* t = entry.task().get();
    if (entry.is_yielded()) {
        t->vtable->cancel(t);
        task_complete(RawTask(t), std::move(entry));
    } else {
        entry.bits_ = 0;
        task_unref(t);
    }
}

inline void NewTask::cancel() && noexcept {
    RawTask t = task();
    if (notified.is_yielded() || !task_transition_to_shutdown(t.get())) {
        // A yielded entry cancels its task as it is dropped; a task running
        // elsewhere or done only loses the references.
        notified.reset();
        owned.reset();
        return;
    }
    t->vtable->cancel(t.get());
    task_complete(t, std::move(notified), std::move(owned));
}

// ---- Scheduler's typed calls ------------------------------------------------

inline void Scheduler::schedule(Notified task) { do_schedule(std::move(task).into_bits()); }

inline void Scheduler::schedule_yielded(Notified task) { do_schedule_yielded(std::move(task).into_bits()); }

inline void Scheduler::spawn(NewTask task) {
    TaskHeader* t = task.task().get();
    (void)std::move(task.owned).into_raw();
    (void)std::move(task.notified).into_bits();
    do_spawn(t);
}

inline OwnedTask Scheduler::release(RawTask task) noexcept { return OwnedTask::adopt(do_release(task.get())); }

}  // namespace corio::detail
