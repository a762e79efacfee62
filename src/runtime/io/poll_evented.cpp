#include "corio/detail/poll_evented.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include "runtime/io/backend.hpp"
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
        reg_->driver()->remove(std::exchange(reg_, nullptr));  // closes the descriptor
        fd_ = -1;
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

Poll<io::Result<ReadyEvent>> PollEvented::poll_ready(Context& cx, std::uint32_t mask, IoWaiter& waiter) {
    if (reg_ == nullptr) return Ready(io::Result<ReadyEvent>(io::error(std::errc::bad_file_descriptor)));
    auto ready = reg_->poll_ready(cx, mask, waiter);
    if (ready.is_pending()) return Pending;
    if (ready->ready & readiness::kShutdown) {
        return Ready(io::Result<ReadyEvent>(io::error(std::errc::bad_file_descriptor)));
    }
    return Ready(io::Result<ReadyEvent>(*ready));
}

namespace {

StreamOps* stream_ops_of(IoRegistration* reg) noexcept {
    return reg == nullptr ? nullptr : static_cast<Registration*>(reg)->stream_ops();
}

/// Runs `attempt` (a StreamOps call: nullopt means "not now") until it gives
/// a result, waiting for `d` in between.
template <class Attempt>
Poll<io::Result<std::size_t>> poll_stream(IoRegistration& reg, Context& cx, Direction d, Attempt&& attempt) {
    if (!poll_proceed(cx)) return Pending;
    for (;;) {
        if (reg.is_shutdown()) return Ready(io::Result<std::size_t>(io::error(std::errc::bad_file_descriptor)));
        if (auto r = attempt()) return Ready(std::move(*r));
        auto ready = reg.poll_ready(cx, d);
        if (ready.is_pending()) return Pending;
    }
}

io::Result<std::size_t> would_block_if_empty(std::optional<io::Result<std::size_t>> r) {
    if (!r) return io::error(std::errc::resource_unavailable_try_again);
    return std::move(*r);
}

}  // namespace

Poll<io::Result<std::size_t>> PollEvented::poll_read_stream(Context& cx, std::span<std::byte> buf) {
    if (StreamOps* s = stream_ops_of(reg_)) {
        return poll_stream(*reg_, cx, Direction::Read, [&] { return s->read(buf, false); });
    }
    return byte_count(poll_io(cx, Direction::Read, [&] { return ::recv(fd_, buf.data(), buf.size(), 0); }, buf.size()));
}

Poll<io::Result<std::size_t>> PollEvented::poll_peek_stream(Context& cx, std::span<std::byte> buf) {
    if (StreamOps* s = stream_ops_of(reg_)) {
        return poll_stream(*reg_, cx, Direction::Read, [&] { return s->read(buf, true); });
    }
    return byte_count(poll_io(cx, Direction::Read, [&] { return ::recv(fd_, buf.data(), buf.size(), MSG_PEEK); }));
}

Poll<io::Result<std::size_t>> PollEvented::poll_write_stream(Context& cx, std::span<const std::byte> buf) {
    if (StreamOps* s = stream_ops_of(reg_)) {
        return poll_stream(*reg_, cx, Direction::Write, [&] { return s->write(buf); });
    }
    return byte_count(
        poll_io(cx, Direction::Write, [&] { return ::send(fd_, buf.data(), buf.size(), MSG_NOSIGNAL); }, buf.size()));
}

Poll<io::Result<void>> PollEvented::poll_flush_stream(Context& cx) {
    if (StreamOps* s = stream_ops_of(reg_)) return s->poll_flush(cx);
    return Ready(io::Result<void>());
}

Poll<io::Result<void>> PollEvented::poll_shutdown_stream(Context& cx) {
    auto flushed = poll_flush_stream(cx);
    if (flushed.is_pending()) return Pending;
    if (!*flushed) return flushed;
    return Ready(shutdown_stream(SHUT_WR));
}

io::Result<void> PollEvented::shutdown_stream(int how) noexcept {
    if (StreamOps* s = stream_ops_of(reg_)) return s->shutdown(how);
    if (::shutdown(fd_, how) < 0) return io::last_os_error();
    return {};
}

io::Result<std::size_t> PollEvented::try_read_stream(std::span<std::byte> buf) {
    if (StreamOps* s = stream_ops_of(reg_)) {
        if (reg_->is_shutdown()) return io::error(std::errc::bad_file_descriptor);
        return would_block_if_empty(s->read(buf, false));
    }
    return byte_count(try_io(Direction::Read, [&] { return ::recv(fd_, buf.data(), buf.size(), 0); }));
}

io::Result<std::size_t> PollEvented::try_write_stream(std::span<const std::byte> buf) {
    if (StreamOps* s = stream_ops_of(reg_)) {
        if (reg_->is_shutdown()) return io::error(std::errc::bad_file_descriptor);
        return would_block_if_empty(s->write(buf));
    }
    return byte_count(try_io(Direction::Write, [&] { return ::send(fd_, buf.data(), buf.size(), MSG_NOSIGNAL); }));
}

}  // namespace corio::detail
