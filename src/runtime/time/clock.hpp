// The runtime's clock: steady_clock, or a frozen virtual clock while paused.
//
// Only the thread driving the runtime touches it (current_thread runtimes
// are the ones that may pause), so it needs no synchronisation.
#pragma once

#include "corio/time.hpp"

namespace corio::detail {

class Clock {
public:
    explicit Clock(bool start_paused) noexcept {
        if (start_paused) pause();
    }

    time::Instant now() const noexcept { return paused_ ? frozen_ : real_now() + offset_; }
    /// A clock paused at `start` (a simulation's fixed origin).
    explicit Clock(time::Instant start) noexcept : paused_(true), frozen_(start) {}

    bool paused() const noexcept { return paused_; }

    void pause() noexcept {
        frozen_ = now();
        paused_ = true;
    }
    void resume() noexcept {
        offset_ = frozen_ - real_now();
        paused_ = false;
    }
    /// Moves the paused clock forward by `d`.
    void advance(time::Duration d) noexcept { frozen_ = frozen_ + d; }
    /// Moves the paused clock forward to `t` (never backwards).
    void advance_to(time::Instant t) noexcept {
        if (t > frozen_) frozen_ = t;
    }

private:
    static time::Instant real_now() noexcept { return time::Instant(time::Instant::Clock::now()); }

    bool paused_ = false;
    time::Instant frozen_;
    time::Duration offset_{0};  // virtual minus real, after a pause/resume cycle
};

/// The clock of the runtime running on this thread (null outside runtimes).
inline thread_local const Clock* current_clock = nullptr;

}  // namespace corio::detail
