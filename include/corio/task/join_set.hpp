// JoinSet: a set of spawned tasks whose outputs are taken in completion order.
//
// Each task of a set has an entry (detail::JoinSetEntry) that holds the set's
// join reference to the task (what a JoinHandle holds) and is itself a waker:
// the entry's Waker is registered once as the task's join waker, so when the
// task completes its waker pushes the entry onto the set's lock-free ready
// stack and wakes the task awaiting join_next. join_next takes the whole
// stack at once, reverses it into a FIFO (completion order) and hands out one
// output per finished task: O(1) per task, and no task is ever polled to
// find out whether it finished.
//
// Invariants:
// - an entry is pushed onto the ready stack at most once (its `notified`
//   flag), so its stack link is free for the set's FIFO afterwards;
// - the entry list, the ready FIFO, `len` and each entry's `task` are touched
//   only by the set's owner (one task at a time); the ready stack, the waiter
//   and the reference counts are shared with the threads that complete tasks;
// - an entry holds a reference on the set's core, so a wake that comes after
//   the set was destroyed finds the ready stack closed and only drops its
//   reference; the last entry to go frees the core.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <expected>
#include <memory>
#include <new>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>
#include <variant>

#include "corio/detail/atomic_waker.hpp"
#include "corio/detail/coop.hpp"
#include "corio/detail/frame_alloc.hpp"
#include "corio/detail/intrusive_list.hpp"
#include "corio/detail/sync.hpp"
#include "corio/detail/task_cell.hpp"
#include "corio/future.hpp"
#include "corio/runtime.hpp"
#include "corio/task/local_set.hpp"

namespace corio {
namespace task {

/// What join_next yields for one task: its value (std::monostate for a void
/// task), or the exception it ended with: the task's own exception, or a
/// corio::JoinError when it was aborted (see is_cancelled).
template <class T>
using JoinResult = std::expected<detail::stored_t<T>, std::exception_ptr>;

/// True when `error` holds a corio::JoinError, i.e. the task was aborted (or
/// dropped by a shutting-down runtime) rather than failing on its own. False
/// for a null pointer and for any other exception.
inline bool is_cancelled(const std::exception_ptr& error) noexcept {
    if (!error) return false;
    try {
        std::rethrow_exception(error);
    } catch (const JoinError&) {
        return true;
    } catch (...) {
        return false;
    }
}

/// True when `result` is an error that is_cancelled(error) recognises.
template <class V>
bool is_cancelled(const std::expected<V, std::exception_ptr>& result) noexcept {
    return !result.has_value() && is_cancelled(result.error());
}

}  // namespace task

namespace detail {

struct JoinSetCore;

/// One task of a JoinSet. Refcounted: one reference for the set (while the
/// entry is in its list), one for the ready stack/FIFO (once notified), one
/// per clone of its waker (the task's join waker holds one until the task
/// cell is freed).
struct JoinSetEntry : ListHook<JoinSetEntry> {  // the set's list (owner only)
    explicit JoinSetEntry(JoinSetCore* c) noexcept : core(c) {}

    corio::detail::Atomic<std::uint32_t> refs{1};
    corio::detail::Atomic<bool> notified{false};  // set once: the entry was queued as ready
    JoinSetCore* core;                            // holds a reference on it
    JoinSetEntry* ready_next = nullptr;           // ready stack link, then FIFO link
    TaskHeader* task = nullptr;                   // join reference; null once released (owner only)
};

/// The state a JoinSet shares with its entries.
struct JoinSetCore {
    /// Value of ready_stack once the set is gone: late wakes push nothing.
    static constexpr std::uintptr_t kClosed = 1;

    // Shared with the threads that complete tasks.
    corio::detail::Atomic<std::uint32_t> refs{1};          // the set + one per entry
    corio::detail::Atomic<std::uintptr_t> ready_stack{0};  // JoinSetEntry* (LIFO), or kClosed
    AtomicWaker waiter;  // the task awaiting join_next, woken from whichever thread completes a task

    // Owner only.
    IntrusiveList<JoinSetEntry> entries;  // every entry still holding its task
    JoinSetEntry* fifo_head = nullptr;    // ready entries, oldest first
    JoinSetEntry* fifo_tail = nullptr;
    std::size_t len = 0;
};

inline void join_set_core_ref(JoinSetCore* core) noexcept {
    // relaxed: a new reference is made from an existing one (as shared_ptr's copy).
    core->refs.fetch_add(1, std::memory_order_relaxed);
}

inline void join_set_core_unref(JoinSetCore* core) noexcept {
    // acq_rel: the last owner must see every other owner's writes before freeing.
    if (core->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete core;
}

inline void join_set_entry_ref(JoinSetEntry* e) noexcept {
    // relaxed: a new reference is made from an existing one.
    e->refs.fetch_add(1, std::memory_order_relaxed);
}

inline void join_set_entry_unref(JoinSetEntry* e, std::uint32_t count = 1) noexcept {
    // acq_rel: the last owner must see every other owner's writes before freeing.
    if (e->refs.fetch_sub(count, std::memory_order_acq_rel) != count) return;
    JoinSetCore* core = e->core;
    e->~JoinSetEntry();
    frame_deallocate(e, sizeof(JoinSetEntry));
    join_set_core_unref(core);
}

/// A new entry of `core` holding the set's reference (and one on `core`).
inline JoinSetEntry* join_set_entry_create(JoinSetCore* core) {
    void* mem = frame_allocate(sizeof(JoinSetEntry));
    auto* e = new (mem) JoinSetEntry(core);
    join_set_core_ref(core);
    return e;
}

/// Appends a ready entry (carrying its ready reference) to the FIFO. Owner only.
inline void join_set_fifo_push(JoinSetCore* core, JoinSetEntry* e) noexcept {
    e->ready_next = nullptr;
    if (core->fifo_tail != nullptr) {
        core->fifo_tail->ready_next = e;
    } else {
        core->fifo_head = e;
    }
    core->fifo_tail = e;
}

inline JoinSetEntry* join_set_fifo_pop(JoinSetCore* core) noexcept {
    JoinSetEntry* e = core->fifo_head;
    core->fifo_head = e->ready_next;
    if (core->fifo_head == nullptr) core->fifo_tail = nullptr;
    return e;
}

/// The entry's task completed (its join waker fired): queue it as ready,
/// once, and wake the set's waiter when the stack was empty (a push onto a
/// non-empty stack follows one whose waker has not yet run or whose items
/// the owner has not yet taken, so the owner will look again). Any thread.
inline void join_set_entry_notify(JoinSetEntry* e) {
    // acq_rel: only the first notification queues the entry (the flag is an
    // RMW, so exactly one caller sees false); nothing else hangs on it.
    if (e->notified.exchange(true, std::memory_order_acq_rel)) return;
    join_set_entry_ref(e);        // the ready stack's reference
    JoinSetCore* core = e->core;  // alive: the caller's waker holds `e`, which holds `core`
    // acquire: a kClosed seen here is final.
    std::uintptr_t head = core->ready_stack.load(std::memory_order_acquire);
    for (;;) {
        if (head == JoinSetCore::kClosed) {
            join_set_entry_unref(e);  // the set is gone: never the last reference (the caller's waker holds one)
            return;
        }
        e->ready_next = reinterpret_cast<JoinSetEntry*>(head);
        // acq_rel: release publishes ready_next (and the task's completion
        // we saw) to the owner's take; acquire chains with earlier pushers.
        if (core->ready_stack.compare_exchange_weak(head, reinterpret_cast<std::uintptr_t>(e),
                                                    std::memory_order_acq_rel, std::memory_order_acquire))
            break;
    }
    if (head == 0) core->waiter.wake();
}

inline RawWaker join_set_waker_clone(const void* p);
inline void join_set_waker_wake_by_ref(const void* p) {
    join_set_entry_notify(static_cast<JoinSetEntry*>(const_cast<void*>(p)));
}
inline void join_set_waker_wake(const void* p) {
    auto* e = static_cast<JoinSetEntry*>(const_cast<void*>(p));
    join_set_entry_notify(e);
    join_set_entry_unref(e);
}
inline void join_set_waker_drop(const void* p) {
    join_set_entry_unref(static_cast<JoinSetEntry*>(const_cast<void*>(p)));
}
inline constexpr RawWakerVTable kJoinSetWakerVTable{&join_set_waker_clone, &join_set_waker_wake,
                                                    &join_set_waker_wake_by_ref, &join_set_waker_drop};
inline RawWaker join_set_waker_clone(const void* p) {
    join_set_entry_ref(static_cast<JoinSetEntry*>(const_cast<void*>(p)));
    return RawWaker{p, &kJoinSetWakerVTable};
}

/// Links `e` into the set with the join reference to `task`, and registers
/// the entry's waker as the task's join waker (queuing it at once if the
/// task already finished). Owner only.
inline void join_set_attach(JoinSetCore* core, JoinSetEntry* e, TaskHeader* task) noexcept {
    e->task = task;
    core->entries.push_front(*e);
    ++core->len;
    BorrowedWaker waker(RawWaker{e, &kJoinSetWakerVTable});
    // Cloning an entry waker never throws, so neither does this.
    if (!task_poll_join(task, waker.get())) return;
    // Already complete: no join wake will come (JOIN_WAKER was never set).
    if (e->notified.exchange(true, std::memory_order_acq_rel)) return;  // acq_rel: as in join_set_entry_notify
    join_set_entry_ref(e);
    join_set_fifo_push(core, e);
}

inline void join_set_unlink(JoinSetCore* core, JoinSetEntry* e) noexcept {
    IntrusiveList<JoinSetEntry>::remove(*e);
    --core->len;
}

/// Moves whatever the completing threads pushed onto the ready stack to the
/// end of the FIFO, oldest first. Owner only.
inline void join_set_drain(JoinSetCore* core) noexcept {
    // acquire: a hint only; the exchange below is what takes the entries.
    if (core->ready_stack.load(std::memory_order_acquire) == 0) return;
    // acq_rel: acquire sees each pusher's writes; release keeps the RMW chain
    // that orders later pushes after this take.
    std::uintptr_t head = core->ready_stack.exchange(0, std::memory_order_acq_rel);
    JoinSetEntry* reversed = nullptr;
    for (auto* e = reinterpret_cast<JoinSetEntry*>(head); e != nullptr;) {
        JoinSetEntry* next = e->ready_next;
        e->ready_next = reversed;
        reversed = e;
        e = next;
    }
    while (reversed != nullptr) {
        JoinSetEntry* next = reversed->ready_next;
        join_set_fifo_push(core, reversed);
        reversed = next;
    }
}

/// The oldest ready entry that still holds its task (left at the head of
/// the FIFO), or null. Drops detached entries found on the way. Owner only.
inline JoinSetEntry* join_set_peek_ready(JoinSetCore* core) noexcept {
    for (;;) {
        if (core->fifo_head == nullptr) {
            join_set_drain(core);
            if (core->fifo_head == nullptr) return nullptr;
        }
        if (core->fifo_head->task != nullptr) return core->fifo_head;
        join_set_entry_unref(join_set_fifo_pop(core));  // detached by detach_all: only its ready reference is left
    }
}

/// After the output of the FIFO's head was taken: releases its task and entry.
inline void join_set_release_head(JoinSetCore* core) noexcept {
    JoinSetEntry* e = join_set_fifo_pop(core);
    task_drop_join_handle(std::exchange(e->task, nullptr));
    join_set_unlink(core, e);
    join_set_entry_unref(e, 2);  // the set's and the ready reference
}

inline void join_set_abort_all(JoinSetCore* core) {
    core->entries.for_each([](JoinSetEntry& e) { task_abort(RawTask(e.task)); });
}

/// Gives up every task (they run on, detached). Owner only.
inline void join_set_detach_all(JoinSetCore* core) noexcept {
    while (JoinSetEntry* e = core->entries.pop_front()) {
        task_drop_join_handle(std::exchange(e->task, nullptr));
        join_set_entry_unref(e);  // the set's reference
    }
    core->len = 0;
    while (core->fifo_head != nullptr) join_set_entry_unref(join_set_fifo_pop(core));
}

/// The set goes away: aborts and detaches every task, closes the ready
/// stack and drops the set's reference on the core.
inline void join_set_destroy(JoinSetCore* core) {
    join_set_abort_all(core);
    join_set_detach_all(core);
    // acq_rel: acquire takes the pushed entries; after kClosed no push succeeds.
    std::uintptr_t head = core->ready_stack.exchange(JoinSetCore::kClosed, std::memory_order_acq_rel);
    for (auto* e = reinterpret_cast<JoinSetEntry*>(head); e != nullptr;) {
        JoinSetEntry* next = e->ready_next;
        join_set_entry_unref(e);
        e = next;
    }
    static_cast<void>(core->waiter.take());  // dropped here, not kept alive by late entries
    join_set_core_unref(core);
}

}  // namespace detail

namespace task {

template <class T>
class JoinSet;

/// The future of JoinSet::join_next(): the output of the next task of the
/// set to finish, or std::nullopt when the set is empty.
///
/// Cancellation-safe: a result is removed from the set only in the poll that
/// returns it, so dropping this future loses nothing. It borrows the set:
/// the set must outlive it and must not be moved while it is pending.
template <class T>
class CORIO_NODISCARD_FUTURE JoinNext {
public:
    using Output = std::optional<JoinResult<T>>;

    explicit JoinNext(JoinSet<T>& set) noexcept : set_(&set) {}

    /// See JoinSet::poll_join_next.
    Poll<Output> poll(Context& cx) { return set_->poll_join_next(cx); }

private:
    JoinSet<T>* set_;
};

/// The future of JoinSet::shutdown(): on its first poll aborts every task of
/// the set, then completes once every task has finished (each result is
/// discarded) and the set is empty.
///
/// Cancellation-safe: dropping it midway leaves the remaining tasks aborted
/// and in the set; only the results it had already discarded are gone. It
/// borrows the set, like JoinNext.
template <class T>
class CORIO_NODISCARD_FUTURE JoinSetShutdown {
public:
    using Output = void;

    explicit JoinSetShutdown(JoinSet<T>& set) noexcept : set_(&set) {}

    Poll<void> poll(Context& cx) {
        if (!aborted_) {
            set_->abort_all();
            aborted_ = true;
        }
        for (;;) {
            Poll<std::optional<JoinResult<T>>> next = set_->poll_join_next(cx);
            if (next.is_pending()) return Pending;
            if (!next.value().has_value()) return Ready();
        }
    }

private:
    JoinSet<T>* set_;
    bool aborted_ = false;
};

/// A set of spawned tasks, all with output `T`, joined in the order they
/// finish. Tokio's JoinSet.
///
///     task::JoinSet<int> set;
///     for (int i = 0; i < 10; ++i) set.spawn(work(i));
///     while (auto result = co_await set.join_next()) {
///         if (result->has_value()) use(**result);
///         else if (task::is_cancelled(*result)) ...;   // aborted
///         else ...;                                    // result->error() holds its exception
///     }
///
/// Each task runs like any spawned task (on any worker of a multi-thread
/// runtime); the set owns its output the way a JoinHandle would, so a
/// finished task stays in the set (counted by len()) until join_next or
/// try_join_next takes its result. A failed or aborted task is reported as
/// one error result; the set goes on with the others.
///
/// Destroying the set aborts every task still in it (each is destroyed at
/// its next scheduling point, running its destructors) and frees what the
/// set held; tasks finishing afterwards leave nothing behind.
///
/// Thread safety: the set itself must be used from one task (or thread) at
/// a time; its tasks may finish on any thread. Movable (but not while a
/// JoinNext or JoinSetShutdown borrows it), not copyable.
///
/// Costs: one allocation per spawn beside the task's own (the entry), no
/// lock anywhere; join_next is O(1) per finished task.
template <class T>
class JoinSet {
public:
    /// An empty set (allocates nothing until the first spawn).
    JoinSet() noexcept = default;
    JoinSet(JoinSet&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
    /// Aborts this set's tasks (as its destructor does), then takes `other`'s.
    JoinSet& operator=(JoinSet&& other) noexcept {
        if (this != &other) {
            reset();
            core_ = std::exchange(other.core_, nullptr);
        }
        return *this;
    }
    JoinSet(const JoinSet&) = delete;
    JoinSet& operator=(const JoinSet&) = delete;
    /// Aborts every task still in the set.
    ~JoinSet() { reset(); }

    /// Spawns `fut` on the current runtime as a task of this set. Returns a
    /// handle that aborts it. Throws std::logic_error outside a runtime (the
    /// set is then unchanged), std::bad_alloc when memory runs out.
    template <Future F>
        requires std::same_as<output_of<F>, T>
    AbortHandle spawn(F fut, std::source_location where = std::source_location::current()) {
        return insert([&] { return corio::spawn(std::move(fut), where); });
    }

    /// Spawns `fut` on the runtime of `handle` (from any thread) as a task of
    /// this set. Returns a handle that aborts it.
    template <Future F>
        requires std::same_as<output_of<F>, T>
    AbortHandle spawn_on(F fut, const Handle& handle, std::source_location where = std::source_location::current()) {
        Handle target = handle;
        return insert([&] { return target.spawn(std::move(fut), where); });
    }

    /// Spawns `fut` with task::spawn_local (it stays on this thread) as a
    /// task of this set. Throws std::logic_error where spawn_local would.
    template <Future F>
        requires std::same_as<output_of<F>, T>
    AbortHandle spawn_local(F fut, std::source_location where = std::source_location::current()) {
        return insert([&] { return task::spawn_local(std::move(fut), where); });
    }

    /// A future of the next task to finish: its JoinResult, or std::nullopt
    /// once the set is empty. Cancellation-safe (see JoinNext).
    JoinNext<T> join_next() noexcept { return JoinNext<T>(*this); }

    /// One poll of join_next: Ready(result) for the oldest finished task
    /// (removing it from the set), Ready(std::nullopt) when the set is
    /// empty, else Pending after storing cx's waker, which is woken when a
    /// task finishes. Spends one unit of the cooperative budget when the set
    /// is not empty.
    Poll<std::optional<JoinResult<T>>> poll_join_next(Context& cx) {
        using Out = std::optional<JoinResult<T>>;
        if (core_ == nullptr || core_->len == 0) return Poll<Out>(std::in_place, std::nullopt);
        if (!detail::poll_proceed(cx)) return Pending;
        if (detail::join_set_peek_ready(core_) == nullptr) {
            core_->waiter.register_waker(cx.waker());
            // Look again: a task that finished before the registration did not see our waker.
            if (detail::join_set_peek_ready(core_) == nullptr) return Pending;
        }
        return Poll<Out>(std::in_place, take_head());
    }

    /// The result of a task that has already finished, oldest first, or
    /// std::nullopt when none has (or the set is empty). Never waits.
    std::optional<JoinResult<T>> try_join_next() {
        if (core_ == nullptr || detail::join_set_peek_ready(core_) == nullptr) return std::nullopt;
        return take_head();
    }

    /// Aborts every task of the set; they stay in it until joined, and
    /// join_next then reports each one that had not finished yet as
    /// cancelled (is_cancelled(result) is true).
    void abort_all() {
        if (core_ != nullptr) detail::join_set_abort_all(core_);
    }

    /// A future that aborts every task and completes once all have finished
    /// (discarding their results), leaving the set empty. Cancellation-safe
    /// (see JoinSetShutdown).
    JoinSetShutdown<T> shutdown() noexcept { return JoinSetShutdown<T>(*this); }

    /// Removes every task from the set without aborting it: they run on,
    /// detached, and their results are dropped. The set is then empty.
    void detach_all() noexcept {
        if (core_ != nullptr) detail::join_set_detach_all(core_);
    }

    /// Tasks in the set: running ones and finished ones not yet joined.
    std::size_t len() const noexcept { return core_ == nullptr ? 0 : core_->len; }

    /// True when len() is 0.
    bool is_empty() const noexcept { return len() == 0; }

private:
    template <class SpawnFn>
    AbortHandle insert(SpawnFn&& spawn_task) {
        if (core_ == nullptr) core_ = new detail::JoinSetCore();
        detail::JoinSetEntry* entry = detail::join_set_entry_create(core_);
        detail::TaskHeader* task;
        try {
            task = spawn_task().into_raw();
        } catch (...) {
            detail::join_set_entry_unref(entry);
            throw;
        }
        detail::join_set_attach(core_, entry, task);
        return AbortHandle(detail::RawTask(task));
    }

    // The FIFO's head holds a finished task: take its result and release it.
    JoinResult<T> take_head() {
        detail::TaskHeader* task = core_->fifo_head->task;
        std::optional<detail::TaskOutcome<T>> outcome;
        task->vtable->take_output(task, &outcome);
        detail::join_set_release_head(core_);
        if (outcome->index() == 1) return JoinResult<T>(std::unexpect, std::get<1>(std::move(*outcome)));
        return JoinResult<T>(std::in_place, std::get<0>(std::move(*outcome)));
    }

    void reset() noexcept {
        if (core_ != nullptr) detail::join_set_destroy(std::exchange(core_, nullptr));
    }

    detail::JoinSetCore* core_ = nullptr;
};

static_assert(Future<JoinNext<int>>);
static_assert(Future<JoinNext<void>>);
static_assert(Future<JoinSetShutdown<int>>);

}  // namespace task
}  // namespace corio
