// LocalSet and spawn_local: tasks that never leave the thread that drives them.
//
// A LocalSet is a scheduler of its own (detail::LocalSetCore, implemented in
// src/runtime/scheduler/local_set.cpp) whose tasks are polled only inside the
// futures that drive the set: run_until(fut), wait(), or the set itself
// awaited. Those futures run inside some runtime; each of their polls runs a
// bounded batch of the set's ready tasks on the calling thread, so a future
// that is not thread-safe can be spawned with spawn_local and still share
// the runtime's timers and I/O.
//
// Invariant: the set's run queue and task list are touched only by the one
// poll that is driving it (a flag rejects a second, concurrent or nested,
// driver) and by its destructor; wakes from anywhere else go through a
// mutex-protected remote queue and wake the waker of the last driver.
#pragma once

#include <cstddef>
#include <source_location>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "corio/detail/task_cell.hpp"
#include "corio/future.hpp"
#include "corio/runtime.hpp"

namespace corio {
namespace detail {

/// The scheduler behind a LocalSet. Refcounted: the LocalSet, every task
/// cell and every driving future hold a reference, so wakers and JoinHandles
/// may outlive the LocalSet.
class LocalSetCore : public Scheduler {
public:
    /// Polls the driving future's own work; true when it is done.
    using PollRootFn = bool (*)(void* ctx, Context& cx);

    /// A new, empty set holding one reference (the caller's).
    static LocalSetCore* create();

    /// One poll of a driving future, on the calling thread: stores cx's waker
    /// as the one to wake for remote work, polls `poll_root` (if any), then
    /// runs a bounded batch of ready tasks, waking cx's waker when more are
    /// ready. True when `poll_root` finished or, without one, when no task of
    /// the set is left. Throws std::logic_error when the set is already being
    /// driven (from another thread, or from inside one of its own tasks).
    virtual bool drive(Context& cx, PollRootFn poll_root, void* ctx) = 0;

    /// Destroys every unfinished task and refuses new ones (they are
    /// cancelled at once). Idempotent. Aborts the process when called while
    /// the set is being driven.
    virtual void shutdown() noexcept = 0;

    /// Tasks spawned and not yet finished (a snapshot).
    virtual std::size_t alive_tasks() const noexcept = 0;

protected:
    ~LocalSetCore() = default;
};

/// An owning reference to a LocalSetCore.
class LocalSetRef {
public:
    LocalSetRef() noexcept = default;
    /// Adopts one reference the caller already holds.
    explicit LocalSetRef(LocalSetCore* core) noexcept : core_(core) {}
    LocalSetRef(const LocalSetRef& other) noexcept : core_(other.core_) {
        if (core_ != nullptr) core_->ref();
    }
    LocalSetRef(LocalSetRef&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
    LocalSetRef& operator=(LocalSetRef other) noexcept {
        std::swap(core_, other.core_);
        return *this;
    }
    ~LocalSetRef() {
        if (core_ != nullptr) core_->unref();
    }

    LocalSetCore* get() const noexcept { return core_; }
    explicit operator bool() const noexcept { return core_ != nullptr; }

private:
    LocalSetCore* core_ = nullptr;
};

/// Where task::spawn_local puts a task: the LocalSet being driven on this
/// thread, else the current runtime when it is a current_thread one. Throws
/// std::logic_error otherwise.
Scheduler& local_spawn_target();

/// Spawns `fut` onto `scheduler` (a LocalSetCore or a current_thread runtime).
template <class F>
JoinHandle<output_of<F>> spawn_local_on(Scheduler& scheduler, F&& fut, TaskOrigin origin) {
    return spawn_task<F>(std::forward<F>(fut), scheduler, origin);
}

}  // namespace detail

namespace task {

/// The future of LocalSet::run_until(fut): drives the set while it polls
/// `fut`, and completes with `fut`'s output (or rethrows its exception).
///
/// Each poll polls `fut`, then runs up to 61 ready tasks of the set on the
/// calling thread; when more are ready it wakes itself and returns Pending,
/// so the runtime around it runs its other tasks in between. The tasks left
/// unfinished when `fut` completes stay in the set (they run at the next
/// drive, or are destroyed with the set). Holds a reference to the set's
/// state, so it stays valid if the LocalSet is destroyed first (its tasks
/// are then gone, and spawn_local inside `fut` yields cancelled tasks).
/// Cancellation-safe exactly when `fut` is: dropping it drops `fut`, never
/// the set's tasks.
template <Future F>
class CORIO_NODISCARD_FUTURE RunUntil {
public:
    using Output = output_of<F>;

    RunUntil(detail::LocalSetRef core, F fut) noexcept(std::is_nothrow_move_constructible_v<F>)
        : core_(std::move(core)), fut_(std::move(fut)) {}
    RunUntil(RunUntil&& other) noexcept(std::is_nothrow_move_constructible_v<F>)
        : core_(std::move(other.core_)), fut_(std::move(other.fut_)), done_(other.done_) {}
    RunUntil& operator=(RunUntil&&) = delete;
    RunUntil(const RunUntil&) = delete;
    RunUntil& operator=(const RunUntil&) = delete;

    /// Throws std::logic_error when polled after it completed, when moved
    /// from, or when the set is already being driven elsewhere.
    Poll<Output> poll(Context& cx) {
        if (!core_ || done_) throw std::logic_error("corio: LocalSet::run_until future polled after it completed");
        Root root{&fut_, Pending};
        bool ready;
        try {
            ready = core_.get()->drive(cx, &Root::poll, &root);
        } catch (...) {
            done_ = true;  // `fut` threw: it must not be polled again
            throw;
        }
        if (!ready) return Pending;
        done_ = true;
        return std::move(root.result);
    }

private:
    struct Root {
        F* fut;
        Poll<Output> result;
        static bool poll(void* self, Context& cx) {
            auto* root = static_cast<Root*>(self);
            root->result = root->fut->poll(cx);
            return root->result.is_ready();
        }
    };

    detail::LocalSetRef core_;  // first: `fut_` (which may hold local JoinHandles) is destroyed before it
    F fut_;
    bool done_ = false;
};

/// The future of LocalSet::wait(): drives the set until all its tasks have
/// finished. Cancellation-safe: dropping it leaves the tasks in the set.
class CORIO_NODISCARD_FUTURE LocalSetWait {
public:
    using Output = void;
    explicit LocalSetWait(detail::LocalSetRef core) noexcept : core_(std::move(core)) {}

    /// Throws std::logic_error when moved from or when the set is already
    /// being driven elsewhere.
    Poll<void> poll(Context& cx) {
        if (!core_) throw std::logic_error("corio: polled a moved-from LocalSet::wait future");
        if (!core_.get()->drive(cx, nullptr, nullptr)) return Pending;
        return Ready();
    }

private:
    detail::LocalSetRef core_;
};

/// A set of tasks that all run on the thread that drives the set: for
/// futures that must not move between threads (unsynchronised shared state,
/// thread-affine handles). Tokio's LocalSet.
///
/// Spawn with spawn_local (the member, or task::spawn_local while the set is
/// being driven), then drive it from inside a runtime:
///
///     LocalSet set;
///     int v = rt.block_on(set.run_until(main_task()));   // or co_await set.run_until(...)
///     rt.block_on(set.wait());                           // or co_await set;
///
/// Tasks run only while the set is driven, and always on the thread whose
/// poll drives it. Driven from block_on (of either runtime flavour) or from
/// a task of a current_thread runtime, that is always the same thread. Driven
/// from a task of a multi-thread runtime, it is the worker polling that task
/// at that moment: never two threads at once, but possibly a different one
/// after each suspension.
///
/// Thread safety: a LocalSet must be driven (and destroyed) from one thread
/// at a time; a second driver at the same time, or driving a set from inside
/// one of its own tasks, throws std::logic_error. spawn_local and every
/// Waker/JoinHandle of its tasks may be used from any thread.
///
/// Destroying the set destroys every unfinished task, running its
/// destructors (their JoinHandles then throw JoinError), and tasks spawned
/// onto it afterwards are cancelled at once. Destroying it from inside one
/// of its own tasks aborts the process.
class LocalSet {
public:
    using Output = void;

    /// An empty set.
    LocalSet();
    LocalSet(LocalSet&& other) noexcept = default;
    /// Destroys this set's tasks (see ~LocalSet), then takes `other`'s.
    LocalSet& operator=(LocalSet&& other) noexcept;
    LocalSet(const LocalSet&) = delete;
    LocalSet& operator=(const LocalSet&) = delete;
    /// Destroys every unfinished task of the set.
    ~LocalSet();

    /// Spawns `fut` onto this set: it runs (on the driving thread) only while
    /// the set is driven. Callable from any thread. Throws std::logic_error
    /// on a moved-from set.
    template <Future F>
    JoinHandle<output_of<F>> spawn_local(F fut, std::source_location where = std::source_location::current()) {
        return detail::spawn_local_on(core(), std::move(fut), detail::TaskOrigin(where));
    }

    /// A future that drives the set until `fut` completes, with `fut`'s
    /// output (see RunUntil). Throws std::logic_error on a moved-from set;
    /// awaiting it rethrows `fut`'s exception, and throws std::logic_error
    /// when the set is already being driven elsewhere. Cancellation-safe
    /// exactly when `fut` is: dropping it drops `fut` (losing what `fut`
    /// loses when dropped), never the set's tasks, which stay in the set and
    /// run when it is next driven.
    template <Future F>
    RunUntil<F> run_until(F fut) {
        return RunUntil<F>(shared_core(), std::move(fut));
    }

    /// A future that drives the set until all its tasks have finished.
    /// Throws std::logic_error on a moved-from set; awaiting it throws
    /// std::logic_error when the set is already being driven elsewhere.
    /// Cancellation-safe: dropping it loses nothing; the tasks stay in the
    /// set and run when it is next driven.
    LocalSetWait wait() { return LocalSetWait(shared_core()); }

    /// The set is itself a future: `co_await set` is `co_await set.wait()`,
    /// with the same errors and the same cancellation safety.
    Poll<void> poll(Context& cx);

    /// Tasks spawned onto the set and not yet finished (a snapshot).
    std::size_t len() const noexcept;

private:
    detail::LocalSetCore& core() const;
    detail::LocalSetRef shared_core() const;

    detail::LocalSetRef core_;
};

/// Spawns `fut` so that it stays on this thread: onto the LocalSet being
/// driven on this thread (the innermost, when sets are nested); outside any
/// LocalSet on a current_thread runtime, onto that runtime (whose tasks
/// never leave its thread). Throws std::logic_error elsewhere (outside a
/// LocalSet on a multi-thread runtime, or outside any runtime).
template <Future F>
JoinHandle<output_of<F>> spawn_local(F fut, std::source_location where = std::source_location::current()) {
    return detail::spawn_local_on(detail::local_spawn_target(), std::move(fut), detail::TaskOrigin(where));
}

static_assert(Future<LocalSet>);
static_assert(Future<LocalSetWait>);
static_assert(Future<RunUntil<Task<int>>>);
static_assert(Future<RunUntil<Task<void>>>);

}  // namespace task
}  // namespace corio
