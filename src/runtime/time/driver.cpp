#include "runtime/time/driver.hpp"

#include <chrono>
#include <stdexcept>
#include <vector>

#include "corio/detail/sync.hpp"

namespace corio::detail {
namespace {

constexpr auto kTick = std::chrono::milliseconds(1);

// Wakers of fired timers, woken after the wheel's lock is released (waking
// may run arbitrary code that could touch timers again).
thread_local std::vector<Waker> fired_wakers;

}  // namespace

TimeDriver::TimeDriver(bool start_paused) noexcept : clock_(start_paused), origin_(clock_.now()) {}

TimeDriver::TimeDriver(time::Instant start) noexcept : clock_(start), origin_(start) {}

std::unique_lock<corio::detail::Mutex> TimeDriver::lock() const {
    return shared_ ? std::unique_lock<corio::detail::Mutex>(mutex_) : std::unique_lock<corio::detail::Mutex>();
}

std::uint64_t TimeDriver::deadline_tick(time::Instant deadline) const noexcept {
    if (deadline <= origin_) return 0;
    auto ns = (deadline - origin_).count();
    constexpr auto tick_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(kTick).count();
    return static_cast<std::uint64_t>((ns + tick_ns - 1) / tick_ns);  // round up: never early
}

time::Instant TimeDriver::tick_instant(std::uint64_t tick) const noexcept {
    return origin_ + kTick * static_cast<std::int64_t>(tick);
}

Poll<void> TimeDriver::poll_timer(TimerNode* node, time::Instant deadline, const Waker& waker) {
    auto guard = lock();
    if (node->fired) return Ready();
    if (node->driver_gone) throw std::logic_error("corio: a timer was polled after its runtime shut down");
    if (!node->is_linked()) {
        if (deadline <= clock_.now()) {
            node->fired = true;
            return Ready();
        }
        node->waker.clone_from(waker);
        std::uint64_t tick = deadline_tick(deadline);
        wheel_.insert(node, tick);
        bool wake_driver = parked_ && tick < parked_until_tick_;
        guard = {};
        if (wake_driver && unpark_ != nullptr) unpark_(unpark_ctx_);
        return Pending;
    }
    node->waker.clone_from(waker);
    return Pending;
}

std::optional<time::Instant> TimeDriver::begin_park() {
    auto guard = lock();
    auto tick = wheel_.next_expiration();
    parked_ = true;
    parked_until_tick_ = tick ? *tick : UINT64_MAX;
    if (!tick) return std::nullopt;
    return tick_instant(*tick);
}

void TimeDriver::end_park() {
    auto guard = lock();
    parked_ = false;
}

void TimeDriver::cancel_timer(TimerNode* node) {
    auto guard = lock();
    wheel_.remove(node);
}

void TimeDriver::reset_timer(TimerNode* node, time::Instant deadline) {
    Waker to_wake;
    {
        auto guard = lock();
        node->fired = false;
        if (!node->is_linked()) return;  // registered again at its next poll
        wheel_.remove(node);
        if (deadline <= clock_.now()) {
            node->fired = true;
            to_wake = node->waker;
        } else {
            std::uint64_t tick = deadline_tick(deadline);
            wheel_.insert(node, tick);
            if (parked_ && tick < parked_until_tick_ && unpark_ != nullptr) {
                guard = {};
                unpark_(unpark_ctx_);
            }
        }
    }
    to_wake.wake_by_ref();
}

bool TimeDriver::is_fired(const TimerNode* node) const {
    auto guard = lock();
    return node->fired;
}

void TimeDriver::relink(TimerNode* from, TimerNode* to) {
    auto guard = lock();
    to->waker = std::move(from->waker);
    to->fired = from->fired;
    to->driver_gone = from->driver_gone;
    if (!from->is_linked()) return;
    std::uint64_t tick = from->deadline_tick;
    wheel_.remove(from);
    wheel_.insert(to, tick);
}

bool TimeDriver::has_timers() const {
    auto guard = lock();
    return !wheel_.empty();
}

std::optional<time::Instant> TimeDriver::next_expiration() const {
    auto guard = lock();
    auto tick = wheel_.next_expiration();
    if (!tick) return std::nullopt;
    return tick_instant(*tick);
}

void TimeDriver::fire_due(std::uint64_t now_tick) {
    std::vector<Waker>& wakers = fired_wakers;
    {
        auto guard = lock();
        if (wheel_.empty()) return;
        wheel_.advance(now_tick, [&](TimerEntry* entry) {
            auto* node = static_cast<TimerNode*>(entry);
            node->fired = true;
            wakers.push_back(std::move(node->waker));
        });
    }
    for (Waker& w : wakers) std::move(w).wake();
    wakers.clear();
}

void TimeDriver::process() {
    auto elapsed = clock_.now() - origin_;
    auto now_tick = elapsed.count() < 0 ? 0 : static_cast<std::uint64_t>(elapsed / kTick);  // round down
    fire_due(now_tick);
}

bool TimeDriver::auto_advance() {
    auto next = next_expiration();
    if (!next) return false;
    clock_.advance_to(*next);
    process();
    return true;
}

void TimeDriver::shutdown() {
    std::vector<Waker> wakers;
    {
        auto guard = lock();
        wheel_.drain([&](TimerEntry* entry) {
            auto* node = static_cast<TimerNode*>(entry);
            node->driver_gone = true;  // `driver` stays valid: the Sleep holds a runtime reference
            wakers.push_back(std::move(node->waker));
        });
    }
    for (Waker& w : wakers) std::move(w).wake();
}

}  // namespace corio::detail
