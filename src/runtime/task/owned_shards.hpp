// The owned-task list of the multi-thread scheduler: OwnedTasks split into
// shards, each behind its own lock on its own cache line, so that workers
// spawning and finishing tasks at once rarely contend. Every spawn links and
// every completion unlinks, so the lock is a SpinLock (one atomic exchange
// and a plain store; a Mutex's unlock is a second exchange, and the pair was
// a third of a spawn's cost); only a dump holds it for longer (a shard's
// tasks read one by one), and a worker that meets it then yields meanwhile.
//
// A task's shard is picked from its id's block: a thread takes ids in blocks
// (next_task_id), so the tasks one worker spawns share a shard for a while,
// and when they finish on that worker, as most do, the shard's lock and list
// are already in that worker's cache.
//
// Invariant: once close() has returned, no task can be linked any more, so
// shutdown (cancel_owned) sees every task that will ever be in the list.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "corio/detail/sync.hpp"
#include "runtime/task/owned_tasks.hpp"

namespace corio::detail {

/// The owned-task list, sharded so spawns and completions on different
/// workers rarely contend for one lock.
class OwnedShards {
public:
    static constexpr std::size_t kShards = 64;
    /// Links the new task (taking its owned reference); false once closed
    /// (shutdown), when `task` is left whole and the caller drops it, which
    /// cancels it.
    bool link(NewTask& task) {
        Shard& s = shard(task.task());
        std::lock_guard lock(s.lock);
        if (s.closed) return false;
        s.list.push_back(std::move(task.owned));
        return true;
    }
    /// Refuses further links: a spawn racing with shutdown either got linked
    /// before (and is cancelled by shutdown) or is refused (and cancels itself).
    void close() {
        for (Shard& s : shards_) {
            std::lock_guard lock(s.lock);
            s.closed = true;
        }
    }
    /// The list's reference to `t`, unlinking it; empty when `t` is not linked.
    OwnedTask unlink_if_linked(RawTask t) noexcept {
        Shard& s = shard(t);
        std::lock_guard lock(s.lock);
        return s.list.unlink_if_linked(t);
    }
    /// Any linked task (left linked), or an empty RawTask.
    RawTask front() {
        for (Shard& s : shards_) {
            std::lock_guard lock(s.lock);
            if (RawTask t = s.list.front()) return t;
        }
        return RawTask();
    }
    /// Calls `fn(task)` for each linked task, one shard locked at a time;
    /// `fn` must not link or unlink tasks.
    template <class Fn>
    void for_each(Fn&& fn) {
        for (Shard& s : shards_) {
            std::lock_guard lock(s.lock);
            s.list.for_each(fn);
        }
    }
    std::size_t size() {
        std::size_t n = 0;
        for (Shard& s : shards_) {
            std::lock_guard lock(s.lock);
            n += s.list.size();
        }
        return n;
    }

private:
    struct alignas(64) Shard {
        SpinLock lock;
        OwnedTasks list;
        bool closed = false;
    };
    Shard& shard(RawTask t) noexcept { return shards_[task_id_block(t->id) % kShards]; }
    std::array<Shard, kShards> shards_;
};

}  // namespace corio::detail
