// A non-blocking file descriptor registered with the current runtime's
// reactor: the building block of every socket type.
//
// It owns the descriptor (closing it on destruction, after deregistering).
// Operations run the system call and, on EAGAIN, clear the readiness they
// used and wait for the reactor, so a readiness event is never lost.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <span>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/detail/io_registration.hpp"
#include "corio/detail/runtime_core.hpp"
#include "corio/io/core.hpp"

namespace corio::detail {

/// A byte count from a system call's ssize_t result (what poll_io and
/// try_io give for recv, send and their kin).
inline io::Result<std::size_t> byte_count(io::Result<ssize_t> r) {
    if (!r) return std::unexpected(r.error());
    return static_cast<std::size_t>(*r);
}
inline Poll<io::Result<std::size_t>> byte_count(Poll<io::Result<ssize_t>> r) {
    if (r.is_pending()) return Pending;
    return Ready(byte_count(std::move(*r)));
}

class PollEvented {
public:
    PollEvented() noexcept = default;
    /// Registers `fd` (already non-blocking) with the current runtime's
    /// reactor. On failure the fd is closed and the error returned. Throws
    /// std::logic_error outside a runtime (a programming error, not an I/O one).
    static io::Result<PollEvented> adopt(int fd);

    PollEvented(PollEvented&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)),
          reg_(std::exchange(other.reg_, nullptr)),
          runtime_(std::exchange(other.runtime_, nullptr)) {}
    PollEvented& operator=(PollEvented&& other) noexcept {
        if (this != &other) {
            close();
            fd_ = std::exchange(other.fd_, -1);
            reg_ = std::exchange(other.reg_, nullptr);
            runtime_ = std::exchange(other.runtime_, nullptr);
        }
        return *this;
    }
    ~PollEvented() { close(); }

    int fd() const noexcept { return fd_; }
    bool is_open() const noexcept { return fd_ >= 0; }

    /// Deregisters and closes the descriptor; wakes any waiter with an error.
    void close() noexcept;

    /// Runs `op` (a system call returning ssize_t/int, -1 with errno on error)
    /// once the descriptor is ready for `d`, retrying after EAGAIN. Spends one
    /// unit of the cooperative budget. With `requested` > 0 (a stream read or
    /// write of that many bytes), a short transfer also clears the readiness:
    /// the kernel buffer is drained (or full), so the EAGAIN the next call
    /// would get is skipped; a newer readiness event is kept (tick check).
    /// With a `waiter` (embedded in the calling future) it waits in the
    /// registration's wait list, so other tasks may wait on the descriptor in
    /// the same direction at once; without one it uses the direction's slot.
    template <class Op>
    auto poll_io(Context& cx, Direction d, Op&& op, std::size_t requested = 0, IoWaiter* waiter = nullptr)
        -> Poll<io::Result<decltype(op())>> {
        using R = decltype(op());
        if (reg_ == nullptr) return Ready(io::Result<R>(io::error(std::errc::bad_file_descriptor)));
        if (!poll_proceed(cx)) return Pending;
        for (;;) {
            auto ready =
                waiter != nullptr ? reg_->poll_ready(cx, readiness::mask_for(d), *waiter) : reg_->poll_ready(cx, d);
            if (ready.is_pending()) return Pending;
            ReadyEvent ev = *ready;
            if (ev.ready & readiness::kShutdown) {
                return Ready(io::Result<R>(io::error(std::errc::bad_file_descriptor)));
            }
            R r = op();
            if (r >= 0) {
                if (r > 0 && static_cast<std::size_t>(r) < requested) {
                    // Only readable/writable: end-of-stream and error bits must
                    // survive, their edge has already been reported once.
                    reg_->clear_readiness(ev, readiness::kReadClosed | readiness::kWriteClosed | readiness::kError);
                }
                return Ready(io::Result<R>(r));
            }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                reg_->clear_readiness(ev);
                continue;
            }
            return Ready(io::Result<R>(io::last_os_error()));
        }
    }

    /// Runs `op` once if the descriptor may be ready for `d`, without waiting:
    /// std::errc::resource_unavailable_try_again (would block) when it is not,
    /// or when `op` hits EAGAIN (the readiness is then cleared).
    template <class Op>
    auto try_io(Direction d, Op&& op) -> io::Result<decltype(op())> {
        using R = decltype(op());
        if (reg_ == nullptr) return io::error(std::errc::bad_file_descriptor);
        for (;;) {
            ReadyEvent ev = reg_->current(readiness::mask_for(d));
            if (ev.ready & readiness::kShutdown) return io::error(std::errc::bad_file_descriptor);
            if (ev.ready == 0) return io::error(std::errc::resource_unavailable_try_again);
            R r = op();
            if (r >= 0) return r;
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                reg_->clear_readiness(ev);
                return io::error(std::errc::resource_unavailable_try_again);
            }
            return io::last_os_error();
        }
    }

    /// Waits until the descriptor may be ready for `d` (no system call).
    Poll<io::Result<void>> poll_ready(Context& cx, Direction d);
    /// Waits, through `waiter` (in the wait list), until any readiness bit of
    /// `mask` is set; the event says which (and at which tick, for
    /// clear_readiness). Error bad_file_descriptor once closed or shut down.
    Poll<io::Result<ReadyEvent>> poll_ready(Context& cx, std::uint32_t mask, IoWaiter& waiter);
    /// Leaves the wait list (a future embedding `waiter` calls it when destroyed).
    void cancel_wait(IoWaiter& waiter) noexcept {
        if (reg_ != nullptr) reg_->cancel_wait(waiter);
    }
    /// Forgets readiness observed before an operation that hit EAGAIN.
    void clear_readiness(ReadyEvent ev) noexcept {
        if (reg_ != nullptr) reg_->clear_readiness(ev);
    }
    IoRegistration* registration() const noexcept { return reg_; }

    // Byte streams (TcpStream, UnixStream). The backend may serve them from
    // completions instead of system calls (io_uring); results, errors and
    // cancellation-safety are the same on every backend.

    /// Reads into `buf`; 0 at end of stream.
    Poll<io::Result<std::size_t>> poll_read_stream(Context& cx, std::span<std::byte> buf);
    /// Reads into `buf` without consuming.
    Poll<io::Result<std::size_t>> poll_peek_stream(Context& cx, std::span<std::byte> buf);
    /// Writes some of `buf`.
    Poll<io::Result<std::size_t>> poll_write_stream(Context& cx, std::span<const std::byte> buf);
    /// Ready once everything written has reached the kernel.
    Poll<io::Result<void>> poll_flush_stream(Context& cx);
    /// Flushes, then shuts the write direction down (AsyncWrite::poll_shutdown).
    Poll<io::Result<void>> poll_shutdown_stream(Context& cx);
    /// shutdown(2) with `how`; the write side goes after what was written.
    io::Result<void> shutdown_stream(int how) noexcept;
    /// Reads what is available now; would-block error when nothing is.
    io::Result<std::size_t> try_read_stream(std::span<std::byte> buf);
    /// Writes what fits now; would-block error when nothing does.
    io::Result<std::size_t> try_write_stream(std::span<const std::byte> buf);

private:
    PollEvented(int fd, IoRegistration* reg, RuntimeCore* runtime) noexcept : fd_(fd), reg_(reg), runtime_(runtime) {}

    int fd_ = -1;
    IoRegistration* reg_ = nullptr;
    RuntimeCore* runtime_ = nullptr;  // a reference: the reactor outlives the descriptor
};

}  // namespace corio::detail
