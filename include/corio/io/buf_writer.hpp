// io::BufWriter: an AsyncWrite that collects small writes in a buffer and
// hands them to its inner writer in large chunks.
//
// Invariant: bytes [written_, buf_.size()) of the buffer were accepted from
// the caller and not yet written to the inner writer; the inner writer sees
// them, in order, before any later byte. The inner writer is written only
// when the buffer cannot take the next write, or on flush / shutdown.
//
// This header depends on <corio/io/core.hpp> only (<corio/io.hpp> includes
// both), so it must not include another io/ facility header.
#pragma once

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "corio/future.hpp"
#include "corio/io/core.hpp"

namespace corio::io {

/// The future of BufWriter::flush() and BufWriter::shutdown().
template <class Writer, Poll<Result<void>> (Writer::*Op)(Context&)>
class CORIO_NODISCARD_FUTURE BufWriterOpFuture {
public:
    using Output = Result<void>;
    explicit BufWriterOpFuture(Writer& writer) noexcept : writer_(&writer) {}
    Poll<Output> poll(Context& cx) { return (writer_->*Op)(cx); }

private:
    Writer* writer_;
};

/// Buffers the writes to an owned AsyncWrite `W`. Itself an AsyncWrite (and
/// an AsyncRead passing reads straight through, when `W` is one).
///
/// A write that fits in the buffer is only copied there; the buffer goes to
/// the inner writer when the next write does not fit, or on poll_flush /
/// poll_shutdown. A write at least as large as the buffer goes straight
/// through (after the buffer). Bytes still buffered when the BufWriter is
/// destroyed are lost: flush (or shut down) first.
template <AsyncWrite W>
class BufWriter {
public:
    static constexpr std::size_t kDefaultCapacity = 8 * 1024;

    /// Wraps `inner` with a buffer of `capacity` bytes (0 is taken as 1).
    explicit BufWriter(W inner, std::size_t capacity = kDefaultCapacity)
        : inner_(std::move(inner)), capacity_(capacity > 0 ? capacity : 1) {
        buf_.reserve(capacity_);
    }

    /// Accepts `data`: all of it into the buffer when it fits (writing the
    /// buffer out first when it does not), or straight to the inner writer
    /// when it is at least as large as the buffer. How many bytes were taken,
    /// or the inner writer's error (write_zero if it accepted no bytes).
    Poll<Result<std::size_t>> poll_write(Context& cx, std::span<const std::byte> data) {
        using Out = Result<std::size_t>;
        if (buf_.size() + data.size() > capacity_) {
            auto f = poll_flush_buf(cx);
            if (f.is_pending()) return Pending;
            if (!*f) return Ready(Out(std::unexpect, f->error()));
        }
        if (data.size() >= capacity_) return inner_.poll_write(cx, data);
        buf_.insert(buf_.end(), data.begin(), data.end());
        return Ready(Out(data.size()));
    }

    /// Writes the buffer out, then flushes the inner writer.
    Poll<Result<void>> poll_flush(Context& cx) {
        auto f = poll_flush_buf(cx);
        if (f.is_pending()) return Pending;
        if (!*f) return f;
        return inner_.poll_flush(cx);
    }

    /// Writes the buffer out, then shuts the inner writer down.
    Poll<Result<void>> poll_shutdown(Context& cx) {
        auto f = poll_flush_buf(cx);
        if (f.is_pending()) return Pending;
        if (!*f) return f;
        return inner_.poll_shutdown(cx);
    }

    /// Writes the buffer out and flushes the inner writer. This writer must
    /// outlive the future. Cancellation-safe: nothing is lost when it is
    /// dropped (what was not written out stays buffered).
    BufWriterOpFuture<BufWriter, &BufWriter::poll_flush> flush() noexcept {
        return BufWriterOpFuture<BufWriter, &BufWriter::poll_flush>(*this);
    }

    /// Writes the buffer out and shuts the inner writer down. This writer
    /// must outlive the future. Cancellation-safe as flush() is.
    BufWriterOpFuture<BufWriter, &BufWriter::poll_shutdown> shutdown() noexcept {
        return BufWriterOpFuture<BufWriter, &BufWriter::poll_shutdown>(*this);
    }

    /// Reads go straight to the inner reader.
    Poll<Result<std::size_t>> poll_read(Context& cx, std::span<std::byte> buf)
        requires AsyncRead<W>
    {
        return inner_.poll_read(cx, buf);
    }

    /// The bytes buffered and not yet written out.
    std::span<const std::byte> buffer() const noexcept { return std::span(buf_).subspan(written_); }
    /// The buffer's capacity in bytes.
    std::size_t capacity() const noexcept { return capacity_; }

    /// The inner writer. Writing to it directly overtakes the buffered bytes.
    W& get_ref() noexcept { return inner_; }
    const W& get_ref() const noexcept { return inner_; }
    /// Same as get_ref() (Tokio's name for the mutable access).
    W& get_mut() noexcept { return inner_; }

    /// Gives the inner writer back; the buffered bytes are lost (flush first).
    W into_inner() && { return std::move(inner_); }

private:
    // Writes the buffer out. On Pending or an error what was written is
    // remembered in written_, so the next call continues after it.
    Poll<Result<void>> poll_flush_buf(Context& cx) {
        using Out = Result<void>;
        while (written_ < buf_.size()) {
            auto r = inner_.poll_write(cx, std::span<const std::byte>(buf_).subspan(written_));
            if (r.is_pending()) return Pending;
            if (!*r) return Ready(Out(std::unexpect, r->error()));
            if (**r == 0) return Ready(Out(error(errc::write_zero)));
            written_ += **r;
        }
        buf_.clear();
        written_ = 0;
        return Ready(Out());
    }

    W inner_;
    std::size_t capacity_;
    std::vector<std::byte> buf_;
    std::size_t written_ = 0;
};

}  // namespace corio::io
