#include "runtime/scheduler/current_thread.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "corio/detail/sync.hpp"
#include "diag/collect.hpp"
#include "runtime/time/clock.hpp"

namespace corio::detail {

/// Makes this runtime the thread's current one for a scope.
class CurrentThread::Enter {
public:
    explicit Enter(CurrentThread& rt) noexcept
        : saved_runtime_(std::exchange(current_runtime, &rt)),
          saved_clock_(std::exchange(current_clock, &rt.driver_.time().clock())),
          saved_observer_(std::exchange(poll_observer, rt.config_.metrics_histograms ? &rt.poll_times_ : nullptr)) {}
    Enter(const Enter&) = delete;
    Enter& operator=(const Enter&) = delete;
    ~Enter() {
        current_runtime = saved_runtime_;
        current_clock = saved_clock_;
        poll_observer = saved_observer_;
        worker_clock_live = false;  // refreshed while this thread drives the runtime
    }

private:
    RuntimeCore* saved_runtime_;
    const Clock* saved_clock_;
    PollObserver* saved_observer_;
};

const RawWakerVTable CurrentThread::kRootWakerVTable{&root_waker_clone, &root_waker_wake, &root_waker_wake_by_ref,
                                                     &root_waker_drop};

CurrentThread::CurrentThread(const Builder::Config& config)
    : config_(config),
      blocking_(BlockingPool::create(config)),
      driver_(config.start_paused, config.io_backend, true),
      monitor_(config, 1, [this] { return dump(); }) {
    // A paused clock does not jump while blocking work runs; the pool
    // unparks the driver when that work is done (until shutdown clears it).
    BlockingPool* pool = &*blocking_;
    driver_.inhibit_auto_advance_while([pool] { return pool->busy(); });
    blocking_->set_on_idle([this] { driver_.unpark(); });
}

CurrentThread::~CurrentThread() = default;

void CurrentThread::ref() noexcept {
    refs_.fetch_add(1, std::memory_order_relaxed);  // made from an existing reference
}

void CurrentThread::unref() noexcept {
    // acq_rel: the last owner must see every other owner's writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

// ---- scheduling ------------------------------------------------------------------

void CurrentThread::do_schedule(std::uintptr_t entry) {
    Notified task = Notified::from_bits(entry);
    if (config_.metrics_histograms) stamp_scheduled(task.task());
    core_.schedule(std::move(task), on_driver_thread(), [this](NewTask t) { push_remote(std::move(t)); });
}

void CurrentThread::do_schedule_yielded(std::uintptr_t entry) {
    Notified task = Notified::from_bits(entry);
    if (config_.metrics_histograms) stamp_scheduled(task.task());
    deferred_.push_back(std::move(task));  // see deferred_: behind the driver's next poll
}

void CurrentThread::wake_deferred() {
    while (Notified task = deferred_.pop_front()) core_.schedule_yielded(std::move(task));
}

void CurrentThread::do_spawn(TaskHeader* new_task) {
    NewTask task(new_task);
    if (config_.metrics_histograms) stamp_scheduled(task.task());
    core_.spawn(std::move(task), on_driver_thread(), [this](NewTask t) { push_remote(std::move(t)); });
}

void CurrentThread::push_remote(NewTask task) {
    remote_schedules_.fetch_add(1, std::memory_order_relaxed);
    if (core_.remote.push(std::move(task))) driver_.unpark();
}

TaskHeader* CurrentThread::do_release(TaskHeader* task) noexcept { return core_.release(RawTask(task)).into_raw(); }

RuntimeMetrics CurrentThread::metrics() const {
    RuntimeMetrics m;
    m.num_workers = 1;
    m.alive_tasks = core_.owned.size();
    m.remote_schedules = remote_schedules_.load(std::memory_order_relaxed);
    m.budget_forced_yields = forced_yields_.load(std::memory_order_relaxed);
    m.inject_queue_depth = core_.remote.size();
    WorkerMetrics w;
    w.polls = polls_.load(std::memory_order_relaxed);
    w.parks = parks_.load(std::memory_order_relaxed);
    w.local_queue_depth = local_depth_.load(std::memory_order_relaxed);
    if (config_.metrics_histograms) poll_times_.read_into(w);
    m.workers.push_back(w);
    return m;
}

// Runs up to event_interval tasks; false when there was nothing to run. The
// root future is polled between batches, so neither starves the other.
bool CurrentThread::run_batch() {
    refresh_worker_clock();
    if (dump_requests_.load(std::memory_order_relaxed) != dump_seen_) serve_dump_requests();
    bool ran = false;
    for (std::uint32_t i = 0; i < config_.event_interval; ++i) {
        Notified entry = core_.next_task(config_.event_interval);
        if (!entry) {
            if (deferred_.empty()) return ran;
            // Only tasks that yielded are left: I/O and timers first, and
            // block_on's root, which it polls between two batches.
            driver_.poll_ready();
            wake_deferred();
            return true;
        }
        std::move(entry).run();  // under enable_metrics_histograms the task's PollRecord times it
        ran = true;
        increment_single_writer(polls_);
    }
    local_depth_.store(core_.local.size(), std::memory_order_relaxed);
    driver_.poll_ready();
    wake_deferred();
    return true;
}

void CurrentThread::block_on(bool (*poll_root)(void* ctx, Context& cx), void* ctx) {
    if (current_runtime != nullptr) {
        throw std::logic_error(
            "corio: block_on called from inside a runtime; a task must not block its thread (co_await instead)");
    }
    if (core_.shut_down) throw std::logic_error("corio: block_on on a runtime that was shut down");
    if (driving_.exchange(true, std::memory_order_acquire)) {
        throw std::logic_error("corio: this current_thread runtime is already driven by block_on on another thread");
    }
    struct Release {
        Atomic<bool>& flag;
        ~Release() { flag.store(false, std::memory_order_release); }
    } release{driving_};
    Enter enter(*this);
    monitor_.attach(0);
    struct Detach {
        Monitor& monitor;
        ~Detach() { monitor.detach(0); }
    } detach{monitor_};

    BorrowedWaker waker(RawWaker{this, &kRootWakerVTable});
    Context cx(waker.get());
    root_woken_.store(true, std::memory_order_relaxed);
    for (;;) {
        // acquire: pairs with the waker's release, so the root sees what its waker saw.
        if (root_woken_.exchange(false, std::memory_order_acquire)) {
            BudgetScope budget;
            if (poll_root(ctx, cx)) return;
        }
        if (run_batch()) continue;
        if (root_woken_.load(std::memory_order_relaxed)) {
            // The root woke itself (a yield_now loop): let I/O and timers in
            // before it runs again, or a root that yields until a socket has
            // bytes would never see them.
            driver_.poll_ready();
            continue;
        }
        local_depth_.store(0, std::memory_order_relaxed);
        core_.local.trim();
        increment_single_writer(parks_);
        driver_.park();
        refresh_worker_clock();
        if (dump_requests_.load(std::memory_order_relaxed) != dump_seen_) serve_dump_requests();
    }
}

// ---- the root future's waker -------------------------------------------------------

RawWaker CurrentThread::root_waker_clone(const void* self) {
    static_cast<CurrentThread*>(const_cast<void*>(self))->ref();
    return RawWaker{self, &kRootWakerVTable};
}

void CurrentThread::root_waker_wake(const void* self) {
    root_waker_wake_by_ref(self);
    root_waker_drop(self);
}

void CurrentThread::root_waker_wake_by_ref(const void* self) {
    auto* rt = static_cast<CurrentThread*>(const_cast<void*>(self));
    rt->root_woken_.store(true, std::memory_order_release);
    if (!rt->on_driver_thread()) rt->driver_.unpark();
}

void CurrentThread::root_waker_drop(const void* self) { static_cast<CurrentThread*>(const_cast<void*>(self))->unref(); }

// ---- diagnostics -----------------------------------------------------------------------

diag::Dump CurrentThread::dump() {
    if (on_driver_thread()) return dump_here();
    if (!driving_.load(std::memory_order_acquire)) {
        diag::Dump d;
        d.incomplete = "no thread is inside block_on, so the tasks cannot be read now";
        return d;
    }
    std::unique_lock lock(dump_mutex_);
    std::uint64_t ticket = dump_requests_.load(std::memory_order_relaxed) + 1;
    dump_requests_.store(ticket, std::memory_order_relaxed);
    driver_.unpark();
    // Never wait out a poll that does not end: the stall detector tells what it is.
    if (dump_cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return dump_served_ >= ticket; })) {
        return dump_result_;
    }
    diag::Dump d;
    d.incomplete = "the runtime's thread did not come back from a poll within 100 ms (see the stall report)";
    return d;
}

diag::Dump CurrentThread::dump_here() {
    diag::Dump d;
    read_owned_tasks(core_.owned, core_.owned.size(), {current_task.load(std::memory_order_relaxed)},
                     config_.metrics_histograms, d);
    blocking_->dump_into(d);
    dump_local_sets(this, d);
    finish_dump(d);
    return d;
}

void CurrentThread::serve_dump_requests() {
    dump_seen_ = dump_requests_.load(std::memory_order_relaxed);
    diag::Dump d = dump_here();
    {
        std::lock_guard lock(dump_mutex_);
        dump_result_ = std::move(d);
        dump_served_ = dump_seen_;
    }
    dump_cv_.notify_all();
}

// ---- shutdown ------------------------------------------------------------------------

void CurrentThread::shutdown(std::chrono::nanoseconds timeout) noexcept {
    if (core_.shut_down) return;
    if (current_runtime == this) {
        std::fputs("corio: a Runtime was shut down from inside one of its own tasks; that cannot work\n", stderr);
        std::abort();
    }
    core_.shut_down = true;
    monitor_.stop();
    Enter enter(*this);  // destructors of cancelled tasks may spawn, wake or drop timers
    core_.remote.close();
    wake_deferred();  // into the local queue, which cancel_all drains
    core_.cancel_all();
    // Queued blocking tasks are cancelled, running ones get up to `timeout`.
    blocking_->shutdown(timeout);
    driver_.shutdown();
}

}  // namespace corio::detail
