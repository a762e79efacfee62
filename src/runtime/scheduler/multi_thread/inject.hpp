// The global inject queue: tasks spawned or woken from outside the workers,
// and the overflow of full worker queues. A mutex-protected FIFO with an
// atomic length so workers can skip the lock when it is empty.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <iterator>
#include <mutex>
#include <utility>
#include <vector>

#include "corio/detail/sync.hpp"
#include "corio/detail/task_ref.hpp"

namespace corio::detail::mt {

class InjectQueue {
public:
    /// Queues `e`; once closed (shutdown) refuses it and hands it back.
    Notified push(Notified e) {
        std::lock_guard lock(mutex_);
        if (closed_) return e;
        queue_.push_back(std::move(e));
        // seq_cst: the notifier then reads the idle counters (store-load pairing with a parking worker).
        len_.fetch_add(1, std::memory_order_seq_cst);
        return Notified();
    }

    /// Moves a batch in; false (and `batch` left as it was) once closed.
    bool push_batch(std::vector<Notified>& batch) {
        std::lock_guard lock(mutex_);
        if (closed_) return false;
        for (Notified& e : batch) queue_.push_back(std::move(e));
        len_.fetch_add(batch.size(), std::memory_order_seq_cst);
        batch.clear();
        return true;
    }

    Notified pop() {
        if (is_empty()) return Notified();
        std::lock_guard lock(mutex_);
        if (queue_.empty()) return Notified();
        Notified e = std::move(queue_.front());
        queue_.pop_front();
        len_.fetch_sub(1, std::memory_order_relaxed);
        return e;
    }

    /// Takes up to `max` entries into `out`.
    std::size_t pop_n(std::vector<Notified>& out, std::size_t max) {
        if (is_empty()) return 0;
        std::lock_guard lock(mutex_);
        std::size_t n = 0;
        while (n < max && !queue_.empty()) {
            out.push_back(std::move(queue_.front()));
            queue_.pop_front();
            ++n;
        }
        len_.fetch_sub(n, std::memory_order_relaxed);
        return n;
    }

    /// Refuses further pushes; returns what was queued.
    std::vector<Notified> close() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        std::vector<Notified> rest(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
        queue_.clear();
        len_.store(0, std::memory_order_relaxed);
        return rest;
    }

    // seq_cst: pairs with push (see there); also acquire, so a non-zero length means the entry is visible.
    bool is_empty() const noexcept { return len_.load(std::memory_order_seq_cst) == 0; }
    std::size_t len() const noexcept { return len_.load(std::memory_order_relaxed); }

private:
    Mutex mutex_;
    std::deque<Notified> queue_;  // guarded by mutex_
    bool closed_ = false;         // guarded by mutex_
    Atomic<std::size_t> len_{0};
};

}  // namespace corio::detail::mt
