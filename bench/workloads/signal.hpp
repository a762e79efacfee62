// The notification primitives of the workloads binary.
//
// corio has no sync module yet, so the harness brings its own: `Event`, a
// single-waiter notification (a permit plus the most recent waker, guarded by
// a one-byte spin lock, so it is correct whichever thread notifies), and
// `Latch`, a countdown whose last `hit()` notifies the Event, the same shape
// as the Tokio peer's `Latch` (AtomicU64 + Notify). `Event` also serves as the
// per-task gate of idle_tasks, where Tokio parks on a oneshot.
#pragma once

#include <atomic>
#include <corio/future.hpp>
#include <cstdint>

namespace corio_bench {

/// One waiter, any notifier. `notify()` stores a permit when nobody waits
/// yet (like tokio::sync::Notify::notify_one); `wait()` consumes it.
class Event {
public:
    Event() = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    void notify() {
        corio::Waker waker;
        lock();
        notified_ = true;
        waker = std::move(waker_);
        unlock();
        std::move(waker).wake();  // a no-op waker when nobody waited
    }

    /// The future of wait(): ready once notified. Must not outlive the Event.
    class Wait {
    public:
        using Output = void;
        explicit Wait(Event& e) noexcept : event_(&e) {}
        corio::Poll<void> poll(corio::Context& cx) {
            Event& e = *event_;
            e.lock();
            if (e.notified_) {
                e.notified_ = false;
                e.unlock();
                return corio::Ready();
            }
            e.waker_.clone_from(cx.waker());  // the most recent waker
            e.unlock();
            return corio::Pending;
        }

    private:
        Event* event_;
    };

    Wait wait() noexcept { return Wait(*this); }

private:
    void lock() noexcept {
        while (locked_.exchange(true, std::memory_order_acquire)) {
            while (locked_.load(std::memory_order_relaxed)) {
            }
        }
    }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

    corio::Waker waker_;
    std::atomic<bool> locked_{false};
    bool notified_ = false;
};

/// Countdown latch: the hit that brings the count to zero notifies the waiter.
class Latch {
public:
    explicit Latch(std::uint64_t n) noexcept : remaining_(n) {}

    void hit() {
        if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_.notify();
    }
    Event::Wait wait() noexcept { return done_.wait(); }

private:
    std::atomic<std::uint64_t> remaining_;
    Event done_;
};

}  // namespace corio_bench
