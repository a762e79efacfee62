// A single-producer, multi-consumer channel that keeps only the latest
// value: receivers look at it (borrow) whenever they like and can wait for
// it to change.
//
// The value sits behind a reader-writer lock. A version counter, bumped by
// every send under the write lock, tells receivers apart from "changed" and
// "already seen": each receiver keeps the version it saw last, so several
// sends between two looks coalesce into one change, and a receiver that is
// not waiting costs a send nothing. Receivers that do wait queue in a
// WaiterQueue; a send reads one atomic to learn that nobody waits and only
// then skips the queue's mutex. The state word holds version << 1 | closed,
// where closed means the Sender is gone.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <type_traits>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/detail/sync.hpp"
#include "corio/detail/waiter_queue.hpp"
#include "corio/future.hpp"

namespace corio::sync::watch {

/// The error of Sender::send: every receiver is gone; the value comes back.
template <class T>
struct SendError {
    T value;  ///< the value that was not sent
};

/// The error of the receiving side: the Sender is gone (and, for changed(),
/// there is no unseen value left).
struct RecvError {
    friend constexpr bool operator==(RecvError, RecvError) noexcept = default;
};

template <class T>
class Sender;
template <class T>
class Receiver;

template <class T>
std::pair<Sender<T>, Receiver<T>> channel(T init);

}  // namespace corio::sync::watch

namespace corio::detail {

/// The state the Sender and every Receiver of one watch channel share.
template <class T>
class WatchShared {
public:
    static constexpr std::uint64_t kClosed = 1;
    static constexpr std::uint64_t kVersionStep = 2;

    template <class... Args>
    explicit WatchShared(std::in_place_t, Args&&... args) : value_(std::forward<Args>(args)...) {}

    // ---- reference counting: one per Sender and per Receiver ----

    void ref() noexcept {
        // relaxed: taking a reference from one we already hold orders nothing.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    static void unref(WatchShared* self) noexcept {
        // acq_rel: the last owner must see every other owner's writes before freeing.
        if (self->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete self;
    }

    // ---- state ----

    static std::uint64_t version_of(std::uint64_t state) noexcept { return state & ~kClosed; }
    static bool is_closed(std::uint64_t state) noexcept { return (state & kClosed) != 0; }

    std::uint64_t state() const noexcept {
        // seq_cst: a waiter reads it after queueing and a sender writes it
        // before checking for waiters (see WaiterQueue::push_back).
        return state_.load(std::memory_order_seq_cst);
    }

    corio::detail::SharedMutex& value_lock() noexcept { return value_lock_; }
    T& value() noexcept { return value_; }  // under value_lock()

    /// Marks a new version; call with the write lock held, then notify_receivers().
    void bump_version() noexcept {
        // seq_cst: see state().
        state_.fetch_add(kVersionStep, std::memory_order_seq_cst);
    }

    /// Wakes every receiver waiting in changed()/wait_for().
    void notify_receivers() {
        if (!rx_waiters_.may_have_waiters()) return;
        std::unique_lock lock(waiters_mutex_);
        wake_all_queued(lock, rx_waiters_);
    }

    /// The Sender is gone: mark closed and wake every waiting receiver.
    void close() {
        // seq_cst: see state().
        state_.fetch_or(kClosed, std::memory_order_seq_cst);
        std::unique_lock lock(waiters_mutex_);
        wake_all_queued(lock, rx_waiters_);
    }

    // ---- receivers ----

    std::size_t receiver_count() const noexcept {
        // acquire: pairs with the release part of drop_receiver's decrement,
        // so a sender that sees zero sees the receivers' last actions.
        return receivers_.load(std::memory_order_acquire);
    }
    void add_receiver() noexcept {
        // relaxed: counting up orders nothing; closed() waiters care about zero only.
        receivers_.fetch_add(1, std::memory_order_relaxed);
    }
    void drop_receiver() {
        // acq_rel: see receiver_count().
        if (receivers_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
        std::unique_lock lock(waiters_mutex_);
        wake_all_queued(lock, closed_waiters_);
    }

    /// One step of a change wait: Ready(true) when the version differs from
    /// `seen` (updated to it), Ready(false) when closed without a change,
    /// else Pending with `waiter` queued to be woken on the next change.
    Poll<bool> poll_changed(Context& cx, std::uint64_t& seen, QueuedWaiter& waiter) {
        if (auto done = check_changed(seen)) {
            if (waiter.is_queued()) cancel_rx_wait(waiter);
            return Ready(*done);
        }
        std::lock_guard lock(waiters_mutex_);
        // relaxed: the flag is written under waiters_mutex_, which we hold.
        if (waiter.queued.load(std::memory_order_relaxed)) {
            waiter.waker.clone_from(cx.waker());
        } else {
            rx_waiters_.push_back(waiter, cx.waker());
        }
        // Re-check after queueing: a send that bumped the version before we
        // queued is seen here, and one after it finds us in the queue.
        if (auto done = check_changed(seen)) {
            rx_waiters_.remove(waiter);
            return Ready(*done);
        }
        return Pending;
    }

    void cancel_rx_wait(QueuedWaiter& waiter) {
        std::lock_guard lock(waiters_mutex_);
        rx_waiters_.remove(waiter);
    }

    /// Like poll_changed for Sender::closed(): Ready once no receiver is left.
    Poll<void> poll_closed(Context& cx, QueuedWaiter& waiter) {
        if (receiver_count() == 0) {
            if (waiter.is_queued()) cancel_closed_wait(waiter);
            return Ready();
        }
        std::lock_guard lock(waiters_mutex_);
        // relaxed: the flag is written under waiters_mutex_, which we hold.
        if (waiter.queued.load(std::memory_order_relaxed)) {
            waiter.waker.clone_from(cx.waker());
        } else {
            closed_waiters_.push_back(waiter, cx.waker());
        }
        // The last receiver decrements before taking waiters_mutex_, so either
        // we see zero here or it finds us queued.
        if (receiver_count() == 0) {
            closed_waiters_.remove(waiter);
            return Ready();
        }
        return Pending;
    }

    void cancel_closed_wait(QueuedWaiter& waiter) {
        std::lock_guard lock(waiters_mutex_);
        closed_waiters_.remove(waiter);
    }

private:
    // Ready(true) and `seen` updated on a new version, Ready(false) when
    // closed without one, nullopt otherwise.
    std::optional<bool> check_changed(std::uint64_t& seen) const noexcept {
        const std::uint64_t s = state();
        if (version_of(s) != seen) {
            seen = version_of(s);
            return true;
        }
        if (is_closed(s)) return false;
        return std::nullopt;
    }

    corio::detail::SharedMutex value_lock_;
    T value_;  // guarded by value_lock_
    corio::detail::Atomic<std::uint64_t> state_{0};
    corio::detail::Atomic<std::size_t> receivers_{0};
    corio::detail::Atomic<std::size_t> refs_{0};

    corio::detail::Mutex waiters_mutex_;
    WaiterQueue rx_waiters_;      // guarded by waiters_mutex_: changed() and wait_for()
    WaiterQueue closed_waiters_;  // guarded by waiters_mutex_: Sender::closed()
};

}  // namespace corio::detail

namespace corio::sync::watch {

/// A look at the channel's value, holding its read lock while it lives.
///
/// Keep it short: a send waits until every Ref is gone, so holding one
/// across a co_await (or taking a second one on the same thread while a send
/// waits) can deadlock.
template <class T>
class [[nodiscard]] Ref {
public:
    /// Moves the lock along (the moved-from Ref must not be dereferenced).
    Ref(Ref&&) noexcept = default;
    /// Releases this Ref's lock and takes over `other`'s.
    Ref& operator=(Ref&&) noexcept = default;
    Ref(const Ref&) = delete;
    Ref& operator=(const Ref&) = delete;

    /// The value.
    const T& operator*() const noexcept { return *value_; }
    /// The value's members.
    const T* operator->() const noexcept { return value_; }
    /// The value (same as operator*).
    const T& get() const noexcept { return *value_; }

    /// For a receiver's borrow: whether this value was new to the receiver
    /// when borrowed (not yet marked seen). Always false from a Sender.
    bool has_changed() const noexcept { return has_changed_; }

private:
    friend class Sender<T>;
    friend class Receiver<T>;
    template <class U, class Pred>
    friend class WaitFor;

    Ref(std::shared_lock<corio::detail::SharedMutex> lock, const T* value, bool has_changed) noexcept
        : lock_(std::move(lock)), value_(value), has_changed_(has_changed) {}

    std::shared_lock<corio::detail::SharedMutex> lock_;
    const T* value_;
    bool has_changed_;
};

/// The future of Sender::closed(): ready once every receiver is gone.
/// Cancellation-safe. May be moved until first polled.
template <class T>
class CORIO_NODISCARD_FUTURE Closed {
public:
    using Output = void;

    /// Waits on `shared` (prefer Sender::closed()).
    explicit Closed(corio::detail::WatchShared<T>& shared) noexcept : shared_(&shared) {}
    /// Only before the first poll.
    Closed(Closed&& other) noexcept : shared_(other.shared_) {}
    Closed(const Closed&) = delete;
    Closed& operator=(const Closed&) = delete;
    Closed& operator=(Closed&&) = delete;
    ~Closed() {
        if (waiter_.is_queued()) shared_->cancel_closed_wait(waiter_);
    }

    /// Ready once no receiver is alive; Pending (waker stored) before.
    Poll<void> poll(Context& cx) {
        if (!corio::detail::poll_proceed(cx)) return Pending;
        return shared_->poll_closed(cx, waiter_);
    }

private:
    corio::detail::WatchShared<T>* shared_;
    corio::detail::QueuedWaiter waiter_;
};

/// The sending half (one per channel; move-only). Destroying it closes the
/// channel: receivers keep the last value and their waits end with RecvError.
template <class T>
class Sender {
public:
    /// Takes over `other` (left empty: only destruction and assignment are valid).
    Sender(Sender&& other) noexcept : shared_(std::exchange(other.shared_, nullptr)) {}
    /// Closes the channel this sender had, then takes over `other`.
    Sender& operator=(Sender&& other) noexcept {
        if (this != &other) {
            reset();
            shared_ = std::exchange(other.shared_, nullptr);
        }
        return *this;
    }
    Sender(const Sender&) = delete;
    Sender& operator=(const Sender&) = delete;
    ~Sender() { reset(); }

    /// Replaces the value and notifies every receiver. Fails, giving `value`
    /// back in SendError, when no receiver is alive (nothing changes then).
    std::expected<void, SendError<T>> send(T value) {
        if (shared_->receiver_count() == 0) return std::unexpected(SendError<T>{std::move(value)});
        send_replace(std::move(value));
        return {};
    }

    /// Modifies the value in place under the write lock and notifies every
    /// receiver, even when `modify` changed nothing. If `modify` throws, the
    /// exception propagates, what it did stays, and nobody is notified.
    template <class F>
        requires std::invocable<F&, T&>
    void send_modify(F&& modify) {
        send_if_modified([&modify](T& value) {
            std::invoke(modify, value);
            return true;
        });
    }

    /// Calls `modify` on the value under the write lock; notifies receivers
    /// only when it returns true, and returns what it returned. If `modify`
    /// throws, the exception propagates, what it did stays, and nobody is
    /// notified.
    template <class F>
        requires std::is_invocable_r_v<bool, F&, T&>
    bool send_if_modified(F&& modify) {
        {
            std::unique_lock write(shared_->value_lock());
            if (!std::invoke(modify, shared_->value())) return false;
            shared_->bump_version();
        }
        shared_->notify_receivers();
        return true;
    }

    /// Replaces the value (even with no receiver), notifies every receiver,
    /// and returns the previous value.
    T send_replace(T value) {
        T old = [&] {
            std::unique_lock write(shared_->value_lock());
            T previous = std::exchange(shared_->value(), std::move(value));
            shared_->bump_version();
            return previous;
        }();
        shared_->notify_receivers();
        return old;
    }

    /// A look at the current value (read lock held while the Ref lives);
    /// its has_changed() is false.
    Ref<T> borrow() const {
        std::shared_lock read(shared_->value_lock());
        return Ref<T>(std::move(read), &shared_->value(), false);
    }

    /// A new receiver for which the current value counts as seen.
    Receiver<T> subscribe() const {
        shared_->add_receiver();
        return Receiver<T>(*shared_, corio::detail::WatchShared<T>::version_of(shared_->state()));
    }

    /// The number of receivers alive now.
    std::size_t receiver_count() const noexcept { return shared_->receiver_count(); }

    /// True when no receiver is alive (subscribe() can add one again).
    bool is_closed() const noexcept { return receiver_count() == 0; }

    /// Completes once no receiver is alive. Cancellation-safe: dropping it
    /// loses nothing. The Sender must outlive it.
    Closed<T> closed() const noexcept { return Closed<T>(*shared_); }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(T);
    explicit Sender(corio::detail::WatchShared<T>* shared) noexcept : shared_(shared) { shared_->ref(); }

    void reset() noexcept {
        if (shared_ == nullptr) return;
        shared_->close();
        corio::detail::WatchShared<T>::unref(std::exchange(shared_, nullptr));
    }

    corio::detail::WatchShared<T>* shared_;
};

/// The future of Receiver::changed(); see there. May be moved until first polled.
template <class T>
class CORIO_NODISCARD_FUTURE Changed {
public:
    using Output = std::expected<void, RecvError>;

    /// Waits for a version other than `seen` (prefer Receiver::changed()).
    Changed(corio::detail::WatchShared<T>& shared, std::uint64_t& seen) noexcept : shared_(&shared), seen_(&seen) {}
    /// Only before the first poll.
    Changed(Changed&& other) noexcept : shared_(other.shared_), seen_(other.seen_) {}
    Changed(const Changed&) = delete;
    Changed& operator=(const Changed&) = delete;
    Changed& operator=(Changed&&) = delete;
    /// Leaves the wait queue; nothing to pass on (a change wakes every waiter).
    ~Changed() {
        if (waiter_.is_queued()) shared_->cancel_rx_wait(waiter_);
    }

    /// Ready on a new version (marked seen) or with RecvError; Pending
    /// (waker stored) while neither.
    Poll<Output> poll(Context& cx) {
        if (!corio::detail::poll_proceed(cx)) return Pending;
        Poll<bool> changed = shared_->poll_changed(cx, *seen_, waiter_);
        if (changed.is_pending()) return Pending;
        if (*changed) return Ready(Output());
        return Ready(Output(std::unexpect));
    }

private:
    corio::detail::WatchShared<T>* shared_;
    std::uint64_t* seen_;
    corio::detail::QueuedWaiter waiter_;
};

/// The future of Receiver::wait_for(); see there. May be moved until first polled.
template <class T, class Pred>
class CORIO_NODISCARD_FUTURE WaitFor {
public:
    using Output = std::expected<Ref<T>, RecvError>;

    /// Waits for `pred` to hold (prefer Receiver::wait_for()).
    WaitFor(corio::detail::WatchShared<T>& shared, std::uint64_t& seen, Pred pred)
        : shared_(&shared), seen_(&seen), pred_(std::move(pred)) {}
    /// Only before the first poll.
    WaitFor(WaitFor&& other) noexcept(std::is_nothrow_move_constructible_v<Pred>)
        : shared_(other.shared_), seen_(other.seen_), pred_(std::move(other.pred_)) {}
    WaitFor(const WaitFor&) = delete;
    WaitFor& operator=(const WaitFor&) = delete;
    WaitFor& operator=(WaitFor&&) = delete;
    ~WaitFor() {
        if (waiter_.is_queued()) shared_->cancel_rx_wait(waiter_);
    }

    /// Ready with a Ref once `pred` holds, or with RecvError; Pending
    /// (waker stored) while waiting for the next change.
    Poll<Output> poll(Context& cx) {
        if (!corio::detail::poll_proceed(cx)) return Pending;
        for (;;) {
            std::shared_lock read(shared_->value_lock());
            // The version only moves under the write lock: this one matches the value.
            const std::uint64_t state = shared_->state();
            const std::uint64_t version = corio::detail::WatchShared<T>::version_of(state);
            const bool changed = version != *seen_;
            *seen_ = version;
            if (std::invoke(pred_, std::as_const(shared_->value()))) {
                // Lock order value_lock -> waiters_mutex is the only one used.
                if (waiter_.is_queued()) shared_->cancel_rx_wait(waiter_);
                return Ready(Output(std::in_place, Ref<T>(std::move(read), &shared_->value(), changed)));
            }
            read.unlock();
            // On a change, loop with `*seen_` left behind, so the Ref returned
            // next reports has_changed().
            std::uint64_t probe = *seen_;
            Poll<bool> next = shared_->poll_changed(cx, probe, waiter_);
            if (next.is_pending()) return Pending;
            if (!*next) return Ready(Output(std::unexpect));
        }
    }

private:
    corio::detail::WatchShared<T>* shared_;
    std::uint64_t* seen_;
    Pred pred_;
    corio::detail::QueuedWaiter waiter_;
};

/// A receiving half. Copyable: each copy tracks what it has seen on its own.
/// A Receiver is used by one task at a time.
template <class T>
class Receiver {
public:
    /// One more receiver, with `other`'s idea of what has been seen.
    Receiver(const Receiver& other) noexcept : shared_(other.shared_), seen_(other.seen_) {
        if (shared_ != nullptr) {
            shared_->ref();
            shared_->add_receiver();
        }
    }
    /// Takes over `other` (left empty: only destruction and assignment are valid).
    Receiver(Receiver&& other) noexcept : shared_(std::exchange(other.shared_, nullptr)), seen_(other.seen_) {}
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
    /// The last receiver's destruction completes the Sender's closed().
    ~Receiver() { reset(); }

    /// A look at the current value (read lock held while the Ref lives),
    /// without marking it seen; Ref::has_changed() tells whether it is new
    /// to this receiver.
    Ref<T> borrow() const {
        std::shared_lock read(shared_->value_lock());
        const bool changed = corio::detail::WatchShared<T>::version_of(shared_->state()) != seen_;
        return Ref<T>(std::move(read), &shared_->value(), changed);
    }

    /// Like borrow(), and marks the value seen.
    Ref<T> borrow_and_update() {
        std::shared_lock read(shared_->value_lock());
        // The version only moves under the write lock: this one matches the value.
        const std::uint64_t version = corio::detail::WatchShared<T>::version_of(shared_->state());
        const bool changed = version != seen_;
        seen_ = version;
        return Ref<T>(std::move(read), &shared_->value(), changed);
    }

    /// Whether a value this receiver has not seen is there. RecvError when
    /// the Sender is gone and there is nothing new.
    std::expected<bool, RecvError> has_changed() const noexcept {
        const std::uint64_t state = shared_->state();
        if (corio::detail::WatchShared<T>::version_of(state) != seen_) return true;
        if (corio::detail::WatchShared<T>::is_closed(state)) return std::unexpected(RecvError{});
        return false;
    }

    /// Completes when a value newer than the last one seen is there (at
    /// once if there already is), and marks it seen. Several sends in
    /// between count as one change. Output: RecvError once the Sender is
    /// gone and nothing new is left.
    ///
    /// Cancellation-safe: the value is marked seen only when the future
    /// returns, so dropping it loses no change. The Receiver must outlive the
    /// future and not be moved while it exists.
    Changed<T> changed() noexcept { return Changed<T>(*shared_, seen_); }

    /// Completes with a Ref to the value as soon as `pred(value)` holds,
    /// checking the current value first and then each new one; marks the
    /// value it returns seen. Output: RecvError when the Sender is gone and
    /// the last value does not satisfy `pred`. `pred` runs under the read
    /// lock; an exception from it propagates out of the poll.
    ///
    /// Cancellation-safe: dropping it loses nothing but the "seen" marks of
    /// values `pred` rejected. The Receiver must outlive the future.
    template <class Pred>
        requires std::is_invocable_r_v<bool, Pred&, const T&>
    WaitFor<T, std::decay_t<Pred>> wait_for(Pred&& pred) {
        return WaitFor<T, std::decay_t<Pred>>(*shared_, seen_, std::forward<Pred>(pred));
    }

    /// Makes the current value count as unseen (has_changed() is true and
    /// changed() completes at once).
    void mark_changed() noexcept {
        seen_ =
            corio::detail::WatchShared<T>::version_of(shared_->state()) - corio::detail::WatchShared<T>::kVersionStep;
    }

    /// Makes the current value count as seen.
    void mark_unchanged() noexcept { seen_ = corio::detail::WatchShared<T>::version_of(shared_->state()); }

    /// True when both belong to the same channel.
    bool same_channel(const Receiver& other) const noexcept { return shared_ == other.shared_; }

    /// Exchanges channel and seen state with `other`.
    void swap(Receiver& other) noexcept {
        std::swap(shared_, other.shared_);
        std::swap(seen_, other.seen_);
    }

private:
    friend class Sender<T>;
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(T);

    // Adopts a receiver already counted in `shared` (and takes a reference).
    Receiver(corio::detail::WatchShared<T>& shared, std::uint64_t seen) noexcept : shared_(&shared), seen_(seen) {
        shared_->ref();
    }

    void reset() noexcept {
        if (shared_ == nullptr) return;
        shared_->drop_receiver();
        corio::detail::WatchShared<T>::unref(std::exchange(shared_, nullptr));
    }

    corio::detail::WatchShared<T>* shared_;
    std::uint64_t seen_ = 0;
};

/// Creates a watch channel holding `init` (which counts as seen by the
/// first receiver); returns its sender and first receiver. One allocation;
/// sends allocate nothing. T must be move-constructible; send() and
/// send_replace() also need it move-assignable (send_modify() does not).
template <class T>
std::pair<Sender<T>, Receiver<T>> channel(T init) {
    auto owned = std::make_unique<corio::detail::WatchShared<T>>(std::in_place, std::move(init));
    corio::detail::WatchShared<T>* shared = owned.release();
    Sender<T> tx(shared);
    shared->add_receiver();
    Receiver<T> rx(*shared, 0);
    return {std::move(tx), std::move(rx)};
}

static_assert(Future<Changed<int>>);
static_assert(Future<Closed<int>>);

}  // namespace corio::sync::watch
