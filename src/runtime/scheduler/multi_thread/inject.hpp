// The global inject queue: tasks spawned or woken from outside the workers,
// and the overflow of full worker queues. A mutex-protected FIFO with an
// atomic length so workers can skip the lock when it is empty.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <mutex>
#include <vector>

#include "corio/detail/sync.hpp"
#include "runtime/scheduler/local_queue.hpp"

namespace corio::detail::mt {

class InjectQueue {
public:
    /// False once closed (shutdown): the caller keeps ownership of the entry.
    bool push(QueueEntry e) {
        std::lock_guard lock(mutex_);
        if (closed_) return false;
        queue_.push_back(e);
        // seq_cst: the notifier then reads the idle counters (store-load pairing with a parking worker).
        len_.fetch_add(1, std::memory_order_seq_cst);
        return true;
    }

    /// Pushes a batch; returns the entries it could not take (closed).
    bool push_batch(std::vector<QueueEntry>& batch) {
        std::lock_guard lock(mutex_);
        if (closed_) return false;
        for (QueueEntry e : batch) queue_.push_back(e);
        len_.fetch_add(batch.size(), std::memory_order_seq_cst);
        batch.clear();
        return true;
    }

    QueueEntry pop() {
        if (is_empty()) return QueueEntry();
        std::lock_guard lock(mutex_);
        if (queue_.empty()) return QueueEntry();
        QueueEntry e = queue_.front();
        queue_.pop_front();
        len_.fetch_sub(1, std::memory_order_relaxed);
        return e;
    }

    /// Takes up to `max` entries into `out`.
    std::size_t pop_n(std::vector<QueueEntry>& out, std::size_t max) {
        if (is_empty()) return 0;
        std::lock_guard lock(mutex_);
        std::size_t n = 0;
        while (n < max && !queue_.empty()) {
            out.push_back(queue_.front());
            queue_.pop_front();
            ++n;
        }
        len_.fetch_sub(n, std::memory_order_relaxed);
        return n;
    }

    /// Refuses further pushes; returns what was queued.
    std::vector<QueueEntry> close() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        std::vector<QueueEntry> rest(queue_.begin(), queue_.end());
        queue_.clear();
        len_.store(0, std::memory_order_relaxed);
        return rest;
    }

    // seq_cst: pairs with push (see there); also acquire, so a non-zero length means the entry is visible.
    bool is_empty() const noexcept { return len_.load(std::memory_order_seq_cst) == 0; }
    std::size_t len() const noexcept { return len_.load(std::memory_order_relaxed); }

private:
    Mutex mutex_;
    std::deque<QueueEntry> queue_;  // guarded by mutex_
    bool closed_ = false;           // guarded by mutex_
    Atomic<std::size_t> len_{0};
};

}  // namespace corio::detail::mt
