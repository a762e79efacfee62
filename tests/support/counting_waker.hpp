// A waker whose vtable counts every operation, so tests can check that
// reference counts balance and that wakes happen exactly when expected.
#pragma once

#include <atomic>

#include "corio/future.hpp"

namespace corio::test {

struct WakeCounts {
    std::atomic<int> clones{0};
    std::atomic<int> wakes{0};         // wake() (by value)
    std::atomic<int> wakes_by_ref{0};  // wake_by_ref()
    std::atomic<int> drops{0};         // drop(), including the one inside wake()
    std::atomic<int> live{1};          // references alive: 1 for the waker made by make_waker()

    int total_wakes() const { return wakes.load() + wakes_by_ref.load(); }
};

/// A Waker counting into `counts`; every clone shares the counts.
inline Waker make_counting_waker(WakeCounts& counts) {
    static constexpr RawWakerVTable vtable{
        [](const void* p) -> RawWaker {
            auto* c = static_cast<WakeCounts*>(const_cast<void*>(p));
            c->clones.fetch_add(1);
            c->live.fetch_add(1);
            return RawWaker{p, &vtable};
        },
        [](const void* p) {
            auto* c = static_cast<WakeCounts*>(const_cast<void*>(p));
            c->wakes.fetch_add(1);
            c->drops.fetch_add(1);
            c->live.fetch_sub(1);
        },
        [](const void* p) { static_cast<WakeCounts*>(const_cast<void*>(p))->wakes_by_ref.fetch_add(1); },
        [](const void* p) {
            auto* c = static_cast<WakeCounts*>(const_cast<void*>(p));
            c->drops.fetch_add(1);
            c->live.fetch_sub(1);
        },
    };
    return Waker::from_raw(RawWaker{&counts, &vtable});
}

}  // namespace corio::test
