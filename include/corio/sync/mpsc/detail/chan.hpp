// mpsc channel core: ChanBase, what the bounded and the unbounded channel
// share, and the lock-guarded FIFO of Waiters (queued senders of a bounded
// channel, Sender::closed() futures of both kinds).
//
// - The receiver parks by registering its waker in an AtomicWaker and then
//   setting `rx_parked` (seq_cst), then looks at its head slot again;
//   a sender stores the slot's sequence (seq_cst) and then reads
//   `rx_parked`. One of the two always sees the other (Dekker), so a
//   wake-up is never lost and a sender pays no atomic read-modify-write to
//   notify a receiver that is not parked.
// - The channel is freed by whoever drops the last of its two holds: the
//   senders (as a group, counted in `senders_`) and the receiver.
//
// Invariant: a Waiter's `state` changes only under the channel's lock, and
// once it is no longer Queued the channel never touches the node again.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "corio/detail/atomic_waker.hpp"
#include "corio/detail/intrusive_list.hpp"
#include "corio/detail/sync.hpp"
#include "corio/detail/wake_list.hpp"
#include "corio/future.hpp"

namespace corio::sync::mpsc::detail {

// ---- the FIFO of waiting senders (and of Sender::closed() futures) ---------------------

/// A future waiting on the channel's lock-guarded list. `state` is written
/// only under the lock; the owning future reads it without the lock
/// (acquire): once it is not Queued, the channel no longer touches the node.
struct Waiter : corio::detail::ListHook<Waiter> {
    enum : std::uint8_t { Idle, Queued, Granted, Closed };
    Waker waker;  // written under the lock; read by the owner without it
    corio::detail::Atomic<std::uint8_t> state{Idle};
};

/// The FIFO of Waiters; guarded by the channel's lock.
using WaiterList = corio::detail::IntrusiveList<Waiter>;

/// What both channel kinds share: the receiver's parking protocol, the
/// sender count, the lifetime count and the Sender::closed() waiters.
class ChanBase {
public:
    ChanBase() = default;
    ChanBase(const ChanBase&) = delete;
    ChanBase& operator=(const ChanBase&) = delete;

    /// Sender side, after publishing with a seq_cst store or RMW: wakes the
    /// receiver if it is parked.
    void notify_rx() {
        // seq_cst: the Dekker pairing with park_rx (see the header comment).
        if (!rx_parked_.load(std::memory_order_seq_cst)) return;
        // acq_rel: one sender wins the flag and wakes; the others skip.
        if (rx_parked_.exchange(false, std::memory_order_acq_rel)) rx_waker_.wake();
    }

    /// Receiver side: registers `waker` and marks the receiver parked. The
    /// caller must then look for work again with seq_cst loads.
    void park_rx(const Waker& waker) {
        rx_waker_.register_waker(waker);
        rx_parked_.store(true, std::memory_order_seq_cst);  // seq_cst: Dekker with notify_rx
    }

    /// Receiver side: found work after parking; senders need not wake it.
    void unpark_rx() noexcept { rx_parked_.store(false, std::memory_order_relaxed); }  // relaxed: only saves a wake

    void add_sender() noexcept {
        // relaxed: a new sender is made from a live one (as shared_ptr copies).
        senders_.fetch_add(1, std::memory_order_relaxed);
    }
    /// True when the caller dropped the last sender.
    bool drop_sender() noexcept {
        // acq_rel: the last sender sees the others' sends before closing.
        return senders_.fetch_sub(1, std::memory_order_acq_rel) == 1;
    }
    /// True when the caller released the last hold (then it frees the channel).
    bool unref() noexcept {
        // acq_rel: the last holder sees every write before destroying.
        return refs_.fetch_sub(1, std::memory_order_acq_rel) == 1;
    }

    // ---- Sender::closed() ------------------------------------------------------------

    /// Ready once the receiver closed; else queues/refreshes `w`.
    bool poll_closed(Waiter& w, const Waker& waker) {
        std::lock_guard lock(lock_);
        if (rx_closed_) {
            if (w.state.load(std::memory_order_relaxed) == Waiter::Queued) closed_waiters_.remove(w);
            w.state.store(Waiter::Closed, std::memory_order_relaxed);  // relaxed: under the lock
            return true;
        }
        if (w.state.load(std::memory_order_relaxed) != Waiter::Queued) {
            closed_waiters_.push_back(w);
            w.state.store(Waiter::Queued, std::memory_order_relaxed);  // relaxed: under the lock
        }
        w.waker.clone_from(waker);
        return false;
    }
    void cancel_closed(Waiter& w) noexcept {
        if (w.state.load(std::memory_order_acquire) != Waiter::Queued) return;
        std::lock_guard lock(lock_);
        if (w.state.load(std::memory_order_relaxed) == Waiter::Queued) closed_waiters_.remove(w);
        w.state.store(Waiter::Idle, std::memory_order_relaxed);  // relaxed: under the lock
    }

protected:
    ~ChanBase() = default;

    /// Under lock_: marks the receiver closed and wakes every closed() waiter
    /// (collecting into `batch`; the caller wakes after unlocking).
    void close_waiters_locked(corio::detail::WakeList& batch, std::unique_lock<corio::detail::Mutex>& lock) {
        rx_closed_ = true;
        close_all_locked(closed_waiters_, batch, lock);
    }

    /// Under lock_: empties `waiters`, marking each one Closed and collecting
    /// its waker into `batch` (woken with the lock released whenever the
    /// batch fills up; the caller wakes the rest after unlocking).
    static void close_all_locked(WaiterList& waiters, corio::detail::WakeList& batch,
                                 std::unique_lock<corio::detail::Mutex>& lock) {
        while (Waiter* w = waiters.pop_front()) {
            if (batch.full()) {
                lock.unlock();
                batch.wake_all();
                lock.lock();
            }
            batch.push(Waker(w->waker));
            w->state.store(Waiter::Closed, std::memory_order_release);  // release: last touch of the node
        }
    }

    alignas(64) corio::detail::Atomic<bool> rx_parked_{false};
    corio::detail::AtomicWaker rx_waker_;
    alignas(64) corio::detail::Atomic<std::size_t> senders_{1};
    corio::detail::Atomic<std::uint32_t> refs_{2};  // the senders (as a group) and the receiver
    corio::detail::Mutex lock_;
    WaiterList closed_waiters_;  // guarded by lock_
    bool rx_closed_ = false;     // guarded by lock_ (the atomic flag lives in each channel's word)
};

}  // namespace corio::sync::mpsc::detail
