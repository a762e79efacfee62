// What the socket types share to let any number of tasks wait on one socket
// at once (Tokio's readable() / writable() / ready(), and operation futures
// such as UdpSocket::recv or TcpListener::accept): a waiter embedded in the
// future, the future that waits for readiness through it, the future that
// runs an operation through it, and the readable() / writable() / ready()
// methods of a socket type.
//
// Invariant: a waiter is linked into the wait list of the registration it
// joined until its wait completes or its future is destroyed, and a future is
// never moved while its waiter is linked (futures are polled in place; moving
// one after its first poll terminates). The socket must outlive the future.
#pragma once

#include <cstdint>
#include <exception>
#include <type_traits>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/detail/io_registration.hpp"
#include "corio/detail/poll_evented.hpp"
#include "corio/future.hpp"
#include "corio/io/core.hpp"
#include "corio/io/ready.hpp"

namespace corio::net::detail {

/// The registration's readiness bits that satisfy `interest`: for reading,
/// readable, read-closed or an error; for writing, writable, write-closed or
/// an error (the operation then completes, with data, end of stream or the error).
constexpr std::uint32_t mask_of(io::Interest interest) noexcept {
    std::uint32_t mask = 0;
    if (io::is_readable(interest)) mask |= corio::detail::readiness::mask_for(corio::detail::Direction::Read);
    if (io::is_writable(interest)) mask |= corio::detail::readiness::mask_for(corio::detail::Direction::Write);
    return mask;
}

/// The io::Readiness of a registration's readiness bits.
constexpr io::Readiness ready_of(std::uint32_t bits) noexcept {
    namespace rd = corio::detail::readiness;
    io::Readiness ready;
    if (bits & rd::kReadable) ready = ready | io::Readiness::readable();
    if (bits & rd::kWritable) ready = ready | io::Readiness::writable();
    if (bits & rd::kReadClosed) ready = ready | io::Readiness::read_closed();
    if (bits & rd::kWriteClosed) ready = ready | io::Readiness::write_closed();
    if (bits & rd::kError) ready = ready | io::Readiness::error();
    return ready;
}

/// A future's place in the wait list of a socket's registration: the
/// embedded IoWaiter, the socket's PollEvented, and the registration the
/// waiter joined. Leaves the list when destroyed.
class SocketWaiter {
public:
    explicit SocketWaiter(corio::detail::PollEvented& io) noexcept : io_(&io) {}
    /// Only before the waiter joined a list (futures are not moved after
    /// their first poll); moving a linked waiter terminates.
    SocketWaiter(SocketWaiter&& other) noexcept : io_(other.io_) {
        if (other.node_.tag != 0) std::terminate();
    }
    SocketWaiter& operator=(SocketWaiter&&) = delete;
    ~SocketWaiter() {
        // Only the registration the waiter joined may unlink it. A socket
        // closed since (an empty socket assigned to it) has no registration
        // left, and one replaced by another socket has a different one whose
        // list this node is not in.
        if (node_.tag != 0 && io_->registration() == joined_) io_->cancel_wait(node_);
    }

    corio::detail::PollEvented& io() const noexcept { return *io_; }

    /// The waiter to hand to PollEvented::poll_io or poll_ready.
    corio::detail::IoWaiter* node() noexcept {
        if (node_.tag == 0) joined_ = io_->registration();
        return &node_;
    }

private:
    corio::detail::PollEvented* io_;
    corio::detail::IoRegistration* joined_ = nullptr;  // where node_ was last allowed to link
    corio::detail::IoWaiter node_;
};

/// Waits until a socket may be ready for the readiness bits `mask`: the
/// future of readable() and writable() (T = void) and of ready(interest)
/// (T = io::Readiness, the flags of `mask` that were set). Error
/// bad_file_descriptor when the socket is closed (or its runtime shut down).
/// Spends one unit of the cooperative budget per poll. Cancellation-safe: it
/// consumes nothing, and dropping it leaves the wait list.
template <class T>
class CORIO_NODISCARD_FUTURE ReadyFuture {
public:
    using Output = io::Result<T>;

    ReadyFuture(corio::detail::PollEvented& io, std::uint32_t mask) noexcept : waiter_(io), mask_(mask) {}

    Poll<Output> poll(Context& cx) {
        if (!corio::detail::poll_proceed(cx)) return Pending;
        auto r = waiter_.io().poll_ready(cx, mask_, *waiter_.node());
        if (r.is_pending()) return Pending;
        if (!*r) return Ready(Output(std::unexpected(r->error())));
        if constexpr (std::is_void_v<T>) {
            return Ready(Output());
        } else {
            return Ready(Output(ready_of((*r)->ready & mask_)));
        }
    }

private:
    SocketWaiter waiter_;
    std::uint32_t mask_;
};

/// A future running a socket's poll function `fn(cx, waiter)`, which passes
/// the waiter on to PollEvented::poll_io, so several tasks may run the same
/// operation on one socket at once (each is woken when the socket may be ready).
template <class Output_, class Fn>
class CORIO_NODISCARD_FUTURE WaitingOpFuture {
public:
    using Output = Output_;

    WaitingOpFuture(corio::detail::PollEvented& io, Fn fn) : waiter_(io), fn_(std::move(fn)) {}

    Poll<Output> poll(Context& cx) { return fn_(cx, waiter_.node()); }

private:
    SocketWaiter waiter_;
    Fn fn_;
};

/// A WaitingOpFuture waiting on `io` through `fn(Context&, IoWaiter*)`.
template <class Output, class Fn>
WaitingOpFuture<Output, Fn> waiting_op_future(corio::detail::PollEvented& io, Fn fn) {
    return WaitingOpFuture<Output, Fn>(io, std::move(fn));
}

/// readable(), writable() and ready() of a socket type whose descriptor is
/// its member `io_` (a PollEvented; the socket befriends this class). Each
/// future refers to the socket, which must outlive it and must not move
/// while it is pending.
template <class Socket>
class ReadinessMethods {
public:
    /// Waits until the socket may be readable: data, end of stream or a
    /// pending error. Completes at once while the last readiness seen has not
    /// been used up; a read that then finds nothing (would block) clears it,
    /// so the next readable() waits for new data. Error bad_file_descriptor
    /// on a closed socket. Any number of tasks may wait at once; all wake.
    /// Cancellation-safe: it consumes nothing.
    ReadyFuture<void> readable() { return ReadyFuture<void>(io(), mask_of(io::Interest::Readable)); }

    /// Waits until the socket may be writable: room in its send buffer, or
    /// the write side closed or failed. As readable(), for writing.
    /// Cancellation-safe: it consumes nothing.
    ReadyFuture<void> writable() { return ReadyFuture<void>(io(), mask_of(io::Interest::Writable)); }

    /// Waits until the socket may be ready for any of `interest`, and says
    /// which flags were seen (only those `interest` asks for; is_error() for
    /// a pending error). Error bad_file_descriptor on a closed socket. Any
    /// number of tasks may wait at once. Cancellation-safe: it consumes nothing.
    ReadyFuture<io::Readiness> ready(io::Interest interest) {
        return ReadyFuture<io::Readiness>(io(), mask_of(interest));
    }

private:
    friend Socket;  // only the socket type itself derives from its methods
    ReadinessMethods() = default;
    corio::detail::PollEvented& io() noexcept { return static_cast<Socket*>(this)->io_; }
};

}  // namespace corio::net::detail
