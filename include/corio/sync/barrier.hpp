// sync::Barrier: lets `n` tasks wait until all of them reached the same point
// (Tokio's `Barrier`), reusable generation after generation.
//
// Guarded by the wait list's lock: the count of tasks that arrived in the
// current generation and the generation number. Queued nodes carry the
// generation they arrived in as their tag; the n-th arrival starts the next
// generation and releases exactly the nodes tagged with the one that ended
// (it may drop the lock between batches of wakes, while new arrivals queue
// behind with the new tag).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/detail/wait_list.hpp"
#include "corio/future.hpp"

namespace corio::sync {

/// What Barrier::wait() yields: whether this task was the generation's leader.
class BarrierWaitResult {
public:
    explicit BarrierWaitResult(bool leader) noexcept : leader_(leader) {}
    /// True for exactly one waiter per generation: the one that arrived last.
    bool is_leader() const noexcept { return leader_; }

private:
    bool leader_;
};

/// A reusable barrier for `n` tasks. Must outlive its pending wait futures.
class Barrier {
public:
    /// A barrier that releases its waiters once `n` arrived (0 behaves as 1).
    explicit Barrier(std::size_t n) noexcept : n_(n == 0 ? 1 : n) {}
    Barrier(const Barrier&) = delete;
    Barrier& operator=(const Barrier&) = delete;

    /// The future of wait().
    class CORIO_NODISCARD_FUTURE Wait {
    public:
        using Output = BarrierWaitResult;

        explicit Wait(Barrier& barrier) noexcept : barrier_(&barrier) {}
        /// Only before the first poll (futures are never moved after it).
        Wait(Wait&& other) noexcept : barrier_(other.barrier_), phase_(other.phase_) {
            if (phase_ == Phase::Waiting) std::terminate();
            other.phase_ = Phase::Done;
        }
        Wait& operator=(Wait&&) = delete;
        ~Wait();

        /// Arrives on the first poll; ready once the generation is complete.
        /// Throws std::logic_error when polled after it completed.
        Poll<BarrierWaitResult> poll(Context& cx);

    private:
        enum class Phase : std::uint8_t { Init, Waiting, Done };

        Poll<BarrierWaitResult> arrive(Context& cx);

        Barrier* barrier_;
        Phase phase_ = Phase::Init;
        corio::detail::WaitNode node_;
    };

    /// Arrives at the barrier (on the first poll) and waits until `n` tasks
    /// arrived in this generation; the last to arrive is the leader.
    ///
    /// Cancellation-safe: a waiter dropped before its generation completed
    /// withdraws its arrival (the generation then needs another task); one
    /// dropped after it completed loses only its result.
    Wait wait() noexcept { return Wait(*this); }

private:
    static constexpr std::uint32_t kReleased = 1;

    const std::size_t n_;
    corio::detail::WaitList waiters_;
    std::size_t arrived_ = 0;       // in the current generation; guarded by waiters_.lock()
    std::uint64_t generation_ = 0;  // guarded by waiters_.lock()
};

inline Barrier::Wait::~Wait() {
    if (phase_ != Phase::Waiting) return;
    if (node_.load_outcome() != corio::detail::WaitNode::kQueued) return;
    std::lock_guard lock(barrier_->waiters_.lock());
    if (!node_.is_linked()) return;
    barrier_->waiters_.remove(node_);
    // A node still tagged with the current generation has not been released:
    // withdraw its arrival. One from an ended generation was about to be released.
    if (node_.tag == barrier_->generation_) --barrier_->arrived_;
}

inline Poll<BarrierWaitResult> Barrier::Wait::poll(Context& cx) {
    switch (phase_) {
        case Phase::Init:
            if (!corio::detail::poll_proceed(cx)) return Pending;
            return arrive(cx);
        case Phase::Waiting: {
            if (!corio::detail::poll_proceed(cx)) return Pending;
            if (node_.load_outcome() == corio::detail::WaitNode::kQueued) {
                std::lock_guard lock(barrier_->waiters_.lock());
                // relaxed: the lock ordered the leader's store (made under it).
                if (node_.outcome.load(std::memory_order_relaxed) == corio::detail::WaitNode::kQueued) {
                    node_.waker.clone_from(cx.waker());
                    return Pending;
                }
            }
            phase_ = Phase::Done;
            return Ready(BarrierWaitResult(false));
        }
        case Phase::Done:
            break;
    }
    throw std::logic_error("corio::sync::Barrier: wait future polled after it completed");
}

inline Poll<BarrierWaitResult> Barrier::Wait::arrive(Context& cx) {
    Barrier& b = *barrier_;
    corio::detail::WakeList wakes;
    std::unique_lock lock(b.waiters_.lock());
    if (++b.arrived_ < b.n_) {
        node_.tag = b.generation_;
        node_.waker = cx.waker();
        b.waiters_.push_back(node_);
        phase_ = Phase::Waiting;
        return Pending;
    }
    const std::uint64_t ended = b.generation_++;
    b.arrived_ = 0;
    while (corio::detail::WaitNode* node = b.waiters_.front()) {
        if (node->tag != ended) break;  // arrived in the new generation while the lock was released
        b.waiters_.complete(*node, kReleased, wakes);
        if (wakes.full()) {
            lock.unlock();
            wakes.wake_all();
            lock.lock();
        }
    }
    phase_ = Phase::Done;
    return Ready(BarrierWaitResult(true));
}

static_assert(Future<Barrier::Wait>);

}  // namespace corio::sync
