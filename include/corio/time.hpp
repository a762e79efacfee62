// Time: Instant, sleep, timeout, interval and the paused test clock.
//
// Timers are entries of the runtime's hierarchical wheel (1 ms resolution):
// registering and cancelling is O(1), a timer never fires before its
// deadline (at most one tick after it), and dropping a Sleep unlinks it.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <ratio>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "corio/detail/describe.hpp"
#include "corio/detail/timer_entry.hpp"
#include "corio/future.hpp"
#include "corio/task.hpp"

namespace corio::detail {
/// `d` in steady_clock ticks, saturating at the representable limits.
template <class Rep, class Period>
constexpr std::chrono::steady_clock::duration saturating_ticks(std::chrono::duration<Rep, Period> d) noexcept {
    using Ticks = std::chrono::steady_clock::duration;
    using D = std::chrono::duration<Rep, Period>;
    if constexpr (std::ratio_greater_equal_v<Period, Ticks::period>) {  // as coarse or coarser: may overflow
        constexpr D hi = std::chrono::duration_cast<D>(Ticks::max());
        constexpr D lo = std::chrono::duration_cast<D>(Ticks::min());
        if (d >= hi) return Ticks::max();
        if (d <= lo) return Ticks::min();
    }
    return std::chrono::duration_cast<Ticks>(d);
}
}  // namespace corio::detail

namespace corio::time {

/// Durations are std::chrono durations; this is the one corio returns.
using Duration = std::chrono::nanoseconds;

/// A point on the runtime's monotonic clock: std::chrono::steady_clock, or the
/// virtual clock of a runtime whose time is paused.
class Instant {
public:
    using Clock = std::chrono::steady_clock;

    constexpr Instant() noexcept = default;
    constexpr explicit Instant(Clock::time_point tp) noexcept : tp_(tp) {}

    /// Now, on the clock of the runtime running on this thread (virtual when
    /// paused), or on steady_clock outside a runtime.
    static Instant now() noexcept;

    constexpr Clock::time_point into_std() const noexcept { return tp_; }

    /// `*this - earlier`, or zero when `earlier` is later.
    constexpr Duration duration_since(Instant earlier) const noexcept {
        return tp_ > earlier.tp_ ? std::chrono::duration_cast<Duration>(tp_ - earlier.tp_) : Duration::zero();
    }
    /// Time since this instant (zero if it is in the future).
    Duration elapsed() const noexcept { return now().duration_since(*this); }

    /// Saturates at the clock's limits: `now() + Duration::max()` is "never".
    template <class Rep, class Period>
    constexpr Instant operator+(std::chrono::duration<Rep, Period> d) const noexcept {
        Clock::duration step = corio::detail::saturating_ticks(d);
        if (step > Clock::duration::zero() && tp_ > Clock::time_point::max() - step)
            return Instant(Clock::time_point::max());
        if (step < Clock::duration::zero() && tp_ < Clock::time_point::min() - step)
            return Instant(Clock::time_point::min());
        return Instant(tp_ + step);
    }
    template <class Rep, class Period>
    constexpr Instant operator-(std::chrono::duration<Rep, Period> d) const noexcept {
        Clock::duration step = corio::detail::saturating_ticks(d);
        if (step == Clock::duration::min()) return *this + Clock::duration::max();
        return *this + (-step);
    }
    template <class Rep, class Period>
    constexpr Instant& operator+=(std::chrono::duration<Rep, Period> d) noexcept {
        return *this = *this + d;
    }
    constexpr Duration operator-(Instant other) const noexcept {
        return std::chrono::duration_cast<Duration>(tp_ - other.tp_);
    }
    constexpr auto operator<=>(const Instant&) const noexcept = default;

private:
    Clock::time_point tp_{};
};

}  // namespace corio::time

namespace corio::detail {

class TimeDriver;
class RuntimeCore;

/// A wheel entry with what firing needs: the waker to call and flags. Every
/// field but `runtime` is guarded by the time driver (its mutex, when shared).
struct TimerNode : TimerEntry {
    Waker waker;
    TimeDriver* driver = nullptr;    // set at first registration
    RuntimeCore* runtime = nullptr;  // a reference keeping `driver` alive
    bool fired = false;
    bool driver_gone = false;  // the runtime shut down while registered
};

}  // namespace corio::detail

namespace corio::time {

/// The future of sleep()/sleep_until(): ready at its deadline.
///
/// Needs a runtime with timers when polled before its deadline (throws
/// std::logic_error otherwise). Cancellation-safe: dropping it unlinks the
/// timer, O(1). May be moved, even while registered.
class CORIO_NODISCARD_FUTURE Sleep {
public:
    using Output = void;

    explicit Sleep(Instant deadline) noexcept : deadline_(deadline) {}
    Sleep(Sleep&& other) noexcept;
    Sleep& operator=(Sleep&&) = delete;
    ~Sleep();

    Poll<void> poll(Context& cx);

    /// The instant it completes at.
    Instant deadline() const noexcept { return deadline_; }
    /// True once it has fired (or its deadline has passed).
    bool is_elapsed() const;
    /// Moves the deadline (earlier or later); a completed Sleep becomes pending again.
    void reset(Instant deadline);

    /// For task dumps: "time::sleep (12 ms left)".
    void describe(detail::DescribeSink& out) const noexcept;

private:
    Instant deadline_;
    detail::TimerNode node_;
};

/// Completes after `d` (measured from now), never before. It cannot fail;
/// awaiting it before the deadline outside a runtime with timers throws
/// std::logic_error. Cancellation-safe: dropping the Sleep unlinks its timer
/// (O(1)) and loses nothing but the wait.
template <class Rep, class Period>
Sleep sleep(std::chrono::duration<Rep, Period> d) noexcept {
    return Sleep(Instant::now() + d);
}

/// Completes at `deadline`, never before; at once when it has passed. It
/// cannot fail; awaiting it before the deadline outside a runtime with
/// timers throws std::logic_error. Cancellation-safe: dropping the Sleep
/// unlinks its timer (O(1)) and loses nothing but the wait.
inline Sleep sleep_until(Instant deadline) noexcept { return Sleep(deadline); }

/// The error of a timeout that expired.
struct Elapsed {
    friend bool operator==(Elapsed, Elapsed) noexcept = default;
};

/// The future of timeout(): the inner future's output, or Elapsed.
template <Future F>
class CORIO_NODISCARD_FUTURE Timeout {
    using Inner = output_of<F>;

public:
    using Output = std::expected<Inner, Elapsed>;

    Timeout(F inner, Instant deadline) : inner_(std::in_place, std::move(inner)), delay_(deadline) {}

    Poll<Output> poll(Context& cx) {
        if (!inner_) throw std::logic_error("corio: Timeout polled after it completed");
        auto inner = inner_->poll(cx);
        if (inner.is_ready()) {
            if constexpr (std::is_void_v<Inner>) {
                return Ready(Output());
            } else {
                return Ready(Output(std::in_place, std::move(inner).take()));
            }
        }
        if (delay_.poll(cx).is_pending()) return Pending;
        inner_.reset();  // the inner future is dropped as soon as the time is up
        return Ready(Output(std::unexpect, Elapsed{}));
    }

    /// The inner future, while it has not been dropped.
    F* get() noexcept { return inner_ ? &*inner_ : nullptr; }

private:
    std::optional<F> inner_;
    Sleep delay_;
};

/// Runs `fut` for at most `d`: its output, or `std::unexpected(Elapsed{})`
/// once `d` has passed, dropping `fut` at that moment. The inner future is
/// polled first, so a future that is ready at once wins even with `d == 0`.
/// Cancellation-safe exactly when `fut` is: dropping the Timeout drops `fut`
/// (losing what `fut` loses when dropped) and unlinks its timer.
template <Future F, class Rep, class Period>
Timeout<F> timeout(std::chrono::duration<Rep, Period> d, F fut) {
    return Timeout<F>(std::move(fut), Instant::now() + d);
}

/// Like timeout(), with an absolute deadline: `fut`'s output, or
/// `std::unexpected(Elapsed{})` once `deadline` has passed, dropping `fut` at
/// that moment (`fut` is polled first, so one ready at once wins even when
/// the deadline has passed). Cancellation-safe exactly when `fut` is:
/// dropping the Timeout drops `fut` (losing what `fut` loses when dropped)
/// and unlinks its timer.
template <Future F>
Timeout<F> timeout_at(Instant deadline, F fut) {
    return Timeout<F>(std::move(fut), deadline);
}

/// What an Interval does when ticks were missed (the task was busy).
enum class MissedTickBehavior {
    Burst,  ///< fire the missed ticks back to back until caught up (default)
    Delay,  ///< the next tick comes one period after now
    Skip,   ///< skip the missed ticks: the next tick is the next multiple of the period
};

/// Ticks every `period`, the first tick at its start instant.
///
/// A tick counts as missed when it is handled more than 5 ms after its
/// instant; then the MissedTickBehavior decides when the next one comes.
class Interval {
public:
    Interval(Instant start, Duration period);

    /// The future of tick(): yields the instant the tick was scheduled for.
    /// Cancellation-safe: a dropped tick() loses no tick.
    class CORIO_NODISCARD_FUTURE Tick {
    public:
        using Output = Instant;
        explicit Tick(Interval& interval) noexcept : interval_(&interval) {}
        Poll<Instant> poll(Context& cx) { return interval_->poll_tick(cx); }

    private:
        Interval* interval_;
    };

    /// Completes at the next tick with the instant it was scheduled for. It
    /// cannot fail; awaiting it before the tick outside a runtime with timers
    /// throws std::logic_error. The Interval must outlive the future (and not
    /// move while it is pending). Cancellation-safe: a dropped tick() loses no
    /// tick; the next tick() completes with the one it was waiting for.
    Tick tick() noexcept { return Tick(*this); }
    Poll<Instant> poll_tick(Context& cx);

    /// The interval as a corio::Stream that never ends: each tick's
    /// scheduled instant. Cancellation-safe as tick().
    using Item = Instant;
    /// poll_tick under the Stream name (never Ready(nullopt)).
    Poll<std::optional<Instant>> poll_next(Context& cx) {
        return poll_tick(cx).map([](Instant at) { return std::optional<Instant>(at); });
    }

    /// Restarts: the next tick comes one period from now.
    void reset() noexcept;
    Duration period() const noexcept { return period_; }
    MissedTickBehavior missed_tick_behavior() const noexcept { return behavior_; }
    void set_missed_tick_behavior(MissedTickBehavior b) noexcept { behavior_ = b; }

private:
    Instant next_after_missed(Instant scheduled, Instant now) const noexcept;

    std::unique_ptr<Sleep> delay_;  // boxed: the Interval itself may move between ticks
    Duration period_;
    MissedTickBehavior behavior_ = MissedTickBehavior::Burst;
};

/// An Interval whose first tick completes immediately. Throws
/// std::invalid_argument when `period` is not positive.
template <class Rep, class Period>
Interval interval(std::chrono::duration<Rep, Period> period) {
    return Interval(Instant::now(), std::chrono::duration_cast<Duration>(period));
}

/// An Interval whose first tick is at `start`.
template <class Rep, class Period>
Interval interval_at(Instant start, std::chrono::duration<Rep, Period> period) {
    return Interval(start, std::chrono::duration_cast<Duration>(period));
}

/// Freezes the clock of the current runtime (current_thread only). While
/// paused, a runtime with nothing to run jumps the clock to the next timer.
/// Throws std::logic_error outside a runtime or when already paused.
void pause();

/// Unfreezes the clock; it continues from the virtual instant it showed.
/// Throws std::logic_error outside a runtime or when not paused.
void resume();

/// Moves the paused clock forward by `d`, fires the timers now due, then
/// yields once so the woken tasks run. All of that happens when the task is
/// first polled: awaiting it throws std::logic_error outside a runtime or
/// when the clock is not paused, std::invalid_argument when `d` is negative.
/// Cancellation-safe: dropped before its first poll it has done nothing (the
/// clock has not moved); dropped after, the clock has moved and the timers
/// due have fired, and only the yield is lost (the woken tasks still run).
Task<void> advance(Duration d);

}  // namespace corio::time
