// The task header: the untyped front of every task cell (task_cell.hpp),
// with what the scheduler that owns a task sees of it.
//
// A TaskHeader holds the atomic state word (task_state.hpp), the vtable of
// the typed cell behind it, its owning scheduler, its owned-list links and
// the join waker (task_join.hpp).
//
// The header also carries what diagnostics read (corio/diag.hpp): the task's
// id, where it was spawned (and its name, if it has one), its poll count and
// when it was spawned. They cost 16 bytes; the last two sit in what was
// padding before the stage.
#pragma once

#include <bit>
#include <cstdint>
#include <source_location>
#include <string>
#include <utility>

#include "corio/detail/describe.hpp"
#include "corio/detail/intrusive_list.hpp"
#include "corio/detail/sync.hpp"
#include "corio/future.hpp"

namespace corio::detail {

struct TaskHeader;

class RawTask;
class Notified;
class OwnedTask;
class NewTask;

/// What a task needs from the scheduler that owns it. The references it is
/// given and gives back are typed (corio/detail/task_ref.hpp).
///
/// The typed calls are inline wrappers (defined in task_ref.hpp) around
/// virtual ones that carry plain words: an entry's bits, a task's address.
/// Every compiler passes those in registers, so the library and the code
/// inlined into a user's program agree on the calls whichever compiler built
/// each, and a wake costs no spilled reference and no destructor check at the
/// caller. Schedulers implement the do_ functions.
class Scheduler {
public:
    /// Queues a task that was just woken: `task` is its run-queue reference.
    void schedule(Notified task);
    /// Re-queues the task running on this thread, which woke itself while it
    /// was polled (yield_now, budget, a self-waking future): `task` is a
    /// yielded entry (the task stays RUNNING and is polled again with
    /// TaskVTable::poll_yielded, so a yield costs no atomic operation).
    void schedule_yielded(Notified task);
    /// Takes a newly spawned task: its owned-list and run-queue references.
    void spawn(NewTask task);
    /// The task completed: unlinks it from the owned list and returns the
    /// list's reference, or an empty one when the list did not hold it (the
    /// one who holds it drops it: a remote queue's spawn entry, a blocking
    /// thread).
    OwnedTask release(RawTask task) noexcept;
    /// Keeps the scheduler alive while a task, waker or handle refers to it.
    virtual void ref() noexcept = 0;
    virtual void unref() noexcept = 0;

protected:
    ~Scheduler() = default;
    /// schedule and schedule_yielded: `entry` is a Notified's bits (Notified::from_bits takes it back).
    virtual void do_schedule(std::uintptr_t entry) = 0;
    virtual void do_schedule_yielded(std::uintptr_t entry) = 0;
    /// spawn: `task` comes with both of a NewTask's references (NewTask(task) takes them back).
    virtual void do_spawn(TaskHeader* task) = 0;
    /// release: the owned reference (OwnedTask::adopt takes it back), or null.
    virtual TaskHeader* do_release(TaskHeader* task) noexcept = 0;
};

// ---- identity ------------------------------------------------------------------

/// A named task's origin: its name and spawn site, on the heap.
struct TaskName {
    std::string name;
    std::source_location where;
};

static_assert(sizeof(std::source_location) == sizeof(std::uintptr_t));

/// Where a task comes from, in one word: a std::source_location's bits, or
/// (low bit set) a TaskName the cell owns.
class TaskOrigin {
public:
    TaskOrigin() noexcept = default;
    explicit TaskOrigin(std::source_location where) noexcept : bits_(std::bit_cast<std::uintptr_t>(where)) {}
    TaskOrigin(std::string name, std::source_location where)
        : bits_(reinterpret_cast<std::uintptr_t>(new TaskName{std::move(name), where}) | 1) {}

    std::source_location where() const noexcept {
        if (const TaskName* n = named()) return n->where;
        return std::bit_cast<std::source_location>(bits_);
    }
    /// The name, or null for an unnamed task.
    const std::string* name() const noexcept { return named() != nullptr ? &named()->name : nullptr; }
    void destroy() noexcept {
        delete named();
        bits_ = 0;
    }

private:
    const TaskName* named() const noexcept {
        return (bits_ & 1) != 0 ? reinterpret_cast<const TaskName*>(bits_ & ~std::uintptr_t{1}) : nullptr;
    }
    std::uintptr_t bits_ = 0;
};

/// Task ids: each thread takes blocks of ids from one counter, so spawning
/// on several threads shares no cache line per spawn (and ids in one block
/// come from one thread: the multi-thread owned list shards by block).
/// Ids start at 1 (0 is none), so block k holds ids k * kTaskIdBlock + 1 to
/// (k + 1) * kTaskIdBlock: task_id_block().
inline constexpr std::uint64_t kTaskIdBlock = 1024;
inline Atomic<std::uint64_t> next_task_id_block{1};
inline std::uint64_t task_id_block(std::uint64_t id) noexcept { return (id - 1) / kTaskIdBlock; }
inline std::uint64_t next_task_id() noexcept {
    thread_local std::uint64_t next = 0;
    thread_local std::uint64_t end = 0;
    if (next == end) {
        next = next_task_id_block.fetch_add(kTaskIdBlock, std::memory_order_relaxed);
        end = next + kTaskIdBlock;
    }
    return next++;
}

/// Milliseconds on CLOCK_MONOTONIC_COARSE (wraps after 49 days; task ages
/// and idle times are differences). A scheduler thread reads a copy it
/// refreshes every scheduler tick, so a poll reads no clock.
std::uint32_t coarse_clock_ms() noexcept;
inline thread_local std::uint32_t worker_clock_ms = 0;
inline thread_local bool worker_clock_live = false;
inline std::uint32_t task_clock_ms() noexcept { return worker_clock_live ? worker_clock_ms : coarse_clock_ms(); }
inline void refresh_worker_clock() noexcept {
    worker_clock_ms = coarse_clock_ms();
    worker_clock_live = true;
}

struct TaskVTable {
    void (*poll)(TaskHeader*);                    // run once; the caller gave up its queue reference
    void (*poll_yielded)(TaskHeader*);            // run a task re-queued by schedule_yielded (still RUNNING)
    void (*cancel)(TaskHeader*);                  // drop the future as cancelled; caller set RUNNING
    void (*take_output)(TaskHeader*, void* out);  // emplace the output into *out (std::optional<TaskOutcome<T>>)
    void (*drop_output)(TaskHeader*) noexcept;
    void (*dealloc)(TaskHeader*) noexcept;
    /// Writes the await chain; only while the caller keeps the task from being polled.
    void (*describe)(const TaskHeader*, ChainBuffer& out) noexcept;
};

/// The tag of a task's links in its scheduler's owned list.
struct OwnedListTag {};

struct TaskHeader : ListHook<OwnedListTag> {
    corio::detail::Atomic<std::uint64_t> state;
    const TaskVTable* vtable;
    Scheduler* scheduler;
    Waker join_waker;
    std::uint64_t id = 0;  // task::Id
    TaskOrigin origin;
    // Written only by the poller (relaxed, no read-modify-write); atomic for dump readers.
    Atomic<std::uint32_t> polls{0};
    Atomic<std::uint32_t> self_wakes{0};      // polls that ended with the task waking itself (yields)
    Atomic<std::uint32_t> last_polled_ms{0};  // task_clock_ms() when it last went idle (or at spawn)
    Atomic<std::uint32_t> busy_us{0};         // time in poll, saturating; measured only under a PollObserver
    // The scheduler's own word: where schedule latency is measured, when the
    // task was last queued (stamp_scheduled; 0 if not stamped); a simulation,
    // which never measures it, keeps the task's host tag there instead.
    std::uint32_t scheduler_note = 0;
    // Last, so that a cell's first member (a one-byte stage) fills the byte
    // after it and a Task's cell stays at 112 bytes (seven 16-byte granules).
    std::uint8_t spawned_s[3] = {};  // task_clock_ms() / 1000 at spawn, 24 bits (wraps after 194 days)

    TaskHeader(std::uint64_t initial, const TaskVTable* vt, Scheduler* s, TaskOrigin from) noexcept
        : state(initial), vtable(vt), scheduler(s), id(next_task_id()), origin(from) {
        std::uint32_t now_ms = task_clock_ms();
        last_polled_ms.store(now_ms, std::memory_order_relaxed);
        std::uint32_t now_s = now_ms / 1000;
        spawned_s[0] = static_cast<std::uint8_t>(now_s);
        spawned_s[1] = static_cast<std::uint8_t>(now_s >> 8);
        spawned_s[2] = static_cast<std::uint8_t>(now_s >> 16);
    }

    /// Seconds since spawn (mod 2^24), given task_clock_ms() now.
    std::uint32_t age_s(std::uint32_t now_ms) const noexcept {
        std::uint32_t spawned = spawned_s[0] | (std::uint32_t{spawned_s[1]} << 8) | (std::uint32_t{spawned_s[2]} << 16);
        return (now_ms / 1000 - spawned) & 0xffffff;
    }
};

/// A task's address, owning no reference: valid only while something else
/// keeps the task alive (its owned list while linked, its poller, a
/// reference held beside it). What diagnostics, the simulator and the owned
/// lists pass around.
class RawTask {
public:
    RawTask() noexcept = default;
    explicit RawTask(TaskHeader* t) noexcept : t_(t) {}

    TaskHeader* get() const noexcept { return t_; }
    TaskHeader* operator->() const noexcept { return t_; }
    TaskHeader& operator*() const noexcept { return *t_; }
    explicit operator bool() const noexcept { return t_ != nullptr; }
    friend bool operator==(RawTask, RawTask) noexcept = default;

private:
    TaskHeader* t_ = nullptr;
};

}  // namespace corio::detail
