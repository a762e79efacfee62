// The owned-task list of the multi-thread scheduler: OwnedTasks split into
// shards, each behind its own mutex, so that workers spawning and finishing
// tasks at once rarely contend. A task's shard is picked from its address.
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
/// workers rarely contend for one mutex.
class OwnedShards {
public:
    static constexpr std::size_t kShards = 64;
    /// Links `t`; false once closed (shutdown), then the caller cancels it.
    bool link(TaskHeader* t) {
        Shard& s = shard(t);
        std::lock_guard lock(s.mutex);
        if (s.closed) return false;
        s.list.push_back(t);
        return true;
    }
    /// Refuses further links: a spawn racing with shutdown either got linked
    /// before (and is cancelled by shutdown) or is refused (and cancels itself).
    void close() {
        for (Shard& s : shards_) {
            std::lock_guard lock(s.mutex);
            s.closed = true;
        }
    }
    void unlink_if_linked(TaskHeader* t) noexcept {
        Shard& s = shard(t);
        std::lock_guard lock(s.mutex);
        if (OwnedTasks::is_linked(t)) s.list.remove(t);
    }
    /// Removes and returns any linked task, or null.
    TaskHeader* front() {
        for (Shard& s : shards_) {
            std::lock_guard lock(s.mutex);
            if (TaskHeader* t = s.list.front()) return t;
        }
        return nullptr;
    }
    /// Calls `fn(task)` for each linked task, one shard locked at a time;
    /// `fn` must not link or unlink tasks.
    template <class Fn>
    void for_each(Fn&& fn) {
        for (Shard& s : shards_) {
            std::lock_guard lock(s.mutex);
            s.list.for_each(fn);
        }
    }
    std::size_t size() {
        std::size_t n = 0;
        for (Shard& s : shards_) {
            std::lock_guard lock(s.mutex);
            n += s.list.size();
        }
        return n;
    }

private:
    struct Shard {
        Mutex mutex;
        OwnedTasks list;
        bool closed = false;
    };
    Shard& shard(TaskHeader* t) noexcept { return shards_[(reinterpret_cast<std::uintptr_t>(t) >> 7) % kShards]; }
    std::array<Shard, kShards> shards_;
};

}  // namespace corio::detail
