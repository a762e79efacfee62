#include "runtime/driver.hpp"

#include <chrono>

namespace corio::detail {
namespace {

int timeout_ms_until(time::Instant deadline, time::Instant now) {
    if (deadline <= now) return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    return ms > 1'000'000 ? 1'000'000 : static_cast<int>(ms);
}

}  // namespace

Driver::Driver(bool start_paused, IoBackend backend, bool single_thread)
    : time_(start_paused), io_(backend, single_thread) {
    time_.set_unpark([](void* self) { static_cast<Driver*>(self)->unpark(); }, this);
}

Driver::~Driver() = default;

void Driver::park(int max_wait_ms) {
    int expected = kEmpty;
    // acq_rel: a NOTIFIED found here pairs with unpark's release, so the
    // caller's next look at its queues sees what the unparker pushed.
    if (!park_state_.compare_exchange_strong(expected, kParked, std::memory_order_acq_rel)) {
        park_state_.store(kEmpty, std::memory_order_release);
        time_.process();
        return;
    }
    if (time_.clock().paused()) {
        // Ready I/O first: the clock only jumps when nothing at all can run,
        // blocking work included (its end unparks us).
        // wait(0) may consume the wake-up of an unpark that came meanwhile, so
        // look at the park state too before jumping the clock or blocking.
        bool inhibited = auto_advance_inhibited_ && auto_advance_inhibited_();
        if (wait(0) || unparked() || (!inhibited && time_.auto_advance()) || unparked()) {
            park_state_.store(kEmpty, std::memory_order_release);
            return;
        }
        wait(-1);  // an unpark from now on finds kParked and wakes the backend
    } else {
        // While we wait, a timer registered from another thread with an
        // earlier deadline unparks us (TimeDriver::begin_park).
        auto next = time_.begin_park();
        int timeout = next ? timeout_ms_until(*next, time_.now()) : -1;
        if (max_wait_ms >= 0 && (timeout < 0 || timeout > max_wait_ms)) timeout = max_wait_ms;
        wait(timeout);
        time_.end_park();
    }
    park_state_.exchange(kEmpty, std::memory_order_acq_rel);
    time_.process();
}

void Driver::poll_ready() {
    if (!io_.empty()) wait(0);
    time_.process();
}

void Driver::unpark() noexcept {
    // acq_rel: release what the caller pushed before waking the parker.
    if (park_state_.exchange(kNotified, std::memory_order_acq_rel) == kParked) {
        io_.wake();
    }
}

void Driver::shutdown() {
    io_.shutdown();
    time_.shutdown();
}

}  // namespace corio::detail
