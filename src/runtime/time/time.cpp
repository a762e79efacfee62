// Sleep, Interval and the clock controls of corio/time.hpp.
#include "corio/time.hpp"

#include <stdexcept>

#include "corio/detail/coop.hpp"
#include "corio/detail/runtime_core.hpp"
#include "runtime/time/driver.hpp"

namespace corio::time {
namespace {

// A tick handled later than this after its instant counts as missed.
constexpr auto kMissedTickTolerance = std::chrono::milliseconds(5);

}  // namespace

Instant Instant::now() noexcept {
    if (const detail::Clock* clock = detail::current_clock) return clock->now();
    return Instant(Clock::now());
}

// ---- Sleep -------------------------------------------------------------------

Sleep::Sleep(Sleep&& other) noexcept : deadline_(other.deadline_) {
    node_.driver = other.node_.driver;
    node_.runtime = std::exchange(other.node_.runtime, nullptr);
    if (node_.driver != nullptr) {
        node_.driver->relink(&other.node_, &node_);
        other.node_.driver = nullptr;
    } else {
        node_.fired = other.node_.fired;
    }
}

Sleep::~Sleep() {
    if (node_.driver != nullptr) node_.driver->cancel_timer(&node_);
    if (node_.runtime != nullptr) node_.runtime->unref();
}

Poll<void> Sleep::poll(Context& cx) {
    if (node_.driver == nullptr) {
        if (node_.fired) return Ready();
        detail::RuntimeCore* runtime = detail::current_runtime;
        if (runtime == nullptr) {
            if (deadline_ <= Instant::now()) {
                node_.fired = true;
                return Ready();
            }
            throw std::logic_error("corio: sleep/timeout/interval polled outside a corio runtime");
        }
        if (!detail::poll_proceed(cx)) return Pending;
        runtime->ref();
        node_.runtime = runtime;
        node_.driver = &runtime->time_driver();
    }
    return node_.driver->poll_timer(&node_, deadline_, cx.waker());
}

void Sleep::describe(detail::DescribeSink& out) const noexcept {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_.duration_since(Instant::now()));
    out << "time::sleep (" << static_cast<long long>(left.count()) << " ms left)";
}

bool Sleep::is_elapsed() const {
    bool fired = node_.driver != nullptr ? node_.driver->is_fired(&node_) : node_.fired;
    return fired || deadline_ <= Instant::now();
}

void Sleep::reset(Instant deadline) {
    deadline_ = deadline;
    if (node_.driver != nullptr) {
        node_.driver->reset_timer(&node_, deadline);
    } else {
        node_.fired = false;
    }
}

// ---- Interval ----------------------------------------------------------------

Interval::Interval(Instant start, Duration period) : period_(period) {
    if (period <= Duration::zero()) throw std::invalid_argument("corio::time::interval: period must be positive");
    delay_ = std::make_unique<Sleep>(start);
}

Poll<Instant> Interval::poll_tick(Context& cx) {
    if (delay_->poll(cx).is_pending()) return Pending;
    Instant scheduled = delay_->deadline();
    Instant now = Instant::now();
    Instant next = now > scheduled + kMissedTickTolerance ? next_after_missed(scheduled, now) : scheduled + period_;
    delay_->reset(next);
    return Ready(scheduled);
}

Instant Interval::next_after_missed(Instant scheduled, Instant now) const noexcept {
    switch (behavior_) {
        case MissedTickBehavior::Burst:
            return scheduled + period_;
        case MissedTickBehavior::Delay:
            return now + period_;
        case MissedTickBehavior::Skip:
            return now + period_ - (now - scheduled) % period_;
    }
    return scheduled + period_;
}

void Interval::reset() noexcept { delay_->reset(Instant::now() + period_); }

// ---- the paused clock ----------------------------------------------------------

namespace {
detail::Clock& current_clock_or_throw(const char* what) {
    return detail::current_runtime_or_throw(what).time_driver().clock();
}
}  // namespace

void pause() {
    detail::Clock& clock = current_clock_or_throw("corio::time::pause");
    if (clock.paused()) throw std::logic_error("corio::time::pause: the clock is already paused");
    clock.pause();
}

void resume() {
    detail::Clock& clock = current_clock_or_throw("corio::time::resume");
    if (!clock.paused()) throw std::logic_error("corio::time::resume: the clock is not paused");
    clock.resume();
}

Task<void> advance(Duration d) {
    detail::TimeDriver& driver = detail::current_runtime_or_throw("corio::time::advance").time_driver();
    if (!driver.clock().paused()) throw std::logic_error("corio::time::advance: the clock is not paused");
    if (d < Duration::zero()) throw std::invalid_argument("corio::time::advance: the clock cannot go backwards");
    driver.clock().advance(d);
    driver.process();
    co_await task::yield_now();
}

}  // namespace corio::time
