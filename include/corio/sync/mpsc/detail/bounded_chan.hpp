// mpsc bounded channel state: BoundedChan, the ring behind channel<T>(cap).
//
// A ring of slots (a power of two at least `cap` long) and one atomic word
// that packs the free permits, the next position to claim and three flags
// (RX_CLOSED, TX_CLOSED, WAITERS).
//
// - An uncontended send is one CAS on that word (take a permit and claim a
//   position), a write of the slot and a store of its sequence number, then
//   a load of the "receiver parked" flag (ChanBase's Dekker protocol). No
//   lock, no allocation.
// - A recv reads the slot at its head (ready when its sequence is head + 1),
//   then gives the permit back with one fetch_add on the word.
// - Senders that find no permit queue, FIFO, on a list behind a mutex and
//   set WAITERS; while it is set no send may take a permit on the fast path
//   (so try_send never overtakes a queued sender) and the receiver hands the
//   freed permits to the queue under the lock. A queued sender that is
//   dropped after being handed a permit passes it on.
//
// Invariant: permits + claimed-but-unreceived positions + permits held by
// Permit/queued senders == capacity, so a claimed position's slot was
// received (and its value destroyed) before the claim: a slot is never
// overwritten.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "corio/detail/sync.hpp"
#include "corio/detail/wake_list.hpp"
#include "corio/future.hpp"
#include "corio/sync/mpsc/detail/chan.hpp"

namespace corio::sync::mpsc::detail {

namespace word {
inline constexpr std::uint64_t kRxClosed = 1u << 0;
inline constexpr std::uint64_t kTxClosed = 1u << 1;
inline constexpr std::uint64_t kWaiters = 1u << 2;
inline constexpr int kPermitShift = 3;
inline constexpr std::uint64_t kPermitOne = std::uint64_t{1} << kPermitShift;
inline constexpr std::uint64_t kMaxPermits = (std::uint64_t{1} << 29) - 1;
inline constexpr std::uint64_t kPermitMask = kMaxPermits << kPermitShift;
inline constexpr int kPosShift = 32;
inline constexpr std::uint64_t kPosOne = std::uint64_t{1} << kPosShift;

constexpr std::uint64_t permits(std::uint64_t w) noexcept { return (w & kPermitMask) >> kPermitShift; }
constexpr std::uint32_t position(std::uint64_t w) noexcept { return static_cast<std::uint32_t>(w >> kPosShift); }
}  // namespace word

template <class T>
struct Slot {
    corio::detail::Atomic<std::uint32_t> seq;  // position + 1 once the value for `position` is written
    union {
        T value;
    };
    Slot() noexcept {}
    ~Slot() {}
};

enum class Acquire { Acquired, Queued, Closed };

template <class T>
class BoundedChan final : public ChanBase {
    static_assert(std::is_nothrow_move_constructible_v<T>,
                  "corio::sync::mpsc needs a nothrow move constructor (a claimed slot must always be filled)");

public:
    explicit BoundedChan(std::size_t cap)
        : cap_(cap), mask_(static_cast<std::uint32_t>(std::bit_ceil(cap > 2 ? cap : std::size_t{2}) - 1)) {
        slots_ = std::unique_ptr<Slot<T>[]>(new Slot<T>[mask_ + 1]);
        for (std::uint32_t i = 0; i <= mask_; ++i) slots_[i].seq.store(i, std::memory_order_relaxed);
        word_.store(cap * word::kPermitOne, std::memory_order_relaxed);
    }

    ~BoundedChan() {
        // Every handle is gone, so every claimed position was written.
        const std::uint32_t tail = word::position(word_.load(std::memory_order_relaxed));
        for (std::uint32_t p = head_; p != tail; ++p) slots_[p & mask_].value.~T();
    }

    std::size_t max_capacity() const noexcept { return cap_; }
    std::size_t free_permits() const noexcept {
        return word::permits(
            word_.load(std::memory_order_acquire));  // acquire: a snapshot, ordered after our own sends
    }
    bool rx_closed() const noexcept { return (word_.load(std::memory_order_acquire) & word::kRxClosed) != 0; }

    // ---- sender side ------------------------------------------------------------------

    /// Fast path: takes a permit and claims a position in one CAS. Fails
    /// (Queued meaning "go slow") when no permit is free or senders wait.
    Acquire try_claim(std::uint32_t& pos) noexcept {
        std::uint64_t cur = word_.load(std::memory_order_relaxed);
        for (;;) {
            if (cur & word::kRxClosed) return Acquire::Closed;
            if ((cur & word::kWaiters) || word::permits(cur) == 0) return Acquire::Queued;
            // acquire: the receiver's release of the permit (after it emptied
            // the slot we are about to fill) happens before our write.
            if (word_.compare_exchange_weak(cur, cur - word::kPermitOne + word::kPosOne, std::memory_order_acquire,
                                            std::memory_order_relaxed)) {
                pos = word::position(cur);
                return Acquire::Acquired;
            }
        }
    }

    /// Takes a permit without claiming a position (try_reserve).
    Acquire try_acquire_permit() noexcept {
        std::uint64_t cur = word_.load(std::memory_order_relaxed);
        for (;;) {
            if (cur & word::kRxClosed) return Acquire::Closed;
            if ((cur & word::kWaiters) || word::permits(cur) == 0) return Acquire::Queued;
            // acquire: as in try_claim.
            if (word_.compare_exchange_weak(cur, cur - word::kPermitOne, std::memory_order_acquire,
                                            std::memory_order_relaxed))
                return Acquire::Acquired;
        }
    }

    /// Claims a position for a permit the caller holds.
    std::uint32_t claim() noexcept {
        // acquire: the slot of this position was emptied by a receive whose
        // permit release precedes this claim in the word's order (the
        // permit count guarantees it), though maybe not our permit's grant.
        return word::position(word_.fetch_add(word::kPosOne, std::memory_order_acquire));
    }

    /// Writes the value for claimed position `pos` and wakes a parked receiver.
    void write(std::uint32_t pos, T&& value) noexcept {
        Slot<T>& slot = slots_[pos & mask_];
        ::new (static_cast<void*>(&slot.value)) T(std::move(value));
        slot.seq.store(pos + 1, std::memory_order_seq_cst);  // seq_cst: publishes, and Dekker with park_rx
        notify_rx();
    }

    /// Slow path: under the lock, takes a permit if nobody is queued, or
    /// queues `w` (FIFO) with a clone of `waker`.
    Acquire acquire_slow(Waiter& w, const Waker& waker) {
        std::lock_guard lock(lock_);
        std::uint64_t cur = word_.load(std::memory_order_relaxed);
        for (;;) {
            if (cur & word::kRxClosed) return Acquire::Closed;
            if (send_waiters_.empty() && word::permits(cur) > 0) {
                // acquire: as in try_claim.
                if (word_.compare_exchange_weak(cur, cur - word::kPermitOne, std::memory_order_acquire,
                                                std::memory_order_relaxed))
                    return Acquire::Acquired;
                continue;
            }
            if (cur & word::kWaiters) break;
            // acq_rel: from now on a freed permit goes through the lock.
            if (word_.compare_exchange_weak(cur, cur | word::kWaiters, std::memory_order_acq_rel,
                                            std::memory_order_relaxed))
                break;
        }
        w.waker = waker;
        w.state.store(Waiter::Queued, std::memory_order_relaxed);  // relaxed: under the lock
        send_waiters_.push_back(w);
        return Acquire::Queued;
    }

    /// A queued waiter was polled again with `waker`: refresh the stored one.
    /// Returns the waiter's state (the caller acts on Granted/Closed).
    std::uint8_t refresh(Waiter& w, const Waker& waker) {
        std::uint8_t s = w.state.load(std::memory_order_acquire);  // acquire: a grant or close, with its data
        if (s != Waiter::Queued || w.waker.will_wake(waker)) return s;
        std::lock_guard lock(lock_);
        s = w.state.load(std::memory_order_relaxed);  // relaxed: under the lock
        if (s == Waiter::Queued) w.waker = waker;
        return s;
    }

    /// A waiter's future is dropped: dequeue it, or pass on a permit it was
    /// granted and never used.
    void cancel(Waiter& w) {
        std::uint8_t s = w.state.load(std::memory_order_acquire);  // acquire: a grant, with its data
        if (s == Waiter::Queued) {
            std::lock_guard lock(lock_);
            s = w.state.load(std::memory_order_relaxed);  // relaxed: under the lock
            if (s == Waiter::Queued) {
                send_waiters_.remove(w);
                w.state.store(Waiter::Idle, std::memory_order_relaxed);  // relaxed: under the lock
                // release: nothing to publish; clears the flag so the fast path resumes.
                if (send_waiters_.empty()) word_.fetch_and(~word::kWaiters, std::memory_order_release);
                return;
            }
        }
        if (s == Waiter::Granted) release_permit();
    }

    /// Gives one permit back (the receiver after taking a value, or an
    /// unused Permit): to the first queued sender if any, else to the pool.
    void release_permit() {
        // acq_rel: release our read of the slot to the next claimer; acquire
        // the flags.
        std::uint64_t prev = word_.fetch_add(word::kPermitOne, std::memory_order_acq_rel);
        if (prev & word::kWaiters) serve_waiters();
        if (prev & word::kRxClosed) notify_rx();  // a closed receiver waits for the last permit
    }

    // ---- receiver side ----------------------------------------------------------------

    /// Takes the value at the head if it was written. `order` is acquire, or
    /// seq_cst after park_rx.
    std::optional<T> try_pop(std::memory_order order) noexcept {
        Slot<T>& slot = slots_[head_ & mask_];
        if (slot.seq.load(order) != head_ + 1) return std::nullopt;
        std::optional<T> out(std::move(slot.value));
        slot.value.~T();
        ++head_;
        release_permit();
        return out;
    }

    /// True when nothing is buffered or claimed and nothing more can come.
    bool drained_and_closed(std::memory_order order) const noexcept {
        std::uint64_t w = word_.load(order);
        if (word::position(w) != head_) return false;
        if (w & word::kTxClosed) return true;
        return (w & word::kRxClosed) && word::permits(w) == cap_;
    }

    std::size_t len() const noexcept {
        // acquire: a snapshot of the claimed positions.
        return static_cast<std::uint32_t>(word::position(word_.load(std::memory_order_acquire)) - head_);
    }

    /// The receiver closes: senders fail from now on, queued ones are woken.
    void close() {
        // acq_rel: senders that see RX_CLOSED see everything before it.
        word_.fetch_or(word::kRxClosed, std::memory_order_acq_rel);
        corio::detail::WakeList batch;
        {
            std::unique_lock lock(lock_);
            close_all_locked(send_waiters_, batch, lock);
            // release: nothing to publish; the queue is empty.
            word_.fetch_and(~word::kWaiters, std::memory_order_release);
            close_waiters_locked(batch, lock);
        }
        batch.wake_all();
    }

    /// The last sender is gone.
    void close_tx() {
        word_.fetch_or(word::kTxClosed, std::memory_order_seq_cst);  // seq_cst: Dekker with park_rx
        notify_rx();
    }

private:
    // Hands free permits to queued senders, in order, under the lock.
    void serve_waiters() {
        corio::detail::WakeList batch;
        {
            std::unique_lock lock(lock_);
            std::uint64_t cur = word_.load(std::memory_order_relaxed);
            while (!send_waiters_.empty()) {
                if (word::permits(cur) == 0) break;
                // acquire: as in try_claim, on behalf of the waiter.
                if (!word_.compare_exchange_weak(cur, cur - word::kPermitOne, std::memory_order_acquire,
                                                 std::memory_order_relaxed))
                    continue;
                Waiter* w = send_waiters_.pop_front();
                if (batch.full()) {
                    lock.unlock();
                    batch.wake_all();
                    lock.lock();
                }
                batch.push(Waker(w->waker));
                w->state.store(Waiter::Granted, std::memory_order_release);  // release: last touch of the node
                cur = word_.load(std::memory_order_relaxed);
            }
            // release: nothing to publish; the fast path may take permits again.
            if (send_waiters_.empty()) word_.fetch_and(~word::kWaiters, std::memory_order_release);
        }
        batch.wake_all();
    }

    alignas(64) corio::detail::Atomic<std::uint64_t> word_;
    alignas(64) std::uint32_t head_ = 0;  // the receiver's next position
    const std::size_t cap_;
    const std::uint32_t mask_;
    std::unique_ptr<Slot<T>[]> slots_;
    WaiterList send_waiters_;  // guarded by lock_
};

}  // namespace corio::sync::mpsc::detail
