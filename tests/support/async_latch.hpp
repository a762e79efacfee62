// A countdown a task can await: count_down() may be called from any thread
// (task or not); the future of wait() is ready once the count reached zero.
// Lets a stress test wait for a million detached tasks without holding a
// million JoinHandles, and without a timer or a sleep.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>

#include "corio/future.hpp"

namespace corio::test {

class AsyncLatch {
public:
    explicit AsyncLatch(std::int64_t count) : remaining_(count), done_(count <= 0) {}
    AsyncLatch(const AsyncLatch&) = delete;
    AsyncLatch& operator=(const AsyncLatch&) = delete;

    /// Counts one down; the call that reaches zero wakes the waiter (outside the lock).
    void count_down() {
        // acq_rel: the decrements form one release sequence, so the last one
        // sees what every earlier counter wrote before counting down, and
        // hands it on to the waiter through the mutex.
        if (remaining_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
        Waker waker;
        {
            std::lock_guard lock(mutex_);
            done_ = true;
            waker = std::move(waker_);
        }
        std::move(waker).wake();
    }

    /// Count still to go (negative once counted down too often).
    std::int64_t remaining() const noexcept { return remaining_.load(std::memory_order_acquire); }

    /// The future of wait(): ready once the count reached zero.
    class Wait {
    public:
        using Output = void;
        explicit Wait(AsyncLatch& latch) noexcept : latch_(&latch) {}
        Poll<void> poll(Context& cx) { return latch_->poll_wait(cx); }

    private:
        AsyncLatch* latch_;
    };

    /// Completes once the count reached zero; one waiter at a time.
    Wait wait() noexcept { return Wait(*this); }

private:
    Poll<void> poll_wait(Context& cx) {
        std::lock_guard lock(mutex_);
        if (done_) return Ready();
        waker_.clone_from(cx.waker());
        return Pending;
    }

    std::atomic<std::int64_t> remaining_;
    std::mutex mutex_;
    bool done_;    // guarded by mutex_
    Waker waker_;  // guarded by mutex_
};

}  // namespace corio::test
