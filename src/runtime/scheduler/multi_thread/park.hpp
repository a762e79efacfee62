// How an idle worker sleeps: on the shared driver (epoll + timers) if no
// other worker holds it, else on its own condition variable.
//
// State protocol (no lost wake-up): unpark swaps in kNotified and then wakes
// whatever the sleeper was blocked on; park only blocks after moving
// kEmpty -> kParked*, so a notification that raced with it is seen.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "runtime/driver.hpp"

namespace corio::detail::mt {

/// The driver, shared by the workers: whoever holds the lock may park on it.
struct SharedDriver {
    explicit SharedDriver(bool start_paused) : driver(start_paused) {}
    Driver driver;
    std::mutex lock;
};

class Parker {
public:
    void park(SharedDriver& shared) {
        int expected = kNotified;
        if (state_.compare_exchange_strong(expected, kEmpty, std::memory_order_acq_rel)) return;
        if (shared.lock.try_lock()) {
            park_on_driver(shared);
            shared.lock.unlock();
            return;
        }
        park_on_condvar();
    }

    void unpark(SharedDriver& shared) {
        switch (state_.exchange(kNotified, std::memory_order_acq_rel)) {
            case kParkedCondvar: {
                std::lock_guard lock(mutex_);  // the sleeper is inside wait() or about to enter it
            }
                condvar_.notify_one();
                break;
            case kParkedDriver:
                shared.driver.unpark();
                break;
            default:
                break;
        }
    }

private:
    enum : int { kEmpty, kParkedCondvar, kParkedDriver, kNotified };

    void park_on_driver(SharedDriver& shared) {
        int expected = kEmpty;
        if (!state_.compare_exchange_strong(expected, kParkedDriver, std::memory_order_acq_rel)) {
            state_.store(kEmpty, std::memory_order_release);  // notified meanwhile
            return;
        }
        shared.driver.park();
        state_.exchange(kEmpty, std::memory_order_acq_rel);
    }

    void park_on_condvar() {
        std::unique_lock lock(mutex_);
        int expected = kEmpty;
        if (!state_.compare_exchange_strong(expected, kParkedCondvar, std::memory_order_acq_rel)) {
            state_.store(kEmpty, std::memory_order_release);
            return;
        }
        condvar_.wait(lock, [&] { return state_.load(std::memory_order_acquire) == kNotified; });
        state_.store(kEmpty, std::memory_order_release);
    }

    std::atomic<int> state_{kEmpty};
    std::mutex mutex_;
    std::condition_variable condvar_;
};

}  // namespace corio::detail::mt
