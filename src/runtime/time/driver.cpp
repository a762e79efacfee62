#include "runtime/time/driver.hpp"

#include <chrono>

namespace corio::detail {
namespace {

constexpr auto kTick = std::chrono::milliseconds(1);

void fire(TimerEntry* entry) {
    auto* node = static_cast<TimerNode*>(entry);
    node->fired = true;
    std::move(node->waker).wake();
}

}  // namespace

TimeDriver::TimeDriver(bool start_paused) noexcept : clock_(start_paused), origin_(clock_.now()) {}

std::uint64_t TimeDriver::deadline_tick(time::Instant deadline) const noexcept {
    if (deadline <= origin_) return 0;
    auto ns = (deadline - origin_).count();
    constexpr auto tick_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(kTick).count();
    return static_cast<std::uint64_t>((ns + tick_ns - 1) / tick_ns);  // round up: never early
}

time::Instant TimeDriver::tick_instant(std::uint64_t tick) const noexcept {
    return origin_ + kTick * static_cast<std::int64_t>(tick);
}

void TimeDriver::insert(TimerNode* node, time::Instant deadline) noexcept {
    node->driver = this;
    wheel_.insert(node, deadline_tick(deadline));
}

void TimeDriver::remove(TimerNode* node) noexcept { wheel_.remove(node); }

void TimeDriver::relink(TimerNode* from, TimerNode* to) noexcept {
    std::uint64_t tick = from->deadline_tick;
    wheel_.remove(from);
    to->driver = this;
    wheel_.insert(to, tick);
}

std::optional<time::Instant> TimeDriver::next_expiration() const noexcept {
    auto tick = wheel_.next_expiration();
    if (!tick) return std::nullopt;
    return tick_instant(*tick);
}

void TimeDriver::process() {
    if (wheel_.empty()) return;
    auto elapsed = clock_.now() - origin_;
    auto now_tick = elapsed.count() < 0 ? 0 : static_cast<std::uint64_t>(elapsed / kTick);  // round down
    wheel_.advance(now_tick, &fire);
}

bool TimeDriver::auto_advance() {
    auto next = wheel_.next_expiration();
    if (!next) return false;
    clock_.advance_to(tick_instant(*next));
    process();
    return true;
}

void TimeDriver::shutdown() {
    wheel_.drain([](TimerEntry* entry) {
        auto* node = static_cast<TimerNode*>(entry);
        node->driver = nullptr;
        node->driver_gone = true;
        std::move(node->waker).wake();
    });
}

}  // namespace corio::detail
