// TaskTracker: counts the tasks (and futures) handed to it and lets anyone
// wait until the tracker is closed and all of them are gone: the graceful
// shutdown half of Tokio's tokio_util::task::TaskTracker.
//
// Unlike a JoinSet, a tracker owns nothing: it keeps no handle and no output,
// so a long-running server can track millions of short connections in
// constant memory. What it counts are tokens (TaskTrackerToken); every
// tracked task's future holds one, released when that future is destroyed:
// when the task completes, fails, is aborted, or is dropped by a
// shutting-down runtime.
//
// State: one atomic word shared by every copy of the tracker and every
// token; bit 0 is CLOSED, the bits above count live tokens. The invariant:
// whoever moves the word to exactly CLOSED with no tokens (the last token
// released while closed, or close() on an empty open tracker) calls
// notify_waiters() on the shared Notify, after its change to the word. A
// TaskTrackerWait creates its Notified before it first reads the word, so a
// waiter either sees CLOSED-and-empty or is released by that notification:
// no wake-up is lost and nothing polls in a loop.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <source_location>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "corio/detail/describe.hpp"
#include "corio/detail/sync.hpp"
#include "corio/future.hpp"
#include "corio/runtime.hpp"
#include "corio/sync/notify.hpp"
#include "corio/task/local_set.hpp"

namespace corio {
namespace detail {

/// What the copies of one TaskTracker and its tokens share.
class TaskTrackerCore {
public:
    static constexpr std::size_t kClosed = 1;     // bit 0 of the word
    static constexpr std::size_t kTokenUnit = 2;  // one live token

    /// Counts one more token.
    void add_token() noexcept {
        // relaxed: nobody waits for the count to grow; a later release (the
        // token's drop) continues the release sequence that waiters acquire.
        word_.fetch_add(kTokenUnit, std::memory_order_relaxed);
    }

    /// Counts one token less; the last one of a closed tracker wakes the waiters.
    void drop_token() noexcept {
        // acq_rel: release publishes what the tracked task did to a waiter
        // that acquires the empty word; acquire lets the notifier carry every
        // other token's release on to the waiters it wakes.
        if (word_.fetch_sub(kTokenUnit, std::memory_order_acq_rel) == kClosed + kTokenUnit) {
            on_last_exit_.notify_waiters();
        }
    }

    /// Sets CLOSED; true when it was open. Wakes the waiters when that made
    /// the tracker closed and empty.
    bool close() noexcept {
        // acq_rel: as in drop_token (this too may be the change waiters wait for).
        std::size_t before = word_.fetch_or(kClosed, std::memory_order_acq_rel);
        if (before == 0) on_last_exit_.notify_waiters();
        return (before & kClosed) == 0;
    }

    /// Clears CLOSED; true when it was closed.
    bool reopen() noexcept {
        // acq_rel: keeps the word's RMWs one release sequence; nobody waits for an open tracker.
        return (word_.fetch_and(~kClosed, std::memory_order_acq_rel) & kClosed) != 0;
    }

    // acquire: a waiter that sees the word empty sees what every tracked task did.
    std::size_t load() const noexcept { return word_.load(std::memory_order_acquire); }

    sync::Notify& on_last_exit() noexcept { return on_last_exit_; }

private:
    corio::detail::Atomic<std::size_t> word_{0};  // CLOSED bit | live tokens * kTokenUnit
    sync::Notify on_last_exit_;                   // notify_waiters() on each move to exactly CLOSED
};

}  // namespace detail

namespace task {

class TaskTracker;

/// One unit of a TaskTracker's count, held while this token lives: the
/// tracker is not empty (and its wait() not ready) as long as any token of
/// it exists. Copying makes a new token (counted once more); moving hands
/// the unit on; a moved-from token counts nothing. Destroying it, on any
/// thread, may wake the tracker's waiters.
class TaskTrackerToken {
public:
    /// A new token of the same tracker (Tokio's Clone).
    TaskTrackerToken(const TaskTrackerToken& other) noexcept : core_(other.core_) {
        if (core_ != nullptr) core_->add_token();
    }
    /// Takes `other`'s unit; `other` then counts nothing.
    TaskTrackerToken(TaskTrackerToken&& other) noexcept = default;
    /// Releases this token's unit (if any), then holds `other`'s.
    TaskTrackerToken& operator=(TaskTrackerToken other) noexcept {
        std::swap(core_, other.core_);
        return *this;
    }
    /// Releases the unit: the tracker's waiters are woken when this was the
    /// last token of a closed tracker.
    ~TaskTrackerToken() {
        if (core_ != nullptr) core_->drop_token();
    }

    /// The tracker that counts this token. Throws std::logic_error on a
    /// moved-from token.
    TaskTracker task_tracker() const;

private:
    friend class TaskTracker;
    explicit TaskTrackerToken(std::shared_ptr<detail::TaskTrackerCore> core) noexcept : core_(std::move(core)) {
        core_->add_token();
    }

    std::shared_ptr<detail::TaskTrackerCore> core_;
};

/// `F` with a TaskTrackerToken: the tracker counts this future for as long
/// as it exists (not just until it completes). Its output is F's.
/// Cancellation-safe exactly when F is: dropping it drops F, then the token.
template <Future F>
class CORIO_NODISCARD_FUTURE TrackedFuture {
public:
    using Output = output_of<F>;

    /// `fut`, counted by the tracker of `token` for as long as it exists.
    TrackedFuture(F fut, TaskTrackerToken token) noexcept(std::is_nothrow_move_constructible_v<F>)
        : token_(std::move(token)), future_(std::move(fut)) {}

    /// Polls the inner future.
    Poll<Output> poll(Context& cx) { return future_.poll(cx); }

    /// For task dumps: the inner future's chain.
    void describe_chain(detail::ChainBuffer& out) const noexcept { detail::describe_chain_of(future_, out); }

private:
    // Declared first so it is destroyed last: the count drops only once the
    // future (and everything it owns) is gone.
    TaskTrackerToken token_;
    F future_;
};

/// The future of TaskTracker::wait(): ready once the tracker is closed and
/// has no tokens. Once it has seen that (or been woken by it), later changes
/// such as a reopen or a new task do not make it pending again; polled
/// after it completed, it is ready again.
///
/// Cancellation-safe: it takes nothing; dropped while pending it leaves the
/// tracker's wait list, and a new wait() starts afresh. It holds a reference
/// to the tracker's state, so it may outlive the TaskTracker it came from.
/// Movable only before its first poll.
class CORIO_NODISCARD_FUTURE TaskTrackerWait {
public:
    using Output = void;

    /// Ready once the tracker is (or was, since wait()) closed and empty;
    /// else Pending, with cx's waker registered on the tracker. Spends one
    /// unit of the cooperative budget when it has to wait.
    Poll<void> poll(Context& cx) {
        if (done_) return Ready();
        // A notification since creation, or a state that is final right now.
        if (core_->load() == detail::TaskTrackerCore::kClosed || notified_.poll(cx).is_ready()) {
            done_ = true;
            return Ready();
        }
        return Pending;
    }

private:
    friend class TaskTracker;
    explicit TaskTrackerWait(std::shared_ptr<detail::TaskTrackerCore> core) noexcept
        : core_(std::move(core)),
          notified_(core_->on_last_exit().notified()),
          // After notified_ exists: a notification from now on releases it.
          done_(core_->load() == detail::TaskTrackerCore::kClosed) {}

    // core_ first: it outlives notified_, which points into it.
    std::shared_ptr<detail::TaskTrackerCore> core_;
    sync::Notify::Notified notified_;
    bool done_;
};

/// Counts tasks so that a shutdown can wait for them: Tokio's TaskTracker.
///
///     task::TaskTracker tracker;
///     for (...) tracker.spawn(serve(std::move(conn)));   // from the accept loop
///     // shutting down: stop accepting, then
///     tracker.close();
///     auto drained = co_await time::timeout(5s, tracker.wait());
///
/// spawn() and its variants spawn a task whose future holds a token of the
/// tracker until it is destroyed: when it completes, fails, is aborted or is
/// dropped by a shutting-down runtime. The tracker keeps no handle and no
/// output (that is JoinSet's job): the JoinHandle is returned as usual.
///
/// wait() is ready once the tracker is closed and empty. Closing only
/// changes what wait() means: a closed tracker still tracks new tasks (and
/// may be reopened); it is "closed" so that a tracker that is empty for a
/// moment (before the first task, between two) is not mistaken for done.
/// Note that wait() may become ready a moment before the JoinHandles of the
/// last tasks do: the token goes with the future, before the output is stored.
///
/// Thread safety: cheap to copy (copies share one state, like Tokio's
/// Clone); every member may be called from any thread and any task.
class TaskTracker {
public:
    /// A new, open, empty tracker. Throws std::bad_alloc.
    TaskTracker() : core_(std::make_shared<detail::TaskTrackerCore>()) {}
    /// Another handle on the same tracker. There is no move (moving copies),
    /// so no TaskTracker is ever left without a state.
    TaskTracker(const TaskTracker&) noexcept = default;
    TaskTracker& operator=(const TaskTracker&) noexcept = default;

    /// Spawns `fut` on the current runtime as a tracked task; its JoinHandle
    /// is returned as corio::spawn returns it. Throws std::logic_error
    /// outside a runtime (nothing is then tracked).
    template <Future F>
    JoinHandle<output_of<F>> spawn(F fut, std::source_location where = std::source_location::current()) {
        return corio::spawn(track_future(std::move(fut)), where);
    }

    /// Spawns `fut` as a tracked task on the runtime of `handle` (from any
    /// thread).
    template <Future F>
    JoinHandle<output_of<F>> spawn_on(F fut, const Handle& handle,
                                      std::source_location where = std::source_location::current()) {
        Handle target = handle;
        return target.spawn(track_future(std::move(fut)), where);
    }

    /// Spawns `fut` as a tracked task with task::spawn_local (it stays on
    /// this thread). Throws std::logic_error where spawn_local would.
    template <Future F>
    JoinHandle<output_of<F>> spawn_local(F fut, std::source_location where = std::source_location::current()) {
        return task::spawn_local(track_future(std::move(fut)), where);
    }

    /// `fut` wrapped so that this tracker counts it while it exists, to be
    /// awaited or spawned by the caller (see TrackedFuture).
    template <Future F>
    TrackedFuture<F> track_future(F fut) {
        return TrackedFuture<F>(std::move(fut), token());
    }

    /// A new token: the tracker counts it until it is destroyed. For work
    /// that is not a future of its own (a thread, a callback).
    TaskTrackerToken token() const noexcept { return TaskTrackerToken(core_); }

    /// Closes the tracker: from now on wait() is ready whenever it is empty.
    /// True when it was open. Wakes the waiters if it is already empty.
    bool close() noexcept { return core_->close(); }

    /// Reopens a closed tracker (wait() pends again while it is open). True
    /// when it was closed. Waiters already released stay released.
    bool reopen() noexcept { return core_->reopen(); }

    /// True while closed.
    bool is_closed() const noexcept { return (core_->load() & detail::TaskTrackerCore::kClosed) != 0; }

    /// Tasks, tracked futures and tokens alive now.
    std::size_t len() const noexcept { return core_->load() / detail::TaskTrackerCore::kTokenUnit; }

    /// True when len() is 0.
    bool is_empty() const noexcept { return core_->load() <= detail::TaskTrackerCore::kClosed; }

    /// A future that is ready once the tracker is closed and empty. Awaiting
    /// it is cancellation-safe (see TaskTrackerWait); any number of tasks
    /// may wait at once, and all are woken.
    TaskTrackerWait wait() const noexcept { return TaskTrackerWait(core_); }

    /// True when both share one state (one is a copy of the other).
    bool operator==(const TaskTracker& other) const noexcept { return core_ == other.core_; }

private:
    friend class TaskTrackerToken;
    explicit TaskTracker(std::shared_ptr<detail::TaskTrackerCore> core) noexcept : core_(std::move(core)) {}

    std::shared_ptr<detail::TaskTrackerCore> core_;  // never null
};

inline TaskTracker TaskTrackerToken::task_tracker() const {
    if (core_ == nullptr) throw std::logic_error("corio::task::TaskTrackerToken: task_tracker() on a moved-from token");
    return TaskTracker(core_);
}

static_assert(Future<TrackedFuture<Task<int>>>);
static_assert(Future<TrackedFuture<Task<void>>>);
static_assert(Future<TaskTrackerWait>);

}  // namespace task
}  // namespace corio
