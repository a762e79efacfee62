// io::BufReader: an AsyncRead that reads its inner reader in large chunks
// and serves small reads, lines and delimited records from its buffer.
//
// Invariant: bytes [pos_, filled_) of the buffer were read from the inner
// reader and not yet handed out; the inner reader is read only when that
// range is empty, so bytes come out in the order they went in.
//
// This header depends on <corio/io/core.hpp> only (<corio/io.hpp> includes
// both), so it must not include another io/ facility header.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "corio/future.hpp"
#include "corio/io/core.hpp"

namespace corio::io {

template <AsyncRead R>
class BufReader;

template <class Reader>
class Lines;

/// The future of BufReader::read_line() and BufReader::read_until().
template <class Reader, class Buf>
class CORIO_NODISCARD_FUTURE ReadUntilFuture {
public:
    using Output = Result<std::size_t>;
    ReadUntilFuture(Reader& reader, std::byte delim, Buf& out) noexcept : reader_(&reader), out_(&out), delim_(delim) {}
    Poll<Output> poll(Context& cx) { return reader_->poll_read_until(cx, delim_, *out_, read_); }

private:
    Reader* reader_;
    Buf* out_;
    std::byte delim_;
    std::size_t read_ = 0;
};

/// Buffers the reads of an owned AsyncRead `R`. Itself an AsyncRead (and an
/// AsyncWrite passing writes straight through, when `R` is one), so a
/// BufReader<TcpStream> still answers on the same socket.
///
/// Reads at least as large as the buffer, made while it is empty, bypass it.
template <AsyncRead R>
class BufReader {
public:
    static constexpr std::size_t kDefaultCapacity = 8 * 1024;

    /// Wraps `inner` with a buffer of `capacity` bytes (0 is taken as 1).
    explicit BufReader(R inner, std::size_t capacity = kDefaultCapacity)
        : inner_(std::move(inner)),
          capacity_(capacity > 0 ? capacity : 1),
          buf_(std::make_unique_for_overwrite<std::byte[]>(capacity_)) {}

    /// The buffered bytes, refilled from the inner reader when none are
    /// left: empty only at end of stream. Hand back what was used with
    /// consume(). The span is valid until the next call on this reader.
    Poll<Result<std::span<const std::byte>>> poll_fill_buf(Context& cx) {
        using Out = Result<std::span<const std::byte>>;
        if (pos_ == filled_) {
            auto r = inner_.poll_read(cx, std::span(buf_.get(), capacity_));
            if (r.is_pending()) return Pending;
            if (!*r) return Ready(Out(std::unexpect, r->error()));
            pos_ = 0;
            filled_ = **r;
        }
        return Ready(Out(buffer()));
    }

    /// Marks the first `n` bytes of the buffer as read (clamped to what is
    /// buffered).
    void consume(std::size_t n) noexcept { pos_ += n < filled_ - pos_ ? n : filled_ - pos_; }

    /// The bytes buffered and not yet consumed (no I/O).
    std::span<const std::byte> buffer() const noexcept { return {buf_.get() + pos_, filled_ - pos_}; }

    /// The buffer's capacity in bytes.
    std::size_t capacity() const noexcept { return capacity_; }

    /// Reads into `out` from the buffer (refilling it when empty): how many
    /// bytes, 0 at end of stream or when `out` is empty.
    Poll<Result<std::size_t>> poll_read(Context& cx, std::span<std::byte> out) {
        using Out = Result<std::size_t>;
        if (out.empty()) return Ready(Out(0));
        if (pos_ == filled_ && out.size() >= capacity_) {
            pos_ = filled_ = 0;
            return inner_.poll_read(cx, out);
        }
        auto r = poll_fill_buf(cx);
        if (r.is_pending()) return Pending;
        if (!*r) return Ready(Out(std::unexpect, r->error()));
        std::size_t n = (*r)->size() < out.size() ? (*r)->size() : out.size();
        if (n != 0) std::memcpy(out.data(), (*r)->data(), n);
        consume(n);
        return Ready(Out(n));
    }

    /// Appends bytes to `out` up to and including the first `delim`, or up to
    /// end of stream. `read` carries the count across Pending polls (start at
    /// 0): returns the total appended by this call and resets `read` to 0.
    /// The building block of read_until(), read_line() and lines().
    template <class Buf>
    Poll<Result<std::size_t>> poll_read_until(Context& cx, std::byte delim, Buf& out, std::size_t& read) {
        using Out = Result<std::size_t>;
        for (;;) {
            auto r = poll_fill_buf(cx);
            if (r.is_pending()) return Pending;
            if (!*r) return Ready(Out(std::unexpect, r->error()));
            std::span<const std::byte> avail = **r;
            if (avail.empty()) return Ready(Out(std::exchange(read, 0)));  // end of stream
            const void* hit = std::memchr(avail.data(), static_cast<unsigned char>(delim), avail.size());
            const bool found = hit != nullptr;
            std::size_t take =
                found ? static_cast<std::size_t>(static_cast<const std::byte*>(hit) - avail.data()) + 1 : avail.size();
            append(out, avail.first(take));
            consume(take);
            read += take;
            if (found) return Ready(Out(std::exchange(read, 0)));
        }
    }

    /// Appends the bytes up to and including `delim` (or up to end of
    /// stream) to `out`: how many, 0 at end of stream. `out` must outlive the
    /// future. Cancellation-safe: the bytes consumed before a drop stay
    /// appended to `out`, and calling again continues the same record.
    ReadUntilFuture<BufReader, std::vector<std::byte>> read_until(std::byte delim,
                                                                  std::vector<std::byte>& out) noexcept {
        return {*this, delim, out};
    }

    /// Appends the next line, '\n' included (none at an unterminated end),
    /// to `line`: how many bytes, 0 at end of stream. The bytes are not
    /// checked for being UTF-8. `line` must outlive the future.
    /// Cancellation-safe: the bytes consumed before a drop stay appended to
    /// `line`, and calling again continues the same line.
    ReadUntilFuture<BufReader, std::string> read_line(std::string& line) noexcept {
        return {*this, std::byte{'\n'}, line};
    }

    /// The lines of this reader, borrowed (this reader must outlive them).
    Lines<BufReader&> lines() & noexcept;
    /// The lines of this reader, which they take ownership of.
    Lines<BufReader> lines() &&;

    /// Writes go straight to the inner writer.
    Poll<Result<std::size_t>> poll_write(Context& cx, std::span<const std::byte> buf)
        requires AsyncWrite<R>
    {
        return inner_.poll_write(cx, buf);
    }
    Poll<Result<void>> poll_flush(Context& cx)
        requires AsyncWrite<R>
    {
        return inner_.poll_flush(cx);
    }
    Poll<Result<void>> poll_shutdown(Context& cx)
        requires AsyncWrite<R>
    {
        return inner_.poll_shutdown(cx);
    }

    /// The inner reader. Reading from it directly skips the buffered bytes.
    R& get_ref() noexcept { return inner_; }
    const R& get_ref() const noexcept { return inner_; }
    /// Same as get_ref() (Tokio's name for the mutable access).
    R& get_mut() noexcept { return inner_; }

    /// Gives the inner reader back; the buffered bytes are lost.
    R into_inner() && { return std::move(inner_); }

private:
    static void append(std::string& out, std::span<const std::byte> bytes) {
        out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    static void append(std::vector<std::byte>& out, std::span<const std::byte> bytes) {
        out.insert(out.end(), bytes.begin(), bytes.end());
    }

    R inner_;
    std::size_t capacity_;
    std::unique_ptr<std::byte[]> buf_;
    std::size_t pos_ = 0;
    std::size_t filled_ = 0;
};

/// The future of Lines::next().
template <class Reader>
class CORIO_NODISCARD_FUTURE NextLineFuture {
public:
    using Output = Result<std::optional<std::string>>;
    explicit NextLineFuture(Lines<Reader>& lines) noexcept : lines_(&lines) {}
    Poll<Output> poll(Context& cx) { return lines_->poll_next_line(cx); }

private:
    Lines<Reader>* lines_;
};

/// The lines of a BufReader, one at a time: a stream-like object. `Reader`
/// is BufReader<R> (owned) or BufReader<R>& (borrowed).
template <class Reader>
class Lines {
    using Buffered = std::remove_reference_t<Reader>;

public:
    explicit Lines(Reader reader) : reader_(std::forward<Reader>(reader)) {}

    /// The next line without its "\n" or "\r\n"; std::nullopt at end of
    /// stream; or the reader's error. The last line need not end in "\n".
    /// Bytes are not checked for being UTF-8.
    Poll<Result<std::optional<std::string>>> poll_next_line(Context& cx) {
        using Out = Result<std::optional<std::string>>;
        auto r = reader_.poll_read_until(cx, std::byte{'\n'}, partial_, read_);
        if (r.is_pending()) return Pending;
        if (!*r) return Ready(Out(std::unexpect, r->error()));
        // Anything but end of stream appended at least one byte.
        if (partial_.empty()) return Ready(Out(std::nullopt));
        if (partial_.back() == '\n') {
            partial_.pop_back();
            if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
        }
        return Ready(Out(std::exchange(partial_, std::string())));
    }

    /// The lines as a corio::Stream: each line (as poll_next_line()), an
    /// error as an error item (the stream goes on after it), and the end at
    /// end of stream. Cancellation-safe as next().
    using Item = Result<std::string>;
    /// poll_next_line under the Stream name.
    Poll<std::optional<Item>> poll_next(Context& cx) {
        auto r = poll_next_line(cx);
        if (r.is_pending()) return Pending;
        if (!*r) return Ready(std::optional<Item>(std::in_place, std::unexpect, r->error()));
        if (!**r) return Poll<std::optional<Item>>(std::in_place);
        return Ready(std::optional<Item>(std::in_place, std::move(***r)));
    }

    /// Waits for the next line (see poll_next_line()). This object must
    /// outlive the future. Cancellation-safe: a partly read line is kept
    /// here, and the next call completes it.
    NextLineFuture<Reader> next() noexcept { return NextLineFuture<Reader>(*this); }

    /// The underlying BufReader.
    Buffered& get_ref() noexcept { return reader_; }
    const Buffered& get_ref() const noexcept { return reader_; }

    /// Gives the owned BufReader back; a partly read line is lost.
Buffered into_inner() && requires(!std::is_reference_v<Reader>) { return std::move(reader_); }

    private : Reader reader_;
    std::string partial_;  // the line being assembled, across Pending polls
    std::size_t read_ = 0;
};

template <AsyncRead R>
Lines<BufReader<R>&> BufReader<R>::lines() & noexcept {
    return Lines<BufReader&>(*this);
}

template <AsyncRead R>
Lines<BufReader<R>> BufReader<R>::lines() && {
    return Lines<BufReader>(std::move(*this));
}

}  // namespace corio::io
