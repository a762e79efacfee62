// sync::RwLock<T>: an asynchronous, fair, writer-preferring reader-writer
// lock around a value (Tokio's `RwLock<T>`).
//
// Built on a FIFO Semaphore with kMaxReaders permits: a reader takes one, a
// writer takes them all. Because the semaphore serves waiters in order and a
// writer at the head of the queue is partly assigned whatever readers give
// back, readers arriving after a waiting writer queue behind it: writers
// never starve.
#pragma once

#include <concepts>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>

#include "corio/future.hpp"
#include "corio/sync/semaphore.hpp"

namespace corio::sync {

template <class T>
class RwLock;

/// Shared (const) access to an RwLock's value; releases its read lock when
/// destroyed. Movable, not copyable. The lock must outlive it.
template <class T>
class [[nodiscard]] RwLockReadGuard {
public:
    RwLockReadGuard(RwLockReadGuard&& other) noexcept : lock_(std::exchange(other.lock_, nullptr)) {}
    RwLockReadGuard& operator=(RwLockReadGuard&& other) noexcept {
        if (this != &other) {
            unlock();
            lock_ = std::exchange(other.lock_, nullptr);
        }
        return *this;
    }
    ~RwLockReadGuard() { unlock(); }

    const T& operator*() const noexcept { return lock_->value_; }
    const T* operator->() const noexcept { return &lock_->value_; }

private:
    friend class RwLock<T>;
    template <class>
    friend class RwLockWriteGuard;
    explicit RwLockReadGuard(RwLock<T>& lock) noexcept : lock_(&lock) {}
    void unlock() noexcept {
        if (lock_ != nullptr) std::exchange(lock_, nullptr)->sem_.release(1);
    }

    RwLock<T>* lock_;
};

/// Exclusive access to an RwLock's value; releases its write lock when
/// destroyed. Movable, not copyable. The lock must outlive it.
template <class T>
class [[nodiscard]] RwLockWriteGuard {
public:
    RwLockWriteGuard(RwLockWriteGuard&& other) noexcept : lock_(std::exchange(other.lock_, nullptr)) {}
    RwLockWriteGuard& operator=(RwLockWriteGuard&& other) noexcept {
        if (this != &other) {
            unlock();
            lock_ = std::exchange(other.lock_, nullptr);
        }
        return *this;
    }
    ~RwLockWriteGuard() { unlock(); }

    T& operator*() const noexcept { return lock_->value_; }
    T* operator->() const noexcept { return &lock_->value_; }

    /// Turns this write lock into a read lock without letting a writer in
    /// between; queued readers (up to the next queued writer) get in too.
    RwLockReadGuard<T> downgrade() && noexcept {
        RwLock<T>* lock = std::exchange(lock_, nullptr);
        lock->sem_.release(RwLock<T>::kMaxReaders - 1);
        return RwLockReadGuard<T>(*lock);
    }

private:
    friend class RwLock<T>;
    explicit RwLockWriteGuard(RwLock<T>& lock) noexcept : lock_(&lock) {}
    void unlock() noexcept {
        if (lock_ != nullptr) std::exchange(lock_, nullptr)->sem_.release(RwLock<T>::kMaxReaders);
    }

    RwLock<T>* lock_;
};

/// An asynchronous reader-writer lock owning a `T`.
///
/// Any number of readers or one writer at a time; waiters are served in the
/// order they first polled, so once a writer waits, later readers wait behind
/// it. The lock must outlive its guards and pending futures.
template <class T>
class RwLock {
    static_assert(std::is_object_v<T> && !std::is_array_v<T>, "RwLock<T> needs a value type");

public:
    /// The most readers that can hold the lock at once.
    static constexpr std::uint32_t kMaxReaders = std::numeric_limits<std::uint32_t>::max() >> 3;

    /// A lock holding a default-constructed T.
    RwLock()
        requires std::default_initializable<T>
        : value_() {}
    /// A lock holding `value`.
    explicit RwLock(T value) : value_(std::move(value)) {}
    RwLock(const RwLock&) = delete;
    RwLock& operator=(const RwLock&) = delete;

    /// The future of read().
    class CORIO_NODISCARD_FUTURE Read {
    public:
        using Output = RwLockReadGuard<T>;
        explicit Read(RwLock& lock) noexcept : lock_(&lock), acquire_(lock.sem_, 1) {}
        Poll<Output> poll(Context& cx) {
            Poll<corio::detail::SemaphoreAcquire::Output> r = acquire_.poll(cx);
            if (r.is_pending()) return Pending;
            if (!r->has_value()) std::terminate();  // an RwLock's semaphore is never closed
            return Poll<Output>(std::in_place, Output(*lock_));
        }

    private:
        RwLock* lock_;
        corio::detail::SemaphoreAcquire acquire_;
    };

    /// The future of write().
    class CORIO_NODISCARD_FUTURE Write {
    public:
        using Output = RwLockWriteGuard<T>;
        explicit Write(RwLock& lock) noexcept : lock_(&lock), acquire_(lock.sem_, kMaxReaders) {}
        Poll<Output> poll(Context& cx) {
            Poll<corio::detail::SemaphoreAcquire::Output> r = acquire_.poll(cx);
            if (r.is_pending()) return Pending;
            if (!r->has_value()) std::terminate();  // an RwLock's semaphore is never closed
            return Poll<Output>(std::in_place, Output(*lock_));
        }

    private:
        RwLock* lock_;
        corio::detail::SemaphoreAcquire acquire_;
    };

    /// Waits for shared access; yields a read guard. Waits while a writer
    /// holds the lock or is queued ahead.
    ///
    /// Cancellation-safe: a reader dropped while queued holds nothing and
    /// loses its place; dropped after access was granted but before it was
    /// polled again, it gives the access back.
    Read read() noexcept { return Read(*this); }

    /// Waits for exclusive access; yields a write guard.
    ///
    /// Cancellation-safe: a writer dropped while queued loses its place and
    /// passes on the reader slots it had been partly assigned (waking the
    /// readers queued behind it); it never holds or leaks the lock.
    Write write() noexcept { return Write(*this); }

    /// Shared access now, if no writer holds the lock or waits; else nullopt.
    std::optional<RwLockReadGuard<T>> try_read() noexcept {
        auto permit = sem_.try_acquire(1);
        if (!permit) return std::nullopt;
        permit->forget();
        return RwLockReadGuard<T>(*this);
    }

    /// Exclusive access now, if nobody holds the lock or waits; else nullopt.
    std::optional<RwLockWriteGuard<T>> try_write() noexcept {
        auto permit = sem_.try_acquire(kMaxReaders);
        if (!permit) return std::nullopt;
        permit->forget();
        return RwLockWriteGuard<T>(*this);
    }

    /// The value, without locking: the caller must have exclusive access to
    /// the lock (no guard or future alive).
    T& get_mut() noexcept { return value_; }

    /// Moves the value out (the lock must not be held).
    T into_inner() && { return std::move(value_); }

private:
    friend class RwLockReadGuard<T>;
    friend class RwLockWriteGuard<T>;

    Semaphore sem_{kMaxReaders};
    T value_;
};

}  // namespace corio::sync
