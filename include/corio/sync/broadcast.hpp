// A multi-producer, multi-consumer broadcast channel: every value sent is
// seen by every receiver alive at the time it was sent.
//
// The values live in a fixed ring of `capacity` slots (rounded up to a power
// of two). Each slot holds a value, the position it was sent at, and the
// number of receivers that still have to read it; the last reader destroys
// the value, and a send that wraps around destroys (overwrites) the oldest
// one. A sender never waits: a receiver that falls more than `capacity`
// values behind is told how many it missed (Lagged) and continues with the
// oldest value still kept. Memory never grows beyond the ring.
//
// Locking (as in Tokio): `tail_mutex` guards the next send position, the
// receiver count, the closed flag and the waiting receivers; each slot has
// a reader-writer lock. A send takes the tail mutex then the slot's write
// lock; a receive that finds its value takes only the slot's read lock (so
// receivers copy concurrently). Nobody takes the tail mutex while holding a
// slot lock. Slot positions change only under both locks, so either one is
// enough to read them.
#pragma once

#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/detail/sync.hpp"
#include "corio/detail/waiter_queue.hpp"
#include "corio/future.hpp"

namespace corio::sync::broadcast {

/// What broadcast values must be: each receiver gets its own copy, and a
/// send must not fail half-way through moving the value into its slot.
template <class T>
concept Broadcastable = std::is_object_v<T> && std::copy_constructible<T> && std::is_nothrow_move_constructible_v<T> &&
                        std::is_nothrow_destructible_v<T>;

/// The error of Sender::send: there was no receiver; the value comes back.
template <class T>
struct SendError {
    T value;  ///< the value that was not sent
};

/// The error of Receiver::recv.
class RecvError {
public:
    enum class Kind {
        Closed,  ///< every sender is gone and this receiver has read everything
        Lagged,  ///< values were overwritten before this receiver read them
    };

    /// Every sender is gone and nothing is left to read.
    static constexpr RecvError closed() noexcept { return RecvError(Kind::Closed, 0); }
    /// `missed` values were lost; the next receive returns the oldest kept one.
    static constexpr RecvError lagged(std::uint64_t missed) noexcept { return RecvError(Kind::Lagged, missed); }

    /// Which error this is.
    constexpr Kind kind() const noexcept { return kind_; }
    /// True for closed().
    constexpr bool is_closed() const noexcept { return kind_ == Kind::Closed; }
    /// True for lagged(n).
    constexpr bool is_lagged() const noexcept { return kind_ == Kind::Lagged; }
    /// The number of values skipped (0 unless is_lagged()).
    constexpr std::uint64_t missed() const noexcept { return missed_; }

    /// Equal when kind and count are.
    friend constexpr bool operator==(const RecvError&, const RecvError&) noexcept = default;

private:
    constexpr RecvError(Kind kind, std::uint64_t missed) noexcept : kind_(kind), missed_(missed) {}
    Kind kind_;
    std::uint64_t missed_;
};

/// The error of Receiver::try_recv.
class TryRecvError {
public:
    enum class Kind {
        Empty,   ///< nothing to read now; senders remain
        Closed,  ///< every sender is gone and this receiver has read everything
        Lagged,  ///< values were overwritten before this receiver read them
    };

    /// Nothing to read now; senders remain.
    static constexpr TryRecvError empty() noexcept { return TryRecvError(Kind::Empty, 0); }
    /// Every sender is gone and nothing is left to read.
    static constexpr TryRecvError closed() noexcept { return TryRecvError(Kind::Closed, 0); }
    /// `missed` values were lost; the next receive returns the oldest kept one.
    static constexpr TryRecvError lagged(std::uint64_t missed) noexcept { return TryRecvError(Kind::Lagged, missed); }

    /// Which error this is.
    constexpr Kind kind() const noexcept { return kind_; }
    /// True for empty().
    constexpr bool is_empty() const noexcept { return kind_ == Kind::Empty; }
    /// True for closed().
    constexpr bool is_closed() const noexcept { return kind_ == Kind::Closed; }
    /// True for lagged(n).
    constexpr bool is_lagged() const noexcept { return kind_ == Kind::Lagged; }
    /// The number of values skipped (0 unless is_lagged()).
    constexpr std::uint64_t missed() const noexcept { return missed_; }

    /// Equal when kind and count are.
    friend constexpr bool operator==(const TryRecvError&, const TryRecvError&) noexcept = default;

private:
    constexpr TryRecvError(Kind kind, std::uint64_t missed) noexcept : kind_(kind), missed_(missed) {}
    Kind kind_;
    std::uint64_t missed_;
};

template <Broadcastable T>
class Sender;
template <Broadcastable T>
class Receiver;
template <Broadcastable T>
class Recv;

template <Broadcastable T>
std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity);

}  // namespace corio::sync::broadcast

namespace corio::detail {

/// The state every Sender and Receiver of one broadcast channel shares.
template <class T>
class BroadcastShared {
public:
    struct Slot {
        corio::detail::SharedMutex lock;
        std::uint64_t pos = 0;                            // written under tail_mutex and the write lock
        corio::detail::Atomic<std::size_t> remaining{0};  // receivers that still have to read `value`
        std::optional<T> value;                           // engaged while some receiver still has to read it
    };

    /// The outcome of one attempt to read at a receiver's position.
    enum class Status { Value, Empty, Closed, Lagged };
    struct ReadResult {
        Status status;
        std::uint64_t missed = 0;
        std::optional<T> value;
    };

    explicit BroadcastShared(std::size_t capacity)
        : capacity_(capacity), mask_(capacity - 1), slots_(std::make_unique<Slot[]>(capacity)) {
        // Slot i first looks as if it was written one lap before position i,
        // so a receiver at i finds it "not yet written".
        for (std::size_t i = 0; i < capacity; ++i) slots_[i].pos = static_cast<std::uint64_t>(i) - capacity;
    }

    std::size_t capacity() const noexcept { return capacity_; }

    // ---- reference counting: one reference per Sender and per Receiver ----

    void ref() noexcept {
        // relaxed: taking a reference from one we already hold orders nothing.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    static void unref(BroadcastShared* self) noexcept {
        // acq_rel: the last owner must see every other owner's writes before freeing.
        if (self->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete self;
    }

    // ---- senders ----

    void add_sender() noexcept {
        // relaxed: a sender is copied from a live one, so the count cannot reach zero meanwhile.
        senders_.fetch_add(1, std::memory_order_relaxed);
    }

    void drop_sender() {
        // acq_rel: the last sender's close must follow every other sender's sends.
        if (senders_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
        std::unique_lock tail(tail_mutex_);
        closed_ = true;
        wake_all_queued(tail, waiters_);
    }

    /// Sends `value` to every current receiver; their number, or the value
    /// back when there is none.
    std::expected<std::size_t, T> send(T&& value) {
        std::unique_lock tail(tail_mutex_);
        const std::size_t receivers = receivers_.load(std::memory_order_relaxed);  // relaxed: written under tail_mutex_
        if (receivers == 0) return std::unexpected(std::move(value));
        const std::uint64_t pos = tail_pos_.load(std::memory_order_relaxed);  // relaxed: written under tail_mutex_
        Slot& slot = slots_[pos & mask_];
        {
            std::unique_lock write(slot.lock);
            slot.value.reset();  // the oldest value goes, whoever still wanted it (they lag)
            slot.value.emplace(std::move(value));
            slot.pos = pos;
            // relaxed: readers reach the slot through its lock, which orders this store.
            slot.remaining.store(receivers, std::memory_order_relaxed);
        }
        // release: pairs with the acquire in Receiver::len(), which reads it without the mutex.
        tail_pos_.store(pos + 1, std::memory_order_release);
        wake_all_queued(tail, waiters_);
        return receivers;
    }

    // ---- receivers ----

    /// Registers a new receiver; returns the position it starts at (the next send).
    std::uint64_t add_receiver_at_tail() {
        std::lock_guard tail(tail_mutex_);
        // relaxed (both): written under tail_mutex_, which we hold.
        receivers_.store(receivers_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        return tail_pos_.load(std::memory_order_relaxed);
    }

    /// Registers a copy of a receiver at `next`: it owes every value that one owes.
    void add_receiver_at(std::uint64_t next) {
        std::lock_guard tail(tail_mutex_);
        // relaxed (both): written under tail_mutex_, which we hold.
        receivers_.store(receivers_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        for_each_owed(next, [](Slot& slot) {
            // relaxed: the original still owes this value, so the count cannot
            // reach zero concurrently; like copying a shared_ptr.
            slot.remaining.fetch_add(1, std::memory_order_relaxed);
        });
    }

    /// Unregisters a receiver at `next`: it no longer owes its unread values.
    void drop_receiver(std::uint64_t next) {
        std::lock_guard tail(tail_mutex_);
        // relaxed (both): written under tail_mutex_, which we hold.
        receivers_.store(receivers_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        // Under tail_mutex_ no slot is rewritten. Readers holding a slot's read
        // lock touch `value` only while they owe it, so a count reaching zero
        // here means nobody reads it any more.
        for_each_owed(next, [](Slot& slot) { release_read(slot); });
    }

    std::size_t receiver_count() const noexcept {
        // relaxed: a snapshot; it may change right after anyway.
        return receivers_.load(std::memory_order_relaxed);
    }

    /// Position of the next send.
    std::uint64_t tail_pos() const noexcept {
        // acquire: pairs with the release in send().
        return tail_pos_.load(std::memory_order_acquire);
    }

    /// Reads at `next` (advancing it only when a value or Lagged is
    /// returned). When `waiter` is given and nothing is there yet, queues it
    /// with `waker`; a waiter that returns with anything else is unqueued.
    ReadResult read(std::uint64_t& next, QueuedWaiter* waiter, const Waker* waker) {
        Slot& slot = slots_[next & mask_];
        {
            std::shared_lock read_lock(slot.lock);
            if (slot.pos == next) {
                ReadResult result = take(slot, next);
                read_lock.unlock();
                if (waiter != nullptr && waiter->is_queued()) cancel_wait(*waiter);
                return result;
            }
        }
        // Not there: decide between empty, closed and lagged under the tail
        // mutex (taken before the slot lock, the order send uses).
        std::unique_lock tail(tail_mutex_);
        std::shared_lock read_lock(slot.lock);
        if (slot.pos == next) {  // sent between the two locks
            ReadResult result = take(slot, next);
            if (waiter != nullptr) waiters_.remove(*waiter);
            return result;
        }
        if (slot.pos + capacity_ == next) {  // nothing sent at `next` yet: empty for us
            if (closed_) {
                if (waiter != nullptr) waiters_.remove(*waiter);
                return ReadResult{Status::Closed, 0, std::nullopt};
            }
            if (waiter != nullptr) {
                // relaxed: the flag is written under tail_mutex_, which we hold.
                if (waiter->queued.load(std::memory_order_relaxed)) {
                    waiter->waker.clone_from(*waker);
                } else {
                    waiters_.push_back(*waiter, *waker);
                }
            }
            return ReadResult{Status::Empty, 0, std::nullopt};
        }
        // The value at `next` was overwritten: skip to the oldest one kept.
        // relaxed: written under tail_mutex_, which we hold.
        const std::uint64_t oldest = tail_pos_.load(std::memory_order_relaxed) - capacity_;
        const std::uint64_t missed = oldest - next;
        next = oldest;
        if (waiter != nullptr) waiters_.remove(*waiter);
        return ReadResult{Status::Lagged, missed, std::nullopt};
    }

    /// Unqueues `waiter` (its future is going away or finished).
    void cancel_wait(QueuedWaiter& waiter) {
        std::lock_guard tail(tail_mutex_);
        waiters_.remove(waiter);
    }

private:
    // Copies the value out (the slot's read lock held), advances `next`, and
    // releases this receiver's claim on the value.
    static ReadResult take(Slot& slot, std::uint64_t& next) {
        ReadResult result{Status::Value, 0, std::optional<T>(std::in_place, *slot.value)};
        ++next;
        release_read(slot);
        return result;
    }

    // One owing receiver is done with `slot`; the last one destroys the value.
    static void release_read(Slot& slot) noexcept {
        // acq_rel: the last reader must see every other reader's copy finished
        // before it destroys the value.
        if (slot.remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) slot.value.reset();
    }

    // Calls `fn` for every slot still holding a value that a receiver at
    // `next` has yet to read. Requires tail_mutex_.
    template <class Fn>
    void for_each_owed(std::uint64_t next, Fn fn) {
        const std::uint64_t tail = tail_pos_.load(std::memory_order_relaxed);  // relaxed: under tail_mutex_
        std::uint64_t pos = tail - next > capacity_ ? tail - capacity_ : next;
        for (; pos != tail; ++pos) {
            Slot& slot = slots_[pos & mask_];
            if (slot.pos == pos) fn(slot);
        }
    }

    const std::size_t capacity_;
    const std::uint64_t mask_;
    std::unique_ptr<Slot[]> slots_;

    corio::detail::Mutex tail_mutex_;
    corio::detail::Atomic<std::uint64_t> tail_pos_{0};  // written under tail_mutex_
    corio::detail::Atomic<std::size_t> receivers_{0};   // written under tail_mutex_
    bool closed_ = false;                               // guarded by tail_mutex_
    WaiterQueue waiters_;                               // guarded by tail_mutex_

    corio::detail::Atomic<std::size_t> senders_{0};
    corio::detail::Atomic<std::size_t> refs_{0};
};

}  // namespace corio::detail

namespace corio::sync::broadcast {

/// The sending half. Copyable: each copy is one more sender, and the
/// channel closes once the last one is destroyed.
template <Broadcastable T>
class Sender {
public:
    /// One more sender of the same channel.
    Sender(const Sender& other) noexcept : shared_(other.shared_) {
        if (shared_ != nullptr) {
            shared_->ref();
            shared_->add_sender();
        }
    }
    /// Takes over `other` (left empty: only destruction and assignment are valid).
    Sender(Sender&& other) noexcept : shared_(std::exchange(other.shared_, nullptr)) {}
    /// Copy or move assignment; the sender replaced counts as destroyed.
    Sender& operator=(Sender other) noexcept {
        std::swap(shared_, other.shared_);
        return *this;
    }
    /// The last sender's destruction closes the channel: receivers read what
    /// is left, then get RecvError::closed().
    ~Sender() { reset(); }

    /// Sends `value` to every receiver alive now, without waiting: when the
    /// ring is full the oldest value is overwritten (receivers that had not
    /// read it will see Lagged). Returns the number of receivers that will
    /// see it, or SendError holding `value` when there is no receiver.
    std::expected<std::size_t, SendError<T>> send(T value) {
        auto result = shared_->send(std::move(value));
        if (!result) return std::unexpected(SendError<T>{std::move(result.error())});
        return *result;
    }

    /// A new receiver that sees the values sent after this call.
    Receiver<T> subscribe() const { return Receiver<T>(shared_, shared_->add_receiver_at_tail()); }

    /// The number of receivers alive now.
    std::size_t receiver_count() const noexcept { return shared_->receiver_count(); }

    /// The ring's capacity (the requested one rounded up to a power of two).
    std::size_t capacity() const noexcept { return shared_->capacity(); }

    /// True when both belong to the same channel.
    bool same_channel(const Sender& other) const noexcept { return shared_ == other.shared_; }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(std::size_t);
    explicit Sender(corio::detail::BroadcastShared<T>* shared) noexcept : shared_(shared) {}

    void reset() noexcept {
        if (shared_ == nullptr) return;
        shared_->drop_sender();
        corio::detail::BroadcastShared<T>::unref(std::exchange(shared_, nullptr));
    }

    corio::detail::BroadcastShared<T>* shared_;
};

/// The receiving half. Copyable: a copy starts at the same position and
/// then reads on its own. A Receiver is used by one task at a time.
template <Broadcastable T>
class Receiver {
public:
    /// A new receiver at the same position: it will read every value `other`
    /// has yet to read (those still kept), then everything after.
    Receiver(const Receiver& other) : shared_(other.shared_), next_(other.next_) {
        if (shared_ != nullptr) {
            shared_->ref();
            shared_->add_receiver_at(next_);
        }
    }
    /// Takes over `other` (left empty: only destruction and assignment are valid).
    Receiver(Receiver&& other) noexcept : shared_(std::exchange(other.shared_, nullptr)), next_(other.next_) {}
    /// Becomes a copy of `other`; the receiver replaced counts as destroyed.
    Receiver& operator=(const Receiver& other) {
        if (this != &other) {
            Receiver copy(other);
            swap(copy);
        }
        return *this;
    }
    /// Takes over `other`; the receiver replaced counts as destroyed.
    Receiver& operator=(Receiver&& other) noexcept {
        if (this != &other) {
            Receiver moved(std::move(other));
            swap(moved);
        }
        return *this;
    }
    /// Destroys the values that only this receiver still had to read.
    ~Receiver() { reset(); }

    /// Receives the next value. Output: the value, or RecvError::lagged(n)
    /// when n values were overwritten before this receiver read them (the
    /// next call returns the oldest value still kept), or RecvError::closed()
    /// once every sender is gone and everything was read.
    ///
    /// Cancellation-safe: this receiver's position advances only when the
    /// future returns, so dropping it mid-wait loses no value. The Receiver
    /// must outlive the future and not be moved while it exists.
    Recv<T> recv() noexcept { return Recv<T>(*this); }

    /// Receives the next value without waiting: the value, or
    /// TryRecvError::empty() / closed() / lagged(n) (as recv()).
    std::expected<T, TryRecvError> try_recv() {
        auto result = shared_->read(next_, nullptr, nullptr);
        using Status = typename corio::detail::BroadcastShared<T>::Status;
        switch (result.status) {
            case Status::Value:
                return std::move(*result.value);
            case Status::Empty:
                return std::unexpected(TryRecvError::empty());
            case Status::Closed:
                return std::unexpected(TryRecvError::closed());
            case Status::Lagged:
                break;
        }
        return std::unexpected(TryRecvError::lagged(result.missed));
    }

    /// A new receiver of the same channel that sees only values sent after
    /// this call.
    Receiver resubscribe() const { return Receiver(shared_, shared_->add_receiver_at_tail()); }

    /// Values sent that this receiver has not read yet. More than capacity()
    /// means it lags: the next receive reports Lagged.
    std::size_t len() const noexcept { return static_cast<std::size_t>(shared_->tail_pos() - next_); }

    /// True when len() == 0.
    bool is_empty() const noexcept { return len() == 0; }

    /// The number of receivers alive now (this one included).
    std::size_t receiver_count() const noexcept { return shared_->receiver_count(); }

    /// The ring's capacity (the requested one rounded up to a power of two).
    std::size_t capacity() const noexcept { return shared_->capacity(); }

    /// True when both belong to the same channel.
    bool same_channel(const Receiver& other) const noexcept { return shared_ == other.shared_; }

    /// Exchanges channel and position with `other`.
    void swap(Receiver& other) noexcept {
        std::swap(shared_, other.shared_);
        std::swap(next_, other.next_);
    }

private:
    friend class Sender<T>;
    friend class Recv<T>;
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(std::size_t);

    // Adopts a receiver already counted in `shared` (and takes a reference).
    Receiver(corio::detail::BroadcastShared<T>* shared, std::uint64_t next) noexcept : shared_(shared), next_(next) {
        shared_->ref();
    }

    Poll<std::expected<T, RecvError>> poll_recv(Context& cx, corio::detail::QueuedWaiter& waiter) {
        auto result = shared_->read(next_, &waiter, &cx.waker());
        using Status = typename corio::detail::BroadcastShared<T>::Status;
        switch (result.status) {
            case Status::Value:
                return Ready(std::expected<T, RecvError>(std::in_place, std::move(*result.value)));
            case Status::Empty:
                return Pending;
            case Status::Closed:
                return Ready(std::expected<T, RecvError>(std::unexpect, RecvError::closed()));
            case Status::Lagged:
                break;
        }
        return Ready(std::expected<T, RecvError>(std::unexpect, RecvError::lagged(result.missed)));
    }

    void reset() noexcept {
        if (shared_ == nullptr) return;
        shared_->drop_receiver(next_);
        corio::detail::BroadcastShared<T>::unref(std::exchange(shared_, nullptr));
    }

    corio::detail::BroadcastShared<T>* shared_;
    std::uint64_t next_ = 0;
};

/// The future of Receiver::recv(); see there. May be moved until first polled.
template <Broadcastable T>
class CORIO_NODISCARD_FUTURE Recv {
public:
    using Output = std::expected<T, RecvError>;

    /// Receives from `rx` (prefer rx.recv()).
    explicit Recv(Receiver<T>& rx) noexcept : rx_(&rx) {}
    /// Only before the first poll.
    Recv(Recv&& other) noexcept : rx_(other.rx_) {}
    Recv(const Recv&) = delete;
    Recv& operator=(const Recv&) = delete;
    Recv& operator=(Recv&&) = delete;
    /// Leaves the wait queue; every other receiver is unaffected (a send
    /// wakes them all), so nothing is passed on.
    ~Recv() {
        if (waiter_.is_queued()) rx_->shared_->cancel_wait(waiter_);
    }

    /// Ready with the next value or error; Pending (waker stored) while
    /// nothing was sent, or when the task's budget is spent.
    Poll<Output> poll(Context& cx) {
        if (!corio::detail::poll_proceed(cx)) return Pending;
        return rx_->poll_recv(cx, waiter_);
    }

private:
    Receiver<T>* rx_;
    corio::detail::QueuedWaiter waiter_;
};

/// Creates a broadcast channel whose ring holds `capacity` values, rounded
/// up to a power of two; returns its first sender and first receiver. Each
/// send costs no allocation. Throws std::invalid_argument when `capacity` is
/// 0 or above 2^62.
template <Broadcastable T>
std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity) {
    if (capacity == 0) throw std::invalid_argument("corio::sync::broadcast::channel: capacity must be positive");
    constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 62;
    if (static_cast<std::uint64_t>(capacity) > kMaxCapacity) {
        throw std::invalid_argument("corio::sync::broadcast::channel: capacity too large");
    }
    auto owned = std::make_unique<corio::detail::BroadcastShared<T>>(std::bit_ceil(capacity));
    corio::detail::BroadcastShared<T>* shared = owned.release();
    shared->add_sender();
    Sender<T> tx(shared);
    shared->ref();  // the sender's
    Receiver<T> rx(shared, shared->add_receiver_at_tail());
    return {std::move(tx), std::move(rx)};
}

static_assert(Future<Recv<int>>);

}  // namespace corio::sync::broadcast
