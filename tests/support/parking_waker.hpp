// A waker that a test thread can block on: waking it (from any thread) sets
// a flag and signals a condition variable; `wait_for_wake` waits for that,
// with a deadline, so a test that drives a future by hand polls it again only
// after it was really woken, and never hangs when the wake is lost.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "corio/future.hpp"

namespace corio::test {

class ParkingWaker {
public:
    ParkingWaker() = default;
    ParkingWaker(const ParkingWaker&) = delete;
    ParkingWaker& operator=(const ParkingWaker&) = delete;

    /// A Waker that signals this parker; the parker must outlive every clone
    /// (check `live()` == 1 before the parker goes away).
    Waker waker() {
        live_.fetch_add(1);
        return Waker::from_raw(RawWaker{this, vtable()});
    }

    /// Waits until a wake arrived since the last call (consuming it); false
    /// when `timeout` passed first.
    bool wait_for_wake(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, timeout, [&] { return notified_; })) return false;
        notified_ = false;
        return true;
    }

    /// True when a wake arrived and was not consumed yet (does not consume it).
    bool notified() const {
        std::lock_guard lock(mutex_);
        return notified_;
    }

    /// Wakes received so far (by value and by reference).
    int wakes() const { return wakes_.load(); }

    /// References alive: one per Waker returned by `waker()` and per clone.
    int live() const { return live_.load(); }

private:
    // Notifies while holding the lock: once the waiting thread can run, this
    // thread no longer touches the parker, so the test may destroy it.
    void notify() {
        std::lock_guard lock(mutex_);
        notified_ = true;
        wakes_.fetch_add(1);
        cv_.notify_all();
    }

    static ParkingWaker* self(const void* p) { return static_cast<ParkingWaker*>(const_cast<void*>(p)); }

    static RawWaker clone_fn(const void* p) {
        self(p)->live_.fetch_add(1);
        return RawWaker{p, vtable()};
    }
    static void wake_fn(const void* p) {
        self(p)->live_.fetch_sub(1);  // before notify(): the parker may be gone after it
        self(p)->notify();
    }
    static void wake_by_ref_fn(const void* p) { self(p)->notify(); }
    static void drop_fn(const void* p) { self(p)->live_.fetch_sub(1); }
    static const RawWakerVTable* vtable() {
        static constexpr RawWakerVTable kVTable{&clone_fn, &wake_fn, &wake_by_ref_fn, &drop_fn};
        return &kVTable;
    }

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    bool notified_ = false;
    std::atomic<int> wakes_{0};
    std::atomic<int> live_{0};
};

}  // namespace corio::test
