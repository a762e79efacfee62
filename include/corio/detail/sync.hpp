// The concurrency primitives corio is built on, in one place.
//
// Every atomic, mutex and condition variable of the library is spelled
// through these aliases, never std:: directly, so that a model-checking or
// instrumented build (Tokio's `loom` indirection) can swap them all by
// changing this header alone. Today they are the standard types: the aliases
// cost nothing. The memory orders stay std::memory_order_*; each use weaker
// than seq_cst says beside it why it is enough (STYLE.md).
//
// Threads are started only by the runtime's sources (src/), which spell
// them `std::thread`; a checker would replace those in one place too
// (src/runtime/scheduler/multi_thread and src/runtime/blocking).
#pragma once

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

namespace corio::detail {

template <class T>
using Atomic = std::atomic<T>;
using Mutex = std::mutex;
using SharedMutex = std::shared_mutex;
using CondVar = std::condition_variable;

/// Adds one to a counter that only the calling thread writes (others read
/// it): a relaxed load and store, not a read-modify-write, which would cost a
/// locked instruction for an update no other writer can lose.
template <class T>
void increment_single_writer(Atomic<T>& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

/// A test-and-test-and-set lock for short critical sections (a few pointer
/// updates: the sync primitives' wait lists, the owned-task shards, the
/// io_uring submission queue). Unlocking is a plain store, no read-modify-write,
/// which is what makes it cheaper than Mutex on an uncontended path. Spins
/// briefly, then yields the CPU so an oversubscribed machine does not starve
/// the holder.
class SpinLock {
public:
    SpinLock() noexcept = default;
    SpinLock(const SpinLock&) = delete;
    SpinLock& operator=(const SpinLock&) = delete;

    void lock() noexcept {
        for (;;) {
            // acquire: pairs with unlock's release, so the holder sees the
            // previous holder's writes to the guarded state.
            if (!locked_.exchange(true, std::memory_order_acquire)) return;
            for (int spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {  // relaxed: only a hint
                if (spins < 64) {
                    pause();
                } else {
                    ::sched_yield();
                }
            }
        }
    }

    bool try_lock() noexcept {
        // acquire / relaxed: as lock(); a failed attempt reads nothing guarded.
        return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
    }

    // release: publishes the guarded state to the next holder.
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }

    Atomic<bool> locked_{false};
};

}  // namespace corio::detail
