// The runtime: Builder, Runtime, Handle, spawn and task helpers; with
// JoinHandle, AbortHandle, JoinError and RuntimeMetrics from the headers
// below, so this one include gives all of them.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/detail/runtime_core.hpp"
#include "corio/detail/task_cell.hpp"
#include "corio/diag.hpp"
#include "corio/future.hpp"
#include "corio/runtime/io_backend.hpp"
#include "corio/runtime/metrics.hpp"
#include "corio/task.hpp"
#include "corio/task/join_error.hpp"
#include "corio/task/join_handle.hpp"

namespace corio {

namespace task {
class Builder;
}

namespace detail {
template <class F>
JoinHandle<output_of<F>> spawn_on(RuntimeCore& core, F&& fut, TaskOrigin origin) {
    return spawn_task<F>(std::forward<F>(fut), core, origin);
}

/// The blocking pool as the scheduler of its tasks' cells (src/runtime/blocking/pool.cpp).
Scheduler& blocking_scheduler(BlockingPool& pool) noexcept;

/// What spawn_blocking(fn) yields: fn's result (cv-qualifiers dropped).
template <class F>
using blocking_output_t = std::remove_cv_t<std::invoke_result_t<std::decay_t<F>>>;

/// A closure spawn_blocking accepts: callable once with no arguments,
/// returning void or an object type.
template <class F>
concept BlockingFn = std::invocable<std::decay_t<F>> && std::move_constructible<std::decay_t<F>> &&
                     (std::is_void_v<blocking_output_t<F>> || std::is_object_v<blocking_output_t<F>>);

/// The future of a blocking task: its one poll, on a blocking-pool thread,
/// runs the closure to the end and returns its result.
template <class Fn>
class CORIO_NODISCARD_FUTURE BlockingTask {
public:
    using Output = std::remove_cv_t<std::invoke_result_t<Fn>>;
    explicit BlockingTask(Fn fn) noexcept(std::is_nothrow_move_constructible_v<Fn>) : fn_(std::move(fn)) {}

    /// For task dumps.
    void describe(DescribeSink& out) const noexcept { out << "spawn_blocking closure"; }

    Poll<Output> poll(Context&) {
        if constexpr (std::is_void_v<Output>) {
            std::invoke(std::move(fn_));
            return Ready();
        } else {
            return Ready(std::invoke(std::move(fn_)));
        }
    }

private:
    Fn fn_;
};

template <BlockingFn F>
JoinHandle<blocking_output_t<F>> spawn_blocking_on(RuntimeCore& core, F&& fn, TaskOrigin origin) {
    using Fut = BlockingTask<std::decay_t<F>>;
    BlockingPool* pool = core.blocking_pool();
    if (pool == nullptr) throw std::logic_error("corio::spawn_blocking: this runtime has no blocking pool");
    Scheduler& scheduler = blocking_scheduler(*pool);
    return spawn_task<Fut>(Fut(std::forward<F>(fn)), scheduler, origin);
}
}  // namespace detail

/// A cheap, copyable reference to a runtime, usable from any thread: spawn
/// onto the runtime from outside it. Keeps the runtime's shared state alive,
/// not the runtime: spawning after the runtime was destroyed yields a task
/// that is cancelled at once (its JoinHandle throws JoinError).
class Handle {
public:
    /// The runtime running on this thread. Throws std::logic_error outside one.
    static Handle current() { return Handle(&detail::current_runtime_or_throw("corio::Handle::current()")); }

    /// The runtime running on this thread, if any.
    static std::optional<Handle> try_current() {
        if (detail::current_runtime == nullptr) return std::nullopt;
        return Handle(detail::current_runtime);
    }

    Handle(const Handle& other) noexcept : Handle(other.core_) {}
    Handle(Handle&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
    Handle& operator=(Handle other) noexcept {
        std::swap(core_, other.core_);
        return *this;
    }
    ~Handle() {
        if (core_ != nullptr) core_->unref();
    }

    /// Spawns `fut` as a new task on this runtime; from a foreign thread the
    /// runtime is woken to run it. The task records where it was spawned.
    template <Future F>
    JoinHandle<output_of<F>> spawn(F fut, std::source_location where = std::source_location::current()) {
        return detail::spawn_on(*core_, std::move(fut), detail::TaskOrigin(where));
    }

    /// Runs `fn` on this runtime's blocking pool; see task::spawn_blocking.
    template <detail::BlockingFn F>
    JoinHandle<detail::blocking_output_t<F>> spawn_blocking(
        F&& fn, std::source_location where = std::source_location::current()) {
        return detail::spawn_blocking_on(*core_, std::forward<F>(fn), detail::TaskOrigin(where));
    }

    /// True when both refer to the same runtime.
    bool operator==(const Handle& other) const noexcept { return core_ == other.core_; }

    /// A snapshot of the runtime's counters: workers, tasks alive, polls,
    /// steals, parks, queue depths, budget-forced yields.
    RuntimeMetrics metrics() const { return core_->metrics(); }
    /// The I/O backend the runtime's driver uses: Epoll or IoUring, never Auto.
    IoBackend io_backend() const noexcept { return core_->io_backend(); }

    /// Every task of this runtime: its id, name, spawn site, state and what
    /// it is waiting for (corio/diag.hpp). Reads what the runtime recorded:
    /// never re-polls a task, never waits for a running poll. Callable from
    /// any thread, inside a task too.
    diag::Dump dump() const { return core_->dump(); }

private:
    friend class Runtime;
    friend class task::Builder;
    explicit Handle(detail::RuntimeCore* core) noexcept : core_(core) {
        if (core_ != nullptr) core_->ref();
    }

    detail::RuntimeCore* core_;
};

class Runtime;

/// Configures and builds a Runtime.
class Builder {
public:
    /// A runtime that runs every task on the thread calling block_on.
    static Builder new_current_thread();
    /// A work-stealing runtime with `worker_threads` workers (default: one
    /// per core); block_on's thread only waits.
    static Builder new_multi_thread();

    /// Worker threads of a multi-thread runtime; ignored by current_thread (as in Tokio).
    Builder& worker_threads(std::size_t n);
    /// Name of the threads the runtime starts (workers, blocking pool).
    Builder& thread_name(std::string name);
    /// Called on each thread the runtime starts, first thing / last thing.
    Builder& on_thread_start(std::function<void()> f);
    Builder& on_thread_stop(std::function<void()> f);
    /// Upper bound on the blocking pool's threads (default 512).
    Builder& max_blocking_threads(std::size_t n);
    /// How long an idle blocking-pool thread waits for work before it exits
    /// (default 10 s). Must not be negative.
    Builder& thread_keep_alive(std::chrono::nanoseconds keep_alive);
    /// How many task polls run between two checks of the remote queue and
    /// the timer driver (default 61). Must be at least 1.
    Builder& event_interval(std::uint32_t ticks);
    /// Start with the clock paused: time moves only through time::advance or,
    /// when every task is idle, by jumping to the next timer's deadline.
    Builder& start_paused(bool paused);
    /// The I/O backend (default Auto: io_uring where the kernel offers what
    /// corio needs, else epoll; CORIO_IO_BACKEND=epoll|io_uring overrides
    /// Auto). build() throws std::system_error when an explicitly chosen
    /// backend is unavailable.
    Builder& io_backend(IoBackend backend);
    /// A poll running longer than this is reported while it still runs
    /// (default 100 ms; zero turns the stall detector off).
    Builder& stall_threshold(std::chrono::nanoseconds threshold);
    /// Receives stall reports, on a thread of its own (default: a few lines
    /// on stderr). At most 5 reports a minute reach it.
    Builder& on_stall(std::function<void(const diag::StallReport&)> handler);
    /// Writes dump().to_string() to stderr whenever the process receives
    /// `signo` (SIGUSR1, say). The handler stays installed for the process.
    Builder& dump_on_signal(int signo);
    /// Keep per-worker histograms of poll durations (metrics().workers[i]
    /// .poll_time_histogram; off by default: it reads the clock twice a poll).
    Builder& enable_metrics_histograms(bool enable);

    /// Builds the runtime. Throws std::system_error when the OS refuses a
    /// resource (eventfd, epoll) and std::invalid_argument for bad settings.
    Runtime build();

    struct Config {
        std::size_t worker_threads = 0;
        std::string thread_name = "corio-worker";
        std::function<void()> on_thread_start;
        std::function<void()> on_thread_stop;
        std::size_t max_blocking_threads = 512;
        std::chrono::nanoseconds thread_keep_alive = std::chrono::seconds(10);
        std::uint32_t event_interval = 61;
        bool start_paused = false;
        bool multi_thread = false;
        IoBackend io_backend = IoBackend::Auto;
        std::chrono::nanoseconds stall_threshold = std::chrono::milliseconds(100);
        std::function<void(const diag::StallReport&)> on_stall;
        int dump_signal = 0;
        bool metrics_histograms = false;
    };

private:
    Builder() = default;
    Config config_;
};

/// An executor with its timer (and later I/O) drivers.
///
/// Destroying a runtime shuts it down: every unfinished task is destroyed,
/// running its destructors, and its JoinHandle throws JoinError.
class Runtime {
public:
    Runtime(Runtime&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
    Runtime& operator=(Runtime&& other) noexcept;
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;
    ~Runtime();

    /// Runs `fut` to completion on the calling thread, running spawned tasks
    /// and timers meanwhile, and returns its output (or rethrows its
    /// exception). Throws std::logic_error when called from inside a runtime
    /// (a task cannot block its own thread: co_await instead), or after
    /// shutdown.
    template <Future F>
    output_of<F> block_on(F fut) {
        using Out = output_of<F>;
        struct Root {
            F* fut;
            Poll<Out> result = Pending;
            static bool poll(void* self, Context& cx) {
                auto* root = static_cast<Root*>(self);
                root->result = root->fut->poll(cx);
                return root->result.is_ready();
            }
        } root{&fut};
        core().block_on(&Root::poll, &root);
        return std::move(root.result).take();
    }

    /// Spawns `fut` as a task on this runtime (it runs while some thread is
    /// inside block_on).
    template <Future F>
    JoinHandle<output_of<F>> spawn(F fut, std::source_location where = std::source_location::current()) {
        return detail::spawn_on(core(), std::move(fut), detail::TaskOrigin(where));
    }

    /// Runs `fn` on this runtime's blocking pool; see task::spawn_blocking.
    template <detail::BlockingFn F>
    JoinHandle<detail::blocking_output_t<F>> spawn_blocking(
        F&& fn, std::source_location where = std::source_location::current()) {
        return detail::spawn_blocking_on(core(), std::forward<F>(fn), detail::TaskOrigin(where));
    }

    /// A handle to this runtime.
    Handle handle() const { return Handle(core_); }

    /// Shuts down now: destroys every task, waits up to `timeout` for blocking
    /// work, stops the drivers. The runtime cannot be used afterwards.
    void shutdown_timeout(std::chrono::nanoseconds timeout) noexcept;

private:
    friend class Builder;
    explicit Runtime(detail::RuntimeCore* core) noexcept : core_(core) {}
    detail::RuntimeCore& core() const;

    detail::RuntimeCore* core_;
};

/// Spawns `fut` on the runtime running on this thread. Throws
/// std::logic_error when called outside a runtime.
/// The task records where it was spawned (Handle::dump, stall reports).
template <Future F>
JoinHandle<output_of<F>> spawn(F fut, std::source_location where = std::source_location::current()) {
    return detail::spawn_on(detail::current_runtime_or_throw("corio::spawn"), std::move(fut),
                            detail::TaskOrigin(where));
}

/// The `#[tokio::main]` equivalent: builds a multi-thread runtime, runs
/// `main_task` to completion with block_on, shuts the runtime down and
/// returns the task's value.
int run(Task<int> main_task);
void run(Task<void> main_task);

namespace task {

/// Runs `fn` (callable once with no arguments) on a thread of the current
/// runtime's blocking pool, so blocking calls (file I/O, getaddrinfo, long
/// computations) never stall the threads that poll tasks. Threads start on
/// demand up to Builder::max_blocking_threads; beyond that calls wait in a
/// queue. Awaiting the handle yields fn's result or rethrows its exception.
///
/// `fn` runs outside the runtime: no current runtime there (capture a
/// Handle to spawn from it). Once started it cannot be cancelled: abort()
/// only cancels a call still queued; shutdown cancels the queued ones and
/// waits (up to its timeout) for the running ones. Throws std::logic_error
/// outside a runtime.
template <detail::BlockingFn F>
JoinHandle<detail::blocking_output_t<F>> spawn_blocking(F&& fn,
                                                        std::source_location where = std::source_location::current()) {
    return detail::spawn_blocking_on(detail::current_runtime_or_throw("corio::task::spawn_blocking"),
                                     std::forward<F>(fn), detail::TaskOrigin(where));
}

/// The future of consume_budget().
class CORIO_NODISCARD_FUTURE ConsumeBudget {
public:
    using Output = void;
    Poll<void> poll(Context& cx) {
        if (!detail::poll_proceed(cx)) return Pending;
        return Ready();
    }
};

/// Spends one unit of the task's cooperative budget (128 per poll), yielding
/// to other tasks when it is used up. For long computations that never touch
/// a corio resource. Cancellation-safe.
inline ConsumeBudget consume_budget() noexcept { return {}; }

}  // namespace task

}  // namespace corio
