// Awaitable helpers over any AsyncRead / AsyncWrite: read, write, flush,
// shutdown, read_exact, read_to_end, write_all, copy and copy_bidirectional.
//
// Each helper returns a small hand-written future that holds a reference to
// the reader or writer (which must outlive the future) and the progress made
// so far, so no coroutine frame is allocated. Invariant of every future here:
// progress made before a Pending is recorded in the future itself, so the
// next poll continues where the last one stopped and no byte is read or
// written twice.
//
// This header depends on <corio/io/core.hpp> only (<corio/io.hpp> includes
// both), so it must not include another io/ facility header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "corio/detail/coop.hpp"
#include "corio/future.hpp"
#include "corio/io/core.hpp"

namespace corio::io {

/// Size of the buffer io::copy and io::copy_bidirectional use per direction.
inline constexpr std::size_t kCopyBufferSize = 8 * 1024;

/// The future of io::read(): one `poll_read` into the buffer.
template <AsyncRead R>
class CORIO_NODISCARD_FUTURE ReadFuture {
public:
    using Output = Result<std::size_t>;
    ReadFuture(R& reader, std::span<std::byte> buf) noexcept : reader_(&reader), buf_(buf) {}
    Poll<Output> poll(Context& cx) { return reader_->poll_read(cx, buf_); }

private:
    R* reader_;
    std::span<std::byte> buf_;
};

/// Reads some bytes into `buf`: how many (at least 1 unless `buf` is empty),
/// 0 at end of stream, or the reader's error. `reader` and `buf` must
/// outlive the future.
/// Cancellation-safe: dropped before it completes, no byte was read.
template <AsyncRead R>
ReadFuture<R> read(R& reader, std::span<std::byte> buf) noexcept {
    return ReadFuture<R>(reader, buf);
}

/// The future of io::write(): one `poll_write` of the buffer.
template <AsyncWrite W>
class CORIO_NODISCARD_FUTURE WriteFuture {
public:
    using Output = Result<std::size_t>;
    WriteFuture(W& writer, std::span<const std::byte> buf) noexcept : writer_(&writer), buf_(buf) {}
    Poll<Output> poll(Context& cx) { return writer_->poll_write(cx, buf_); }

private:
    W* writer_;
    std::span<const std::byte> buf_;
};

/// Writes some of `buf`: how many bytes the writer accepted, or its error.
/// `writer` and `buf` must outlive the future.
/// Cancellation-safe: dropped before it completes, no byte was written.
template <AsyncWrite W>
WriteFuture<W> write(W& writer, std::span<const std::byte> buf) noexcept {
    return WriteFuture<W>(writer, buf);
}

/// The future of io::flush(): `poll_flush` until ready.
template <AsyncWrite W>
class CORIO_NODISCARD_FUTURE FlushFuture {
public:
    using Output = Result<void>;
    explicit FlushFuture(W& writer) noexcept : writer_(&writer) {}
    Poll<Output> poll(Context& cx) { return writer_->poll_flush(cx); }

private:
    W* writer_;
};

/// Pushes every byte the writer buffered out to its destination.
/// `writer` must outlive the future. Cancellation-safe: nothing is lost when
/// it is dropped (the buffered bytes stay buffered).
template <AsyncWrite W>
FlushFuture<W> flush(W& writer) noexcept {
    return FlushFuture<W>(writer);
}

/// The future of io::shutdown(): `poll_shutdown` until ready.
template <AsyncWrite W>
class CORIO_NODISCARD_FUTURE ShutdownFuture {
public:
    using Output = Result<void>;
    explicit ShutdownFuture(W& writer) noexcept : writer_(&writer) {}
    Poll<Output> poll(Context& cx) { return writer_->poll_shutdown(cx); }

private:
    W* writer_;
};

/// Flushes the writer and shuts its writing side down (the peer then reads
/// end of stream). `writer` must outlive the future. Cancellation-safe in
/// the sense of flush(): dropped early, the writer may be flushed but not
/// shut down yet.
template <AsyncWrite W>
ShutdownFuture<W> shutdown(W& writer) noexcept {
    return ShutdownFuture<W>(writer);
}

/// The future of io::read_exact().
template <AsyncRead R>
class CORIO_NODISCARD_FUTURE ReadExactFuture {
public:
    using Output = Result<void>;
    ReadExactFuture(R& reader, std::span<std::byte> buf) noexcept : reader_(&reader), buf_(buf) {}

    Poll<Output> poll(Context& cx) {
        while (filled_ < buf_.size()) {
            auto r = reader_->poll_read(cx, buf_.subspan(filled_));
            if (r.is_pending()) return Pending;
            if (!*r) return Ready(Output(std::unexpect, r->error()));
            if (**r == 0) return Ready(Output(error(errc::unexpected_eof)));
            filled_ += **r;
        }
        return Ready(Output());
    }

private:
    R* reader_;
    std::span<std::byte> buf_;
    std::size_t filled_ = 0;
};

/// Fills all of `buf`. Error io::errc::unexpected_eof when the stream ends
/// first (the bytes read before it are in `buf`), or the reader's error.
/// `reader` and `buf` must outlive the future.
/// Not cancellation-safe: dropped midway, the bytes already read are in a
/// prefix of `buf` of unknown length, and consumed from the stream.
template <AsyncRead R>
ReadExactFuture<R> read_exact(R& reader, std::span<std::byte> buf) noexcept {
    return ReadExactFuture<R>(reader, buf);
}

/// The future of io::read_to_end(); `Buf` is std::vector<std::byte> or std::string.
template <AsyncRead R, class Buf>
class CORIO_NODISCARD_FUTURE ReadToEndFuture {
public:
    using Output = Result<std::size_t>;
    ReadToEndFuture(R& reader, Buf& buf) noexcept : reader_(&reader), buf_(&buf), start_(buf.size()) {}

    Poll<Output> poll(Context& cx) {
        for (;;) {
            // Read straight into the container's tail. The chunk is bounded
            // so that zero-filling it (resize) stays cheap next to the read,
            // and at least kMinChunk so a full container grows geometrically.
            std::size_t len = buf_->size();
            std::size_t spare = buf_->capacity() - len;
            std::size_t chunk = spare < kMinChunk ? kMinChunk : spare > kMaxChunk ? kMaxChunk : spare;
            buf_->resize(len + chunk);
            Truncate truncate{buf_, len};  // however this ends, even by an exception
            auto r = reader_->poll_read(cx, std::as_writable_bytes(std::span(buf_->data() + len, chunk)));
            if (r.is_pending()) return Pending;
            if (!*r) return Ready(Output(std::unexpect, r->error()));
            if (**r == 0) return Ready(Output(len - start_));
            truncate.size = len + **r;
        }
    }

private:
    // Cuts the container back to `size` bytes: the read-ahead tail that was
    // zero-filled for the read but not filled by it goes away.
    struct Truncate {
        Buf* buf;
        std::size_t size;
        ~Truncate() { buf->resize(size); }
    };

    static constexpr std::size_t kMinChunk = 32;
    static constexpr std::size_t kMaxChunk = 64 * 1024;

    R* reader_;
    Buf* buf_;
    std::size_t start_;
};

/// Reads until end of stream, appending every byte to `buf`: how many bytes
/// were appended, or the reader's error (the bytes read before it stay
/// appended). `reader` and `buf` must outlive the future.
/// Not cancellation-safe: dropped midway, the bytes read so far stay appended
/// to `buf` but the count is lost (only `buf.size()` tells it).
template <AsyncRead R>
ReadToEndFuture<R, std::vector<std::byte>> read_to_end(R& reader, std::vector<std::byte>& buf) noexcept {
    return ReadToEndFuture<R, std::vector<std::byte>>(reader, buf);
}

/// Like read_to_end(reader, std::vector<std::byte>&), appending to a string
/// (the bytes are not checked for being valid UTF-8). Not cancellation-safe,
/// in the same way.
template <AsyncRead R>
ReadToEndFuture<R, std::string> read_to_end(R& reader, std::string& buf) noexcept {
    return ReadToEndFuture<R, std::string>(reader, buf);
}

/// The future of io::write_all().
template <AsyncWrite W>
class CORIO_NODISCARD_FUTURE WriteAllFuture {
public:
    using Output = Result<void>;
    WriteAllFuture(W& writer, std::span<const std::byte> buf) noexcept : writer_(&writer), rest_(buf) {}

    Poll<Output> poll(Context& cx) {
        while (!rest_.empty()) {
            auto r = writer_->poll_write(cx, rest_);
            if (r.is_pending()) return Pending;
            if (!*r) return Ready(Output(std::unexpect, r->error()));
            if (**r == 0) return Ready(Output(error(errc::write_zero)));
            rest_ = rest_.subspan(**r);
        }
        return Ready(Output());
    }

private:
    W* writer_;
    std::span<const std::byte> rest_;  // what is still to be written
};

/// Writes all of `buf` (does not flush). Error io::errc::write_zero when a
/// write accepts no bytes, or the writer's error. `writer` and `buf` must
/// outlive the future.
/// Not cancellation-safe: dropped midway, a prefix of `buf` of unknown
/// length was written.
template <AsyncWrite W>
WriteAllFuture<W> write_all(W& writer, std::span<const std::byte> buf) noexcept {
    return WriteAllFuture<W>(writer, buf);
}

/// write_all() of the characters of `text` (which must outlive the future).
/// Not cancellation-safe, in the same way.
template <AsyncWrite W>
WriteAllFuture<W> write_all(W& writer, std::string_view text) noexcept {
    return WriteAllFuture<W>(writer, std::as_bytes(std::span(text.data(), text.size())));
}

namespace detail {

/// One direction of a copy: reads into a buffer, writes it out, and at the
/// reader's end of stream flushes the writer. Invariant: bytes [pos_, end_)
/// of the buffer were read and not written yet; the reader is read only when
/// that range is empty, so bytes leave in the order they arrived.
class CopyBuffer {
public:
    CopyBuffer() : buf_(std::make_unique_for_overwrite<std::byte[]>(kCopyBufferSize)) {}

    /// Copies until the reader's end of stream, then flushes: the total
    /// number of bytes written.
    template <AsyncRead R, AsyncWrite W>
    Poll<Result<std::uint64_t>> poll_copy(Context& cx, R& reader, W& writer) {
        using Out = Result<std::uint64_t>;
        for (;;) {
            if (pos_ == end_ && !read_done_) {
                // A reader that is always ready must not hold the thread.
                if (!corio::detail::poll_proceed(cx)) return Pending;
                auto r = reader.poll_read(cx, std::span(buf_.get(), kCopyBufferSize));
                if (r.is_pending()) {
                    // Nothing more to write for now: push out what was
                    // written, so a buffering writer does not hold bytes the
                    // peer may be waiting for.
                    if (need_flush_) {
                        auto f = writer.poll_flush(cx);
                        if (f.is_ready() && !*f) return Ready(Out(std::unexpect, f->error()));
                        if (f.is_ready()) need_flush_ = false;
                    }
                    return Pending;
                }
                if (!*r) return Ready(Out(std::unexpect, r->error()));
                if (**r == 0) {
                    read_done_ = true;
                } else {
                    pos_ = 0;
                    end_ = **r;
                }
            }
            while (pos_ < end_) {
                auto w = writer.poll_write(cx, std::span<const std::byte>(buf_.get() + pos_, end_ - pos_));
                if (w.is_pending()) return Pending;
                if (!*w) return Ready(Out(std::unexpect, w->error()));
                if (**w == 0) return Ready(Out(error(errc::write_zero)));
                pos_ += **w;
                transferred_ += **w;
                need_flush_ = true;
            }
            if (read_done_) {
                auto f = writer.poll_flush(cx);
                if (f.is_pending()) return Pending;
                if (!*f) return Ready(Out(std::unexpect, f->error()));
                need_flush_ = false;
                return Ready(Out(transferred_));
            }
        }
    }

    std::uint64_t transferred() const noexcept { return transferred_; }

private:
    std::unique_ptr<std::byte[]> buf_;
    std::size_t pos_ = 0;
    std::size_t end_ = 0;
    std::uint64_t transferred_ = 0;
    bool read_done_ = false;
    bool need_flush_ = false;
};

/// One direction of copy_bidirectional: copy, then shut the writer down.
class CopyDirection {
public:
    template <AsyncRead R, AsyncWrite W>
    Poll<Result<void>> poll(Context& cx, R& reader, W& writer) {
        if (state_ == State::Copying) {
            auto c = buf_.poll_copy(cx, reader, writer);
            if (c.is_pending()) return Pending;
            if (!*c) return Ready(Result<void>(std::unexpect, c->error()));
            state_ = State::ShuttingDown;
        }
        if (state_ == State::ShuttingDown) {
            auto s = writer.poll_shutdown(cx);
            if (s.is_pending()) return Pending;
            if (!*s) return Ready(Result<void>(std::unexpect, s->error()));
            state_ = State::Done;
        }
        return Ready(Result<void>());
    }

    bool done() const noexcept { return state_ == State::Done; }
    std::uint64_t transferred() const noexcept { return buf_.transferred(); }

private:
    enum class State : std::uint8_t { Copying, ShuttingDown, Done };
    CopyBuffer buf_;
    State state_ = State::Copying;
};

}  // namespace detail

/// The future of io::copy().
template <AsyncRead R, AsyncWrite W>
class CORIO_NODISCARD_FUTURE CopyFuture {
public:
    using Output = Result<std::uint64_t>;
    CopyFuture(R& reader, W& writer) : reader_(&reader), writer_(&writer) {}
    Poll<Output> poll(Context& cx) { return buf_.poll_copy(cx, *reader_, *writer_); }

private:
    R* reader_;
    W* writer_;
    detail::CopyBuffer buf_;
};

/// Copies everything `reader` yields to `writer` until the reader's end of
/// stream, then flushes `writer` (without shutting it down): the number of
/// bytes copied, or the first error of either side (write_zero when a write
/// accepts no bytes). Uses an 8 KiB heap buffer. `reader` and `writer` must
/// outlive the future.
/// Not cancellation-safe: dropped midway, up to 8 KiB read from `reader` and
/// not yet written to `writer` are lost, and the count is unknown.
template <AsyncRead R, AsyncWrite W>
CopyFuture<R, W> copy(R& reader, W& writer) {
    return CopyFuture<R, W>(reader, writer);
}

/// The future of io::copy_bidirectional().
template <class A, class B>
    requires AsyncRead<A> && AsyncWrite<A> && AsyncRead<B> && AsyncWrite<B>
class CORIO_NODISCARD_FUTURE CopyBidirectionalFuture {
public:
    using Output = Result<std::pair<std::uint64_t, std::uint64_t>>;
    CopyBidirectionalFuture(A& a, B& b) : a_(&a), b_(&b) {}

    Poll<Output> poll(Context& cx) {
        // Both directions are polled every time: each registers its own
        // interest (read on one side, write on the other), so a wake for
        // either one finds the work it stands for.
        if (!a_to_b_.done()) {
            auto r = a_to_b_.poll(cx, *a_, *b_);
            if (r.is_ready() && !*r) return Ready(Output(std::unexpect, r->error()));
        }
        if (!b_to_a_.done()) {
            auto r = b_to_a_.poll(cx, *b_, *a_);
            if (r.is_ready() && !*r) return Ready(Output(std::unexpect, r->error()));
        }
        if (!a_to_b_.done() || !b_to_a_.done()) return Pending;
        return Ready(Output(std::in_place, a_to_b_.transferred(), b_to_a_.transferred()));
    }

private:
    A* a_;
    B* b_;
    detail::CopyDirection a_to_b_;
    detail::CopyDirection b_to_a_;
};

/// Copies `a` to `b` and `b` to `a` at the same time. When one side reaches
/// end of stream, the other side's writing half is flushed and shut down
/// (so its peer sees end of stream too); completes when both directions are
/// done, with (bytes a->b, bytes b->a), or at the first error of any side.
/// `a` and `b` must outlive the future; each must store the waker of its
/// read and of its write interest separately (as sockets and DuplexStream do).
/// Not cancellation-safe: dropped midway, up to 8 KiB per direction read and
/// not yet written are lost.
template <class A, class B>
    requires AsyncRead<A> && AsyncWrite<A> && AsyncRead<B> && AsyncWrite<B>
CopyBidirectionalFuture<A, B> copy_bidirectional(A& a, B& b) {
    return CopyBidirectionalFuture<A, B>(a, b);
}

}  // namespace corio::io
