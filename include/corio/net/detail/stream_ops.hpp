// What the socket types share: the future that runs one of their poll
// functions, the read/write methods every byte stream offers on top of its
// poll_read / poll_write / poll_peek, and the owned halves of a split stream.
// (The readiness API and the futures that let several tasks wait on one
// socket are in readiness.hpp.)
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "corio/future.hpp"
#include "corio/io/core.hpp"

namespace corio::net::detail {

/// A future running one poll function of a socket until it is ready.
template <class Output_, class Fn>
class CORIO_NODISCARD_FUTURE OpFuture {
public:
    using Output = Output_;
    explicit OpFuture(Fn fn) : fn_(std::move(fn)) {}
    Poll<Output> poll(Context& cx) { return fn_(cx); }

private:
    Fn fn_;
};

template <class Output, class Fn>
OpFuture<Output, Fn> op_future(Fn fn) {
    return OpFuture<Output, Fn>(std::move(fn));
}

/// Writes `buf[done..]` through `stream.poll_write`; io::errc::write_zero if a write accepts nothing.
template <class Stream>
Poll<io::Result<void>> poll_write_all(Stream& stream, Context& cx, std::span<const std::byte> buf, std::size_t& done) {
    while (done < buf.size()) {
        auto r = stream.poll_write(cx, buf.subspan(done));
        if (r.is_pending()) return Pending;
        if (!*r) return Ready(io::Result<void>(std::unexpected(r->error())));
        if (**r == 0) return Ready(io::Result<void>(io::error(io::errc::write_zero)));
        done += **r;
    }
    return Ready(io::Result<void>());
}

/// Fills `buf[done..]` through `stream.poll_read`; io::errc::unexpected_eof if the stream ends first.
template <class Stream>
Poll<io::Result<void>> poll_read_exact(Stream& stream, Context& cx, std::span<std::byte> buf, std::size_t& done) {
    while (done < buf.size()) {
        auto r = stream.poll_read(cx, buf.subspan(done));
        if (r.is_pending()) return Pending;
        if (!*r) return Ready(io::Result<void>(std::unexpected(r->error())));
        if (**r == 0) return Ready(io::Result<void>(io::error(io::errc::unexpected_eof)));
        done += **r;
    }
    return Ready(io::Result<void>());
}

/// The awaitable operations of a byte stream (TcpStream, UnixStream), given
/// its poll_read, poll_write and poll_peek. Each future refers to the stream,
/// which must outlive it.
template <class Stream>
class StreamMethods {
public:
    /// Reads into `buf`; 0 at end of stream. Cancellation-safe.
    auto read(std::span<std::byte> buf) {
        return op_future<io::Result<std::size_t>>([s = self(), buf](Context& cx) { return s->poll_read(cx, buf); });
    }
    /// Writes some of `buf`; how many bytes. Error broken_pipe (or
    /// connection_reset) once the peer has gone. Cancellation-safe.
    auto write(std::span<const std::byte> buf) {
        return op_future<io::Result<std::size_t>>([s = self(), buf](Context& cx) { return s->poll_write(cx, buf); });
    }
    /// Writes all of `buf`. Errors: those of write(), or io::errc::write_zero
    /// when a write accepts nothing. Not cancellation-safe: dropped midway, an
    /// unknown prefix was written.
    auto write_all(std::span<const std::byte> buf) {
        return op_future<io::Result<void>>([s = self(), buf, done = std::size_t{0}](Context& cx) mutable {
            return poll_write_all(*s, cx, buf, done);
        });
    }
    /// write_all() of the characters of `text`, which are not copied: they
    /// must outlive the future. Errors as write_all(buf). Not
    /// cancellation-safe: dropped midway, an unknown prefix was written.
    auto write_all(std::string_view text) { return write_all(std::as_bytes(std::span(text.data(), text.size()))); }
    /// Fills all of `buf`; error io::errc::unexpected_eof if the stream ends first.
    /// Not cancellation-safe: dropped midway, the bytes read so far are lost.
    auto read_exact(std::span<std::byte> buf) {
        return op_future<io::Result<void>>([s = self(), buf, done = std::size_t{0}](Context& cx) mutable {
            return poll_read_exact(*s, cx, buf, done);
        });
    }
    /// Reads into `buf` without removing the bytes from the stream. Cancellation-safe.
    auto peek(std::span<std::byte> buf) {
        return op_future<io::Result<std::size_t>>([s = self(), buf](Context& cx) { return s->poll_peek(cx, buf); });
    }

private:
    friend Stream;  // only the stream itself derives from its methods
    StreamMethods() = default;
    Stream* self() noexcept { return static_cast<Stream*>(this); }
};

/// The reading half of a stream split with into_split(); AsyncRead.
template <class Stream>
class OwnedReadHalf {
public:
    /// The read half of the stream `s` shares with its write half.
    explicit OwnedReadHalf(std::shared_ptr<Stream> s) noexcept : s_(std::move(s)) {}
    /// Reads into `buf`; how many bytes, 0 at end of stream. Errors: the
    /// socket's (connection_reset, ...). The half must outlive the future.
    /// Cancellation-safe: a dropped read took no bytes from the stream.
    auto read(std::span<std::byte> buf) { return s_->read(buf); }
    /// Fills all of `buf`. Errors: io::errc::unexpected_eof if the stream
    /// ends first, else those of read(). The half must outlive the future.
    /// Not cancellation-safe: dropped midway, the bytes read so far are lost.
    auto read_exact(std::span<std::byte> buf) { return s_->read_exact(buf); }
    /// Reads into `buf` without removing the bytes from the stream; how many,
    /// 0 at end of stream. Errors as read(). The half must outlive the
    /// future. Cancellation-safe: peeking takes nothing, so nothing is lost.
    auto peek(std::span<std::byte> buf) { return s_->peek(buf); }
    /// The stream's readable(): waits until the socket may be readable. The
    /// half must outlive the future. Cancellation-safe: it consumes nothing.
    auto readable() { return s_->readable(); }
    /// The stream's try_read(): reads what has arrived without waiting; error
    /// std::errc::resource_unavailable_try_again when nothing has.
    io::Result<std::size_t> try_read(std::span<std::byte> buf) { return s_->try_read(buf); }
    /// AsyncRead: the stream's poll_read.
    Poll<io::Result<std::size_t>> poll_read(Context& cx, std::span<std::byte> buf) { return s_->poll_read(cx, buf); }
    /// The stream's peer_addr().
    auto peer_addr() const { return s_->peer_addr(); }
    /// The stream's local_addr().
    auto local_addr() const { return s_->local_addr(); }

private:
    std::shared_ptr<Stream> s_;
};

/// The writing half of a stream split with into_split(); AsyncWrite. Shuts
/// the write direction down when destroyed or assigned over, so the peer
/// reads end of stream while the read half lives on.
template <class Stream>
class OwnedWriteHalf {
public:
    /// The write half of the stream `s` shares with its read half.
    explicit OwnedWriteHalf(std::shared_ptr<Stream> s) noexcept : s_(std::move(s)) {}
    OwnedWriteHalf(OwnedWriteHalf&&) noexcept = default;
    OwnedWriteHalf& operator=(OwnedWriteHalf&& other) noexcept {
        if (this != &other) {
            shutdown_write();
            s_ = std::move(other.s_);
        }
        return *this;
    }
    ~OwnedWriteHalf() { shutdown_write(); }
    /// Writes some of `buf`; how many bytes. Error broken_pipe (or
    /// connection_reset) once the peer has gone. The half must outlive the
    /// future. Cancellation-safe: a dropped write wrote nothing.
    auto write(std::span<const std::byte> buf) { return s_->write(buf); }
    /// Writes all of `buf`. Errors: those of write(), or io::errc::write_zero
    /// when a write accepts nothing. The half must outlive the future. Not
    /// cancellation-safe: dropped midway, an unknown prefix was written.
    auto write_all(std::span<const std::byte> buf) { return s_->write_all(buf); }
    /// write_all() of the characters of `text`, which are not copied: they
    /// (and the half) must outlive the future. Errors as write_all(buf). Not
    /// cancellation-safe: dropped midway, an unknown prefix was written.
    auto write_all(std::string_view text) { return s_->write_all(text); }
    /// The stream's writable(): waits until the socket may be writable. The
    /// half must outlive the future. Cancellation-safe: it consumes nothing.
    auto writable() { return s_->writable(); }
    /// The stream's try_write(): writes what fits without waiting; error
    /// std::errc::resource_unavailable_try_again when nothing does.
    io::Result<std::size_t> try_write(std::span<const std::byte> buf) { return s_->try_write(buf); }
    /// AsyncWrite: the stream's poll_write.
    Poll<io::Result<std::size_t>> poll_write(Context& cx, std::span<const std::byte> buf) {
        return s_->poll_write(cx, buf);
    }
    /// AsyncWrite: the stream's poll_flush.
    Poll<io::Result<void>> poll_flush(Context& cx) { return s_->poll_flush(cx); }
    /// AsyncWrite: the stream's poll_shutdown (shuts the write direction down).
    Poll<io::Result<void>> poll_shutdown(Context& cx) { return s_->poll_shutdown(cx); }
    /// The stream's peer_addr().
    auto peer_addr() const { return s_->peer_addr(); }
    /// The stream's local_addr().
    auto local_addr() const { return s_->local_addr(); }

private:
    void shutdown_write() noexcept {
        if (s_) (void)s_->shutdown(SHUT_WR);
    }
    std::shared_ptr<Stream> s_;
};

}  // namespace corio::net::detail
