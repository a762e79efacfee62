// Which workers are parked, and how many are searching for work.
//
// Invariants: at most half the workers search at once (a searching worker
// that finds work wakes one more, so wake-ups cascade only while work
// remains); a worker is woken only when no worker is searching (a searcher
// will find the new work anyway). Counters change under the sleepers mutex
// except the searching fast paths, which are single atomic updates.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <optional>
#include <vector>

#include "corio/detail/sync.hpp"

namespace corio::detail::mt {

class Idle {
public:
    explicit Idle(std::size_t workers) : workers_(workers), unparked_(workers) { sleepers_.reserve(workers); }

    /// Picks a parked worker to wake for new work, if one should be.
    std::optional<std::size_t> worker_to_notify() {
        // seq_cst: ordered against the pusher's queue write and the parker's
        // recheck of the queues (the classic store-load pairing).
        if (searching_.load(std::memory_order_seq_cst) != 0) return std::nullopt;
        if (unparked_.load(std::memory_order_seq_cst) >= workers_) return std::nullopt;
        std::lock_guard lock(mutex_);
        if (searching_.load(std::memory_order_seq_cst) != 0 || sleepers_.empty()) return std::nullopt;
        std::size_t w = sleepers_.back();
        sleepers_.pop_back();
        searching_.fetch_add(1, std::memory_order_seq_cst);  // it wakes up searching
        unparked_.fetch_add(1, std::memory_order_seq_cst);
        return w;
    }

    /// A worker wants to search (steal). False when half are searching already.
    bool transition_to_searching() {
        std::size_t n = searching_.load(std::memory_order_seq_cst);
        if (2 * n >= workers_) return false;
        searching_.fetch_add(1, std::memory_order_seq_cst);
        return true;
    }

    /// A searching worker found work. True if it was the last searcher (it
    /// must then wake another worker, in case more work is waiting).
    bool transition_from_searching() { return searching_.fetch_sub(1, std::memory_order_seq_cst) == 1; }

    /// A worker is about to park. True if it was the last searcher: it must
    /// look at the queues once more before sleeping.
    bool transition_to_parked(std::size_t worker, bool searching) {
        std::lock_guard lock(mutex_);
        bool last = searching && searching_.fetch_sub(1, std::memory_order_seq_cst) == 1;
        unparked_.fetch_sub(1, std::memory_order_seq_cst);
        sleepers_.push_back(worker);
        return last;
    }

    /// A worker woke up (notified, spuriously or for shutdown). If it is still
    /// listed as a sleeper (not notified), unlist it; returns true then.
    bool transition_from_parked(std::size_t worker) {
        std::lock_guard lock(mutex_);
        auto it = std::find(sleepers_.begin(), sleepers_.end(), worker);
        if (it == sleepers_.end()) return false;  // notified: counters already updated
        sleepers_.erase(it);
        unparked_.fetch_add(1, std::memory_order_seq_cst);
        return true;
    }

    std::size_t num_searching() const noexcept { return searching_.load(std::memory_order_relaxed); }
    /// Workers not parked (running, searching, or about to park).
    std::size_t num_unparked() const noexcept { return unparked_.load(std::memory_order_seq_cst); }

private:
    const std::size_t workers_;
    Atomic<std::size_t> searching_{0};
    Atomic<std::size_t> unparked_;
    Mutex mutex_;
    std::vector<std::size_t> sleepers_;  // guarded by mutex_
};

}  // namespace corio::detail::mt
