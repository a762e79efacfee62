// The time driver: the runtime's clock plus its timer wheel.
//
// Deadlines are converted to ticks (ms since the driver's origin) rounding
// up, and "now" rounding down, so a timer never fires before its deadline.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

#include "corio/detail/sync.hpp"
#include "corio/time.hpp"
#include "runtime/time/clock.hpp"
#include "runtime/time/wheel.hpp"

namespace corio::detail {

class TimeDriver {
public:
    explicit TimeDriver(bool start_paused) noexcept;
    /// A driver whose clock is paused at `start` (a simulation's fixed origin).
    explicit TimeDriver(time::Instant start) noexcept;
    TimeDriver(const TimeDriver&) = delete;
    TimeDriver& operator=(const TimeDriver&) = delete;

    /// Multi-thread runtimes share the driver: every wheel access then takes
    /// a mutex. Set once, before any timer is registered.
    void set_shared(bool shared) noexcept { shared_ = shared; }

    Clock& clock() noexcept { return clock_; }
    time::Instant now() const noexcept { return clock_.now(); }

    /// A Sleep's poll: ready once fired (or at/after `deadline`); otherwise
    /// registers `node` (or updates its waker) and returns Pending. Throws
    /// std::logic_error if the runtime shut down while it was registered.
    Poll<void> poll_timer(TimerNode* node, time::Instant deadline, const Waker& waker);
    /// Unlinks `node` if linked.
    void cancel_timer(TimerNode* node);
    /// Moves `node`'s deadline; re-registers it at once if it was registered.
    void reset_timer(TimerNode* node, time::Instant deadline);
    bool is_fired(const TimerNode* node) const;
    /// Moves the registration of `from` to `to` (a Sleep being moved).
    void relink(TimerNode* from, TimerNode* to);

    bool has_timers() const;
    /// The driver is about to wait: returns the next expiration and, until
    /// end_park, unparks it (through `set_unpark`) when a timer with an
    /// earlier deadline is registered.
    std::optional<time::Instant> begin_park();
    void end_park();
    void set_unpark(void (*unpark)(void*), void* ctx) noexcept {
        unpark_ = unpark;
        unpark_ctx_ = ctx;
    }
    /// When the wheel next needs processing, if it holds any timer.
    std::optional<time::Instant> next_expiration() const;

    /// Fires every timer whose deadline has passed on the clock.
    void process();
    /// With the clock paused and nothing else to do: jumps it to the next
    /// expiration and fires what is due. False when there is no timer.
    bool auto_advance();
    /// Unlinks every timer, marking it orphaned, and wakes its task.
    void shutdown();

private:
    std::unique_lock<Mutex> lock() const;
    void fire_due(std::uint64_t now_tick);
    std::uint64_t deadline_tick(time::Instant deadline) const noexcept;
    time::Instant tick_instant(std::uint64_t tick) const noexcept;

    Clock clock_;
    time::Instant origin_;
    Wheel wheel_;
    bool shared_ = false;
    mutable Mutex mutex_;  // guards wheel_ (and the park fields) when shared_
    bool parked_ = false;
    std::uint64_t parked_until_tick_ = 0;  // valid while parked_; UINT64_MAX: no timeout
    void (*unpark_)(void*) = nullptr;
    void* unpark_ctx_ = nullptr;
};

}  // namespace corio::detail
