// The waiter queue shared by the corio::sync primitives (Semaphore, and
// through it Mutex, RwLock and OnceCell; Notify; Barrier).
//
// Each waiting future embeds one WaitNode; a primitive keeps its pending
// futures in a WaitList, an intrusive FIFO guarded by a small spin lock, so
// queueing a waiter never allocates. The invariant every primitive keeps:
// - a node is linked exactly while its `outcome` is kQueued;
// - whoever unlinks a node on the waiter's behalf (a release, a notify, a
//   close) does it under the lock, moves the node's waker out, and only then
//   publishes a non-zero `outcome` with a release store. After that store it
//   never touches the node again: the owning future may see the outcome,
//   complete and be destroyed at once;
// - wakers are woken after the lock is released (WakeList), so a woken task
//   that runs at once on another worker does not spin on our lock;
// - a future destroyed while its node is linked unlinks it under the lock and
//   hands on whatever it had been given (permits, a notification), so other
//   waiters never lose a wake-up because of a cancellation.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "corio/detail/intrusive_list.hpp"
#include "corio/detail/sync.hpp"
#include "corio/detail/wake_list.hpp"
#include "corio/future.hpp"

namespace corio::detail {

/// One waiting future's entry in a WaitList. Lives inside the future (which
/// is never moved after its first poll), so its address is stable while it
/// is linked.
struct WaitNode : ListHook<WaitNode> {           // links and is_linked() guarded by the list's lock
    static constexpr std::uint32_t kQueued = 0;  // `outcome` while linked

    Waker waker;                  // the most recent waker; guarded by the list's lock
    std::uint64_t wanted = 0;     // what the waiter asked for (permits)
    std::uint64_t remaining = 0;  // of `wanted`, what it still lacks; guarded by the list's lock
    std::uint64_t tag = 0;        // the generation it waits in (Notify, Barrier)
    /// kQueued while linked; the primitive's outcome code once unlinked on
    /// the waiter's behalf (stored last, with release, see the file comment).
    Atomic<std::uint32_t> outcome{kQueued};

    /// The outcome, read without the lock: acquire pairs with complete()'s
    /// release store, so what the completer did (permits assigned, the value
    /// set) is visible to the waiter.
    std::uint32_t load_outcome() const noexcept { return outcome.load(std::memory_order_acquire); }
};

/// An intrusive FIFO of WaitNodes with the lock that guards it. Every member
/// but lock() requires the lock to be held.
class WaitList {
public:
    WaitList() noexcept = default;
    WaitList(const WaitList&) = delete;
    WaitList& operator=(const WaitList&) = delete;

    /// The lock guarding the list and the nodes' guarded fields.
    SpinLock& lock() noexcept { return lock_; }

    bool empty() const noexcept { return nodes_.empty(); }
    WaitNode* front() const noexcept { return nodes_.front(); }
    WaitNode* next(const WaitNode& node) const noexcept { return nodes_.next(node); }

    /// Appends `node` (not linked) with outcome kQueued.
    void push_back(WaitNode& node) noexcept {
        node.outcome.store(WaitNode::kQueued, std::memory_order_relaxed);  // relaxed: only the owner reads it yet
        nodes_.push_back(node);
    }

    /// Unlinks `node`, which must be linked in this list.
    void remove(WaitNode& node) noexcept { IntrusiveList<WaitNode>::remove(node); }

    /// Unlinks `node` on its waiter's behalf: its waker goes to `wakes` and
    /// `outcome` (non-zero) is published last. The node must not be touched
    /// afterwards.
    void complete(WaitNode& node, std::uint32_t outcome, WakeList& wakes) noexcept {
        remove(node);
        wakes.push(std::move(node.waker));
        // release: the waiter's acquire load of the outcome sees everything
        // done on its behalf before this store.
        node.outcome.store(outcome, std::memory_order_release);
    }

private:
    SpinLock lock_;
    IntrusiveList<WaitNode> nodes_;  // guarded by lock_
};

}  // namespace corio::detail
