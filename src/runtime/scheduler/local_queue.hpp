// A growable FIFO ring of run-queue entries (Notified,
// corio/detail/task_ref.hpp), owned by one thread. Entries are stored as
// bits; those still queued when the ring is destroyed are discarded.
//
// Capacity is a power of two; it doubles when full, so in steady state push
// and pop allocate nothing. A ring that a burst grew gives the memory back
// once its driver has nothing left to do (trim).
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
        if (size() == capacity()) [[unlikely]]
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

    /// Shrinks an empty ring that grew beyond kKeptCapacity back to it, so
    /// a burst of spawns (a ring of a million entries is 8 MiB) does not pin
    /// its memory once the runtime is idle. Drivers call it before they
    /// park, not while they drain: a workload of repeated bursts would
    /// otherwise pay the regrowth's page faults each time (measured: 11%
    /// slower spawn_many at T = 1).
    void trim() {
        if (empty() && capacity() > kKeptCapacity) [[unlikely]]
            resize(kKeptCapacity);
    }

    std::size_t capacity() const noexcept { return mask_ + 1; }

    static constexpr std::size_t kKeptCapacity = 1024;

private:
    [[gnu::noinline]] void grow() { resize(capacity() * 2); }

    [[gnu::noinline]] void resize(std::size_t capacity) {
        auto buffer = std::make_unique<std::uintptr_t[]>(capacity);
        std::size_t n = size();
        for (std::size_t i = 0; i < n; ++i) buffer[i] = buffer_[(head_ + i) & mask_];
        buffer_ = std::move(buffer);
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
