// Waiting on a condition that another thread makes true, for the few places
// where no waker exists to tell us (a task blocking its own worker on
// purpose, a test thread watching runtime metrics): spins, yielding the CPU,
// until the condition holds or a deadline passes, so a lost event fails the
// test instead of hanging it.
#pragma once

#include <chrono>
#include <thread>

namespace corio::test {

/// Calls `done()` until it returns true (then true) or `limit` has passed (then false).
template <class Pred>
bool spin_until(Pred&& done, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

}  // namespace corio::test
