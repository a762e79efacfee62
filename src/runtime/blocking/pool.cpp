#include "runtime/blocking/pool.hpp"

#include <pthread.h>

#include <exception>
#include <thread>

#include "corio/detail/sync.hpp"
#include "diag/collect.hpp"

namespace corio::detail {
namespace {

// The pool whose thread this is (null on other threads): shutdown called from
// one of the pool's own threads must not wait for that thread to exit.
thread_local const BlockingPool* current_pool = nullptr;

// Limits beyond this mean "no limit" (and would overflow a deadline computed from now).
constexpr std::chrono::nanoseconds kForever = std::chrono::hours(24 * 365);

// cv.wait_for with `limit`, or a plain wait for a limit of kForever or more.
template <class Pred>
bool wait_up_to(corio::detail::CondVar& cv, std::unique_lock<corio::detail::Mutex>& lock,
                std::chrono::nanoseconds limit, Pred pred) {
    if (limit >= kForever) {
        cv.wait(lock, pred);
        return true;
    }
    return cv.wait_for(lock, limit, pred);
}

// Linux limits thread names to 15 bytes plus the terminator.
void set_thread_name(const std::string& name) {
    if (name.empty()) return;
    std::string truncated = name.substr(0, 15);
    (void)::pthread_setname_np(::pthread_self(), truncated.c_str());
}

}  // namespace

Scheduler& blocking_scheduler(BlockingPool& pool) noexcept { return pool; }

BlockingPool* BlockingPool::create(const Builder::Config& config) { return new BlockingPool(config); }

BlockingPool::BlockingPool(const Builder::Config& config)
    : max_threads_(config.max_blocking_threads),
      keep_alive_(config.thread_keep_alive),
      thread_name_(config.thread_name),
      on_thread_start_(config.on_thread_start),
      on_thread_stop_(config.on_thread_stop) {}

void BlockingPool::ref() noexcept {
    refs_.fetch_add(1, std::memory_order_relaxed);  // made from an existing reference
}

void BlockingPool::unref() noexcept {
    // acq_rel: the last owner must see every other owner's writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

// ---- queueing ------------------------------------------------------------------------

void BlockingPool::do_spawn(TaskHeader* new_task) { push(NewTask(new_task)); }

void BlockingPool::do_schedule(std::uintptr_t entry) { push(NewTask(Notified::from_bits(entry))); }

// A BlockingTask finishes in its one poll, so it never yields; any other
// future would simply be polled again by the next free thread.
void BlockingPool::do_schedule_yielded(std::uintptr_t entry) { push(NewTask(Notified::from_bits(entry))); }

TaskHeader* BlockingPool::do_release(TaskHeader*) noexcept { return nullptr; }  // see the header: nothing to give back

void BlockingPool::push(NewTask entry) {
    std::unique_lock lock(mutex_);
    if (shutdown_) {
        lock.unlock();
        std::move(entry).cancel();
        return;
    }
    queue_.push_back(std::move(entry));
    active_.fetch_add(1, std::memory_order_relaxed);  // under mutex_; busy() readers only need eventual visibility
    if (idle_ > notified_) {
        ++notified_;
        work_cv_.notify_one();
        return;
    }
    if (threads_ < max_threads_ && start_thread()) return;
    if (threads_ > 0) return;  // a running thread takes it when it finishes its task
    // No thread exists and none can be started: nobody would ever run it.
    NewTask refused = std::move(queue_.back());
    queue_.pop_back();
    task_done(lock);
    lock.unlock();
    std::move(refused).cancel();
}

bool BlockingPool::start_thread() {
    ref();  // the thread's reference
    try {
        std::thread([this] { worker_main(); }).detach();
    } catch (...) {                                     // std::system_error (EAGAIN) or std::bad_alloc
        refs_.fetch_sub(1, std::memory_order_relaxed);  // never the last: the caller holds one
        return false;
    }
    ++threads_;
    return true;
}

// One queued or running task is done (ran, or was taken back): the pool may
// have become idle. Called with mutex_ held.
void BlockingPool::task_done(std::unique_lock<corio::detail::Mutex>&) {
    // release: pairs with busy()'s acquire.
    if (active_.fetch_sub(1, std::memory_order_release) == 1 && on_idle_) on_idle_();
}

void BlockingPool::dump_into(diag::Dump& dump) const {
    std::lock_guard lock(mutex_);
    std::uint32_t now_ms = coarse_clock_ms();
    auto add = [&](RawTask t, diag::TaskState state) {
        diag::TaskInfo info;
        read_identity(t, info, now_ms, false);
        set_state(info, state);
        info.blocking = true;
        dump.tasks.push_back(std::move(info));
    };
    for (const NewTask& e : queue_) add(e.task(), diag::TaskState::Scheduled);  // the queue's reference keeps it
    for (RawTask t : running_) add(t, diag::TaskState::Running);
}

void BlockingPool::set_on_idle(std::function<void()> on_idle) {
    std::lock_guard lock(mutex_);
    on_idle_ = std::move(on_idle);
}

// ---- threads ---------------------------------------------------------------------------

void BlockingPool::worker_main() {
    current_pool = this;
    set_thread_name(thread_name_);
    if (on_thread_start_) on_thread_start_();

    std::unique_lock lock(mutex_);
    for (;;) {
        if (!queue_.empty()) {
            NewTask entry = std::move(queue_.front());
            queue_.pop_front();
            // The owned reference stays with us until the run is over, and a
            // reference of our own keeps the cell readable by dump_into until
            // it leaves running_ (a woken entry brings no owned reference).
            RawTask task = entry.task();
            TaskRef keep(task);
            OwnedTask owned = std::move(entry.owned);
            running_.push_back(task);
            lock.unlock();
            std::move(entry.notified).run();  // never throws: the cell catches the closure's exception
            lock.lock();
            std::erase(running_, task);
            lock.unlock();
            owned.reset();  // each may free the cell (and the closure's output): not under our lock
            keep = TaskRef();
            lock.lock();
            task_done(lock);
            continue;
        }
        if (shutdown_) break;
        ++idle_;
        bool woken = wait_up_to(work_cv_, lock, keep_alive_, [&] { return notified_ > 0 || shutdown_; });
        --idle_;
        if (notified_ > 0) {
            --notified_;  // ours, or another idle thread's that has not woken yet: either way one takes the task
            continue;
        }
        if (!woken) break;  // idle for keep_alive: retire
    }
    // Stop counting as a thread that can take work before on_thread_stop
    // runs, so a spawn meanwhile starts a new thread rather than waiting on
    // this one.
    --threads_;
    ++exiting_;
    lock.unlock();

    if (on_thread_stop_) on_thread_stop_();

    lock.lock();
    --exiting_;
    exit_cv_.notify_all();
    lock.unlock();
    current_pool = nullptr;
    unref();
}

// ---- shutdown ---------------------------------------------------------------------------

void BlockingPool::shutdown(std::chrono::nanoseconds timeout) noexcept {
    std::deque<NewTask> queued;
    std::function<void()> on_idle;
    std::unique_lock lock(mutex_);
    if (shutdown_) return;
    shutdown_ = true;
    on_idle = std::move(on_idle_);  // destroyed below, outside the lock
    on_idle_ = nullptr;
    queued.swap(queue_);
    work_cv_.notify_all();
    lock.unlock();

    for (NewTask& entry : queued) std::move(entry).cancel();

    lock.lock();
    for (std::size_t i = 0; i < queued.size(); ++i) task_done(lock);
    std::size_t self = current_pool == this ? 1 : 0;
    wait_up_to(exit_cv_, lock, timeout, [&] { return threads_ + exiting_ <= self; });
    // Threads still running keep their own references to the pool and finish on their own.
}

std::size_t BlockingPool::num_threads() const {
    std::lock_guard lock(mutex_);
    return threads_;
}

}  // namespace corio::detail
