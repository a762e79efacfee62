// io::AsyncFd<T>: any pollable file descriptor (a pipe, an eventfd, a
// socket a C library opened itself: libpq, c-ares, libcurl's multi
// interface) joined to the runtime's reactor, as Tokio's AsyncFd. The task
// waits for readiness, then runs the system call itself through a guard.
//
// AsyncFd registers a duplicate of the descriptor (F_DUPFD_CLOEXEC), never
// the descriptor itself: the reactor owns and closes only the duplicate, so
// the wrapped value keeps sole ownership of its descriptor, into_inner()
// hands it back untouched on every backend (io_uring closes a deregistered
// descriptor only once nothing in flight refers to it), and the owner may
// close it whenever it likes. Readiness is a property of the open file,
// which both descriptors share, so the duplicate sees what the original does.
//
// Invariant: a readiness future waits in the registration's wait list (any
// number of tasks at once) and leaves it when it completes or is destroyed;
// the AsyncFd must outlive its futures and guards and must not move while
// one is pending.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <cerrno>
#include <concepts>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "corio/detail/io_registration.hpp"
#include "corio/detail/poll_evented.hpp"
#include "corio/future.hpp"
#include "corio/io/core.hpp"
#include "corio/io/ready.hpp"
#include "corio/net/detail/readiness.hpp"

namespace corio::io {

/// The descriptor of a value AsyncFd can wrap: an integer descriptor
/// itself, or an owner with `native_handle()`, `fd()` or an ADL-found
/// `as_raw_fd(const T&)` returning it.
template <class T>
concept AsRawFd = std::integral<T> || requires(const T& t) {
    { t.native_handle() } -> std::convertible_to<int>;
} || requires(const T& t) {
    { t.fd() } -> std::convertible_to<int>;
} || requires(const T& t) {
    { as_raw_fd(t) } -> std::convertible_to<int>;
};

/// The raw descriptor of `t` (see AsRawFd).
template <AsRawFd T>
int raw_fd_of(const T& t) noexcept {
    if constexpr (std::integral<T>) {
        return static_cast<int>(t);
    } else if constexpr (requires { t.native_handle(); }) {
        return static_cast<int>(t.native_handle());
    } else if constexpr (requires { t.fd(); }) {
        return static_cast<int>(t.fd());
    } else {
        return static_cast<int>(as_raw_fd(t));
    }
}

template <class T>
class AsyncFd;

/// What a readiness wait of an AsyncFd found. The operation it allows is
/// run through try_io(), which clears the readiness when it would block;
/// clear_ready() does that by hand (after a read that got EAGAIN outside
/// try_io). Dropping the guard without either keeps the readiness, so the
/// next wait completes at once. Borrows the AsyncFd.
template <class T>
class AsyncFdReadyGuard {
public:
    /// The readiness seen (only the flags the wait asked for).
    Readiness ready() const noexcept { return net::detail::ready_of(event_.ready); }

    /// Forgets the readiness this guard saw, unless newer readiness arrived
    /// since: the next wait waits for a new event. End of stream and hang-up
    /// flags stay (their edge is reported only once).
    void clear_ready() noexcept {
        namespace rd = corio::detail::readiness;
        if (auto* reg = fd_->io_.registration()) reg->clear_readiness(event_, rd::kReadClosed | rd::kWriteClosed);
    }

    /// Keeps the readiness (what dropping the guard does too; says so in code).
    void retain_ready() noexcept {}

    /// Runs `f(inner)`, a non-blocking operation on the wrapped value. It
    /// returns an io::Result, or a system call's signed integer (-1 with
    /// errno on failure; EINTR is retried). When it would block (EAGAIN /
    /// EWOULDBLOCK, std::errc::resource_unavailable_try_again) the
    /// readiness is cleared and that error returned: wait again.
    template <class F>
    auto try_io(F&& f) {
        using R = std::invoke_result_t<F&, T&>;
        if constexpr (std::is_signed_v<R> && std::integral<R>) {
            for (;;) {
                R r = f(fd_->inner_);
                if (r >= 0) return io::Result<R>(r);
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    clear_ready();
                    return io::Result<R>(io::error(std::errc::resource_unavailable_try_again));
                }
                return io::Result<R>(io::last_os_error());
            }
        } else {
            R r = f(fd_->inner_);
            if (!r && r.error() == std::errc::resource_unavailable_try_again) clear_ready();
            return r;
        }
    }

    /// The AsyncFd this guard belongs to.
    AsyncFd<T>& get_inner() const noexcept { return *fd_; }

private:
    friend class AsyncFd<T>;
    AsyncFdReadyGuard(AsyncFd<T>& fd, corio::detail::ReadyEvent event) noexcept : fd_(&fd), event_(event) {}

    AsyncFd<T>* fd_;
    corio::detail::ReadyEvent event_;
};

/// A pollable file descriptor owned by (or held as) a value of type T,
/// registered with the current runtime's reactor. The descriptor must be
/// non-blocking (O_NONBLOCK) and pollable (a regular file is not: see
/// corio::fs). Works on the epoll and io_uring backends alike.
template <class T>
class AsyncFd {
public:
    /// The future of readable(), writable() and ready(): a guard once the
    /// descriptor may be ready. Cancellation-safe: it consumes nothing, and
    /// dropping it leaves the wait list.
    class CORIO_NODISCARD_FUTURE ReadyFuture {
    public:
        using Output = io::Result<AsyncFdReadyGuard<T>>;

        ReadyFuture(AsyncFd& fd, std::uint32_t mask) noexcept : fd_(&fd), waiter_(fd.io_), mask_(mask) {}

        Poll<Output> poll(Context& cx) {
            if (!corio::detail::poll_proceed(cx)) return Pending;
            auto r = waiter_.io().poll_ready(cx, mask_, *waiter_.node());
            if (r.is_pending()) return Pending;
            if (!*r) return Ready(Output(std::unexpected(r->error())));
            corio::detail::ReadyEvent ev = **r;
            ev.ready &= mask_;
            return Ready(Output(AsyncFdReadyGuard<T>(*fd_, ev)));
        }

    private:
        AsyncFd* fd_;
        net::detail::SocketWaiter waiter_;
        std::uint32_t mask_;
    };

    /// Registers `inner`'s descriptor with the current runtime's reactor.
    /// Errors: those of dup (too many open files) and of the registration
    /// (bad_file_descriptor, operation_not_permitted for a regular file on
    /// epoll). On error `inner` is dropped. Throws std::logic_error outside a
    /// runtime.
    static io::Result<AsyncFd> create(T inner) {
        int dup = ::fcntl(raw_fd_of(inner), F_DUPFD_CLOEXEC, 0);
        if (dup < 0) return io::last_os_error();
        auto io = corio::detail::PollEvented::adopt(dup);  // closes `dup` on failure
        if (!io) return std::unexpected(io.error());
        return AsyncFd(std::move(inner), std::move(*io));
    }

    AsyncFd(AsyncFd&&) noexcept(std::is_nothrow_move_constructible_v<T>) = default;
    AsyncFd& operator=(AsyncFd&&) noexcept(std::is_nothrow_move_assignable_v<T>) = default;
    /// Deregisters, then drops the wrapped value (closing its descriptor if it owns it).
    ~AsyncFd() = default;

    /// Waits until the descriptor may be readable (data, end of stream, hang-up
    /// or an error). Any number of tasks may wait at once; all wake.
    /// Error bad_file_descriptor once the runtime shut down. Cancellation-safe.
    ReadyFuture readable() { return ReadyFuture(*this, net::detail::mask_of(Interest::Readable)); }
    /// Waits until the descriptor may be writable. As readable().
    ReadyFuture writable() { return ReadyFuture(*this, net::detail::mask_of(Interest::Writable)); }
    /// Waits for any of `interest`; guard.ready() says which. As readable().
    ReadyFuture ready(Interest interest) { return ReadyFuture(*this, net::detail::mask_of(interest)); }

    /// poll_read_ready / poll_write_ready for hand-written futures: the task
    /// waits in the direction's single slot (the most recent waker wins).
    Poll<io::Result<AsyncFdReadyGuard<T>>> poll_read_ready(Context& cx) { return poll_slot(cx, Interest::Readable); }
    Poll<io::Result<AsyncFdReadyGuard<T>>> poll_write_ready(Context& cx) { return poll_slot(cx, Interest::Writable); }

    /// The wrapped value.
    const T& get_ref() const noexcept { return inner_; }
    T& get_mut() noexcept { return inner_; }
    /// The wrapped descriptor.
    int as_raw_fd() const noexcept { return raw_fd_of(inner_); }

    /// Deregisters and returns the wrapped value, its descriptor open and untouched.
    T into_inner() && {
        io_.close();
        return std::move(inner_);
    }

private:
    friend class AsyncFdReadyGuard<T>;
    AsyncFd(T inner, corio::detail::PollEvented io) : inner_(std::move(inner)), io_(std::move(io)) {}

    Poll<io::Result<AsyncFdReadyGuard<T>>> poll_slot(Context& cx, Interest interest) {
        using Out = io::Result<AsyncFdReadyGuard<T>>;
        auto* reg = io_.registration();
        if (reg == nullptr) return Ready(Out(io::error(std::errc::bad_file_descriptor)));
        auto d = interest == Interest::Readable ? corio::detail::Direction::Read : corio::detail::Direction::Write;
        auto r = reg->poll_ready(cx, d);
        if (r.is_pending()) return Pending;
        if (r->ready & corio::detail::readiness::kShutdown)
            return Ready(Out(io::error(std::errc::bad_file_descriptor)));
        corio::detail::ReadyEvent ev = *r;
        ev.ready &= net::detail::mask_of(interest);
        return Ready(Out(AsyncFdReadyGuard<T>(*this, ev)));
    }

    T inner_;
    corio::detail::PollEvented io_;  // the duplicate's registration; declared last, so closed first
};

}  // namespace corio::io
