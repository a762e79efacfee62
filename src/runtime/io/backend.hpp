// The seam between the I/O driver and the mechanism that waits for I/O: an
// epoll instance, an io_uring, or (DESIGN section 9) a simulated network.
//
// The driver keeps the list of registrations and frees them; a backend
// creates them (a backend may add its own state by deriving), reports
// readiness into them with IoRegistration::set_readiness, and owns the wait:
// turn() waits for events or wake(), whichever comes first.
#pragma once

#include <linux/io_uring.h>  // io_uring_sqe, which OneShotOp fills

#include <cstddef>
#include <memory>
#include <optional>
#include <span>

#include "corio/detail/intrusive_list.hpp"
#include "corio/detail/io_registration.hpp"
#include "corio/io/core.hpp"
#include "corio/runtime/io_backend.hpp"

namespace corio::sim::detail {
class SimSocket;
}

namespace corio::detail {

/// One operation a ring backend (io_uring) submits on a caller's behalf and
/// completes once: a file's openat, read, statx, close, ... The caller keeps
/// the object (and every buffer fill() names) alive until complete() ran.
class OneShotOp {
public:
    /// Fills the submission entry (everything but user_data, which the
    /// backend owns). Called once, on the submitting thread, under the
    /// backend's submission lock: no blocking, no calls back into it.
    virtual void fill(io_uring_sqe& sqe) noexcept = 0;
    /// The kernel's result (res of the completion: >= 0, or -errno). Called
    /// exactly once, on whichever thread reaps completions.
    virtual void complete(int res) noexcept = 0;

protected:
    ~OneShotOp() = default;
};

/// A byte stream served from completions instead of system calls (io_uring):
/// the registration buffers what was received and what is to be sent. Its
/// readiness bits follow the buffers: kReadable while received bytes (or end
/// of stream, or an error) wait, kWritable while there is room to send.
class StreamOps {
public:
    /// Takes (or with `peek` copies) received bytes into `buf`; 0 at end of
    /// stream. nullopt: nothing yet (wait for Direction::Read, then retry).
    virtual std::optional<io::Result<std::size_t>> read(std::span<std::byte> buf, bool peek) = 0;
    /// Queues some of `buf` for sending. nullopt: no room (wait for
    /// Direction::Write, then retry).
    virtual std::optional<io::Result<std::size_t>> write(std::span<const std::byte> buf) = 0;
    /// Ready once everything queued has been sent (or sending failed).
    virtual Poll<io::Result<void>> poll_flush(Context& cx) = 0;
    /// shutdown(2); the write side goes once what was queued is sent.
    virtual io::Result<void> shutdown(int how) = 0;

protected:
    ~StreamOps() = default;
};

/// What the driver keeps per descriptor: the public registration, the links
/// of the driver's list of live registrations, and what a backend adds.
class Registration : public IoRegistration, public ListHook<Registration> {  // the driver's live list
public:
    Registration(int fd, IoDriver* driver) noexcept : IoRegistration(fd, driver) {}
    virtual ~Registration() = default;

    /// The stream operations, for a backend that serves byte streams from
    /// completions; null: streams use system calls on readiness.
    virtual StreamOps* stream_ops() noexcept { return nullptr; }
    /// The simulated socket this is (corio::sim); null for a real descriptor.
    virtual sim::detail::SimSocket* sim_socket() noexcept { return nullptr; }

protected:
    void on_pending(std::uint32_t) override {}
};

class Backend {
public:
    Backend() = default;
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;
    virtual ~Backend() = default;

    virtual IoBackend kind() const noexcept = 0;
    /// Creates the registration of `fd` (non-blocking) and starts watching it.
    virtual io::Result<Registration*> add(int fd, IoDriver* owner) = 0;
    /// Stops watching `reg` and closes its descriptor, now or once nothing in
    /// flight refers to it. Any thread.
    virtual void remove(Registration& reg) noexcept = 0;
    /// True once nothing the backend has in flight refers to `reg`, which was
    /// removed: the driver may free it. Driver thread.
    virtual bool releasable(const Registration&) const noexcept { return true; }
    /// Waits up to `timeout_ms` (-1: no bound, 0: no wait) for I/O events or
    /// wake(), and applies the events to their registrations. True when an
    /// I/O event came. The driver thread only.
    virtual bool turn(int timeout_ms) = 0;
    /// Makes a turn() in progress (or the next one) return. Any thread.
    virtual void wake() noexcept = 0;
    /// Runtime shutdown: cancels what is in flight. Driver thread, last turn done.
    virtual void shutdown() noexcept {}
    /// The calling thread (a worker) promises to call flush() before it
    /// sleeps and now and then while it runs, so what it submits while
    /// another thread waits in a turn can wait for that instead of costing a
    /// system call each. A backend that queues nothing ignores both.
    virtual void take_flush_duty() noexcept {}
    /// Hands what this thread queued to the kernel if a turn is waiting.
    virtual void flush() noexcept {}
    /// Submits `op` (see OneShotOp); false when the backend has no ring
    /// (epoll), and then never calls it. Any thread.
    virtual bool submit_one_shot(OneShotOp&) { return false; }
};

/// The epoll backend. Throws std::system_error when the kernel refuses.
std::unique_ptr<Backend> make_epoll_backend();
/// The io_uring backend; `single_thread` when only one thread drives it (a
/// current_thread runtime). Throws std::system_error when io_uring is
/// missing, forbidden (sysctl, seccomp) or lacks what corio needs.
std::unique_ptr<Backend> make_uring_backend(bool single_thread);

}  // namespace corio::detail
