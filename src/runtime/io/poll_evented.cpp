#include "corio/detail/poll_evented.hpp"

#include <unistd.h>

#include "runtime/io/io_driver.hpp"

namespace corio::detail {

io::Result<PollEvented> PollEvented::adopt(int fd) {
    RuntimeCore* runtime = current_runtime;
    if (runtime == nullptr) {
        ::close(fd);
        (void)current_runtime_or_throw("corio I/O (a socket)");
    }
    auto reg = runtime->io_driver().add(fd);
    if (!reg) {
        ::close(fd);
        return std::unexpected(reg.error());
    }
    runtime->ref();
    return PollEvented(fd, *reg, runtime);
}

void PollEvented::close() noexcept {
    if (reg_ != nullptr) {
        reg_->driver()->remove(std::exchange(reg_, nullptr));
    }
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    if (runtime_ != nullptr) std::exchange(runtime_, nullptr)->unref();
}

Poll<io::Result<void>> PollEvented::poll_ready(Context& cx, Direction d) {
    if (reg_ == nullptr) return Ready(io::Result<void>(io::error(std::errc::bad_file_descriptor)));
    auto ready = reg_->poll_ready(cx, d);
    if (ready.is_pending()) return Pending;
    if (ready->ready & readiness::kShutdown) return Ready(io::Result<void>(io::error(std::errc::bad_file_descriptor)));
    return Ready(io::Result<void>());
}

}  // namespace corio::detail
