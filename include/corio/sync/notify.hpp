// sync::Notify: wakes tasks waiting for an event (Tokio's `Notify`).
//
// State: one atomic word; its low two bits are EMPTY, WAITING (the wait list
// is non-empty) or NOTIFIED (one stored permit, at most one), and the bits
// above count notify_waiters() calls. The invariants:
// - WAITING holds exactly while the wait list is non-empty, and a state that
//   is WAITING is only changed with the list's lock held; EMPTY <-> NOTIFIED
//   changes by compare-exchange without the lock (notify_one with nobody
//   waiting, a Notified consuming the permit), so those stay lock-free;
// - a Notified records the call count when it is created; once the count
//   moved it is ready, so notify_waiters() also reaches futures created
//   before the call but not yet polled. Queued nodes carry that count as
//   their tag; notify_waiters() releases exactly the nodes tagged before it.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/detail/sync.hpp"
#include "corio/detail/wait_list.hpp"
#include "corio/future.hpp"

namespace corio::sync {

/// Notifies one task or all waiting tasks of an event; no data is sent.
///
/// notify_one() wakes the longest-waiting Notified future, or stores one
/// permit (at most one) that the next notified() consumes at once.
/// notify_waiters() wakes every Notified future created before the call and
/// stores nothing. A Notify must outlive its Notified futures.
class Notify {
public:
    Notify() noexcept = default;
    Notify(const Notify&) = delete;
    Notify& operator=(const Notify&) = delete;

    /// The future of notified(): ready once notified.
    class CORIO_NODISCARD_FUTURE Notified {
    public:
        using Output = void;

        // acquire: pairs with notify_waiters' release of the count it bumped.
        explicit Notified(Notify& notify) noexcept
            : notify_(&notify), generation_(notify.generation(notify.state_.load(std::memory_order_acquire))) {}

        /// Only before the first poll (futures are never moved after it).
        Notified(Notified&& other) noexcept
            : notify_(other.notify_), generation_(other.generation_), phase_(other.phase_) {
            if (phase_ == Phase::Waiting) std::terminate();
            other.phase_ = Phase::Done;
        }
        Notified& operator=(Notified&&) = delete;
        ~Notified();

        /// Ready once notified. Throws std::logic_error when polled after it completed.
        Poll<void> poll(Context& cx);

    private:
        enum class Phase : std::uint8_t { Init, Waiting, Done };

        Poll<void> poll_init(Context& cx);
        Poll<void> poll_waiting(Context& cx);
        Poll<void> done() noexcept {
            phase_ = Phase::Done;
            return Ready();
        }

        Notify* notify_;
        std::uint64_t generation_;  // notify_waiters() calls seen at creation
        Phase phase_ = Phase::Init;
        corio::detail::WaitNode node_;
    };

    /// A future that completes on the next notify_one() (or on a stored
    /// permit), or on any notify_waiters() call made after this call.
    ///
    /// Cancellation-safe: dropped while waiting, it leaves the queue and
    /// holds nothing; dropped after a notify_one() reached it but before it
    /// was polled again, it passes that notification on (to the next waiter,
    /// or as the stored permit), so no notification is lost.
    Notified notified() noexcept { return Notified(*this); }

    /// Wakes the waiter that has waited longest; if none waits, stores a
    /// permit (one at most) for the next notified().
    void notify_one() {
        // acquire: pairs with the release of whoever last changed the word.
        std::uint64_t cur = state_.load(std::memory_order_acquire);
        while ((cur & kStateMask) != kWaiting) {
            // acq_rel: release publishes what the notifier wrote before
            // notifying to the task that consumes the permit.
            if (state_.compare_exchange_weak(cur, (cur & ~kStateMask) | kNotified, std::memory_order_acq_rel,
                                             std::memory_order_acquire)) {
                return;
            }
        }
        Waker waker;
        {
            std::lock_guard lock(waiters_.lock());
            waker = notify_one_locked();
        }
        std::move(waker).wake();
    }

    /// Wakes every Notified future created before this call (polled or not);
    /// stores no permit and leaves a stored one in place.
    void notify_waiters() {
        corio::detail::WakeList wakes;
        std::unique_lock lock(waiters_.lock());
        std::uint64_t cur = state_.load(std::memory_order_relaxed);  // relaxed: the CAS validates it
        // acq_rel: orders the new count after everything the caller did, for
        // a Notified that sees it (and the lock-free EMPTY/NOTIFIED changes).
        while (!state_.compare_exchange_weak(cur, cur + kGenerationUnit, std::memory_order_acq_rel,
                                             std::memory_order_relaxed)) {
        }
        const std::uint64_t now = generation(cur + kGenerationUnit);
        while (corio::detail::WaitNode* node = waiters_.front()) {
            if (node->tag >= now) break;  // queued after this call (while the lock was released below)
            waiters_.complete(*node, kAll, wakes);
            if (waiters_.empty()) set_empty_locked();
            if (wakes.full()) {
                lock.unlock();
                wakes.wake_all();
                lock.lock();
            }
        }
    }

private:
    static constexpr std::uint64_t kEmpty = 0;
    static constexpr std::uint64_t kWaiting = 1;
    static constexpr std::uint64_t kNotified = 2;
    static constexpr std::uint64_t kStateMask = 3;
    static constexpr std::uint64_t kGenerationUnit = 4;

    // WaitNode outcomes.
    static constexpr std::uint32_t kOne = 1;  // released by notify_one
    static constexpr std::uint32_t kAll = 2;  // released by notify_waiters

    static constexpr std::uint64_t generation(std::uint64_t state) noexcept { return state >> 2; }

    /// With the lock held, the list just emptied: WAITING becomes EMPTY.
    void set_empty_locked() noexcept {
        // relaxed load: a WAITING word only changes under the lock we hold.
        std::uint64_t cur = state_.load(std::memory_order_relaxed);
        // release: publishes the notifier's writes to a task that sees EMPTY.
        state_.store((cur & ~kStateMask) | kEmpty, std::memory_order_release);
    }

    /// With the lock held: releases the head waiter (returning its waker), or
    /// stores the permit when nobody waits.
    Waker notify_one_locked() {
        std::uint64_t cur = state_.load(std::memory_order_acquire);  // acquire: as in notify_one
        while ((cur & kStateMask) != kWaiting) {
            // acq_rel: as in notify_one.
            if (state_.compare_exchange_weak(cur, (cur & ~kStateMask) | kNotified, std::memory_order_acq_rel,
                                             std::memory_order_acquire)) {
                return Waker();
            }
        }
        corio::detail::WaitNode& node = *waiters_.front();
        waiters_.remove(node);
        Waker waker = std::move(node.waker);
        if (waiters_.empty()) set_empty_locked();
        // release: the waiter's acquire load sees the notifier's writes.
        node.outcome.store(kOne, std::memory_order_release);
        return waker;
    }

    corio::detail::Atomic<std::uint64_t> state_{kEmpty};
    corio::detail::WaitList waiters_;
};

inline Notify::Notified::~Notified() {
    if (phase_ != Phase::Waiting) return;
    std::uint32_t outcome = node_.load_outcome();
    if (outcome == corio::detail::WaitNode::kQueued) {
        std::lock_guard lock(notify_->waiters_.lock());
        if (node_.is_linked()) {
            notify_->waiters_.remove(node_);
            if (notify_->waiters_.empty()) notify_->set_empty_locked();
            return;
        }
        outcome = node_.outcome.load(std::memory_order_relaxed);  // relaxed: the lock ordered the notifier's store
    }
    if (outcome == kOne) notify_->notify_one();  // received but never consumed: pass it on
}

inline Poll<void> Notify::Notified::poll(Context& cx) {
    switch (phase_) {
        case Phase::Init:
            if (!corio::detail::poll_proceed(cx)) return Pending;
            return poll_init(cx);
        case Phase::Waiting:
            if (!corio::detail::poll_proceed(cx)) return Pending;
            return poll_waiting(cx);
        case Phase::Done:
            break;
    }
    throw std::logic_error("corio::sync::Notify: Notified polled after it completed");
}

inline Poll<void> Notify::Notified::poll_init(Context& cx) {
    corio::detail::Atomic<std::uint64_t>& state = notify_->state_;
    // Lock-free first: a notify_waiters() call since creation, or a stored permit.
    std::uint64_t cur = state.load(std::memory_order_acquire);  // acquire: pairs with the notifier's release
    for (;;) {
        if (generation(cur) != generation_) return done();
        if ((cur & kStateMask) != kNotified) break;
        // acquire: sees what the notifier wrote before storing the permit.
        if (state.compare_exchange_weak(cur, (cur & ~kStateMask) | kEmpty, std::memory_order_acquire,
                                        std::memory_order_acquire)) {
            return done();
        }
    }
    std::lock_guard lock(notify_->waiters_.lock());
    cur = state.load(std::memory_order_acquire);  // acquire: as above
    for (;;) {
        if (generation(cur) != generation_) return done();
        std::uint64_t bits = cur & kStateMask;
        if (bits == kWaiting) break;
        std::uint64_t next = (cur & ~kStateMask) | (bits == kNotified ? kEmpty : kWaiting);
        // acq_rel: acquire as above when consuming; WAITING tells lock-free
        // notifiers to take the lock, so they must see it before any later change.
        if (state.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
            if (bits == kNotified) return done();
            break;
        }
    }
    node_.tag = generation_;
    node_.waker = cx.waker();
    notify_->waiters_.push_back(node_);
    phase_ = Phase::Waiting;
    return Pending;
}

inline Poll<void> Notify::Notified::poll_waiting(Context& cx) {
    if (node_.load_outcome() != corio::detail::WaitNode::kQueued) return done();
    std::lock_guard lock(notify_->waiters_.lock());
    // relaxed: the lock ordered the notifier's store (made under it).
    if (node_.outcome.load(std::memory_order_relaxed) != corio::detail::WaitNode::kQueued) return done();
    node_.waker.clone_from(cx.waker());
    return Pending;
}

static_assert(Future<Notify::Notified>);

}  // namespace corio::sync
