// sync::Semaphore: a fair (FIFO) asynchronous counting semaphore, the base
// of Mutex, RwLock and OnceCell.
//
// State: one atomic word holding the available permits (shifted left by 2), a
// CLOSED bit and a WAITERS bit. The invariant that keeps it fair and lets the
// uncontended paths skip the lock:
// - WAITERS is set exactly while the wait list is non-empty, and only changed
//   with the list's lock held;
// - while WAITERS is set, the available count is 0 (unless CLOSED): every
//   permit released then goes to the queued waiters in order, the head one
//   taking what there is even when that is less than it wants (it is
//   "partly assigned"), so a large request at the head blocks later, smaller
//   ones, as in Tokio;
// - so an acquire or a release that sees WAITERS clear can finish with one
//   compare-exchange and no lock; one that sees it set takes the lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <expected>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/detail/sync.hpp"
#include "corio/detail/wait_list.hpp"
#include "corio/future.hpp"

namespace corio::sync {

/// The error of Semaphore::acquire: the semaphore was closed.
struct AcquireError {
    friend bool operator==(AcquireError, AcquireError) noexcept = default;
};

/// Why Semaphore::try_acquire failed.
enum class TryAcquireError {
    Closed,     ///< the semaphore was closed
    NoPermits,  ///< not enough permits available now, or other waiters are queued first
};

class Semaphore;
class SemaphorePermit;
class OwnedSemaphorePermit;

}  // namespace corio::sync

namespace corio::detail {

/// The future under every acquire: on Ready(success) its owner holds `n`
/// permits and must return them (the typed futures wrap them in a permit or a
/// guard). Destroyed before that, it returns what it held or was assigned.
class CORIO_NODISCARD_FUTURE SemaphoreAcquire {
public:
    using Output = std::expected<void, sync::AcquireError>;

    SemaphoreAcquire(sync::Semaphore& sem, std::uint32_t n) noexcept : sem_(&sem), n_(n) {}
    /// Only before the first poll (futures are never moved after it).
    SemaphoreAcquire(SemaphoreAcquire&& other) noexcept : sem_(other.sem_), n_(other.n_), phase_(other.phase_) {
        if (phase_ == Phase::Queued) std::terminate();
        other.phase_ = Phase::Done;
    }
    SemaphoreAcquire& operator=(SemaphoreAcquire&&) = delete;
    ~SemaphoreAcquire();

    Poll<Output> poll(Context& cx);

    sync::Semaphore& semaphore() const noexcept { return *sem_; }
    std::uint32_t permits() const noexcept { return n_; }

private:
    enum class Phase : std::uint8_t { Idle, Queued, Done };

    Poll<Output> poll_queued(Context& cx);

    sync::Semaphore* sem_;
    std::uint32_t n_;
    Phase phase_ = Phase::Idle;
    WaitNode node_;
};

}  // namespace corio::detail

namespace corio::sync {

/// A FIFO-fair asynchronous semaphore (Tokio's `Semaphore`).
///
/// Permits are taken with acquire(n) (awaiting) or try_acquire(n), and come
/// back when the returned permit object is destroyed. Waiters are served in
/// arrival order: one that wants more permits than are available blocks those
/// queued after it, and try_acquire fails while anyone is queued. Uncontended
/// acquire and release are one atomic read-modify-write each, without a lock.
/// A Semaphore must outlive its permits and pending acquire futures (use
/// acquire_owned to tie its lifetime to the permit).
class Semaphore {
public:
    /// The most permits a semaphore can hold.
    static constexpr std::size_t kMaxPermits = std::numeric_limits<std::size_t>::max() >> 3;

    /// A semaphore with `permits` permits. Throws std::invalid_argument above kMaxPermits.
    explicit Semaphore(std::size_t permits) : state_(encode(check_permits(permits))) {}
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    /// The future of acquire(): a SemaphorePermit, or AcquireError once closed.
    class CORIO_NODISCARD_FUTURE Acquire {
    public:
        using Output = std::expected<SemaphorePermit, AcquireError>;
        Acquire(Semaphore& sem, std::uint32_t n) noexcept : raw_(sem, n) {}
        Poll<Output> poll(Context& cx);

    private:
        corio::detail::SemaphoreAcquire raw_;
    };

    /// The future of acquire_owned(): an OwnedSemaphorePermit, or AcquireError once closed.
    class CORIO_NODISCARD_FUTURE AcquireOwned {
    public:
        using Output = std::expected<OwnedSemaphorePermit, AcquireError>;
        AcquireOwned(std::shared_ptr<Semaphore> sem, std::uint32_t n) noexcept : sem_(std::move(sem)), raw_(*sem_, n) {}
        AcquireOwned(AcquireOwned&& other) noexcept : sem_(other.sem_), raw_(std::move(other.raw_)) {}
        Poll<Output> poll(Context& cx);

    private:
        std::shared_ptr<Semaphore> sem_;  // declared first: outlives raw_
        corio::detail::SemaphoreAcquire raw_;
    };

    /// Waits for `n` permits (n == 0 completes at once unless closed). Yields
    /// a SemaphorePermit holding them, or AcquireError when the semaphore is
    /// closed (before or while waiting).
    ///
    /// Cancellation-safe: a waiter dropped while queued never holds or leaks
    /// permits; it loses its place in the queue, and permits it had already
    /// been partly assigned go on to the waiters behind it (or back to the
    /// semaphore). Dropped after it was granted but before it was polled
    /// again, it returns the whole grant.
    Acquire acquire(std::uint32_t n = 1) noexcept { return Acquire(*this, n); }

    /// Takes `n` permits now if that is possible without overtaking a queued
    /// waiter. Errors: TryAcquireError::Closed, or NoPermits when fewer than
    /// `n` are available or someone is queued.
    std::expected<SemaphorePermit, TryAcquireError> try_acquire(std::uint32_t n = 1) noexcept;

    /// As acquire(), but the permit keeps `sem` alive (to move it into a
    /// spawned task). Cancellation-safe, as acquire().
    static AcquireOwned acquire_owned(std::shared_ptr<Semaphore> sem, std::uint32_t n = 1) noexcept {
        return AcquireOwned(std::move(sem), n);
    }

    /// As try_acquire(), with an owned permit.
    static std::expected<OwnedSemaphorePermit, TryAcquireError> try_acquire_owned(std::shared_ptr<Semaphore> sem,
                                                                                  std::uint32_t n = 1) noexcept;

    /// Adds `n` permits, handing them to queued waiters first (in order).
    /// Throws std::length_error if the total would exceed kMaxPermits.
    void add_permits(std::size_t n) {
        if (n > kMaxPermits - available_permits()) throw std::length_error("corio::sync::Semaphore: too many permits");
        release(n);
    }

    /// Removes up to `n` available permits (not those held or assigned to
    /// waiters); returns how many were removed.
    std::size_t forget_permits(std::size_t n) noexcept {
        std::uint64_t cur = state_.load(std::memory_order_relaxed);  // relaxed: the CAS validates it
        for (;;) {
            std::uint64_t take = n < (cur >> kShift) ? n : (cur >> kShift);
            // relaxed: removing permits publishes nothing and reads nothing they guard.
            if (state_.compare_exchange_weak(cur, cur - (take << kShift), std::memory_order_relaxed)) return take;
        }
    }

    /// Permits available now (a snapshot).
    std::size_t available_permits() const noexcept {
        return state_.load(std::memory_order_acquire) >>
               kShift;  // acquire: a snapshot ordered after what it saw released
    }

    /// Closes the semaphore: every queued waiter completes with AcquireError
    /// (permits they had been partly assigned go back to the semaphore), and
    /// later acquires fail. Permits already held stay valid and are returned
    /// as usual; add_permits still adds.
    void close() noexcept;

    /// True once close() was called.
    bool is_closed() const noexcept {
        return (state_.load(std::memory_order_acquire) & kClosed) != 0;  // acquire: pairs with close()'s release
    }

private:
    friend class corio::detail::SemaphoreAcquire;
    friend class SemaphorePermit;
    friend class OwnedSemaphorePermit;
    template <class>
    friend class Mutex;
    template <class>
    friend class MutexGuard;
    template <class>
    friend class RwLock;
    template <class>
    friend class RwLockReadGuard;
    template <class>
    friend class RwLockWriteGuard;
    template <class>
    friend class OnceCell;

    static constexpr std::uint64_t kClosed = 1;
    static constexpr std::uint64_t kWaiters = 2;
    static constexpr unsigned kShift = 2;

    static std::size_t check_permits(std::size_t permits) {
        if (permits > kMaxPermits) throw std::invalid_argument("corio::sync::Semaphore: more than kMaxPermits");
        return permits;
    }
    static constexpr std::uint64_t encode(std::uint64_t permits) noexcept { return permits << kShift; }

    enum class Take : std::uint8_t { Acquired, Closed, Contended };

    /// The lock-free attempt: takes `n` permits when nobody is queued.
    Take try_take(std::uint64_t n) noexcept {
        std::uint64_t cur = state_.load(std::memory_order_relaxed);  // relaxed: the CAS validates it
        for (;;) {
            if ((cur & kClosed) != 0) return Take::Closed;
            if (n == 0) return Take::Acquired;
            if ((cur & kWaiters) != 0 || (cur >> kShift) < n) return Take::Contended;
            // acquire: pairs with the release that returned these permits, so
            // what the previous holder wrote (a Mutex's value) is visible.
            if (state_.compare_exchange_weak(cur, cur - encode(n), std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
                return Take::Acquired;
            }
        }
    }

    /// With the lock held: takes `n` permits, or queues `node` with what is
    /// available assigned to it. Returns Acquired, Closed, or Contended (queued).
    Take take_or_enqueue_locked(corio::detail::WaitNode& node, std::uint64_t n, const Waker& waker) {
        std::uint64_t cur = state_.load(std::memory_order_relaxed);  // relaxed: the CAS validates it
        std::uint64_t taken = 0;
        for (;;) {
            if ((cur & kClosed) != 0) return Take::Closed;
            std::uint64_t avail = cur >> kShift;
            if ((cur & kWaiters) == 0 && avail >= n) {
                // acquire: as in try_take.
                if (state_.compare_exchange_weak(cur, cur - encode(n), std::memory_order_acquire,
                                                 std::memory_order_relaxed)) {
                    return Take::Acquired;
                }
                continue;
            }
            taken = avail < n ? avail : n;
            std::uint64_t next = encode(avail - taken) | (cur & kClosed) | kWaiters;
            // acquire: the permits assigned now may guard data, as in try_take.
            if (state_.compare_exchange_weak(cur, next, std::memory_order_acquire, std::memory_order_relaxed)) break;
        }
        node.wanted = n;
        node.remaining = n - taken;
        node.waker = waker;
        waiters_.push_back(node);
        return Take::Contended;
    }

    /// Returns `n` permits: one compare-exchange when nobody waits, else
    /// hands them to the queue under the lock.
    void release(std::uint64_t n) noexcept {
        if (n == 0) return;
        std::uint64_t cur = state_.load(std::memory_order_relaxed);  // relaxed: the CAS validates it
        while ((cur & kWaiters) == 0) {
            // release: publishes what the holder wrote to the next acquirer.
            if (state_.compare_exchange_weak(cur, cur + encode(n), std::memory_order_release,
                                             std::memory_order_relaxed)) {
                return;
            }
        }
        corio::detail::WakeList wakes;
        std::unique_lock lock(waiters_.lock());
        release_locked(n, lock, wakes);
    }

    /// With the lock held: gives `n` permits to the queued waiters in order,
    /// completing each one whose request is met; what is left (and WAITERS,
    /// once the queue is empty) goes back to the state word. May release and
    /// retake the lock to wake a full batch. Also called with n == 0 after a
    /// node was removed, to clear WAITERS when the queue became empty.
    void release_locked(std::uint64_t n, std::unique_lock<corio::detail::SpinLock>& lock,
                        corio::detail::WakeList& wakes) noexcept {
        for (;;) {
            std::uint64_t cur = state_.load(std::memory_order_relaxed);  // relaxed: the lock orders it
            if ((cur & kClosed) != 0 || waiters_.empty()) {
                for (;;) {
                    std::uint64_t next = cur + encode(n);
                    if (waiters_.empty()) next &= ~kWaiters;
                    // release: as in release().
                    if (state_.compare_exchange_weak(cur, next, std::memory_order_release, std::memory_order_relaxed))
                        return;
                }
            }
            if (n == 0) return;
            corio::detail::WaitNode& head = *waiters_.front();
            std::uint64_t given = n < head.remaining ? n : head.remaining;
            head.remaining -= given;
            n -= given;
            if (head.remaining > 0) return;  // all of n went to the head, which still waits
            waiters_.complete(head, kGranted, wakes);
            if (wakes.full()) {
                lock.unlock();
                wakes.wake_all();
                lock.lock();
            }
            if (n == 0 && !waiters_.empty()) return;
        }
    }

    static constexpr std::uint32_t kGranted = 1;
    static constexpr std::uint32_t kClosedOutcome = 2;

    corio::detail::Atomic<std::uint64_t> state_;
    corio::detail::WaitList waiters_;
};

/// Permits taken from a Semaphore, returned to it when destroyed (RAII).
/// Movable, not copyable. The semaphore must outlive it.
class [[nodiscard]] SemaphorePermit {
public:
    SemaphorePermit(SemaphorePermit&& other) noexcept
        : sem_(std::exchange(other.sem_, nullptr)), n_(std::exchange(other.n_, 0)) {}
    SemaphorePermit& operator=(SemaphorePermit&& other) noexcept {
        if (this != &other) {
            reset();
            sem_ = std::exchange(other.sem_, nullptr);
            n_ = std::exchange(other.n_, 0);
        }
        return *this;
    }
    ~SemaphorePermit() { reset(); }

    /// Keeps the permits out of the semaphore for good (they are not returned).
    void forget() noexcept { n_ = 0; }

    /// How many permits this holds.
    std::uint32_t num_permits() const noexcept { return n_; }

    /// Takes over `other`'s permits. Throws std::invalid_argument when they
    /// come from another semaphore.
    void merge(SemaphorePermit&& other) {
        if (other.n_ == 0) return;
        if (sem_ != other.sem_) throw std::invalid_argument("corio::sync::SemaphorePermit::merge: another semaphore");
        n_ += std::exchange(other.n_, 0);
    }

    /// Splits `n` permits off into a new permit; nullopt when fewer are held.
    std::optional<SemaphorePermit> split(std::uint32_t n) noexcept {
        if (n > n_) return std::nullopt;
        n_ -= n;
        return SemaphorePermit(*sem_, n);
    }

private:
    friend class Semaphore;
    SemaphorePermit(Semaphore& sem, std::uint32_t n) noexcept : sem_(&sem), n_(n) {}
    void reset() noexcept {
        if (sem_ != nullptr) sem_->release(std::exchange(n_, 0));
    }

    Semaphore* sem_;
    std::uint32_t n_;
};

/// Permits that keep their Semaphore alive (a shared_ptr), returned when
/// destroyed. Movable, not copyable; meant to be moved into a spawned task.
class [[nodiscard]] OwnedSemaphorePermit {
public:
    OwnedSemaphorePermit(OwnedSemaphorePermit&& other) noexcept
        : sem_(std::move(other.sem_)), n_(std::exchange(other.n_, 0)) {}
    OwnedSemaphorePermit& operator=(OwnedSemaphorePermit&& other) noexcept {
        if (this != &other) {
            reset();
            sem_ = std::move(other.sem_);
            n_ = std::exchange(other.n_, 0);
        }
        return *this;
    }
    ~OwnedSemaphorePermit() { reset(); }

    /// Keeps the permits out of the semaphore for good.
    void forget() noexcept { n_ = 0; }

    /// How many permits this holds.
    std::uint32_t num_permits() const noexcept { return n_; }

    /// The semaphore the permits belong to (null after a move).
    const std::shared_ptr<Semaphore>& semaphore() const noexcept { return sem_; }

    /// Takes over `other`'s permits. Throws std::invalid_argument when they
    /// come from another semaphore.
    void merge(OwnedSemaphorePermit&& other) {
        if (other.n_ == 0) return;
        if (sem_ != other.sem_)
            throw std::invalid_argument("corio::sync::OwnedSemaphorePermit::merge: another semaphore");
        n_ += std::exchange(other.n_, 0);
    }

    /// Splits `n` permits off into a new permit; nullopt when fewer are held.
    std::optional<OwnedSemaphorePermit> split(std::uint32_t n) noexcept {
        if (n > n_) return std::nullopt;
        n_ -= n;
        return OwnedSemaphorePermit(sem_, n);
    }

private:
    friend class Semaphore;
    OwnedSemaphorePermit(std::shared_ptr<Semaphore> sem, std::uint32_t n) noexcept : sem_(std::move(sem)), n_(n) {}
    void reset() noexcept {
        if (sem_ != nullptr) sem_->release(std::exchange(n_, 0));
        sem_.reset();
    }

    std::shared_ptr<Semaphore> sem_;
    std::uint32_t n_;
};

// ---- implementation ---------------------------------------------------------------------------

}  // namespace corio::sync

namespace corio::detail {

inline SemaphoreAcquire::~SemaphoreAcquire() {
    if (phase_ != Phase::Queued) return;
    std::uint32_t outcome = node_.load_outcome();
    if (outcome == WaitNode::kQueued) {
        WakeList wakes;
        std::unique_lock lock(sem_->waiters_.lock());
        if (node_.is_linked()) {
            sem_->waiters_.remove(node_);
            // Pass on what had been assigned; also clears WAITERS when the queue emptied.
            sem_->release_locked(node_.wanted - node_.remaining, lock, wakes);
            return;
        }
        outcome = node_.outcome.load(std::memory_order_relaxed);  // relaxed: the lock ordered the completer's store
    }
    if (outcome == sync::Semaphore::kGranted) sem_->release(n_);  // granted, never taken: give it back
}

inline Poll<SemaphoreAcquire::Output> SemaphoreAcquire::poll(Context& cx) {
    if (phase_ == Phase::Done) throw std::logic_error("corio::sync: acquire future polled after it completed");
    if (!poll_proceed(cx)) return Pending;
    if (phase_ == Phase::Queued) return poll_queued(cx);
    sync::Semaphore::Take take = sem_->try_take(n_);
    if (take == sync::Semaphore::Take::Contended) {
        std::lock_guard lock(sem_->waiters_.lock());
        take = sem_->take_or_enqueue_locked(node_, n_, cx.waker());
        if (take == sync::Semaphore::Take::Contended) {
            phase_ = Phase::Queued;
            return Pending;
        }
    }
    phase_ = Phase::Done;
    if (take == sync::Semaphore::Take::Closed) return Ready(Output(std::unexpect));
    return Ready(Output());
}

inline Poll<SemaphoreAcquire::Output> SemaphoreAcquire::poll_queued(Context& cx) {
    std::uint32_t outcome = node_.load_outcome();
    if (outcome == WaitNode::kQueued) {
        std::lock_guard lock(sem_->waiters_.lock());
        outcome = node_.outcome.load(std::memory_order_relaxed);  // relaxed: the lock ordered the completer's store
        if (outcome == WaitNode::kQueued) {
            node_.waker.clone_from(cx.waker());
            return Pending;
        }
    }
    phase_ = Phase::Done;
    if (outcome == sync::Semaphore::kClosedOutcome) return Ready(Output(std::unexpect));
    return Ready(Output());
}

static_assert(Future<SemaphoreAcquire>);

}  // namespace corio::detail

namespace corio::sync {

inline Poll<Semaphore::Acquire::Output> Semaphore::Acquire::poll(Context& cx) {
    Poll<corio::detail::SemaphoreAcquire::Output> r = raw_.poll(cx);
    if (r.is_pending()) return Pending;
    if (!r->has_value()) return Ready(Output(std::unexpect));
    return Poll<Output>(std::in_place, SemaphorePermit(raw_.semaphore(), raw_.permits()));
}

inline Poll<Semaphore::AcquireOwned::Output> Semaphore::AcquireOwned::poll(Context& cx) {
    Poll<corio::detail::SemaphoreAcquire::Output> r = raw_.poll(cx);
    if (r.is_pending()) return Pending;
    if (!r->has_value()) return Ready(Output(std::unexpect));
    return Poll<Output>(std::in_place, OwnedSemaphorePermit(sem_, raw_.permits()));
}

inline std::expected<SemaphorePermit, TryAcquireError> Semaphore::try_acquire(std::uint32_t n) noexcept {
    switch (try_take(n)) {
        case Take::Acquired:
            return SemaphorePermit(*this, n);
        case Take::Closed:
            return std::unexpected(TryAcquireError::Closed);
        case Take::Contended:
            break;
    }
    return std::unexpected(TryAcquireError::NoPermits);
}

inline std::expected<OwnedSemaphorePermit, TryAcquireError> Semaphore::try_acquire_owned(std::shared_ptr<Semaphore> sem,
                                                                                         std::uint32_t n) noexcept {
    switch (sem->try_take(n)) {
        case Take::Acquired:
            return OwnedSemaphorePermit(std::move(sem), n);
        case Take::Closed:
            return std::unexpected(TryAcquireError::Closed);
        case Take::Contended:
            break;
    }
    return std::unexpected(TryAcquireError::NoPermits);
}

inline void Semaphore::close() noexcept {
    corio::detail::WakeList wakes;
    std::unique_lock lock(waiters_.lock());
    // acq_rel: ordered with every other update of the word; acquire/release
    // pairs with the waiters' and try_acquire's loads of CLOSED.
    state_.fetch_or(kClosed, std::memory_order_acq_rel);
    std::uint64_t returned = 0;
    while (corio::detail::WaitNode* node = waiters_.front()) {
        returned += node->wanted - node->remaining;
        waiters_.complete(*node, kClosedOutcome, wakes);
        if (wakes.full()) {
            lock.unlock();
            wakes.wake_all();
            lock.lock();
        }
    }
    release_locked(returned, lock, wakes);  // the queue is empty: adds them and clears WAITERS
}

static_assert(Future<Semaphore::Acquire>);
static_assert(Future<Semaphore::AcquireOwned>);

}  // namespace corio::sync
