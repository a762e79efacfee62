// One file descriptor's registration with the runtime's epoll reactor.
//
// The descriptor is registered once, edge-triggered, for reading and writing.
// The reactor records readiness in an atomic word: low 16 bits are readiness
// flags, the next 16 a shutdown flag, the high 32 a tick that counts reactor
// events. An operation that gets EAGAIN clears only the readiness it was
// given, and only if the tick is unchanged: a readiness that arrived after the
// operation looked is never erased, and one seen before a clear is never lost.
// One waiter per direction (a reader and a writer may wait at once); each
// stores the most recent waker under a small mutex.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <expected>
#include <mutex>
#include <system_error>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/detail/sync.hpp"
#include "corio/future.hpp"

namespace corio::detail {

class IoDriver;

enum class Direction : std::uint8_t { Read, Write };

namespace readiness {
inline constexpr std::uint32_t kReadable = 1u << 0;
inline constexpr std::uint32_t kWritable = 1u << 1;
inline constexpr std::uint32_t kReadClosed = 1u << 2;
inline constexpr std::uint32_t kWriteClosed = 1u << 3;
inline constexpr std::uint32_t kError = 1u << 4;
inline constexpr std::uint32_t kShutdown = 1u << 16;  // the registration or its runtime is gone

/// The readiness bits that let an operation in `d` proceed (it will then see
/// data, EOF or the error from the system call itself).
constexpr std::uint32_t mask_for(Direction d) noexcept {
    return d == Direction::Read ? (kReadable | kReadClosed | kError) : (kWritable | kWriteClosed | kError);
}
}  // namespace readiness

/// A readiness observation: what was ready and at which reactor tick.
struct ReadyEvent {
    std::uint32_t tick = 0;
    std::uint32_t ready = 0;
};

class IoRegistration {
public:
    IoRegistration(int fd, IoDriver* driver) noexcept : fd_(fd), driver_(driver) {}
    IoRegistration(const IoRegistration&) = delete;
    IoRegistration& operator=(const IoRegistration&) = delete;

    int fd() const noexcept { return fd_; }
    IoDriver* driver() const noexcept { return driver_; }

    /// Ready when the descriptor may be ready for `d` (or the registration
    /// was shut down: ready has kShutdown). Otherwise stores the waker.
    Poll<ReadyEvent> poll_ready(Context& cx, Direction d) {
        std::uint64_t word = readiness_.load(std::memory_order_acquire);
        if (ReadyEvent ev = event_of(word, d); ev.ready != 0) return Ready(ev);
        {
            std::lock_guard lock(waiters_mutex_);
            waiter(d).clone_from(cx.waker());
        }
        // Re-check after publishing the waker: an event that landed between the
        // first load and the store above would otherwise be missed.
        word = readiness_.load(std::memory_order_acquire);
        if (ReadyEvent ev = event_of(word, d); ev.ready != 0) return Ready(ev);
        return Pending;
    }

    /// Forgets the readiness in `ev` (the operation hit EAGAIN), unless a newer
    /// reactor event has arrived since it was observed. `keep` bits stay.
    void clear_readiness(ReadyEvent ev, std::uint32_t keep = 0) noexcept {
        std::uint64_t cur = readiness_.load(std::memory_order_acquire);
        for (;;) {
            if (static_cast<std::uint32_t>(cur >> 32) != ev.tick) return;  // newer event: keep it
            // Everything the failed operation was shown goes, closed and error
            // bits included: the system call already reported what they meant,
            // and keeping them would make the next poll spin on EAGAIN.
            std::uint64_t next = cur & ~static_cast<std::uint64_t>(ev.ready & ~(readiness::kShutdown | keep));
            if (readiness_.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_acquire))
                return;
        }
    }

    /// Reactor side: adds readiness bits, bumps the tick, wakes the waiters concerned.
    void set_readiness(std::uint32_t bits) {
        std::uint64_t cur = readiness_.load(std::memory_order_relaxed);
        for (;;) {
            std::uint64_t tick = ((cur >> 32) + 1) & 0xffffffffu;
            std::uint64_t next = (tick << 32) | (static_cast<std::uint32_t>(cur) | bits);
            // release: the waiter that sees these bits sees everything before.
            if (readiness_.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_relaxed))
                break;
        }
        wake(bits);
    }

    /// Marks the registration shut down and wakes both waiters.
    void shutdown() { set_readiness(readiness::kShutdown); }

    bool is_shutdown() const noexcept {
        return (readiness_.load(std::memory_order_acquire) & readiness::kShutdown) != 0;
    }

    /// Intrusive links of the driver's list of live registrations.
    IoRegistration* prev = nullptr;
    IoRegistration* next = nullptr;

private:
    static ReadyEvent event_of(std::uint64_t word, Direction d) noexcept {
        auto bits = static_cast<std::uint32_t>(word);
        std::uint32_t mask = readiness::mask_for(d) | readiness::kShutdown;
        return ReadyEvent{static_cast<std::uint32_t>(word >> 32), bits & mask};
    }

    Waker& waiter(Direction d) noexcept { return d == Direction::Read ? reader_ : writer_; }

    void wake(std::uint32_t bits) {
        Waker reader;
        Waker writer;
        {
            std::lock_guard lock(waiters_mutex_);
            if (bits & (readiness::mask_for(Direction::Read) | readiness::kShutdown)) reader = std::move(reader_);
            if (bits & (readiness::mask_for(Direction::Write) | readiness::kShutdown)) writer = std::move(writer_);
        }
        std::move(reader).wake();  // outside the lock: waking may run scheduler code
        std::move(writer).wake();
    }

    corio::detail::Atomic<std::uint64_t> readiness_{0};
    corio::detail::Mutex waiters_mutex_;
    Waker reader_;
    Waker writer_;
    int fd_;
    IoDriver* driver_;
};

}  // namespace corio::detail
