// The LocalSet scheduler: a task set polled only by the future driving it.
//
// Queues: a SingleThreadCore, shared with the current_thread runtime. Its
// local FIFO and owned list are touched only by the current driver (it holds
// the `driving_` flag, whose acquire/release hands them from one driving
// poll to the next, even across threads); its remote queue (mutex) takes
// spawns and wakes made anywhere else: on other threads, or on this thread
// while the set is not being driven. A remote push wakes the waker of the
// last driver, so its future is polled again and drains it.
//
// While a driver runs (and during shutdown) `current_local_set` names the
// set on this thread: wakes there go straight to the local queue, and
// task::spawn_local spawns onto it.
//
// Dumps: every set is in one registry, with the runtime that made or last
// drove it. Handle::dump() reads a set's tasks while holding `driving_` in
// its third state, kDumped, so no driver polls them meanwhile (a driver
// that comes then waits the few microseconds the read takes); a set being
// driven on another thread at that moment is reported as not read.
#include "corio/task/local_set.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "corio/detail/runtime_core.hpp"
#include "corio/detail/sync.hpp"
#include "diag/collect.hpp"
#include "runtime/scheduler/current_thread.hpp"
#include "runtime/scheduler/single_thread_core.hpp"

namespace corio::detail {
namespace {

class LocalSetScheduler;

/// The set being driven (or shut down) on this thread, if any.
thread_local LocalSetScheduler* current_local_set = nullptr;

// As Tokio: at most this many task polls per drive, so the runtime around
// the set gets the thread back regularly; every so many polls the remote
// queue goes first, so remote wakes do not starve behind local ones.
constexpr std::uint32_t kMaxTasksPerTick = 61;
constexpr std::uint32_t kRemoteFirstInterval = 31;

class LocalSetScheduler final : public LocalSetCore {
public:
    LocalSetScheduler();
    LocalSetScheduler(const LocalSetScheduler&) = delete;
    LocalSetScheduler& operator=(const LocalSetScheduler&) = delete;

private:
    // Scheduler (what its typed calls dispatch to)
    void do_schedule(std::uintptr_t entry) override;
    void do_schedule_yielded(std::uintptr_t entry) override;
    void do_spawn(TaskHeader* new_task) override;
    TaskHeader* do_release(TaskHeader* task) noexcept override;

public:
    void ref() noexcept override;
    void unref() noexcept override;

    // LocalSetCore
    bool drive(Context& cx, PollRootFn poll_root, void* ctx) override;
    void shutdown() noexcept override;
    std::size_t alive_tasks() const noexcept override;

    /// A new reference, unless the set is already being destroyed.
    bool try_ref() noexcept;
    /// Appends this set's tasks to `dump` if `runtime` made or last drove it.
    void dump_into(const RuntimeCore* runtime, diag::Dump& dump);

private:
    class Drive;
    class HideOuterTask;

    ~LocalSetScheduler();

    // driving_'s states.
    static constexpr std::uint8_t kFree = 0;
    static constexpr std::uint8_t kDriven = 1;  // by a driving poll, or by shutdown
    static constexpr std::uint8_t kDumped = 2;  // a dump reads the tasks
    /// Takes driving_ for a drive or shutdown: false if another drive holds
    /// it; waits out a dump. acquire: pairs with the previous holder's
    /// release, so we see the local queue and owned list as it left them.
    bool try_start_driving() noexcept;
    void read_tasks(diag::Dump& dump);

    bool on_driver_thread() const noexcept { return current_local_set == this; }
    bool tick();
    void push_remote(NewTask task);
    Waker register_waker(const Waker& waker);
    Waker take_waker() noexcept;

    corio::detail::Atomic<std::size_t> refs_{1};
    // Spawned and not finished: counted at spawn (any thread), uncounted in
    // release (when the task completes), so it covers remote spawns that no
    // driver has linked into the owned list yet.
    corio::detail::Atomic<std::size_t> alive_{0};
    corio::detail::Atomic<std::uint8_t> driving_{kFree};
    corio::detail::Atomic<const RuntimeCore*> runtime_{nullptr};  // made or last driven in (dumps only)

    // Its local queue and owned list are touched only by the holder of
    // driving_ (a driving poll, a dump, or shutdown).
    SingleThreadCore core_;
    Waker waker_;  // guarded by core_.remote's lock: the last driver's waker
};

/// Claims the set for one driving poll on this thread and makes it the
/// thread's current set (restoring the previous one, so sets nest).
class LocalSetScheduler::Drive {
public:
    explicit Drive(LocalSetScheduler& set) : set_(set) {
        // acquire: pairs with the previous driver's release, so this poll sees
        // the local queue and owned list as it left them (maybe on another thread).
        if (!set.try_start_driving()) {
            throw std::logic_error(
                "corio: this LocalSet is already being driven (by another thread, or from inside one of its own "
                "tasks); drive a LocalSet from one place at a time");
        }
        saved_ = std::exchange(current_local_set, &set);
        set.runtime_.store(current_runtime, std::memory_order_relaxed);
    }
    Drive(const Drive&) = delete;
    Drive& operator=(const Drive&) = delete;
    ~Drive() {
        current_local_set = saved_;
        set_.driving_.store(kFree, std::memory_order_release);  // hands our writes to the next driver
    }

private:
    LocalSetScheduler& set_;
    LocalSetScheduler* saved_ = nullptr;
};

/// While the set's tasks run inside the poll of an outer runtime task, that
/// task is not "the task being polled": its self-wake fast path must not
/// fire for wakes made by the local tasks, and their polls must not clobber
/// its pending self-wake flag.
class LocalSetScheduler::HideOuterTask {
public:
    HideOuterTask() noexcept
        : saved_task_(current_task.load(std::memory_order_relaxed)),
          saved_woken_(std::exchange(current_task_woken, false)) {
        current_task.store(RawTask(), std::memory_order_relaxed);
    }
    HideOuterTask(const HideOuterTask&) = delete;
    HideOuterTask& operator=(const HideOuterTask&) = delete;
    ~HideOuterTask() {
        current_task.store(saved_task_, std::memory_order_relaxed);
        current_task_woken = saved_woken_;
    }

private:
    RawTask saved_task_;
    bool saved_woken_;
};

void LocalSetScheduler::ref() noexcept {
    refs_.fetch_add(1, std::memory_order_relaxed);  // made from an existing reference
}

void LocalSetScheduler::unref() noexcept {
    // acq_rel: the last owner must see every other owner's writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

std::size_t LocalSetScheduler::alive_tasks() const noexcept {
    // acquire: pairs with release() so a caller seeing 0 sees the tasks' effects.
    return alive_.load(std::memory_order_acquire);
}

// ---- the registry, for dumps ---------------------------------------------------------

struct LocalSetRegistry {
    Mutex mutex;
    std::vector<LocalSetScheduler*> sets;  // guarded by mutex
};

LocalSetRegistry& registry() {
    static auto* r = new LocalSetRegistry();  // never destroyed: sets may outlive static destruction
    return *r;
}

LocalSetScheduler::LocalSetScheduler() {
    runtime_.store(current_runtime, std::memory_order_relaxed);
    std::lock_guard lock(registry().mutex);
    registry().sets.push_back(this);
}

LocalSetScheduler::~LocalSetScheduler() {
    std::lock_guard lock(registry().mutex);
    std::erase(registry().sets, this);
}

bool LocalSetScheduler::try_ref() noexcept {
    std::size_t n = refs_.load(std::memory_order_relaxed);
    // relaxed: as ref(); a count of 0 means the destructor is on its way.
    while (n != 0 && !refs_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) {
    }
    return n != 0;
}

bool LocalSetScheduler::try_start_driving() noexcept {
    for (;;) {
        std::uint8_t expected = kFree;
        if (driving_.compare_exchange_weak(expected, kDriven, std::memory_order_acquire, std::memory_order_relaxed)) {
            return true;
        }
        if (expected == kDriven) return false;
        if (expected == kDumped) std::this_thread::yield();
    }
}

void LocalSetScheduler::dump_into(const RuntimeCore* runtime, diag::Dump& dump) {
    if (runtime_.load(std::memory_order_relaxed) != runtime) return;
    if (on_driver_thread()) {  // a task of this set asked: we are inside its drive
        read_tasks(dump);
        return;
    }
    std::uint8_t expected = kFree;
    // acquire / release: as a drive, so we see the owned list as the last driver left it.
    if (!driving_.compare_exchange_strong(expected, kDumped, std::memory_order_acquire, std::memory_order_relaxed)) {
        if (!dump.incomplete.empty()) dump.incomplete += "; ";
        dump.incomplete += "a LocalSet with " + std::to_string(alive_tasks()) +
                           " tasks was being driven on another thread and was not read";
        return;
    }
    read_tasks(dump);
    driving_.store(kFree, std::memory_order_release);
}

void LocalSetScheduler::read_tasks(diag::Dump& dump) {
    std::size_t first = dump.tasks.size();
    read_owned_tasks(core_.owned, core_.owned.size(), {current_task.load(std::memory_order_relaxed)}, false, dump);
    for (std::size_t i = first; i < dump.tasks.size(); ++i) dump.tasks[i].local = true;
}

// ---- scheduling ------------------------------------------------------------------

void LocalSetScheduler::do_schedule(std::uintptr_t entry) {
    core_.schedule(Notified::from_bits(entry), on_driver_thread(), [this](NewTask t) { push_remote(std::move(t)); });
}

// Only a task polled by tick() re-queues itself this way, so we are the driver.
void LocalSetScheduler::do_schedule_yielded(std::uintptr_t entry) {
    core_.schedule_yielded(Notified::from_bits(entry));
}

void LocalSetScheduler::do_spawn(TaskHeader* new_task) {
    alive_.fetch_add(1, std::memory_order_relaxed);  // a count: ordered by the queue that carries the task
    core_.spawn(NewTask(new_task), on_driver_thread(), [this](NewTask t) { push_remote(std::move(t)); });
}

TaskHeader* LocalSetScheduler::do_release(TaskHeader* task) noexcept {
    TaskHeader* owned = core_.release(RawTask(task)).into_raw();
    alive_.fetch_sub(1, std::memory_order_release);  // pairs with alive_tasks()
    return owned;
}

void LocalSetScheduler::push_remote(NewTask task) {
    Waker waker;
    if (!core_.remote.push(std::move(task), [&] { waker = waker_; })) return;
    std::move(waker).wake();  // after the push: the woken driver must find the task
}

// ---- driving ---------------------------------------------------------------------

// Stores `waker` as the one a remote push wakes; returns the one it replaced.
Waker LocalSetScheduler::register_waker(const Waker& waker) {
    return core_.remote.with_lock([&](bool closed) {
        if (closed || waker_.will_wake(waker)) return Waker();
        return std::exchange(waker_, waker);
    });
}

Waker LocalSetScheduler::take_waker() noexcept {
    return core_.remote.with_lock([this](bool) { return std::move(waker_); });
}

bool LocalSetScheduler::drive(Context& cx, PollRootFn poll_root, void* ctx) {
    // Wakers this poll lets go of are dropped last, outside the lock and the
    // drive: dropping one may free a task, whose destructors may touch this set.
    Waker replaced;
    Waker finished;
    bool more;
    {
        Drive drive(*this);
        // First: a remote push after our pull below then wakes this waker.
        replaced = register_waker(cx.waker());
        if (poll_root != nullptr && poll_root(ctx, cx)) {
            finished = take_waker();  // the driver is done: do not keep its task alive
            return true;
        }
        more = tick();
        if (!more) core_.local.trim();  // idle until woken
    }
    if (poll_root == nullptr && !more && alive_tasks() == 0) {
        finished = take_waker();
        return true;
    }
    if (more) cx.waker().wake_by_ref();  // yield to the runtime, come back for the rest
    return false;
}

// Runs up to kMaxTasksPerTick ready tasks; true when more are ready.
bool LocalSetScheduler::tick() {
    HideOuterTask hide;
    for (std::uint32_t i = 0; i < kMaxTasksPerTick; ++i) {
        Notified entry = core_.next_task(kRemoteFirstInterval);
        if (!entry) return false;
        std::move(entry).run();
    }
    // relaxed: a hint; a push we miss here wakes the driver's waker itself.
    return !core_.local.empty() || core_.remote.pending();
}

// ---- shutdown ----------------------------------------------------------------------

void LocalSetScheduler::shutdown() noexcept {
    if (!try_start_driving()) {
        std::fputs(
            "corio: a LocalSet was destroyed while it was being driven (from inside one of its own tasks, "
            "or from another thread); that cannot work\n",
            stderr);
        std::abort();
    }
    // Destructors of cancelled tasks may wake or spawn local tasks: make
    // those land in the local queue (or be cancelled at once).
    LocalSetScheduler* saved = std::exchange(current_local_set, this);
    core_.shut_down = true;
    Waker waker;  // dropped last, outside the lock
    core_.remote.with_lock([&](bool& closed) {
        closed = true;
        waker = std::move(waker_);
    });
    core_.cancel_all();
    current_local_set = saved;
    driving_.store(kFree, std::memory_order_release);
}

}  // namespace

LocalSetCore* LocalSetCore::create() { return new LocalSetScheduler(); }

void dump_local_sets(const RuntimeCore* runtime, diag::Dump& dump) {
    // Read without the registry's lock, each set kept alive by a reference:
    // reading may wake a task, and a dropped waker may destroy a LocalSet.
    std::vector<LocalSetScheduler*> sets;
    {
        std::lock_guard lock(registry().mutex);
        for (LocalSetScheduler* set : registry().sets) {
            if (set->try_ref()) sets.push_back(set);
        }
    }
    for (LocalSetScheduler* set : sets) {
        set->dump_into(runtime, dump);
        set->unref();
    }
}

Scheduler& local_spawn_target() {
    if (current_local_set != nullptr) return *current_local_set;
    RuntimeCore* runtime = current_runtime;
    if (runtime == nullptr) {
        throw std::logic_error("corio::task::spawn_local called outside a runtime and outside a LocalSet");
    }
    // A current_thread runtime polls every task on its one thread already.
    if (dynamic_cast<CurrentThread*>(runtime) != nullptr) return *runtime;
    throw std::logic_error(
        "corio::task::spawn_local outside a LocalSet on a multi-thread runtime (drive a LocalSet, e.g. "
        "rt.block_on(set.run_until(fut)), and spawn_local inside it)");
}

}  // namespace corio::detail

namespace corio::task {

LocalSet::LocalSet() : core_(detail::LocalSetCore::create()) {}

LocalSet& LocalSet::operator=(LocalSet&& other) noexcept {
    if (this != &other) {
        if (core_) core_.get()->shutdown();
        core_ = std::move(other.core_);
    }
    return *this;
}

LocalSet::~LocalSet() {
    if (core_) core_.get()->shutdown();
}

Poll<void> LocalSet::poll(Context& cx) {
    if (!core().drive(cx, nullptr, nullptr)) return Pending;
    return Ready();
}

std::size_t LocalSet::len() const noexcept { return core_ ? core_.get()->alive_tasks() : 0; }

detail::LocalSetCore& LocalSet::core() const {
    if (!core_) throw std::logic_error("corio: used a moved-from LocalSet");
    return *core_.get();
}

detail::LocalSetRef LocalSet::shared_core() const {
    core();  // throws when moved from
    return core_;
}

}  // namespace corio::task
