// sync::Mutex<T>: an asynchronous, fair (FIFO) mutual-exclusion lock around a
// value, built on a Semaphore with one permit. The guard may be held across
// an await (unlike corio::detail::Mutex); waiters acquire in arrival order; the
// uncontended lock and unlock are one atomic read-modify-write each.
#pragma once

#include <concepts>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "corio/detail/sync.hpp"
#include "corio/future.hpp"
#include "corio/sync/semaphore.hpp"

namespace corio::sync {

template <class T>
class Mutex;

/// Exclusive access to a Mutex's value; unlocks when destroyed. Movable, not
/// copyable. The mutex must outlive it.
template <class T>
class [[nodiscard]] MutexGuard {
public:
    MutexGuard(MutexGuard&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}
    MutexGuard& operator=(MutexGuard&& other) noexcept {
        if (this != &other) {
            unlock();
            mutex_ = std::exchange(other.mutex_, nullptr);
        }
        return *this;
    }
    ~MutexGuard() { unlock(); }

    T& operator*() const noexcept { return mutex_->value_; }
    T* operator->() const noexcept { return &mutex_->value_; }

    /// The mutex this guard locks.
    Mutex<T>& mutex() const noexcept { return *mutex_; }

private:
    friend class Mutex<T>;
    explicit MutexGuard(Mutex<T>& mutex) noexcept : mutex_(&mutex) {}
    void unlock() noexcept {
        if (mutex_ != nullptr) std::exchange(mutex_, nullptr)->sem_.release(1);
    }

    Mutex<T>* mutex_;
};

/// An asynchronous mutex owning a `T` (Tokio's `Mutex<T>`).
///
/// lock() waits for exclusive access; waiters are served in the order they
/// first polled. The guard may be held across awaits. The mutex must outlive
/// its guards and pending lock futures.
template <class T>
class Mutex {
    static_assert(std::is_object_v<T> && !std::is_array_v<T>, "Mutex<T> needs a value type");

public:
    /// A mutex holding a default-constructed T.
    Mutex()
        requires std::default_initializable<T>
        : value_() {}
    /// A mutex holding `value`.
    explicit Mutex(T value) : value_(std::move(value)) {}
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    /// The future of lock(): a MutexGuard once the lock is acquired.
    class CORIO_NODISCARD_FUTURE Lock {
    public:
        using Output = MutexGuard<T>;
        explicit Lock(Mutex& mutex) noexcept : mutex_(&mutex), acquire_(mutex.sem_, 1) {}
        Poll<MutexGuard<T>> poll(Context& cx) {
            Poll<corio::detail::SemaphoreAcquire::Output> r = acquire_.poll(cx);
            if (r.is_pending()) return Pending;
            if (!r->has_value()) std::terminate();  // a Mutex's semaphore is never closed
            return Poll<MutexGuard<T>>(std::in_place, MutexGuard<T>(*mutex_));
        }

    private:
        Mutex* mutex_;
        corio::detail::SemaphoreAcquire acquire_;
    };

    /// Waits for the lock; yields the guard. Waiters acquire in arrival order
    /// (the order of their first poll).
    ///
    /// Cancellation-safe: a waiter dropped while queued never holds or leaks
    /// the lock and loses its place in the queue; one dropped after the lock
    /// was handed to it but before it was polled again unlocks (passing the
    /// lock to the next waiter).
    Lock lock() noexcept { return Lock(*this); }

    /// Takes the lock if it is free and nobody is queued; nullopt otherwise.
    std::optional<MutexGuard<T>> try_lock() noexcept {
        auto permit = sem_.try_acquire(1);
        if (!permit) return std::nullopt;
        permit->forget();
        return MutexGuard<T>(*this);
    }

    /// The value, without locking: the caller must have exclusive access to
    /// the mutex (no guard or lock future alive), as with Rust's `&mut self`.
    T& get_mut() noexcept { return value_; }

    /// Moves the value out (the mutex must not be locked).
    T into_inner() && { return std::move(value_); }

private:
    friend class MutexGuard<T>;

    Semaphore sem_{1};
    T value_;
};

}  // namespace corio::sync
