// The reactor: registrations of file descriptors with the driver's epoll
// instance, and dispatch of epoll events to them.
//
// Lifetime invariant: a registration is freed only by the driver thread,
// between two epoll_wait calls, after it was deregistered; so an event that
// an in-flight epoll_wait returns for it never points at freed memory.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

#include "corio/detail/io_registration.hpp"
#include "corio/detail/sync.hpp"
#include "corio/io/core.hpp"

namespace corio::detail {

class IoDriver {
public:
    explicit IoDriver(int epoll_fd) noexcept : epoll_fd_(epoll_fd) {}
    IoDriver(const IoDriver&) = delete;
    IoDriver& operator=(const IoDriver&) = delete;
    ~IoDriver();

    /// Registers `fd` edge-triggered for reading and writing.
    io::Result<IoRegistration*> add(int fd);
    /// Deregisters; wakes waiters (they see kShutdown); frees it later.
    void remove(IoRegistration* reg) noexcept;
    /// Applies one epoll event to its registration.
    static void dispatch(const epoll_event& event);
    /// Frees deregistered registrations. Driver thread, outside epoll_wait.
    void release_removed() noexcept;
    /// Shuts every registration down (runtime shutdown).
    void shutdown();
    /// True when no descriptor is registered (lets the scheduler skip epoll_wait).
    bool empty() const noexcept { return live_.load(std::memory_order_relaxed) == 0; }

private:
    void unlink(IoRegistration* reg) noexcept;

    int epoll_fd_;
    mutable Mutex mutex_;
    IoRegistration* head_ = nullptr;          // live registrations, guarded by mutex_
    std::vector<IoRegistration*> removed_;    // guarded by mutex_
    std::vector<IoRegistration*> releasing_;  // driver thread only
    bool shut_down_ = false;                  // guarded by mutex_
    Atomic<std::size_t> live_{0};             // a hint: relaxed is enough, epoll is the truth
};

}  // namespace corio::detail
