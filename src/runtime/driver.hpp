// The driver a runtime parks on: the I/O driver (whose backend, epoll or
// io_uring, does the waiting) composed with the timer wheel, whose next
// expiration bounds the wait.
//
// Park/unpark protocol (no lost wake-up): park moves kEmpty -> kParked before
// waiting and back after; unpark swaps in kNotified and wakes the I/O backend
// only when it found kParked. A park that finds kNotified returns at once, so
// a wake that races with the decision to park is never missed, and an unpark
// while the thread is busy costs one atomic exchange and no system call.
#pragma once

#include <atomic>
#include <functional>

#include "corio/detail/sync.hpp"
#include "runtime/io/io_driver.hpp"
#include "runtime/time/driver.hpp"

namespace corio::detail {

class Driver {
public:
    /// `single_thread`: only one thread runs the runtime (current_thread).
    Driver(bool start_paused, IoBackend backend, bool single_thread);
    Driver(const Driver&) = delete;
    Driver& operator=(const Driver&) = delete;
    ~Driver();

    TimeDriver& time() noexcept { return time_; }
    IoDriver& io() noexcept { return io_; }
    const IoDriver& io() const noexcept { return io_; }

    /// Waits until unparked or the next timer is due (with the clock paused:
    /// jumps the clock to it instead), then fires due timers.
    /// `max_wait_ms` >= 0 bounds the wait (the multi-thread scheduler uses it
    /// while a worker holds work it has not announced yet).
    void park(int max_wait_ms = -1);
    /// Dispatches ready I/O events and fires due timers, without waiting.
    void poll_ready();
    /// Wakes a parked (or about to park) driver thread. Any thread.
    void unpark() noexcept;
    /// While `busy()` is true a paused clock is not auto-advanced (as Tokio,
    /// for blocking-pool work: it may still wake a task before the next
    /// timer). Whoever makes it false must then unpark(). Set before use.
    void inhibit_auto_advance_while(std::function<bool()> busy) { auto_advance_inhibited_ = std::move(busy); }
    void shutdown();

private:
    /// One I/O turn. True when any I/O event came.
    bool wait(int timeout_ms) { return io_.turn(timeout_ms); }

    enum : int { kEmpty, kParked, kNotified };
    bool unparked() const noexcept { return park_state_.load(std::memory_order_acquire) == kNotified; }

    TimeDriver time_;
    IoDriver io_;
    Atomic<int> park_state_{kEmpty};
    std::function<bool()> auto_advance_inhibited_;
};

}  // namespace corio::detail
