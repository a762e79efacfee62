// WakeList: wakers collected while a lock is held and woken after it is
// released, so a woken task that runs at once on another worker never spins
// on that lock. Fixed capacity, no allocation: a caller that fills it
// releases the lock, wakes the batch and goes on.
#pragma once

#include <cstddef>
#include <new>
#include <utility>

#include "corio/future.hpp"

namespace corio::detail {

/// Wakers collected under a lock and woken after it is released. Holds up to
/// kCapacity without allocating; a caller that fills it releases the lock,
/// wakes them (wake_all) and takes the lock again before going on.
class WakeList {
public:
    static constexpr std::size_t kCapacity = 32;

    WakeList() noexcept = default;
    WakeList(const WakeList&) = delete;
    WakeList& operator=(const WakeList&) = delete;
    ~WakeList() { wake_all(); }

    bool full() const noexcept { return size_ == kCapacity; }

    void push(Waker&& waker) noexcept { new (slot(size_++)) Waker(std::move(waker)); }

    /// Wakes (and drops) every collected waker, in the order they were pushed.
    void wake_all() noexcept {
        for (std::size_t i = 0; i < size_; ++i) {
            Waker* w = slot(i);
            Waker taken = std::move(*w);
            w->~Waker();
            std::move(taken).wake();
        }
        size_ = 0;
    }

private:
    Waker* slot(std::size_t i) noexcept { return std::launder(reinterpret_cast<Waker*>(storage_ + i * sizeof(Waker))); }

    alignas(Waker) unsigned char storage_[kCapacity * sizeof(Waker)];
    std::size_t size_ = 0;
};

}  // namespace corio::detail
