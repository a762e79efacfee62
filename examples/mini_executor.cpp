// mini_executor: an executor and a timer future built from nothing but the
// public Future and Waker API (no corio runtime involved).
//
// The pieces, and how they talk to each other:
// - A MiniTask owns one type-erased future and a `scheduled` flag. It is
//   reference-counted: the run queue (while the task is queued), the
//   executor (while it polls it) and every Waker made for it each hold one
//   reference.
// - A Waker for a task is a RawWaker whose data pointer is the MiniTask and
//   whose vtable knows how to clone (take a reference), drop (release one) and
//   wake (put the task back on the run queue).
// - The executor pops tasks from the run queue and polls them. A task that
//   returns Pending is simply forgotten until something wakes it; the
//   executor never polls it "just in case".
// - Delay is a leaf future: on its first poll it starts a thread that sleeps
//   until the deadline and then wakes the waker it was given.
//
// corio::Task coroutines run on this executor unchanged: a corio::Task is
// just a Future, and co_await inside it polls Delay with the Context we pass.
//
// Run: ./mini_executor       (three delays of 50, 100 and 150 ms finish in
//                             about 150 ms in all, then "all delays done")
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <corio/corio.hpp>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Bookkeeping that proves clone/drop balance: both must be back to 0 at exit.
std::atomic<long> live_wakers{0};
std::atomic<long> live_tasks{0};

long ms_since(Clock::time_point start) {
    return static_cast<long>(std::chrono::duration_cast<milliseconds>(Clock::now() - start).count());
}

// ---- Delay: a leaf future that a thread completes ---------------------------------

/// Ready once `deadline` has passed. The first poll starts a thread that
/// sleeps until then and wakes the most recently stored waker.
class Delay {
public:
    using Output = void;

    explicit Delay(Clock::time_point deadline) : shared_(std::make_unique<Shared>()), deadline_(deadline) {}
    // Movable: what the timer thread touches is boxed in shared_, so its
    // address stays put even if the Delay moves.
    Delay(Delay&&) noexcept = default;
    Delay& operator=(Delay&&) = delete;

    // Cancels the thread (if it is still sleeping) and joins it, so no thread
    // and no waker outlives the future.
    ~Delay() {
        if (!timer_thread_.joinable()) return;
        {
            std::lock_guard lock(shared_->mutex);
            shared_->cancelled = true;
        }
        shared_->cv.notify_one();
        timer_thread_.join();
    }

    corio::Poll<void> poll(corio::Context& cx) {
        std::lock_guard lock(shared_->mutex);
        if (shared_->done) return corio::Ready();

        // Store the waker of *this* poll. A future may be polled by a
        // different task than last time (for instance after being handed
        // from one task to another), and only the most recent waker is sure
        // to reach whoever is waiting now. will_wake skips the clone (an
        // atomic increment here) in the usual case where nothing changed.
        // `shared_->waker.clone_from(cx.waker())` does the same in one call.
        if (!shared_->waker.will_wake(cx.waker())) shared_->waker = cx.waker();

        if (!timer_thread_.joinable()) {
            // The thread gets the shared state, not `this`: it stays valid
            // because this Delay joins the thread before it is destroyed.
            timer_thread_ = std::thread(&Delay::sleep_then_wake, shared_.get(), deadline_);
        }
        return corio::Pending;
    }

private:
    struct Shared {
        std::mutex mutex;
        std::condition_variable cv;
        corio::Waker waker;  // the most recent waker; a no-op waker until the first poll
        bool done = false;
        bool cancelled = false;
    };

    static void sleep_then_wake(Shared* shared, Clock::time_point deadline) {
        corio::Waker waker;
        {
            std::unique_lock lock(shared->mutex);
            if (shared->cv.wait_until(lock, deadline, [shared] { return shared->cancelled; })) return;
            shared->done = true;
            waker = std::move(shared->waker);
        }
        // Wake outside the lock: the woken task may be polled (and lock the
        // mutex) on another thread right away. wake() consumes the waker.
        std::move(waker).wake();
    }

    std::unique_ptr<Shared> shared_;  // boxed: the thread holds its address
    Clock::time_point deadline_;
    std::thread timer_thread_;
};

static_assert(corio::Future<Delay>);

// ---- BoxedFuture: any Future with a void output, behind one pointer ------------------

class BoxedFuture {
public:
    using Output = void;

    template <corio::Future F>
        requires std::is_void_v<corio::output_of<F>>
    explicit BoxedFuture(F fut) : impl_(std::make_unique<Impl<F>>(std::move(fut))) {}

    corio::Poll<void> poll(corio::Context& cx) { return impl_->poll(cx); }

private:
    struct Base {
        virtual ~Base() = default;
        virtual corio::Poll<void> poll(corio::Context& cx) = 0;
    };
    template <class F>
    struct Impl final : Base {
        explicit Impl(F f) : fut(std::move(f)) {}
        corio::Poll<void> poll(corio::Context& cx) override { return fut.poll(cx); }
        F fut;  // on the heap: it keeps its address however the box moves
    };

    std::unique_ptr<Base> impl_;
};

// ---- the run queue, tasks and their wakers -----------------------------------------

class MiniTask;

/// An owning reference to a MiniTask (what Rust spells Arc<MiniTask>).
class TaskRef {
public:
    /// Takes over one reference that the caller already holds.
    static TaskRef adopt(MiniTask* task) noexcept { return TaskRef(task); }
    /// Takes a new reference.
    static TaskRef share(MiniTask* task) noexcept;

    TaskRef(TaskRef&& other) noexcept : task_(std::exchange(other.task_, nullptr)) {}
    TaskRef& operator=(TaskRef&& other) noexcept {
        std::swap(task_, other.task_);
        return *this;
    }
    TaskRef(const TaskRef&) = delete;
    TaskRef& operator=(const TaskRef&) = delete;
    ~TaskRef();

    MiniTask* get() const noexcept { return task_; }
    MiniTask* operator->() const noexcept { return task_; }

private:
    explicit TaskRef(MiniTask* task) noexcept : task_(task) {}
    MiniTask* task_;
};

/// Tasks that were woken and wait to be polled. Shared by the executor and
/// every task, so a late wake can never touch a destroyed executor.
class RunQueue {
public:
    void push(TaskRef task) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(task));
        }
        cv_.notify_one();
    }

    /// Blocks until a task is queued and returns it.
    TaskRef pop() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        TaskRef task = std::move(queue_.front());
        queue_.pop_front();
        return task;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<TaskRef> queue_;
};

class MiniTask {
public:
    MiniTask(BoxedFuture future, std::shared_ptr<RunQueue> queue)
        : future_(std::in_place, std::move(future)), queue_(std::move(queue)) {
        live_tasks.fetch_add(1);
    }
    ~MiniTask() { live_tasks.fetch_sub(1); }

    void ref() noexcept {
        // relaxed: a new reference is made from an existing one, which keeps
        // the task alive meanwhile; nothing else is published by it.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    void unref() noexcept {
        // acq_rel: the thread that frees the task must see every write made
        // by the threads that dropped their references before it.
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

    /// Puts the task on the run queue unless it is already there.
    static void schedule(TaskRef task) {
        if (task->scheduled_.exchange(true)) return;  // already queued: one poll will see both wakes
        std::shared_ptr<RunQueue> queue = task->queue_;
        queue->push(std::move(task));
    }

    /// A Waker that owns a new reference to this task.
    corio::Waker waker() {
        ref();
        live_wakers.fetch_add(1);
        return corio::Waker::from_raw(corio::RawWaker{this, &kWakerVTable});
    }

    /// Polls the future once; true when this poll finished the task. Only
    /// the executor thread calls it, so future_ needs no lock.
    bool poll_once() {
        if (!future_) return false;  // woken after it had finished: nothing to do
        // Clear the flag *before* polling: a wake that arrives during the
        // poll must queue the task again, or it would be lost.
        scheduled_.store(false);
        corio::Waker waker = this->waker();
        corio::Context cx(waker);
        if (future_->poll(cx).is_pending()) return false;
        future_.reset();  // destroy the future now: its destructors run here
        return true;
    }

private:
    static MiniTask* from(const void* data) { return static_cast<MiniTask*>(const_cast<void*>(data)); }

    static corio::RawWaker clone(const void* data) {
        from(data)->ref();
        live_wakers.fetch_add(1);
        return corio::RawWaker{data, &kWakerVTable};
    }
    static void wake(const void* data) {  // consumes the waker's reference
        live_wakers.fetch_sub(1);
        schedule(TaskRef::adopt(from(data)));
    }
    static void wake_by_ref(const void* data) {  // keeps it
        schedule(TaskRef::share(from(data)));
    }
    static void drop(const void* data) {
        live_wakers.fetch_sub(1);
        from(data)->unref();
    }
    static constexpr corio::RawWakerVTable kWakerVTable{&clone, &wake, &wake_by_ref, &drop};

    std::atomic<std::size_t> refs_{1};  // the creator's
    std::atomic<bool> scheduled_{false};
    std::optional<BoxedFuture> future_;  // empty once finished
    std::shared_ptr<RunQueue> queue_;
};

TaskRef TaskRef::share(MiniTask* task) noexcept {
    task->ref();
    return TaskRef(task);
}

TaskRef::~TaskRef() {
    if (task_ != nullptr) task_->unref();
}

// ---- the executor ------------------------------------------------------------------

/// Runs futures with a void output on the thread that calls run().
class MiniExecutor {
public:
    /// Adds a future; it first runs when run() is called.
    template <corio::Future F>
    void spawn(F fut) {
        TaskRef task = TaskRef::adopt(new MiniTask(BoxedFuture(std::move(fut)), queue_));
        ++unfinished_;
        MiniTask::schedule(std::move(task));
    }

    /// Polls woken tasks until every spawned task has finished.
    void run() {
        while (unfinished_ > 0) {
            TaskRef task = queue_->pop();  // sleeps while nothing is woken
            if (task->poll_once()) --unfinished_;
        }
    }

private:
    std::shared_ptr<RunQueue> queue_ = std::make_shared<RunQueue>();
    std::size_t unfinished_ = 0;
};

// ---- the program ---------------------------------------------------------------------

corio::Task<void> wait_and_report(int id, milliseconds delay, Clock::time_point start) {
    co_await Delay(start + delay);
    std::printf("task %d: %lld ms delay done at +%ld ms\n", id, static_cast<long long>(delay.count()), ms_since(start));
}

}  // namespace

int main() {
    const Clock::time_point start = Clock::now();
    {
        MiniExecutor executor;
        // Spawned longest first, so the output order shows they overlap.
        executor.spawn(wait_and_report(3, milliseconds(150), start));
        executor.spawn(wait_and_report(2, milliseconds(100), start));
        executor.spawn(wait_and_report(1, milliseconds(50), start));
        executor.run();
    }
    // Every clone was matched by a drop (or a consuming wake), and every
    // task was freed: nothing leaked, nothing was released twice.
    if (live_wakers.load() != 0 || live_tasks.load() != 0) {
        std::printf("error: %ld wakers and %ld tasks still alive\n", live_wakers.load(), live_tasks.load());
        return 1;
    }
    std::printf("all delays done in %ld ms (one after another they would take 300 ms)\n", ms_since(start));
    return 0;
}
