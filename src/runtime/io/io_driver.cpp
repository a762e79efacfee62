#include "runtime/io/io_driver.hpp"

#include <cerrno>

namespace corio::detail {

IoDriver::~IoDriver() {
    release_removed();
    while (IoRegistration* reg = head_) {  // owners outlived the runtime: free what remains
        unlink(reg);
        delete reg;
    }
}

io::Result<IoRegistration*> IoDriver::add(int fd) {
    auto* reg = new IoRegistration(fd, this);
    {
        std::lock_guard lock(mutex_);
        if (shut_down_) {
            delete reg;
            return io::error(std::errc::operation_canceled);
        }
        reg->next = head_;
        if (head_ != nullptr) head_->prev = reg;
        head_ = reg;
    }
    live_.fetch_add(1, std::memory_order_relaxed);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
    ev.data.ptr = reg;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
        auto err = io::last_os_error();
        live_.fetch_sub(1, std::memory_order_relaxed);
        std::lock_guard lock(mutex_);
        unlink(reg);
        delete reg;
        return err;
    }
    return reg;
}

void IoDriver::unlink(IoRegistration* reg) noexcept {
    if (reg->prev != nullptr) reg->prev->next = reg->next;
    if (reg->next != nullptr) reg->next->prev = reg->prev;
    if (head_ == reg) head_ = reg->next;
    reg->prev = reg->next = nullptr;
}

void IoDriver::remove(IoRegistration* reg) noexcept {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, reg->fd(), nullptr);  // the fd is closed next anyway
    reg->shutdown();
    live_.fetch_sub(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    unlink(reg);
    removed_.push_back(reg);
}

void IoDriver::dispatch(const epoll_event& event) {
    std::uint32_t bits = 0;
    if (event.events & (EPOLLIN | EPOLLPRI)) bits |= readiness::kReadable;
    if (event.events & EPOLLOUT) bits |= readiness::kWritable;
    if (event.events & EPOLLRDHUP) bits |= readiness::kReadClosed | readiness::kReadable;
    if (event.events & EPOLLHUP) bits |= readiness::kReadClosed | readiness::kWriteClosed;
    if (event.events & EPOLLERR) bits |= readiness::kError;
    static_cast<IoRegistration*>(event.data.ptr)->set_readiness(bits);
}

void IoDriver::release_removed() noexcept {
    {
        std::lock_guard lock(mutex_);
        if (removed_.empty()) return;
        releasing_.swap(removed_);
    }
    for (IoRegistration* reg : releasing_) delete reg;
    releasing_.clear();
}

void IoDriver::shutdown() {
    std::vector<IoRegistration*> live;
    {
        std::lock_guard lock(mutex_);
        shut_down_ = true;
        for (IoRegistration* reg = head_; reg != nullptr; reg = reg->next) live.push_back(reg);
    }
    // Registrations stay allocated (their owners free them through remove()).
    for (IoRegistration* reg : live) reg->shutdown();
}

}  // namespace corio::detail
