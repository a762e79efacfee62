// mpsc: multi-producer, single-consumer channels, bounded and unbounded.
//
// Bounded channel (channel<T>(cap)): a ring of slots (a power of two at
// least `cap` long) and one atomic word that packs the free permits, the
// next position to claim and three flags (RX_CLOSED, TX_CLOSED, WAITERS).
//
// - An uncontended send is one CAS on that word (take a permit and claim a
//   position), a write of the slot and a store of its sequence number, then
//   a load of the "receiver parked" flag. No lock, no allocation.
// - A recv reads the slot at its head (ready when its sequence is head + 1),
//   then gives the permit back with one fetch_add on the word.
// - Senders that find no permit queue, FIFO, on a list behind a mutex and
//   set WAITERS; while it is set no send may take a permit on the fast path
//   (so try_send never overtakes a queued sender) and the receiver hands the
//   freed permits to the queue under the lock. A queued sender that is
//   dropped after being handed a permit passes it on.
// - The receiver parks by registering its waker in an AtomicWaker and then
//   setting `rx_parked` (seq_cst), then looks at its head slot again;
//   a sender stores the slot's sequence (seq_cst) and then reads
//   `rx_parked`. One of the two always sees the other (Dekker), so a
//   wake-up is never lost and a sender pays no atomic read-modify-write to
//   notify a receiver that is not parked.
//
// Invariant: permits + claimed-but-unreceived positions + permits held by
// Permit/queued senders == capacity, so a claimed position's slot was
// received (and its value destroyed) before the claim: a slot is never
// overwritten.
//
// Unbounded channel: Vyukov's intrusive MPSC list, one node per message;
// a send is one allocation and one exchange.
//
// Values left in a channel when the receiver and every sender are gone are
// destroyed exactly once, when the channel is freed (the receiver's drop
// destroys those already in it).
#pragma once

#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "corio/detail/atomic_waker.hpp"
#include "corio/detail/coop.hpp"
#include "corio/detail/wake_list.hpp"
#include "corio/future.hpp"
#include "corio/time.hpp"

namespace corio::sync::mpsc {

// ---- errors ------------------------------------------------------------------------

/// The error of send(): the receiver was closed or dropped; holds the value back.
template <class T>
struct SendError {
    T value;
};

/// The error of reserve() and of a closed channel when there is no value to
/// give back: the receiver was closed or dropped.
struct Closed {
    friend bool operator==(Closed, Closed) noexcept = default;
};

/// Why try_send failed.
enum class TrySendErrorKind {
    Full,    ///< no free slot now (or senders are queued for one)
    Closed,  ///< the receiver was closed or dropped
};

/// The error of try_send(): why, and the value back.
template <class T>
struct TrySendError {
    TrySendErrorKind kind;
    T value;
    bool is_full() const noexcept { return kind == TrySendErrorKind::Full; }
    bool is_closed() const noexcept { return kind == TrySendErrorKind::Closed; }
};

/// Why send_timeout failed.
enum class SendTimeoutErrorKind {
    Timeout,  ///< no slot freed before the timeout
    Closed,   ///< the receiver was closed or dropped
};

/// The error of send_timeout(): why, and the value back.
template <class T>
struct SendTimeoutError {
    SendTimeoutErrorKind kind;
    T value;
    bool is_timeout() const noexcept { return kind == SendTimeoutErrorKind::Timeout; }
    bool is_closed() const noexcept { return kind == SendTimeoutErrorKind::Closed; }
};

/// Why try_reserve failed.
enum class TryReserveError {
    Full,    ///< no free slot now (or senders are queued for one)
    Closed,  ///< the receiver was closed or dropped
};

/// Why try_recv returned no value.
enum class TryRecvError {
    Empty,         ///< nothing buffered now; some sender is still alive
    Disconnected,  ///< nothing buffered and nothing can come: every sender is gone, or close() was called
};

namespace detail {

// ---- the FIFO of waiting senders (and of Sender::closed() futures) ---------------------

/// A future waiting on the channel's lock-guarded list. `state` is written
/// only under the lock; the owning future reads it without the lock
/// (acquire): once it is not Queued, the channel no longer touches the node.
struct Waiter {
    enum : std::uint8_t { Idle, Queued, Granted, Closed };
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
    Waker waker;  // written under the lock; read by the owner without it
    std::atomic<std::uint8_t> state{Idle};
};

/// Intrusive doubly linked FIFO of Waiters; guarded by the channel's lock.
class WaiterList {
public:
    bool empty() const noexcept { return head_ == nullptr; }
    void push_back(Waiter* w) noexcept {
        w->prev = tail_;
        w->next = nullptr;
        (tail_ != nullptr ? tail_->next : head_) = w;
        tail_ = w;
    }
    void remove(Waiter* w) noexcept {
        (w->prev != nullptr ? w->prev->next : head_) = w->next;
        (w->next != nullptr ? w->next->prev : tail_) = w->prev;
        w->prev = w->next = nullptr;
    }
    Waiter* pop_front() noexcept {
        Waiter* w = head_;
        if (w != nullptr) remove(w);
        return w;
    }

private:
    Waiter* head_ = nullptr;
    Waiter* tail_ = nullptr;
};

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
            if (w.state.load(std::memory_order_relaxed) == Waiter::Queued) closed_waiters_.remove(&w);
            w.state.store(Waiter::Closed, std::memory_order_relaxed);  // relaxed: under the lock
            return true;
        }
        if (w.state.load(std::memory_order_relaxed) != Waiter::Queued) {
            closed_waiters_.push_back(&w);
            w.state.store(Waiter::Queued, std::memory_order_relaxed);  // relaxed: under the lock
        }
        w.waker.clone_from(waker);
        return false;
    }
    void cancel_closed(Waiter& w) noexcept {
        if (w.state.load(std::memory_order_acquire) != Waiter::Queued) return;
        std::lock_guard lock(lock_);
        if (w.state.load(std::memory_order_relaxed) == Waiter::Queued) closed_waiters_.remove(&w);
        w.state.store(Waiter::Idle, std::memory_order_relaxed);  // relaxed: under the lock
    }

protected:
    ~ChanBase() = default;

    /// Under lock_: marks the receiver closed and wakes every closed() waiter
    /// (collecting into `batch`; the caller wakes after unlocking).
    void close_waiters_locked(corio::detail::WakeList& batch, std::unique_lock<std::mutex>& lock) {
        rx_closed_ = true;
        while (Waiter* w = closed_waiters_.pop_front()) {
            if (batch.full()) {
                lock.unlock();
                batch.wake_all();
                lock.lock();
            }
            batch.push(Waker(w->waker));
            w->state.store(Waiter::Closed, std::memory_order_release);  // release: last touch of the node
        }
    }

    alignas(64) std::atomic<bool> rx_parked_{false};
    corio::detail::AtomicWaker rx_waker_;
    alignas(64) std::atomic<std::size_t> senders_{1};
    std::atomic<std::uint32_t> refs_{2};  // the senders (as a group) and the receiver
    std::mutex lock_;
    WaiterList closed_waiters_;  // guarded by lock_
    bool rx_closed_ = false;     // guarded by lock_ (the atomic flag lives in each channel's word)
};

// ---- bounded channel -------------------------------------------------------------------

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
    std::atomic<std::uint32_t> seq;  // position + 1 once the value for `position` is written
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
        return word::permits(word_.load(std::memory_order_acquire));  // acquire: a snapshot, ordered after our own sends
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
        send_waiters_.push_back(&w);
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
                send_waiters_.remove(&w);
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
            while (Waiter* w = send_waiters_.pop_front()) {
                if (batch.full()) {
                    lock.unlock();
                    batch.wake_all();
                    lock.lock();
                }
                batch.push(Waker(w->waker));
                w->state.store(Waiter::Closed, std::memory_order_release);  // release: last touch of the node
            }
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

    alignas(64) std::atomic<std::uint64_t> word_;
    alignas(64) std::uint32_t head_ = 0;  // the receiver's next position
    const std::size_t cap_;
    const std::uint32_t mask_;
    std::unique_ptr<Slot<T>[]> slots_;
    WaiterList send_waiters_;  // guarded by lock_
};

// ---- unbounded channel -----------------------------------------------------------------

template <class T>
struct Node {
    std::atomic<Node*> next{nullptr};
    union {
        T value;
    };
    Node() noexcept {}
    ~Node() {}
};

template <class T>
class UnboundedChan final : public ChanBase {
public:
    UnboundedChan() : head_(new Node<T>()) { tail_.store(head_, std::memory_order_relaxed); }
    ~UnboundedChan() {
        // Every handle is gone: the list is complete. head_ is the consumed sentinel node.
        Node<T>* n = head_;
        Node<T>* next = n->next.load(std::memory_order_relaxed);
        delete n;
        while (next != nullptr) {
            n = next;
            next = n->next.load(std::memory_order_relaxed);
            n->value.~T();
            delete n;
        }
    }

    static constexpr std::uint32_t kRxClosed = 1;
    static constexpr std::uint32_t kTxClosed = 2;

    bool rx_closed() const noexcept { return (flags_.load(std::memory_order_acquire) & kRxClosed) != 0; }

    /// Appends `value` (false when the receiver is closed: the value is untouched).
    bool push(T& value) {
        if (rx_closed()) return false;
        auto* node = new Node<T>();
        try {
            ::new (static_cast<void*>(&node->value)) T(std::move(value));
        } catch (...) {
            delete node;
            throw;
        }
        // acq_rel: order our node's construction before its link; take the predecessor.
        Node<T>* prev = tail_.exchange(node, std::memory_order_acq_rel);
        prev->next.store(node, std::memory_order_seq_cst);  // seq_cst: publishes, and Dekker with park_rx
        notify_rx();
        return true;
    }

    std::optional<T> try_pop(std::memory_order order) noexcept(std::is_nothrow_move_constructible_v<T>) {
        Node<T>* next = head_->next.load(order);
        if (next == nullptr) return std::nullopt;
        std::optional<T> out(std::move(next->value));
        next->value.~T();
        delete head_;
        head_ = next;
        return out;
    }

    bool drained_and_closed(std::memory_order order) const noexcept {
        // The flags first: the last sender closes after its pushes, so once
        // the close is seen its pushes are too. Read the other way round, a
        // list seen empty before those pushes and a close seen after them
        // would end the stream with values still in it.
        if ((flags_.load(order) & (kRxClosed | kTxClosed)) == 0) return false;
        if (head_->next.load(order) != nullptr) return false;
        return tail_.load(order) == head_;  // else a push is between its exchange and its link
    }

    std::size_t len() const noexcept {
        std::size_t n = 0;
        // acquire: each link publishes its node.
        for (Node<T>* p = head_->next.load(std::memory_order_acquire); p != nullptr;
             p = p->next.load(std::memory_order_acquire))
            ++n;
        return n;
    }

    void close() {
        flags_.fetch_or(kRxClosed, std::memory_order_acq_rel);  // acq_rel: senders that see it see what came before
        corio::detail::WakeList batch;
        {
            std::unique_lock lock(lock_);
            close_waiters_locked(batch, lock);
        }
        batch.wake_all();
    }

    void close_tx() {
        flags_.fetch_or(kTxClosed, std::memory_order_seq_cst);  // seq_cst: Dekker with park_rx
        notify_rx();
    }

private:
    alignas(64) std::atomic<Node<T>*> tail_;
    std::atomic<std::uint32_t> flags_{0};
    alignas(64) Node<T>* head_;  // the receiver's sentinel node: its value was consumed (or never existed)
};

// ---- what both receivers share -----------------------------------------------------------

/// Receives from `chan`: a value, nullopt once drained and closed, or
/// Pending after parking.
template <class Chan>
auto poll_recv(Chan& chan, Context& cx) -> Poll<decltype(chan.try_pop(std::memory_order_acquire))> {
    using Out = decltype(chan.try_pop(std::memory_order_acquire));
    if (!corio::detail::poll_proceed(cx)) return Pending;
    if (auto v = chan.try_pop(std::memory_order_acquire)) return Ready(std::move(v));
    if (chan.drained_and_closed(std::memory_order_acquire)) return Ready(Out());
    chan.park_rx(cx.waker());
    if (auto v = chan.try_pop(std::memory_order_seq_cst)) {
        chan.unpark_rx();
        return Ready(std::move(v));
    }
    if (chan.drained_and_closed(std::memory_order_seq_cst)) {
        chan.unpark_rx();
        return Ready(Out());
    }
    return Pending;
}

template <class Chan>
void drop_sender(Chan* chan) {
    if (chan->drop_sender()) {
        chan->close_tx();
        if (chan->unref()) delete chan;
    }
}

template <class Chan>
void drop_receiver(Chan* chan) {
    chan->unpark_rx();  // its own releases below must not wake the task dropping it
    chan->close();
    // Destroy what is buffered now; later arrivals go with the channel.
    while (chan->try_pop(std::memory_order_acquire)) {
    }
    if (chan->unref()) delete chan;
}

/// What the bounded and unbounded receivers share: sole ownership of the
/// receiving side (move-only; dropping it closes the channel and destroys
/// the values still buffered), recv, try_recv, close and len.
template <class Chan, class T>
class ReceiverBase {
public:
    ReceiverBase(ReceiverBase&& other) noexcept : chan_(std::exchange(other.chan_, nullptr)) {}
    ReceiverBase& operator=(ReceiverBase&& other) noexcept {
        if (this != &other) {
            reset();
            chan_ = std::exchange(other.chan_, nullptr);
        }
        return *this;
    }
    ReceiverBase(const ReceiverBase&) = delete;
    ReceiverBase& operator=(const ReceiverBase&) = delete;
    ~ReceiverBase() { reset(); }

    /// The future of recv().
    class CORIO_NODISCARD_FUTURE Recv {
    public:
        using Output = std::optional<T>;
        explicit Recv(Chan* chan) noexcept : chan_(chan) {}
        Poll<Output> poll(Context& cx) { return detail::poll_recv(*chan_, cx); }

    private:
        Chan* chan_;
    };

    /// The next value, in send order per sender; std::nullopt once every
    /// sender (and Permit) is gone, or close() was called, and the buffer is
    /// drained. Cancellation-safe: a future dropped before it completed took
    /// no value. The receiver must outlive the future.
    Recv recv() noexcept { return Recv(chan_); }

    /// recv() for hand-written futures: a value, nullopt at the end, or
    /// Pending after storing cx's waker.
    Poll<std::optional<T>> poll_recv(Context& cx) { return detail::poll_recv(*chan_, cx); }

    /// A value if one is buffered; else Empty, or Disconnected when nothing
    /// more can come (every sender gone, or closed and no permit out).
    std::expected<T, TryRecvError> try_recv() {
        if (auto v = chan_->try_pop(std::memory_order_acquire)) return std::move(*v);
        if (chan_->drained_and_closed(std::memory_order_acquire)) return std::unexpected(TryRecvError::Disconnected);
        return std::unexpected(TryRecvError::Empty);
    }

    /// Closes the channel: sends fail from now on (queued senders are woken
    /// with the error) but what is buffered, and what outstanding Permits
    /// send, can still be received; then recv() yields nullopt.
    void close() { chan_->close(); }

    /// Values buffered now (including ones being written; O(len) for an
    /// unbounded channel, which walks its queue).
    std::size_t len() const noexcept { return chan_->len(); }
    bool is_empty() const noexcept { return len() == 0; }

protected:
    explicit ReceiverBase(Chan* chan) noexcept : chan_(chan) {}

    Chan* chan_;

private:
    void reset() {
        if (chan_ != nullptr) drop_receiver(std::exchange(chan_, nullptr));
    }
};

/// The future of Sender::closed() / UnboundedSender::closed().
class CORIO_NODISCARD_FUTURE ClosedFuture {
public:
    using Output = void;
    explicit ClosedFuture(ChanBase* chan) noexcept : chan_(chan) {}
    /// Only before the first poll (futures are not moved once polled).
    ClosedFuture(ClosedFuture&& other) noexcept : chan_(std::exchange(other.chan_, nullptr)) {}
    ClosedFuture(const ClosedFuture&) = delete;
    ClosedFuture& operator=(const ClosedFuture&) = delete;
    ~ClosedFuture() {
        if (chan_ != nullptr) chan_->cancel_closed(waiter_);
    }
    Poll<void> poll(Context& cx) {
        if (chan_ == nullptr) return Ready();
        if (!corio::detail::poll_proceed(cx)) return Pending;
        if (!chan_->poll_closed(waiter_, cx.waker())) return Pending;
        return Ready();
    }

private:
    ChanBase* chan_;
    Waiter waiter_;
};

/// What the bounded and unbounded senders share: a counted handle on the
/// channel (copyable: each copy is a sender; the receiver sees the channel
/// end once every copy is gone), closed() and is_closed().
template <class Chan>
class SenderBase {
public:
    SenderBase(const SenderBase& other) noexcept : chan_(other.chan_) {
        if (chan_ != nullptr) chan_->add_sender();
    }
    SenderBase(SenderBase&& other) noexcept : chan_(std::exchange(other.chan_, nullptr)) {}
    SenderBase& operator=(SenderBase other) noexcept {
        std::swap(chan_, other.chan_);
        return *this;
    }
    ~SenderBase() {
        if (chan_ != nullptr) drop_sender(chan_);
    }

    /// Completes once the receiver is closed or dropped. Cancellation-safe:
    /// dropping it loses nothing. The sender must outlive the future.
    ClosedFuture closed() noexcept { return ClosedFuture(chan_); }

    /// True once the receiver is closed or dropped (sends fail).
    bool is_closed() const noexcept { return chan_->rx_closed(); }

protected:
    explicit SenderBase(Chan* chan) noexcept : chan_(chan) {}

    Chan* chan_;
};

}  // namespace detail

template <class T>
class Sender;
template <class T>
class Receiver;
template <class T>
class Permit;
template <class T>
class UnboundedSender;
template <class T>
class UnboundedReceiver;

template <class T>
std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity);
template <class T>
std::pair<UnboundedSender<T>, UnboundedReceiver<T>> unbounded_channel();

// ---- Permit -----------------------------------------------------------------------------

/// One reserved slot of a bounded channel (from Sender::reserve). send()
/// fills it and never fails or waits; dropping it unused frees the slot.
/// While it lives it counts as a sender (the receiver does not see the
/// channel end). Move-only.
template <class T>
class Permit {
public:
    Permit() noexcept = default;
    Permit(Permit&& other) noexcept : chan_(std::exchange(other.chan_, nullptr)) {}
    Permit& operator=(Permit&& other) noexcept {
        if (this != &other) {
            reset();
            chan_ = std::exchange(other.chan_, nullptr);
        }
        return *this;
    }
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { reset(); }

    /// Puts `value` in the reserved slot (received even if the receiver
    /// closes meanwhile; destroyed with the channel if it was dropped). The
    /// Permit is used up. Throws std::logic_error on an empty Permit.
    void send(T value) {
        if (chan_ == nullptr) throw std::logic_error("corio::mpsc::Permit::send on an empty Permit");
        detail::BoundedChan<T>* chan = std::exchange(chan_, nullptr);
        chan->write(chan->claim(), std::move(value));
        detail::drop_sender(chan);
    }

    /// False for a default-constructed, moved-from or used Permit.
    bool valid() const noexcept { return chan_ != nullptr; }

private:
    friend class Sender<T>;
    explicit Permit(detail::BoundedChan<T>* chan) noexcept : chan_(chan) { chan_->add_sender(); }
    void reset() {
        if (chan_ == nullptr) return;
        detail::BoundedChan<T>* chan = std::exchange(chan_, nullptr);
        chan->release_permit();
        detail::drop_sender(chan);
    }

    detail::BoundedChan<T>* chan_ = nullptr;
};

// ---- Sender -----------------------------------------------------------------------------

/// The sending half of a bounded channel. Copyable: each copy is a sender;
/// the receiver sees the channel end once every copy (and every Permit) is
/// gone. A Sender is used from one task at a time; its copies from any.
template <class T>
class Sender : public detail::SenderBase<detail::BoundedChan<T>> {
    using Chan = detail::BoundedChan<T>;
    using detail::SenderBase<Chan>::chan_;

public:

    /// The future of send().
    class CORIO_NODISCARD_FUTURE Send {
    public:
        using Output = std::expected<void, SendError<T>>;
        Send(Chan* chan, T value) : chan_(chan), value_(std::move(value)) {}
        /// Only before the first poll (futures are not moved once polled).
        Send(Send&& other) noexcept
            : chan_(other.chan_), value_(std::move(other.value_)), phase_(std::exchange(other.phase_, Phase::Done)) {}
        Send(const Send&) = delete;
        Send& operator=(const Send&) = delete;
        ~Send() {
            if (phase_ == Phase::Waiting) chan_->cancel(waiter_);
        }

        Poll<Output> poll(Context& cx) {
            if (!corio::detail::poll_proceed(cx)) return Pending;
            if (phase_ == Phase::Start) {
                std::uint32_t pos = 0;
                detail::Acquire a = chan_->try_claim(pos);
                if (a == detail::Acquire::Acquired) return Ready(finish_at(pos));
                if (a == detail::Acquire::Closed) return Ready(fail());
                a = chan_->acquire_slow(waiter_, cx.waker());
                if (a == detail::Acquire::Acquired) return Ready(finish_at(chan_->claim()));
                if (a == detail::Acquire::Closed) return Ready(fail());
                phase_ = Phase::Waiting;
                return Pending;
            }
            if (phase_ == Phase::Done) throw std::logic_error("corio::mpsc::Sender::send polled after it completed");
            std::uint8_t s = chan_->refresh(waiter_, cx.waker());
            if (s == detail::Waiter::Granted) return Ready(finish_at(chan_->claim()));
            if (s == detail::Waiter::Closed) return Ready(fail());
            return Pending;
        }

        /// Gives up (as if dropped) and returns the value, if it was not sent.
        std::optional<T> cancel() {
            if (phase_ == Phase::Done) return std::nullopt;
            if (phase_ == Phase::Waiting) chan_->cancel(waiter_);
            phase_ = Phase::Done;
            return std::optional<T>(std::move(value_));
        }

    private:
        enum class Phase : std::uint8_t { Start, Waiting, Done };

        Output finish_at(std::uint32_t pos) {
            phase_ = Phase::Done;
            chan_->write(pos, std::move(value_));
            return {};
        }
        Output fail() {
            phase_ = Phase::Done;
            return std::unexpected(SendError<T>{std::move(value_)});
        }

        Chan* chan_;
        T value_;
        detail::Waiter waiter_;
        Phase phase_ = Phase::Start;
    };

    /// Sends `value`, waiting while the channel is full. Waiting senders are
    /// served in FIFO order. Fails, giving the value back in SendError, when
    /// the receiver is closed or dropped.
    ///
    /// Cancellation: dropping the future before it completes destroys the
    /// value (use send_timeout or reserve to get it back) and gives up its
    /// place in the queue; a slot it had already been granted goes to the
    /// next waiting sender. The Sender must outlive the future.
    Send send(T value) { return Send(chan_, std::move(value)); }

    /// Sends `value` if a slot is free now and no sender is queued for one.
    /// Never waits. Errors, with the value back: Full, or Closed when the
    /// receiver is closed or dropped.
    std::expected<void, TrySendError<T>> try_send(T value) {
        std::uint32_t pos = 0;
        detail::Acquire a = chan_->try_claim(pos);
        if (a == detail::Acquire::Acquired) {
            chan_->write(pos, std::move(value));
            return {};
        }
        TrySendErrorKind kind = a == detail::Acquire::Closed ? TrySendErrorKind::Closed : TrySendErrorKind::Full;
        return std::unexpected(TrySendError<T>{kind, std::move(value)});
    }

    /// The future of reserve().
    class CORIO_NODISCARD_FUTURE Reserve {
    public:
        using Output = std::expected<Permit<T>, Closed>;
        explicit Reserve(Chan* chan) noexcept : chan_(chan) {}
        /// Only before the first poll (futures are not moved once polled).
        Reserve(Reserve&& other) noexcept : chan_(other.chan_), phase_(std::exchange(other.phase_, Phase::Done)) {}
        Reserve(const Reserve&) = delete;
        Reserve& operator=(const Reserve&) = delete;
        ~Reserve() {
            if (phase_ == Phase::Waiting) chan_->cancel(waiter_);
        }

        Poll<Output> poll(Context& cx) {
            if (!corio::detail::poll_proceed(cx)) return Pending;
            detail::Acquire a;
            if (phase_ == Phase::Start) {
                a = chan_->try_acquire_permit();
                if (a == detail::Acquire::Queued) a = chan_->acquire_slow(waiter_, cx.waker());
            } else if (phase_ == Phase::Waiting) {
                std::uint8_t s = chan_->refresh(waiter_, cx.waker());
                a = s == detail::Waiter::Granted  ? detail::Acquire::Acquired
                    : s == detail::Waiter::Closed ? detail::Acquire::Closed
                                                  : detail::Acquire::Queued;
            } else {
                throw std::logic_error("corio::mpsc::Sender::reserve polled after it completed");
            }
            if (a == detail::Acquire::Queued) {
                phase_ = Phase::Waiting;
                return Pending;
            }
            phase_ = Phase::Done;
            if (a == detail::Acquire::Closed) return Ready(Output(std::unexpect, Closed{}));
            return Ready(Output(std::in_place, Permit<T>(chan_)));
        }

    private:
        enum class Phase : std::uint8_t { Start, Waiting, Done };
        Chan* chan_;
        detail::Waiter waiter_;
        Phase phase_ = Phase::Start;
    };

    /// Waits for a free slot (FIFO among waiting senders) and reserves it:
    /// the Permit fills it later without waiting. Fails with Closed when the
    /// receiver is closed or dropped. Cancellation-safe: a future dropped
    /// before it completed holds nothing (a slot granted to it just then
    /// goes to the next waiter). The Sender must outlive the future.
    Reserve reserve() noexcept { return Reserve(chan_); }

    /// Reserves a slot if one is free now and no sender is queued. Errors:
    /// Full, or Closed when the receiver is closed or dropped.
    std::expected<Permit<T>, TryReserveError> try_reserve() {
        detail::Acquire a = chan_->try_acquire_permit();
        if (a == detail::Acquire::Acquired) return Permit<T>(chan_);
        return std::unexpected(a == detail::Acquire::Closed ? TryReserveError::Closed : TryReserveError::Full);
    }

    /// The future of send_timeout().
    class CORIO_NODISCARD_FUTURE SendTimeout {
    public:
        using Output = std::expected<void, SendTimeoutError<T>>;
        SendTimeout(Chan* chan, T value, time::Instant deadline) : send_(chan, std::move(value)), delay_(deadline) {}

        Poll<Output> poll(Context& cx) {
            Poll<typename Send::Output> r = send_.poll(cx);
            if (r.is_ready()) {
                if (r->has_value()) return Ready(Output());
                return Ready(Output(std::unexpect,
                                    SendTimeoutError<T>{SendTimeoutErrorKind::Closed, std::move(r->error().value)}));
            }
            if (delay_.poll(cx).is_pending()) return Pending;
            std::optional<T> back = send_.cancel();
            if (!back) throw std::logic_error("corio::mpsc::Sender::send_timeout polled after it completed");
            return Ready(Output(std::unexpect, SendTimeoutError<T>{SendTimeoutErrorKind::Timeout, std::move(*back)}));
        }

    private:
        Send send_;
        time::Sleep delay_;
    };

    /// Like send(), but gives up after `timeout` (measured from this call,
    /// on the runtime's clock): the error then says Timeout and holds the
    /// value back. Needs a runtime with timers when it has to wait.
    /// Cancellation: dropping it destroys the value and gives up its queue
    /// place (a slot granted to it goes to the next waiter).
    template <class Rep, class Period>
    SendTimeout send_timeout(T value, std::chrono::duration<Rep, Period> timeout) {
        return SendTimeout(chan_, std::move(value), time::Instant::now() + timeout);
    }

    /// Free slots now (max_capacity() minus buffered values and outstanding permits).
    std::size_t capacity() const noexcept { return chan_->free_permits(); }

    /// The capacity the channel was created with.
    std::size_t max_capacity() const noexcept { return chan_->max_capacity(); }

    /// True when both send on the same channel.
    bool same_channel(const Sender& other) const noexcept { return chan_ == other.chan_; }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(std::size_t);
    explicit Sender(Chan* chan) noexcept : detail::SenderBase<Chan>(chan) {}
};

// ---- Receiver ---------------------------------------------------------------------------

/// The receiving half of a bounded channel. Move-only. Dropping it closes
/// the channel (senders fail from then on) and destroys the values still
/// buffered.
template <class T>
class Receiver : public detail::ReceiverBase<detail::BoundedChan<T>, T> {
public:
    /// The capacity the channel was created with.
    std::size_t max_capacity() const noexcept { return this->chan_->max_capacity(); }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(std::size_t);
    explicit Receiver(detail::BoundedChan<T>* chan) noexcept : detail::ReceiverBase<detail::BoundedChan<T>, T>(chan) {}
};

/// Creates a bounded channel holding at most `capacity` values (one
/// allocation for the shared state and one for the ring). Throws
/// std::invalid_argument when `capacity` is 0 or above 2^29 - 1.
template <class T>
std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity) {
    if (capacity == 0) throw std::invalid_argument("corio::mpsc::channel: capacity must be at least 1");
    if (capacity > detail::word::kMaxPermits)
        throw std::invalid_argument("corio::mpsc::channel: capacity must be below 2^29");
    auto* chan = new detail::BoundedChan<T>(capacity);
    return {Sender<T>(chan), Receiver<T>(chan)};
}

// ---- unbounded --------------------------------------------------------------------------

/// The sending half of an unbounded channel. Copyable: each copy is a
/// sender; the receiver sees the channel end once every copy is gone.
template <class T>
class UnboundedSender : public detail::SenderBase<detail::UnboundedChan<T>> {
    using Chan = detail::UnboundedChan<T>;
    using detail::SenderBase<Chan>::chan_;

public:

    /// Sends `value`; never waits (one allocation). Fails, giving the value
    /// back, when the receiver is closed or dropped. A send that races with
    /// close() may still be buffered; it is then received or destroyed with
    /// the channel.
    std::expected<void, SendError<T>> send(T value) {
        if (chan_->push(value)) return {};
        return std::unexpected(SendError<T>{std::move(value)});
    }

    /// True when both send on the same channel.
    bool same_channel(const UnboundedSender& other) const noexcept { return chan_ == other.chan_; }

private:
    friend std::pair<UnboundedSender<T>, UnboundedReceiver<T>> unbounded_channel<T>();
    explicit UnboundedSender(Chan* chan) noexcept : detail::SenderBase<Chan>(chan) {}
};

/// The receiving half of an unbounded channel; as Receiver.
template <class T>
class UnboundedReceiver : public detail::ReceiverBase<detail::UnboundedChan<T>, T> {
    friend std::pair<UnboundedSender<T>, UnboundedReceiver<T>> unbounded_channel<T>();
    explicit UnboundedReceiver(detail::UnboundedChan<T>* chan) noexcept
        : detail::ReceiverBase<detail::UnboundedChan<T>, T>(chan) {}
};

/// Creates an unbounded channel: sends never wait, each buffered value
/// costs one allocation. Throws std::bad_alloc.
template <class T>
std::pair<UnboundedSender<T>, UnboundedReceiver<T>> unbounded_channel() {
    auto* chan = new detail::UnboundedChan<T>();
    return {UnboundedSender<T>(chan), UnboundedReceiver<T>(chan)};
}

static_assert(Future<Receiver<int>::Recv>);
static_assert(Future<Sender<int>::Send>);
static_assert(Future<Sender<int>::Reserve>);
static_assert(Future<Sender<int>::SendTimeout>);
static_assert(Future<UnboundedReceiver<int>::Recv>);
static_assert(Future<detail::ClosedFuture>);

}  // namespace corio::sync::mpsc
