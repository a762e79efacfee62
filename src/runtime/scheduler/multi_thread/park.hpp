// How an idle worker sleeps: on the shared driver (epoll + timers) if no
// other worker holds it, else on its own condition variable.
//
// State protocol (no lost wake-up): unpark swaps in kNotified and then wakes
// whatever the sleeper was blocked on; park only blocks after moving
// kEmpty -> kParked*, so a notification that raced with it is seen.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "corio/detail/sync.hpp"
#include "runtime/driver.hpp"

namespace corio::detail::mt {

/// The driver, shared by the workers: whoever holds the lock may park on it.
struct SharedDriver {
    SharedDriver(bool start_paused, IoBackend backend) : driver(start_paused, backend, false) {}
    Driver driver;
    Mutex lock;
};

class Parker {
public:
    /// `max_wait_ms` >= 0 bounds the wait (see MultiThread::park_worker).
    void park(SharedDriver& shared, int max_wait_ms = -1) {
        int expected = kNotified;
        // acq_rel: acquire pairs with unpark's release exchange, so a worker
        // that consumes a notification sees the tasks queued before it.
        if (state_.compare_exchange_strong(expected, kEmpty, std::memory_order_acq_rel)) return;
        if (shared.lock.try_lock()) {
            park_on_driver(shared, max_wait_ms);
            shared.lock.unlock();
            return;
        }
        park_on_condvar(max_wait_ms);
    }

    void unpark(SharedDriver& shared) {
        // acq_rel: release publishes the work queued before this unpark to
        // the sleeper's acquire; acquire reads how (and whether) it sleeps.
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

    void park_on_driver(SharedDriver& shared, int max_wait_ms) {
        int expected = kEmpty;
        // acq_rel: release lets unpark's acquire see kParkedDriver (and so
        // wake the driver); on failure, acquire sees the notifier's work.
        if (!state_.compare_exchange_strong(expected, kParkedDriver, std::memory_order_acq_rel)) {
            // release: ends this park; the next park's acquire CAS pairs with it.
            state_.store(kEmpty, std::memory_order_release);  // notified meanwhile
            return;
        }
        shared.driver.park(max_wait_ms);
        // acq_rel: acquire sees the work of an unpark that came while we slept.
        state_.exchange(kEmpty, std::memory_order_acq_rel);
    }

    void park_on_condvar(int max_wait_ms) {
        std::unique_lock lock(mutex_);
        int expected = kEmpty;
        // acq_rel: as in park_on_driver, for kParkedCondvar.
        if (!state_.compare_exchange_strong(expected, kParkedCondvar, std::memory_order_acq_rel)) {
            state_.store(kEmpty, std::memory_order_release);  // release: as in park_on_driver
            return;
        }
        // acquire: pairs with unpark's release exchange (the mutex orders it too).
        auto notified = [&] { return state_.load(std::memory_order_acquire) == kNotified; };
        if (max_wait_ms >= 0) {
            condvar_.wait_for(lock, std::chrono::milliseconds(max_wait_ms), notified);
        } else {
            condvar_.wait(lock, notified);
        }
        state_.store(kEmpty, std::memory_order_release);  // release: as in park_on_driver
    }

    Atomic<int> state_{kEmpty};
    Mutex mutex_;
    CondVar condvar_;
};

}  // namespace corio::detail::mt
