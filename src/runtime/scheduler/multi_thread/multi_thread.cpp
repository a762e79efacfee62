#include "runtime/scheduler/multi_thread/multi_thread.hpp"

#include <pthread.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "corio/detail/sync.hpp"
#include "diag/collect.hpp"
#include "runtime/time/clock.hpp"

namespace corio::detail::mt {
namespace {

// LIFO hand-offs per task run, so a ping-pong cannot starve the queue.
constexpr std::uint32_t kLifoPollCap = 3;
// How long a parked worker sleeps at most while another worker runs.
constexpr int kWatchMs = 1;

struct WorkerContext {
    MultiThread* runtime = nullptr;
    Worker* worker = nullptr;
};
thread_local WorkerContext current_worker_context;

// The LIFO slot belongs to its worker, but a task parked there behind a task
// that then blocks the worker would wait for the blocker. So the stall
// monitor, when it finds the worker stuck in one poll, signals it; the
// handler, on the worker's own thread, moves the slot's entry to `rescued`,
// which any worker may steal. The worker marks its own updates of the slot,
// so the handler never moves an entry half swapped (signal fences: the
// handler runs on the same thread, no CPU fence is needed).
Notified swap_lifo(Worker& w, Notified replacement) noexcept {
    w.lifo_busy.store(true, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    Notified old = std::exchange(w.lifo, std::move(replacement));
    std::atomic_signal_fence(std::memory_order_seq_cst);
    w.lifo_busy.store(false, std::memory_order_relaxed);
    return old;
}

// Runs in the stall monitor's signal handler on a stalled worker's thread.
void rescue_lifo() noexcept {
    Worker* w = current_worker_context.worker;
    if (w == nullptr || w->lifo_busy.load(std::memory_order_relaxed) || !w->lifo) return;
    if (w->rescued.load(std::memory_order_relaxed) != 0) return;  // the last one is not taken yet
    Notified e = std::exchange(w->lifo, Notified());
    w->rescued.store(std::move(e).into_bits(), std::memory_order_release);  // release: the task's state goes with it
}

std::uint32_t next_random(std::uint32_t& state) noexcept {
    // xorshift32: cheap randomness for the steal order.
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

}  // namespace

/// Makes this runtime the thread's current one for a scope.
class MultiThread::Enter {
public:
    Enter(MultiThread& rt, Worker* worker) noexcept
        : saved_runtime_(std::exchange(current_runtime, &rt)),
          saved_clock_(std::exchange(current_clock, &rt.driver_.driver.time().clock())),
          saved_worker_(std::exchange(current_worker_context, WorkerContext{&rt, worker})) {}
    Enter(const Enter&) = delete;
    Enter& operator=(const Enter&) = delete;
    ~Enter() {
        current_runtime = saved_runtime_;
        current_clock = saved_clock_;
        current_worker_context = saved_worker_;
    }

private:
    RuntimeCore* saved_runtime_;
    const Clock* saved_clock_;
    WorkerContext saved_worker_;
};

MultiThread::MultiThread(const Builder::Config& config)
    : config_(config),
      blocking_(BlockingPool::create(config)),
      driver_(false, config.io_backend),
      idle_(config.worker_threads),
      monitor_(config, config.worker_threads, [this] { return dump(); }) {
    driver_.driver.time().set_shared(true);
    workers_.reserve(config_.worker_threads);
    for (std::size_t i = 0; i < config_.worker_threads; ++i) {
        auto w = std::make_unique<Worker>();
        w->rng = static_cast<std::uint32_t>(0x9E3779B9u * (i + 1));
        workers_.push_back(std::move(w));
    }
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        workers_[i]->thread = std::thread([this, i] { run_worker(i); });
    }
}

MultiThread::~MultiThread() = default;

// Every task holds a count of the runtime's, taken at spawn and dropped when
// its cell is freed. On two workers spawning and finishing tasks, one shared
// counter would bounce between their caches twice per task; so a worker takes
// counts in blocks, hands them out and takes them back locally, and returns
// what it holds when it exits (shutdown joins it first). `refs_` counts what
// the workers hold as well, so it never reaches zero early.
void MultiThread::ref() noexcept {
    if (Worker* w = current_worker()) {
        if (w->spare_refs == 0) {
            refs_.fetch_add(kRefBlock, std::memory_order_relaxed);
            w->spare_refs = kRefBlock;
        }
        --w->spare_refs;
        return;
    }
    refs_.fetch_add(1, std::memory_order_relaxed);
}

void MultiThread::unref() noexcept {
    if (Worker* w = current_worker()) {
        if (++w->spare_refs < 2 * kRefBlock) return;
        w->spare_refs -= kRefBlock;
        // A worker runs only while the Runtime holds its own count: this cannot be the last.
        refs_.fetch_sub(kRefBlock, std::memory_order_relaxed);
        return;
    }
    // acq_rel: the last owner must see every other owner's writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

Worker* MultiThread::current_worker() const noexcept {
    const WorkerContext& ctx = current_worker_context;
    return ctx.runtime == this ? ctx.worker : nullptr;
}

// ---- scheduling -----------------------------------------------------------------------

void MultiThread::do_schedule(std::uintptr_t entry) {
    Notified task = Notified::from_bits(entry);
    if (config_.metrics_histograms) stamp_scheduled(task.task());
    Worker* w = current_worker();
    if (w == nullptr) {
        push_remote(std::move(task));
        return;
    }
    // The task just woken runs next on this worker (it likely shares data with
    // the waker); the one it displaces goes to the back of the queue.
    Notified displaced = swap_lifo(*w, std::move(task));
    if (displaced) {
        push_local(*w, std::move(displaced));
        notify_parked();
    }
}

void MultiThread::do_schedule_yielded(std::uintptr_t entry) {
    Notified task = Notified::from_bits(entry);
    if (config_.metrics_histograms) stamp_scheduled(task.task());
    Worker* w = current_worker();
    if (w == nullptr) {  // cannot happen: only workers poll tasks; stay correct anyway
        std::abort();
    }
    push_local(*w, std::move(task));
    notify_parked();
}

void MultiThread::do_spawn(TaskHeader* new_task) {
    NewTask task(new_task);
    if (config_.metrics_histograms) stamp_scheduled(task.task());
    // After shutdown, or when shutdown closed the owned list first, `task`
    // is dropped whole: the spawn is refused and the task cancelled.
    if (stopping_.load(std::memory_order_acquire)) return;
    if (!owned_.link(task)) return;
    // A spawned task goes to the back of the (stealable) run queue, not to the
    // LIFO slot: if its spawner then blocks the worker, another worker can
    // still take it. (Tokio 1.24 uses the LIFO slot here: faster chains of
    // spawns, but such a task waits for the blocker.) Waking a parked worker
    // for a lone spawned task is deferred to the end of the spawner's poll,
    // and skipped when that task is all the work there is (a chain of spawns
    // stays on one worker); parked workers look around every kWatchMs while
    // another worker runs, so work behind a spawner that blocks is still stolen.
    if (Worker* w = current_worker()) {
        push_local(*w, std::move(task.notified));
        if (w->queue.len() >= 2) {  // more than this worker runs next: get help now
            notify_parked();
        } else {
            w->notify_deferred = true;
        }
        return;
    }
    push_remote(std::move(task.notified));
}

void MultiThread::flush_deferred_notify(Worker& w) {
    if (!w.notify_deferred) return;
    w.notify_deferred = false;
    // One queued task (and an empty LIFO slot) is what this worker runs next.
    if (w.queue.len() + (w.lifo ? 1u : 0u) >= 2) notify_parked();
}

void MultiThread::push_local(Worker& w, Notified entry) {
    w.queue.push_back_or_overflow(std::move(entry), w.overflow);
    if (!w.overflow.empty() && !inject_.push_batch(w.overflow)) {
        // Shutting down: the entries are discarded as `refused` goes, which
        // may cancel tasks whose destructors push again, so out of w.overflow.
        std::vector<Notified> refused = std::exchange(w.overflow, {});
    }
}

void MultiThread::push_remote(Notified task) {
    remote_schedules_.fetch_add(1, std::memory_order_relaxed);
    // Refused after shutdown: dropping the entry discards it (shutdown cancels the task).
    if (Notified refused = inject_.push(std::move(task))) return;
    notify_parked();
}

void MultiThread::notify_parked() {
    if (auto w = idle_.worker_to_notify()) workers_[*w]->parker.unpark(driver_);
}

TaskHeader* MultiThread::do_release(TaskHeader* task) noexcept {
    return owned_.unlink_if_linked(RawTask(task)).into_raw();
}

// ---- workers ------------------------------------------------------------------------------

void MultiThread::run_worker(std::size_t index) {
    Worker& w = *workers_[index];
    Enter enter(*this, &w);
    if (!config_.thread_name.empty()) {
        std::string name = config_.thread_name.substr(0, 15);
        pthread_setname_np(pthread_self(), name.c_str());
    }
    if (config_.on_thread_start) config_.on_thread_start();
    refresh_worker_clock();
    if (config_.metrics_histograms) poll_observer = &w.stats.poll_times;
    monitor_.attach(index, &rescue_lifo);
    // Submissions to the I/O backend made here wait for our next park or
    // maintenance instead of a system call each (one per scheduler turn).
    driver_.driver.io().take_flush_duty();
    while (!stopping_.load(std::memory_order_acquire)) {
        if (--w.until_maintenance == 0) {  // a countdown: no division per poll
            w.until_maintenance = config_.event_interval;
            w.inject_first = true;
            maintenance(w);
        }
        Notified entry = next_task(w);
        if (!entry) entry = steal_work(w, index);
        if (entry) {
            run_task(w, std::move(entry));
            continue;
        }
        park_worker(w, index);
        refresh_worker_clock();
    }
    monitor_.detach(index);
    if (config_.on_thread_stop) config_.on_thread_stop();
    // The Runtime, whose shutdown joins this thread, still holds its count.
    refs_.fetch_sub(std::exchange(w.spare_refs, 0), std::memory_order_release);
}

Notified MultiThread::next_task(Worker& w) {
    if (std::exchange(w.inject_first, false)) {
        if (Notified e = inject_.pop()) return e;
    }
    if (Notified e = swap_lifo(w, Notified())) return e;
    if (Notified e = w.queue.pop()) return e;
    if (inject_.is_empty()) return Notified();
    // Take a fair share of the inject queue into the local queue.
    std::size_t share = inject_.len() / workers_.size() + 1;
    if (share > RunQueue::kCapacity / 2) share = RunQueue::kCapacity / 2;
    std::vector<Notified>& batch = w.batch;
    if (inject_.pop_n(batch, share) == 0) return Notified();
    Notified first = std::move(batch.front());
    for (std::size_t i = 1; i < batch.size(); ++i) push_local(w, std::move(batch[i]));
    batch.clear();
    return first;
}

Notified MultiThread::steal_work(Worker& w, std::size_t index) {
    if (!w.searching) {
        if (!idle_.transition_to_searching()) return Notified();
        w.searching = true;
    }
    std::size_t n = workers_.size();
    std::size_t start = next_random(w.rng) % n;
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t victim = (start + i) % n;
        if (victim == index) continue;
        Worker& v = *workers_[victim];
        // acquire: pairs with rescue_lifo's release.
        if (v.rescued.load(std::memory_order_relaxed) != 0) {
            if (std::uintptr_t bits = v.rescued.exchange(0, std::memory_order_acquire)) {
                return Notified::from_bits(bits);
            }
        }
        if (Notified e = workers_[victim]->queue.steal_into(w.queue)) {
            increment_single_writer(w.stats.steals);
            return e;
        }
    }
    return inject_.pop();
}

void MultiThread::run_task(Worker& w, Notified entry) {
    if (w.searching) {
        w.searching = false;
        // The last searcher found work: wake another to look for more.
        if (idle_.transition_from_searching()) notify_parked();
    }
    std::move(entry).run();  // under enable_metrics_histograms the task's PollRecord times it
    increment_single_writer(w.stats.polls);
    flush_deferred_notify(w);
    for (std::uint32_t i = 0; i < kLifoPollCap; ++i) {
        Notified next = swap_lifo(w, Notified());
        if (!next) return;
        std::move(next).run();
        increment_single_writer(w.stats.polls);
        flush_deferred_notify(w);
    }
    // Over the cap: the LIFO task waits its turn at the back of the queue
    // (others are told only if it is not the only work we have).
    if (Notified next = swap_lifo(w, Notified())) {
        bool others_waiting = !w.queue.is_empty();
        push_local(w, std::move(next));
        if (others_waiting) notify_parked();
    }
}

bool MultiThread::has_work() const noexcept {
    if (!inject_.is_empty()) return true;
    for (const auto& other : workers_) {
        if (!other->queue.is_empty()) return true;
    }
    return false;
}

void MultiThread::park_worker(Worker& w, std::size_t index) {
    bool last_searcher = idle_.transition_to_parked(index, w.searching);
    w.searching = false;
    if (last_searcher && has_work()) {
        // Work arrived while we were giving up: do not sleep on it.
        if (idle_.transition_from_parked(index)) return;
        w.searching = true;  // we were notified meanwhile: counted as searching
        return;
    }
    if (!stopping_.load(std::memory_order_acquire)) {
        increment_single_writer(w.stats.parks);
        // While another worker runs, it may hold spawned work it has not
        // announced (see spawn): wake now and then to look for it.
        bool others_running = idle_.num_unparked() > 0;
        driver_.driver.io().flush();
        w.parker.park(driver_, others_running ? kWatchMs : -1);
    }
    if (!idle_.transition_from_parked(index)) w.searching = true;  // woken by notify_parked
}

void MultiThread::maintenance(Worker& w) {
    (void)w;
    refresh_worker_clock();
    driver_.driver.io().flush();
    if (driver_.lock.try_lock()) {
        driver_.driver.poll_ready();
        driver_.lock.unlock();
    }
}

// ---- block_on -------------------------------------------------------------------------------

namespace {
// The root future's waker: wakes the thread blocked in block_on. Refcounted,
// since a clone may outlive block_on.
struct RootSignal {
    corio::detail::Atomic<std::size_t> refs{1};
    corio::detail::Mutex mutex;
    corio::detail::CondVar condvar;
    bool woken = true;  // guarded by mutex

    void wake() {
        {
            std::lock_guard lock(mutex);
            woken = true;
        }
        condvar.notify_one();
    }
    void wait() {
        std::unique_lock lock(mutex);
        condvar.wait(lock, [&] { return woken; });
    }
    bool take() {
        std::lock_guard lock(mutex);
        return std::exchange(woken, false);
    }
    void unref() {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }
};

RawWaker root_clone(const void* p);
void root_wake_by_ref(const void* p) { static_cast<RootSignal*>(const_cast<void*>(p))->wake(); }
void root_drop(const void* p) { static_cast<RootSignal*>(const_cast<void*>(p))->unref(); }
void root_wake(const void* p) {
    root_wake_by_ref(p);
    root_drop(p);
}
constexpr RawWakerVTable kRootVTable{&root_clone, &root_wake, &root_wake_by_ref, &root_drop};
RawWaker root_clone(const void* p) {
    static_cast<RootSignal*>(const_cast<void*>(p))->refs.fetch_add(1, std::memory_order_relaxed);
    return RawWaker{p, &kRootVTable};
}
}  // namespace

void MultiThread::block_on(bool (*poll_root)(void* ctx, Context& cx), void* ctx) {
    if (current_runtime != nullptr) {
        throw std::logic_error(
            "corio: block_on called from inside a runtime; a task must not block its thread (co_await instead)");
    }
    if (stopping_.load(std::memory_order_acquire)) {
        throw std::logic_error("corio: block_on on a runtime that was shut down");
    }
    auto* signal = new RootSignal;
    struct Release {
        RootSignal* s;
        ~Release() { s->unref(); }
    } release{signal};
    Waker waker = Waker::from_raw(RawWaker{signal, &kRootVTable});
    signal->refs.fetch_add(1, std::memory_order_relaxed);  // the Waker's own reference
    Context cx(waker);
    for (;;) {
        if (signal->take()) {
            Enter enter(*this, nullptr);
            BudgetScope budget;
            if (poll_root(ctx, cx)) return;
        }
        signal->wait();
    }
}

// ---- metrics -----------------------------------------------------------------------------------

RuntimeMetrics MultiThread::metrics() const {
    RuntimeMetrics m;
    m.num_workers = workers_.size();
    m.alive_tasks = const_cast<OwnedShards&>(owned_).size();
    m.inject_queue_depth = inject_.len();
    m.remote_schedules = remote_schedules_.load(std::memory_order_relaxed);
    m.budget_forced_yields = forced_yields_.load(std::memory_order_relaxed);
    for (const auto& w : workers_) {
        WorkerMetrics wm;
        wm.polls = w->stats.polls.load(std::memory_order_relaxed);
        wm.steals = w->stats.steals.load(std::memory_order_relaxed);
        wm.parks = w->stats.parks.load(std::memory_order_relaxed);
        wm.local_queue_depth = w->queue.len();
        if (config_.metrics_histograms) w->stats.poll_times.read_into(wm);
        m.workers.push_back(wm);
    }
    return m;
}

// ---- diagnostics -----------------------------------------------------------------------------------

diag::Dump MultiThread::dump() {
    diag::Dump d;
    std::lock_guard lock(dump_mutex_);
    if (dumps_closed_) {
        d.incomplete = "the runtime has shut down";
        return d;
    }
    read_owned_tasks(owned_, owned_.size(), monitor_.polling(), config_.metrics_histograms, d);
    blocking_->dump_into(d);
    dump_local_sets(this, d);
    finish_dump(d);
    return d;
}

// ---- shutdown -----------------------------------------------------------------------------------

// The order, and why each step comes where it does:
// 0. The monitor thread stops, and dumps are refused from here on (one
//    already running finishes first: it holds dump_mutex_).
// 1. `stopping_` is set and the inject queue closed, so no task can be queued
//    from outside any more (a remote wake or spawn finds it closed and drops
//    or cancels its task); what was queued there is kept for step 4.
// 2. Every worker is unparked and joined. From here on only this thread
//    touches the workers' queues, LIFO slots and the owned list.
// 3. The owned list is closed: a spawn from a destructor run in step 5 is
//    refused and cancels itself, so the list can only shrink.
// 4. Entries left in the inject queue, the LIFO slots and the run queues are
//    discarded (Notified, corio/detail/task_ref.hpp: a yielded entry cancels
//    its task, a woken one drops the queue's reference).
// 5. Every task still owned is cancelled: its future is destroyed here,
//    inside `Enter`, so destructors that wake or spawn see this runtime.
// 6. The blocking pool cancels its queued closures and gives running ones up
//    to `timeout`; then the driver (I/O, timers) shuts down, last, because
//    the destructors of steps 4-6 may still deregister I/O and timers.
void MultiThread::shutdown(std::chrono::nanoseconds timeout) noexcept {
    if (shut_down_) return;
    if (current_worker_context.runtime == this) {
        std::fputs("corio: a Runtime was shut down from one of its own worker threads; that cannot work\n", stderr);
        std::abort();
    }
    shut_down_ = true;
    monitor_.stop();
    {
        std::lock_guard lock(dump_mutex_);
        dumps_closed_ = true;
    }
    stopping_.store(true, std::memory_order_release);  // release: workers that acquire it see the closed queues
    std::vector<Notified> queued = inject_.close();
    for (auto& w : workers_) w->parker.unpark(driver_);
    for (auto& w : workers_) {
        if (w->thread.joinable()) w->thread.join();
    }
    owned_.close();
    Enter enter(*this, nullptr);
    queued.clear();  // discards each entry
    for (auto& w : workers_) {
        w->lifo.reset();
        if (std::uintptr_t bits = w->rescued.exchange(0, std::memory_order_acquire)) Notified::from_bits(bits).reset();
        while (Notified e = w->queue.pop()) e.reset();
    }
    cancel_owned(owned_);
    blocking_->shutdown(timeout);
    driver_.driver.shutdown();
}

}  // namespace corio::detail::mt
