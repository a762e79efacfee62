// One file descriptor's registration with the runtime's I/O driver, whatever
// its backend (epoll, io_uring, or a simulated network): what futures see.
//
// The backend records readiness in an atomic word: low 16 bits are readiness
// flags, the next 16 a shutdown flag, the high 32 a tick that counts backend
// events. An operation that gets EAGAIN clears only the readiness it was
// given, and only if the tick is unchanged: a readiness that arrived after the
// operation looked is never erased, and one seen before a clear is never lost.
//
// Waiters: any number per direction. A poll function with nowhere to keep a
// node (AsyncRead::poll_read and friends) uses the one slot per direction
// (the most recent waker wins, as Tokio's poll_read_ready); a future that
// embeds an IoWaiter joins the registration's wait list, so several tasks can
// wait on one socket at once (Tokio's readable()/writable()). Both wait
// without allocating. When a wait goes pending the backend is told
// (on_pending), so one that arms interest per wait (io_uring's poll) can.
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
#include "corio/detail/wait_list.hpp"
#include "corio/detail/wake_list.hpp"
#include "corio/future.hpp"

namespace corio::detail {

class IoDriver;

/// A future's place in a registration's wait list (`wanted` holds the
/// readiness bits it waits for). Embedded in the future; the future calls
/// IoRegistration::cancel_wait before it is destroyed.
using IoWaiter = WaitNode;

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
    /// was shut down: ready has kShutdown). Otherwise stores the waker in the
    /// direction's slot (the most recent waker wins).
    Poll<ReadyEvent> poll_ready(Context& cx, Direction d) {
        std::uint32_t mask = readiness::mask_for(d);
        if (ReadyEvent ev = event_of(readiness_.load(std::memory_order_acquire), mask); ev.ready != 0) return Ready(ev);
        {
            std::lock_guard lock(waiters_.lock());
            slot(d).clone_from(cx.waker());
        }
        return recheck(mask);
    }

    /// As poll_ready, for the readiness bits `mask`, waiting in the wait list
    /// through `node`, so any number of futures can wait at once. The node
    /// stays linked until the wait completes or cancel_wait is called.
    Poll<ReadyEvent> poll_ready(Context& cx, std::uint32_t mask, IoWaiter& node) {
        if (ReadyEvent ev = event_of(readiness_.load(std::memory_order_acquire), mask); ev.ready != 0) {
            cancel_wait(node);
            return Ready(ev);
        }
        {
            std::lock_guard lock(waiters_.lock());
            node.waker.clone_from(cx.waker());
            node.wanted = mask;
            if (!node.is_linked()) waiters_.push_back(node);
            node.tag = 1;  // the owner's own note that it joined: read without the lock
        }
        auto ready = recheck(mask);
        if (ready.is_ready()) cancel_wait(node);
        return ready;
    }

    /// The readiness bits of `mask` (and kShutdown) set now, without waiting.
    ReadyEvent current(std::uint32_t mask) const noexcept {
        return event_of(readiness_.load(std::memory_order_acquire), mask);
    }

    /// Unlinks `node` if it waits here. A future embedding a node calls it
    /// when done and when destroyed.
    void cancel_wait(IoWaiter& node) noexcept {
        if (node.tag == 0) return;  // never joined since it last left
        std::lock_guard lock(waiters_.lock());
        if (node.is_linked()) waiters_.remove(node);  // shutdown() may have unlinked it
        node.tag = 0;
    }

    /// Forgets the readiness in `ev` (the operation hit EAGAIN), unless a newer
    /// backend event has arrived since it was observed. `keep` bits stay.
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

    /// Backend side: adds readiness bits, bumps the tick, wakes the waiters concerned.
    void set_readiness(std::uint32_t bits) {
        add_bits(bits);
        wake_waiters(bits);
    }

    /// Marks the registration shut down and wakes every waiter; the wait
    /// list is emptied, so a future destroyed after its socket closed (and
    /// its registration is gone) has nothing to unlink.
    void shutdown() {
        add_bits(readiness::kShutdown);
        WakeList wakes;
        std::unique_lock lock(waiters_.lock());
        wakes.push(std::move(reader_));
        wakes.push(std::move(writer_));
        while (IoWaiter* n = waiters_.front()) {
            if (wakes.full()) {
                lock.unlock();
                wakes.wake_all();
                lock.lock();
                continue;
            }
            waiters_.remove(*n);
            wakes.push(std::move(n->waker));
        }
    }

    bool is_shutdown() const noexcept {
        return (readiness_.load(std::memory_order_acquire) & readiness::kShutdown) != 0;
    }

protected:
    ~IoRegistration() = default;  // owned and freed by the I/O driver

    /// Adds readiness bits and bumps the tick (no wake-up: see wake).
    void add_bits(std::uint32_t bits) noexcept {
        std::uint64_t cur = readiness_.load(std::memory_order_relaxed);
        for (;;) {
            std::uint64_t tick = ((cur >> 32) + 1) & 0xffffffffu;
            std::uint64_t next = (tick << 32) | (static_cast<std::uint32_t>(cur) | bits);
            // release: the waiter that sees these bits sees everything before.
            if (readiness_.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_relaxed))
                return;
        }
    }

    /// Removes readiness bits whatever the tick (a backend that knows the
    /// exact state, such as a stream's queue of received bytes, under its lock).
    void remove_bits(std::uint32_t bits) noexcept {
        readiness_.fetch_and(~static_cast<std::uint64_t>(bits), std::memory_order_acq_rel);
    }

    /// A wait for `mask` found nothing ready and is about to return Pending
    /// (its waker is stored). A backend that arms interest per wait does it
    /// here; the readiness it then reports wakes the waiter.
    virtual void on_pending(std::uint32_t mask) = 0;

    /// Wakes the waiters for any of `bits` (kShutdown: everyone).
    void wake(std::uint32_t bits) { wake_waiters(bits); }

private:
    static ReadyEvent event_of(std::uint64_t word, std::uint32_t mask) noexcept {
        auto bits = static_cast<std::uint32_t>(word);
        return ReadyEvent{static_cast<std::uint32_t>(word >> 32), bits & (mask | readiness::kShutdown)};
    }

    // Looks again after publishing a waker: an event that landed between the
    // first load and the store would otherwise be missed.
    Poll<ReadyEvent> recheck(std::uint32_t mask) {
        if (ReadyEvent ev = event_of(readiness_.load(std::memory_order_acquire), mask); ev.ready != 0) return Ready(ev);
        on_pending(mask);
        return Pending;
    }

    Waker& slot(Direction d) noexcept { return d == Direction::Read ? reader_ : writer_; }

    void wake_waiters(std::uint32_t bits) {
        WakeList wakes;
        bits |= (bits & readiness::kShutdown) ? ~0u : 0u;  // shutdown concerns everyone
        std::unique_lock lock(waiters_.lock());
        if (bits & readiness::mask_for(Direction::Read)) wakes.push(std::move(reader_));
        if (bits & readiness::mask_for(Direction::Write)) wakes.push(std::move(writer_));
        // Waiters stay linked (they unlink when their wait completes); a node
        // whose waker was taken has an empty waker until it polls again.
        IoWaiter* n = waiters_.front();
        while (n != nullptr) {
            if ((n->wanted & bits) == 0 || n->waker.will_wake(Waker::noop())) {
                n = waiters_.next(*n);
                continue;
            }
            if (wakes.full()) {  // wake this batch outside the lock, then look again from the start
                lock.unlock();
                wakes.wake_all();
                lock.lock();
                n = waiters_.front();
                continue;
            }
            wakes.push(std::move(n->waker));
            n = waiters_.next(*n);
        }
        lock.unlock();
        // wakes' destructor wakes the rest, outside the lock: waking may run scheduler code
    }

    corio::detail::Atomic<std::uint64_t> readiness_{0};
    WaitList waiters_;
    Waker reader_;
    Waker writer_;
    int fd_;
    IoDriver* driver_;
};

}  // namespace corio::detail
