// The time driver: the runtime's clock plus its timer wheel.
//
// Deadlines are converted to ticks (ms since the driver's origin) rounding
// up, and "now" rounding down, so a timer never fires before its deadline.
#pragma once

#include <cstdint>
#include <optional>

#include "corio/time.hpp"
#include "runtime/time/clock.hpp"
#include "runtime/time/wheel.hpp"

namespace corio::detail {

class TimeDriver {
public:
    explicit TimeDriver(bool start_paused) noexcept;
    TimeDriver(const TimeDriver&) = delete;
    TimeDriver& operator=(const TimeDriver&) = delete;

    Clock& clock() noexcept { return clock_; }
    time::Instant now() const noexcept { return clock_.now(); }

    /// Links `node` to fire at `deadline` (its waker must already be set).
    void insert(TimerNode* node, time::Instant deadline) noexcept;
    void remove(TimerNode* node) noexcept;
    /// Moves the registration of `from` to `to` (a Sleep being moved).
    void relink(TimerNode* from, TimerNode* to) noexcept;

    bool has_timers() const noexcept { return !wheel_.empty(); }
    /// When the wheel next needs processing, if it holds any timer.
    std::optional<time::Instant> next_expiration() const noexcept;

    /// Fires every timer whose deadline has passed on the clock.
    void process();
    /// With the clock paused and nothing else to do: jumps it to the next
    /// expiration and fires what is due. False when there is no timer.
    bool auto_advance();
    /// Unlinks every timer, marking it orphaned, and wakes its task.
    void shutdown();

private:
    std::uint64_t deadline_tick(time::Instant deadline) const noexcept;
    time::Instant tick_instant(std::uint64_t tick) const noexcept;

    Clock clock_;
    time::Instant origin_;
    Wheel wheel_;
};

}  // namespace corio::detail
