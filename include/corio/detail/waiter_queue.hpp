// The waiting tasks of a channel that wakes *all* of them at once
// (broadcast receivers on send, watch receivers on change, watch senders on
// close): an intrusive FIFO of nodes that live inside the waiting futures.
//
// Invariants: every field of a queued node, and the queue itself, is guarded
// by one mutex that the owning channel holds around every call; a node's
// `queued` flag is written only under that mutex and turns false only after
// the queue has stopped touching the node, so a future whose flag reads
// false may be destroyed without taking the mutex. Wakers are moved out
// under the mutex and woken after it is released, in bounded batches; each
// node gets a ticket at enqueue, and a wake-all drains only the tickets that
// existed when it started, so waiters that re-queue meanwhile cannot keep it
// looping.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "corio/detail/intrusive_list.hpp"
#include "corio/detail/sync.hpp"
#include "corio/detail/wake_list.hpp"
#include "corio/future.hpp"

namespace corio::detail {

/// One waiting future's entry in a WaiterQueue. Lives inside that future
/// (whose address is stable once polled).
struct QueuedWaiter : ListHook<QueuedWaiter> {  // links guarded by the queue's mutex
    QueuedWaiter() = default;
    QueuedWaiter(const QueuedWaiter&) = delete;
    QueuedWaiter& operator=(const QueuedWaiter&) = delete;

    /// True while linked in a queue. Read without the mutex only by the
    /// owning future (see is_queued).
    bool is_queued() const noexcept {
        // acquire: pairs with the release store in WaiterQueue::pop_into, so
        // once false is seen the waking thread no longer touches this node.
        return queued.load(std::memory_order_acquire);
    }

    Waker waker;               // guarded by the queue's mutex while queued
    std::uint64_t ticket = 0;  // guarded by the queue's mutex
    Atomic<bool> queued{false};
};

/// An intrusive FIFO of QueuedWaiter; every member must be called with the
/// owning channel's mutex held.
class WaiterQueue {
public:
    WaiterQueue() = default;
    WaiterQueue(const WaiterQueue&) = delete;
    WaiterQueue& operator=(const WaiterQueue&) = delete;

    /// Appends `w` (not queued) with a clone of `waker`.
    void push_back(QueuedWaiter& w, const Waker& waker) {
        w.waker.clone_from(waker);
        w.ticket = ++last_ticket_;
        waiters_.push_back(w);
        // relaxed: written under the mutex; the owner reads it on its own thread.
        w.queued.store(true, std::memory_order_relaxed);
        // seq_cst: a notifier that skips the mutex when it reads zero relies
        // on a total order with the channel state the waiter checks after this.
        len_.fetch_add(1, std::memory_order_seq_cst);
    }

    /// Unlinks `w` if it is queued (its waker is dropped with the future).
    void remove(QueuedWaiter& w) noexcept {
        // relaxed: written only under the mutex, which we hold.
        if (!w.queued.load(std::memory_order_relaxed)) return;
        unlink(w);
        // relaxed: the owner itself is removing; nobody else reads the node.
        w.queued.store(false, std::memory_order_relaxed);
    }

    /// The ticket of the newest waiter queued so far.
    std::uint64_t last_ticket() const noexcept { return last_ticket_; }

    /// Moves out the wakers of waiters with a ticket up to `limit`, oldest
    /// first, until `batch` is full; true when such waiters remain.
    bool pop_into(WakeList& batch, std::uint64_t limit) noexcept {
        while (QueuedWaiter* head = waiters_.front()) {
            if (head->ticket > limit) break;
            if (batch.full()) return true;
            QueuedWaiter& w = *head;
            unlink(w);
            batch.push(std::move(w.waker));
            // release: the owner may free the node once it reads false.
            w.queued.store(false, std::memory_order_release);
        }
        return false;
    }

    /// False only when no waiter is queued; may be called without the mutex
    /// (seq_cst, see push_back).
    bool may_have_waiters() const noexcept { return len_.load(std::memory_order_seq_cst) != 0; }

private:
    void unlink(QueuedWaiter& w) noexcept {
        IntrusiveList<QueuedWaiter>::remove(w);
        // relaxed: only a hint for may_have_waiters; the push side is what must be ordered.
        len_.fetch_sub(1, std::memory_order_relaxed);
    }

    IntrusiveList<QueuedWaiter> waiters_;
    std::uint64_t last_ticket_ = 0;
    Atomic<std::size_t> len_{0};
};

/// Wakes every waiter queued in `queue` when called. `lock` holds the
/// queue's mutex on entry and is released on return; wakers are called with
/// it released, at most WakeList::kCapacity per pass.
template <class Lock>
void wake_all_queued(Lock& lock, WaiterQueue& queue) {
    const std::uint64_t limit = queue.last_ticket();
    WakeList batch;
    for (;;) {
        const bool more = queue.pop_into(batch, limit);
        lock.unlock();
        batch.wake_all();
        if (!more) return;
        lock.lock();
    }
}

}  // namespace corio::detail
