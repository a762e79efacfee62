// A growable FIFO ring of run-queue entries (Notified,
// corio/detail/task_ref.hpp), owned by one thread. Entries are stored as
// bits; those still queued when the ring is destroyed are discarded.
//
// Capacity is a power of two; it doubles when full and never shrinks, so in
// steady state push and pop allocate nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "corio/detail/task_ref.hpp"

namespace corio::detail {

class LocalQueue {
public:
    explicit LocalQueue(std::size_t capacity = 256)
        : buffer_(std::make_unique<std::uintptr_t[]>(capacity)), mask_(capacity - 1) {}
    LocalQueue(const LocalQueue&) = delete;
    LocalQueue& operator=(const LocalQueue&) = delete;
    ~LocalQueue() {
        while (pop_front()) {
        }
    }

    bool empty() const noexcept { return head_ == tail_; }
    std::size_t size() const noexcept { return tail_ - head_; }

    void push_back(Notified e) {
        if (size() == mask_ + 1) [[unlikely]]
            grow();
        buffer_[tail_++ & mask_] = std::move(e).into_bits();
    }

    Notified pop_front() noexcept {
        if (head_ == tail_) return Notified();
        return Notified::from_bits(buffer_[head_++ & mask_]);
    }

    /// Takes the entry `i` places from the front (i < size()); the front
    /// entry takes its place. For a scheduler that picks at random (corio::sim).
    Notified take_at(std::size_t i) noexcept {
        std::swap(buffer_[(head_ + i) & mask_], buffer_[head_ & mask_]);
        return pop_front();
    }

private:
    [[gnu::noinline]] void grow() {
        std::size_t capacity = (mask_ + 1) * 2;
        auto bigger = std::make_unique<std::uintptr_t[]>(capacity);
        std::size_t n = size();
        for (std::size_t i = 0; i < n; ++i) bigger[i] = buffer_[(head_ + i) & mask_];
        buffer_ = std::move(bigger);
        mask_ = capacity - 1;
        head_ = 0;
        tail_ = n;
    }

    std::unique_ptr<std::uintptr_t[]> buffer_;  // Notified entries, as bits
    std::size_t mask_;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
};

}  // namespace corio::detail
