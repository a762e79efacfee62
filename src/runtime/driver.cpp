#include "runtime/driver.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <system_error>

namespace corio::detail {
namespace {

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

int timeout_ms_until(time::Instant deadline, time::Instant now) {
    if (deadline <= now) return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    return ms > 1'000'000 ? 1'000'000 : static_cast<int>(ms);
}

}  // namespace

Driver::Driver(bool start_paused) : time_(start_paused) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw_errno("corio: epoll_create1");
    event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd_ < 0) {
        int saved = errno;
        ::close(epoll_fd_);
        errno = saved;
        throw_errno("corio: eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the unpark eventfd
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev) < 0) {
        int saved = errno;
        ::close(event_fd_);
        ::close(epoll_fd_);
        errno = saved;
        throw_errno("corio: epoll_ctl");
    }
    io_ = std::make_unique<IoDriver>(epoll_fd_);
    time_.set_unpark([](void* self) { static_cast<Driver*>(self)->unpark(); }, this);
}

Driver::~Driver() {
    io_.reset();
    ::close(event_fd_);
    ::close(epoll_fd_);
}

void Driver::park(int max_wait_ms) {
    int expected = kEmpty;
    // acq_rel: a NOTIFIED found here pairs with unpark's release, so the
    // caller's next look at its queues sees what the unparker pushed.
    if (!park_state_.compare_exchange_strong(expected, kParked, std::memory_order_acq_rel)) {
        park_state_.store(kEmpty, std::memory_order_release);
        time_.process();
        return;
    }
    if (time_.clock().paused()) {
        // Ready I/O first: the clock only jumps when nothing at all can run,
        // blocking work included (its end unparks us).
        // wait(0) may consume the eventfd of an unpark that came meanwhile, so
        // look at the park state too before jumping the clock or blocking.
        bool inhibited = auto_advance_inhibited_ && auto_advance_inhibited_();
        if (wait(0) || unparked() || (!inhibited && time_.auto_advance()) || unparked()) {
            park_state_.store(kEmpty, std::memory_order_release);
            return;
        }
        wait(-1);  // an unpark from now on finds kParked and writes the eventfd
    } else {
        // While we wait, a timer registered from another thread with an
        // earlier deadline unparks us (TimeDriver::begin_park).
        auto next = time_.begin_park();
        int timeout = next ? timeout_ms_until(*next, time_.now()) : -1;
        if (max_wait_ms >= 0 && (timeout < 0 || timeout > max_wait_ms)) timeout = max_wait_ms;
        wait(timeout);
        time_.end_park();
    }
    park_state_.exchange(kEmpty, std::memory_order_acq_rel);
    time_.process();
}

void Driver::poll_ready() {
    if (!io_->empty()) wait(0);
    time_.process();
}

bool Driver::wait(int timeout_ms) {
    io_->release_removed();  // no epoll_wait is in flight now: freeing is safe
    epoll_event events[256];
    int n = ::epoll_wait(epoll_fd_, events, 256, timeout_ms);
    bool io_events = false;
    for (int i = 0; i < n; ++i) {
        if (events[i].data.ptr == nullptr) {
            std::uint64_t value;
            while (::read(event_fd_, &value, sizeof value) > 0) {
            }
        } else {
            IoDriver::dispatch(events[i]);
            io_events = true;
        }
    }
    return io_events;
}

void Driver::unpark() noexcept {
    // acq_rel: release what the caller pushed before waking the parker.
    if (park_state_.exchange(kNotified, std::memory_order_acq_rel) == kParked) {
        std::uint64_t one = 1;
        ssize_t written = ::write(event_fd_, &one, sizeof one);
        (void)written;  // EAGAIN means the counter is already non-zero: the parker wakes anyway
    }
}

void Driver::shutdown() {
    io_->shutdown();
    time_.shutdown();
}

}  // namespace corio::detail
