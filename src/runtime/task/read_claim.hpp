// Holding an idle task still while a task dump reads its await chain.
//
// A claim marks the task RUNNING and takes a reference of its own, so a
// worker that pops the task meanwhile skips it and its frames cannot change
// under the reader. A queued (NOTIFIED) task is never claimed: its run-queue
// entry would run it while we read or, were we to queue it again when the
// claim ends, run it twice.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>

#include "corio/detail/task_cell.hpp"

namespace corio::detail {

class ReadClaim {
public:
    /// Claims `t` if it is idle: not queued, running or done.
    static std::optional<ReadClaim> try_claim(RawTask t) noexcept {
        std::uint64_t cur = t->state.load(std::memory_order_acquire);
        for (;;) {
            if (cur & (state::kRunning | state::kComplete | state::kNotified)) return std::nullopt;
            // acquire: see the frames as the last poller left them.
            if (t->state.compare_exchange_weak(cur, (cur | state::kRunning) + state::kRefOne, std::memory_order_acquire,
                                               std::memory_order_acquire))
                return ReadClaim(t);
        }
    }
    ReadClaim(ReadClaim&& other) noexcept : t_(std::exchange(other.t_, RawTask())) {}
    ReadClaim(const ReadClaim&) = delete;
    ReadClaim& operator=(const ReadClaim&) = delete;
    ReadClaim& operator=(ReadClaim&&) = delete;

    /// Gives the claim back. A wake (or abort) that came meanwhile found the
    /// task RUNNING and left it to us to queue: our reference becomes the
    /// queue's.
    ~ReadClaim() {
        if (!t_) return;
        TaskHeader* t = t_.get();
        std::uint64_t cur = t->state.load(std::memory_order_acquire);
        while (!t->state.compare_exchange_weak(cur, cur & ~state::kRunning, std::memory_order_acq_rel,
                                               std::memory_order_acquire)) {
        }
        if (cur & state::kNotified) {
            t->scheduler->schedule(Notified::woken(t));
        } else {
            task_unref(t);
        }
    }

    RawTask task() const noexcept { return t_; }

private:
    explicit ReadClaim(RawTask t) noexcept : t_(t) {}
    RawTask t_;
};

}  // namespace corio::detail
