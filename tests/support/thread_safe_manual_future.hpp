// A ManualFuture whose state may be completed from any thread: the value and
// the stored waker sit behind a mutex, and `complete` wakes outside it. A
// test thread can also wait (with a deadline) until the future has been
// polled to Pending, so a cross-thread completion really happens while the
// task is suspended rather than before its first poll.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "corio/future.hpp"

namespace corio::test {

template <class T>
class ThreadSafeManualState {
public:
    /// Stores `value` and wakes the waker of the latest Pending poll (if
    /// any). The wake happens after the lock is released.
    void complete(T value) {
        Waker waker;
        {
            std::lock_guard lock(mutex_);
            value_ = std::move(value);
            waker = std::move(waker_);
        }
        std::move(waker).wake();
    }

    /// Waits until the future has returned Pending at least once; false when
    /// `timeout` passed first.
    bool wait_for_pending_poll(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return pending_polls_ > 0; });
    }

    /// Polls so far (Pending and Ready).
    int polls() const {
        std::lock_guard lock(mutex_);
        return polls_;
    }

    /// What ThreadSafeManualFuture::poll does: the value once completed (taken
    /// out), else stores the most recent waker and reports Pending.
    Poll<T> poll(Context& cx) {
        std::lock_guard lock(mutex_);
        ++polls_;
        if (value_) {
            T value = std::move(*value_);
            value_.reset();
            return Ready(std::move(value));
        }
        waker_.clone_from(cx.waker());
        ++pending_polls_;
        cv_.notify_all();
        return Pending;
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::optional<T> value_;
    Waker waker_;
    int polls_ = 0;
    int pending_polls_ = 0;
};

/// Pending until the shared state is completed (from any thread); then ready
/// with its value.
template <class T>
class ThreadSafeManualFuture {
public:
    using Output = T;
    explicit ThreadSafeManualFuture(std::shared_ptr<ThreadSafeManualState<T>> state) : state_(std::move(state)) {}
    Poll<T> poll(Context& cx) { return state_->poll(cx); }

private:
    std::shared_ptr<ThreadSafeManualState<T>> state_;
};

}  // namespace corio::test
