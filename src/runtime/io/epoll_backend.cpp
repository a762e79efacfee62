// The epoll backend: every descriptor registered once, edge-triggered, for
// reading and writing; an eventfd (registered with a null pointer) wakes a
// waiting turn.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

#include "runtime/io/backend.hpp"

namespace corio::detail {
namespace {

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

class EpollBackend final : public Backend {
public:
    EpollBackend() {
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
        ev.data.ptr = nullptr;  // the wake-up eventfd
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev) < 0) {
            int saved = errno;
            ::close(event_fd_);
            ::close(epoll_fd_);
            errno = saved;
            throw_errno("corio: epoll_ctl");
        }
    }
    ~EpollBackend() override {
        ::close(event_fd_);
        ::close(epoll_fd_);
    }

    IoBackend kind() const noexcept override { return IoBackend::Epoll; }

    io::Result<Registration*> add(int fd, IoDriver* owner) override {
        auto* reg = new Registration(fd, owner);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
        ev.data.ptr = reg;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
            auto err = io::last_os_error();
            delete reg;
            return err;
        }
        return reg;
    }

    void remove(Registration& reg) noexcept override {
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, reg.fd(), nullptr);
        ::close(reg.fd());
    }

    bool turn(int timeout_ms) override {
        epoll_event events[256];
        int n = ::epoll_wait(epoll_fd_, events, 256, timeout_ms);
        bool io_events = false;
        for (int i = 0; i < n; ++i) {
            if (events[i].data.ptr == nullptr) {
                std::uint64_t value;
                while (::read(event_fd_, &value, sizeof value) > 0) {
                }
            } else {
                static_cast<Registration*>(events[i].data.ptr)->set_readiness(readiness_of(events[i].events));
                io_events = true;
            }
        }
        return io_events;
    }

    void wake() noexcept override {
        std::uint64_t one = 1;
        ssize_t written = ::write(event_fd_, &one, sizeof one);
        (void)written;  // EAGAIN means the counter is already non-zero: the waiter wakes anyway
    }

private:
    static std::uint32_t readiness_of(std::uint32_t events) noexcept {
        std::uint32_t bits = 0;
        if (events & (EPOLLIN | EPOLLPRI)) bits |= readiness::kReadable;
        if (events & EPOLLOUT) bits |= readiness::kWritable;
        if (events & EPOLLRDHUP) bits |= readiness::kReadClosed | readiness::kReadable;
        if (events & EPOLLHUP) bits |= readiness::kReadClosed | readiness::kWriteClosed;
        if (events & EPOLLERR) bits |= readiness::kError;
        return bits;
    }

    int epoll_fd_ = -1;
    int event_fd_ = -1;
};

}  // namespace

std::unique_ptr<Backend> make_epoll_backend() { return std::make_unique<EpollBackend>(); }

}  // namespace corio::detail
