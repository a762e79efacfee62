// AtomicWaker: one waker slot that one consumer registers into and any
// number of producers wake, lock-free (Tokio's AtomicWaker).
//
// Invariant: the slot is written only by the thread that moved the state
// from WAITING to REGISTERING, and taken only by the thread that moved it
// from WAITING to WAKING; the two never hold it at once. A wake that comes
// while a registration is in progress sets WAKING and leaves the wake to the
// registering thread, so no wake-up is lost and no lock is ever held.
//
// Every state change is an acq_rel read-modify-write (the same instruction as
// a weaker one on x86): whichever thread ends up waking has then seen what
// every thread that raced with it published before its own wake() (JoinSet
// relies on this for its ready stack).
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#include "corio/detail/sync.hpp"
#include "corio/future.hpp"

namespace corio::detail {

class AtomicWaker {
public:
    AtomicWaker() = default;
    AtomicWaker(const AtomicWaker&) = delete;
    AtomicWaker& operator=(const AtomicWaker&) = delete;

    /// Stores `waker` (a clone, skipped when the stored one already wakes the
    /// same task) to be woken by the next wake(). One registering thread at a
    /// time; a wake() racing with the registration wakes `waker` at once.
    void register_waker(const Waker& waker) {
        std::uint8_t cur = kWaiting;
        // acq_rel: acquire sees the slot as the last waker-taker left it (and
        // what it published); release orders the caller's earlier reads before.
        if (!state_.compare_exchange_strong(cur, kRegistering, std::memory_order_acq_rel, std::memory_order_acquire)) {
            // WAKING: a wake is taking the slot right now; whatever it takes,
            // the caller must be polled again, so wake it directly.
            if (cur == kWaking) waker.wake_by_ref();
            return;
        }
        waker_.clone_from(waker);
        std::uint8_t expected = kRegistering;
        // acq_rel: release the slot write to the next waker-taker; acquire
        // what a wake that raced with us published.
        if (state_.compare_exchange_strong(expected, kWaiting, std::memory_order_acq_rel, std::memory_order_acquire)) {
            return;
        }
        // A wake() came meanwhile (state is REGISTERING | WAKING) and left
        // the wake to us: take the waker, reset, wake.
        Waker taken = waker_;
        // release: the slot is free again for whoever comes next.
        state_.store(kWaiting, std::memory_order_release);
        std::move(taken).wake();
    }

    /// Wakes the registered waker, if any, and keeps it registered (so the
    /// next register_waker of the same task clones nothing).
    void wake() {
        // acq_rel: acquire the registrant's slot write; release our claim.
        if (state_.fetch_or(kWaking, std::memory_order_acq_rel) != kWaiting) return;
        waker_.wake_by_ref();
        // acq_rel: release: our read of the slot happens before the next
        // registration writes it; acquire: take in what wakes that found the
        // slot busy meanwhile published, so this wake covers them too.
        state_.fetch_and(static_cast<std::uint8_t>(~kWaking), std::memory_order_acq_rel);
    }

    /// Takes the registered waker out (a no-op waker when none, or when a
    /// registration is in progress: that registration then wakes itself).
    Waker take() {
        // acq_rel: acquire the registrant's slot write; release our claim.
        if (state_.fetch_or(kWaking, std::memory_order_acq_rel) != kWaiting) return Waker();
        Waker taken = std::move(waker_);
        // acq_rel: as in wake().
        state_.fetch_and(static_cast<std::uint8_t>(~kWaking), std::memory_order_acq_rel);
        return taken;
    }

private:
    static constexpr std::uint8_t kWaiting = 0;
    static constexpr std::uint8_t kRegistering = 1;
    static constexpr std::uint8_t kWaking = 2;

    Atomic<std::uint8_t> state_{kWaiting};
    Waker waker_;
};

}  // namespace corio::detail
