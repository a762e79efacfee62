#include "runtime/io/io_driver.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <system_error>

namespace corio::detail {
namespace {

IoBackend from_environment() {
    const char* env = std::getenv("CORIO_IO_BACKEND");
    if (env == nullptr) return IoBackend::Auto;
    std::string_view name(env);
    if (name == "epoll") return IoBackend::Epoll;
    if (name == "io_uring") return IoBackend::IoUring;
    return IoBackend::Auto;  // "auto", empty or unknown: the default choice
}

std::unique_ptr<Backend> make_backend(IoBackend choice, bool single_thread) {
    switch (choice) {
        case IoBackend::Epoll:
            return make_epoll_backend();
        case IoBackend::IoUring:
            return make_uring_backend(single_thread);
        case IoBackend::Sim:
            throw std::logic_error("corio: the simulated I/O backend exists only inside a corio::sim::Sim");
        case IoBackend::Auto:
            break;
    }
    // Auto (the environment may name one): io_uring where the kernel has what
    // we need; otherwise epoll, silently.
    IoBackend wanted = from_environment();
    if (wanted == IoBackend::Epoll) return make_epoll_backend();
    try {
        return make_uring_backend(single_thread);
    } catch (const std::system_error&) {
        return make_epoll_backend();
    }
}

}  // namespace

IoDriver::IoDriver(IoBackend choice, bool single_thread) : backend_(make_backend(choice, single_thread)) {}

IoDriver::IoDriver(std::unique_ptr<Backend> backend) : backend_(std::move(backend)) {}

IoDriver::~IoDriver() {
    release_removed();
    for (Registration* reg : removed_) delete reg;                  // the backend is gone with the runtime
    while (Registration* reg = live_list_.pop_front()) delete reg;  // owners outlived the runtime: free what remains
}

io::Result<IoRegistration*> IoDriver::add(int fd) {
    {
        std::lock_guard lock(mutex_);
        if (shut_down_) return io::error(std::errc::operation_canceled);
    }
    auto created = backend_->add(fd, this);
    if (!created) return std::unexpected(created.error());
    Registration* reg = *created;
    live_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    live_list_.push_front(*reg);
    return reg;
}

void IoDriver::remove(IoRegistration* public_reg) noexcept {
    auto* reg = static_cast<Registration*>(public_reg);
    reg->shutdown();
    backend_->remove(*reg);
    live_.fetch_sub(1, std::memory_order_relaxed);
    {
        std::lock_guard lock(mutex_);
        IntrusiveList<Registration>::remove(*reg);
        removed_.push_back(reg);
    }
}

bool IoDriver::turn(int timeout_ms) {
    release_removed();  // no turn is in flight now: freeing is safe
    return backend_->turn(timeout_ms);
}

void IoDriver::release_removed() noexcept {
    {
        std::lock_guard lock(mutex_);
        if (removed_.empty()) return;
        releasing_.swap(removed_);
    }
    std::size_t kept = 0;
    for (Registration* reg : releasing_) {
        if (backend_->releasable(*reg)) {
            delete reg;
        } else {
            releasing_[kept++] = reg;  // still in flight: try again next turn
        }
    }
    releasing_.resize(kept);
    if (kept != 0) {
        std::lock_guard lock(mutex_);
        removed_.insert(removed_.end(), releasing_.begin(), releasing_.end());
    }
    releasing_.clear();
}

void IoDriver::shutdown() {
    std::vector<Registration*> live;
    {
        std::lock_guard lock(mutex_);
        shut_down_ = true;
        live_list_.for_each([&](Registration& reg) { live.push_back(&reg); });
    }
    // Registrations stay allocated (their owners free them through remove()).
    for (Registration* reg : live) reg->shutdown();
    backend_->shutdown();
}

}  // namespace corio::detail
