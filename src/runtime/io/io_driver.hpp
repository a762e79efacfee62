// The I/O driver: the backend that waits for I/O (epoll or io_uring, see
// backend.hpp) and the registrations of file descriptors with it.
//
// Lifetime invariant: a registration is freed only by the driver thread,
// between two turns, after it was removed and once its backend holds nothing
// in flight for it; so an event a turn returns never points at freed memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "corio/detail/io_registration.hpp"
#include "corio/detail/sync.hpp"
#include "corio/io/core.hpp"
#include "corio/runtime/io_backend.hpp"
#include "runtime/io/backend.hpp"

namespace corio::detail {

class IoDriver {
public:
    /// The backend `choice` names; Auto reads CORIO_IO_BACKEND, then picks
    /// io_uring when the kernel offers it and epoll otherwise. Throws
    /// std::system_error when an explicitly chosen backend is unavailable.
    /// `single_thread`: only one thread runs the runtime (current_thread).
    IoDriver(IoBackend choice, bool single_thread);
    /// A driver over a backend made elsewhere (the simulated network).
    explicit IoDriver(std::unique_ptr<Backend> backend);
    IoDriver(const IoDriver&) = delete;
    IoDriver& operator=(const IoDriver&) = delete;
    ~IoDriver();

    /// The backend in use (never Auto).
    IoBackend kind() const noexcept { return backend_->kind(); }
    Backend& backend() noexcept { return *backend_; }

    /// Registers `fd` for reading and writing.
    io::Result<IoRegistration*> add(int fd);
    /// Deregisters; wakes waiters (they see kShutdown); closes the
    /// descriptor; frees the registration later.
    void remove(IoRegistration* reg) noexcept;
    /// One backend turn (see Backend::turn), after freeing what can be freed.
    bool turn(int timeout_ms);
    /// Makes a turn in progress return. Any thread.
    void wake() noexcept { backend_->wake(); }
    /// See Backend::take_flush_duty and Backend::flush (multi-thread workers).
    void take_flush_duty() noexcept { backend_->take_flush_duty(); }
    void flush() noexcept { backend_->flush(); }
    /// Shuts every registration down (runtime shutdown).
    void shutdown();
    /// True when no descriptor is registered (lets the scheduler skip a turn).
    bool empty() const noexcept { return live_.load(std::memory_order_relaxed) == 0; }

private:
    void release_removed() noexcept;

    std::unique_ptr<Backend> backend_;
    mutable Mutex mutex_;
    IntrusiveList<Registration> live_list_;  // live registrations, guarded by mutex_
    std::vector<Registration*> removed_;     // guarded by mutex_
    std::vector<Registration*> releasing_;   // driver thread only
    bool shut_down_ = false;                 // guarded by mutex_
    Atomic<std::size_t> live_{0};            // a hint: relaxed is enough, the backend is the truth
};

}  // namespace corio::detail
