// Decoder and Encoder, and the framed reader/writer over an AsyncRead /
// AsyncWrite: FramedRead (a Stream of frames), FramedWrite (a Sink of
// items) and Framed (both, over one I/O object).
//
// Reading: frames are decoded from one BytesMut that is refilled by reads
// of at least kReadChunk bytes of spare room; a decoder consumes what it
// decodes, so the buffer is reused for the whole connection and holds at
// most one partial frame (bounded by the codec's limit) plus one read.
// After the first error item (an I/O error or a decoder's), the stream
// ends: the error is reported once, then nullopt, as in tokio-util.
//
// Writing: start_send encodes into one write buffer and poll_flush writes
// it out, so items sent together (send_all, or several start_send before
// one flush) go out in as few writes as the kernel accepts. poll_ready asks
// for a flush only once kBackpressure bytes are waiting.
#pragma once

#include <concepts>
#include <cstddef>
#include <expected>
#include <optional>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>

#include "corio/codec/buffer.hpp"
#include "corio/future.hpp"
#include "corio/io/core.hpp"

namespace corio::codec {

/// Decodes frames from the front of a buffer: `decode(buf)` returns a frame
/// (consuming its bytes), nullopt when more bytes are needed (consuming
/// nothing it will need again), or an error. A decoder may also have
/// `decode_eof(buf)`, called once the input has ended (see decode_eof()).
template <class D>
concept Decoder = requires(D& d, BytesMut& buf) {
    typename D::Item;
    { d.decode(buf) } -> std::same_as<io::Result<std::optional<typename D::Item>>>;
};

/// Encodes an `Item` by appending its bytes to a buffer (or an error, the
/// buffer then unchanged).
template <class E, class Item>
concept Encoder = requires(E& e, Item&& item, BytesMut& dst) {
    { e.encode(std::forward<Item>(item), dst) } -> std::same_as<io::Result<void>>;
};

/// The last frames once the input has ended: the decoder's own decode_eof
/// if it has one; else decode(), and when that needs more bytes while some
/// are left, codec::errc::incomplete_frame (the stream ended mid-frame).
template <Decoder D>
io::Result<std::optional<typename D::Item>> decode_eof(D& decoder, BytesMut& buf) {
    if constexpr (requires { decoder.decode_eof(buf); }) {
        return decoder.decode_eof(buf);
    } else {
        auto frame = decoder.decode(buf);
        if (!frame || *frame || buf.empty()) return frame;
        buf.clear();
        return std::unexpected(make_error_code(errc::incomplete_frame));
    }
}

/// How many bytes of spare room a framed reader offers each read.
inline constexpr std::size_t kReadChunk = 8 * 1024;
/// Write-buffer size above which a framed writer's poll_ready flushes first.
inline constexpr std::size_t kBackpressure = 128 * 1024;

namespace detail {

/// The reading half of the framed types: one buffer, one decoder state.
template <class IO, class D>
class FrameReader {
public:
    using Item = io::Result<typename D::Item>;

    Poll<std::optional<Item>> poll_next(IO& io, D& decoder, Context& cx) {
        if (done_) return Poll<std::optional<Item>>(std::in_place);
        for (;;) {
            auto frame = eof_ ? codec::decode_eof(decoder, buf_) : decoder.decode(buf_);
            if (!frame) return fail(frame.error());
            if (*frame) return Ready(std::optional<Item>(std::in_place, std::move(**frame)));
            if (eof_) {
                done_ = true;
                return Poll<std::optional<Item>>(std::in_place);
            }
            auto n = io.poll_read(cx, buf_.write_area(kReadChunk));
            if (n.is_pending()) return Pending;
            if (!*n) return fail(n->error());
            if (**n == 0) {
                eof_ = true;
            } else {
                buf_.commit(**n);
            }
        }
    }

    /// The next frame already in the buffer, without reading; nullopt when
    /// the buffer holds no whole frame or the stream has ended. A decoder
    /// error is the stream's error item: nullopt from then on.
    std::optional<Item> next_buffered(D& decoder) {
        if (done_) return std::nullopt;
        auto frame = decoder.decode(buf_);
        if (!frame) {
            done_ = true;  // one error item, then the end
            return std::optional<Item>(std::in_place, std::unexpect, frame.error());
        }
        if (!*frame) return std::nullopt;
        return std::optional<Item>(std::in_place, std::move(**frame));
    }

    BytesMut& buffer() noexcept { return buf_; }

private:
    Poll<std::optional<Item>> fail(std::error_code ec) {
        done_ = true;  // one error item, then the end
        return Ready(std::optional<Item>(std::in_place, std::unexpect, ec));
    }

    BytesMut buf_;
    bool eof_ = false;   // the reader returned 0: only decode_eof is left
    bool done_ = false;  // ended or failed: nullopt from now on
};

/// The writing half of the framed types: one buffer of encoded items.
template <class IO>
class FrameWriter {
public:
    using Result = io::Result<void>;

    Poll<Result> poll_ready(IO& io, Context& cx) {
        if (buf_.size() < kBackpressure) return Ready(Result());
        return poll_flush(io, cx);
    }

    template <class E, class T>
    Result start_send(E& encoder, T&& item) {
        return encoder.encode(std::forward<T>(item), buf_);
    }

    Poll<Result> poll_flush(IO& io, Context& cx) {
        while (!buf_.empty()) {
            auto n = io.poll_write(cx, buf_.data());
            if (n.is_pending()) return Pending;
            if (!*n) return Ready(Result(std::unexpect, n->error()));
            if (**n == 0) return Ready(Result(std::unexpect, io::make_error_code(io::errc::write_zero)));
            buf_.advance(**n);
        }
        return io.poll_flush(cx);
    }

    Poll<Result> poll_close(IO& io, Context& cx) {
        auto flushed = poll_flush(io, cx);
        if (flushed.is_pending() || !*flushed) return flushed;
        return io.poll_shutdown(cx);
    }

    BytesMut& buffer() noexcept { return buf_; }

private:
    BytesMut buf_;
};

}  // namespace detail

/// A Stream of the frames `D` decodes from the reader `IO` (owned; or
/// borrowed when IO is a reference type): Item = io::Result<D::Item>. After
/// an error item the stream ends. Cancellation-safe: a dropped stream::next
/// loses nothing (bytes read stay in the buffer). Like every stream, it
/// must not be moved after its first poll.
template <class IO, Decoder D>
    requires io::AsyncRead<std::remove_reference_t<IO>>
class FramedRead {
public:
    using Item = io::Result<typename D::Item>;

    FramedRead(IO io, D decoder) : io_(std::forward<IO>(io)), decoder_(std::move(decoder)) {}

    Poll<std::optional<Item>> poll_next(Context& cx) { return reader_.poll_next(io_, decoder_, cx); }

    /// The next frame already in the read buffer, decoded without reading
    /// (nullopt when the buffer holds no whole frame, or after the end): a
    /// server answers every request of a pipelined read, then flushes once,
    /// before it awaits stream::next again. An error item ends the stream
    /// as one from poll_next does.
    std::optional<Item> next_buffered() { return reader_.next_buffered(decoder_); }

    std::remove_reference_t<IO>& get_ref() noexcept { return io_; }
    D& decoder() noexcept { return decoder_; }
    /// The bytes read and not decoded yet.
    BytesMut& read_buffer() noexcept { return reader_.buffer(); }
    /// The reader back; bytes buffered and not decoded are lost.
std::remove_reference_t<IO> into_inner() && requires(!std::is_reference_v<IO>) { return std::move(io_); }

    private : IO io_;
    D decoder_;
    detail::FrameReader<std::remove_reference_t<IO>, D> reader_;
};

/// A Sink of the items `E` encodes, written to `IO` (owned, or borrowed when
/// IO is a reference type); Error = std::error_code. Dropping it loses the
/// items handed over and not yet flushed (only those: a flush that returned
/// ok wrote everything before it).
template <class IO, class E>
    requires io::AsyncWrite<std::remove_reference_t<IO>>
class FramedWrite {
public:
    using Error = std::error_code;

    FramedWrite(IO io, E encoder) : io_(std::forward<IO>(io)), encoder_(std::move(encoder)) {}

    Poll<io::Result<void>> poll_ready(Context& cx) { return writer_.poll_ready(io_, cx); }
    template <class T>
        requires Encoder<E, T>
    io::Result<void> start_send(T&& item) {
        return writer_.start_send(encoder_, std::forward<T>(item));
    }
    Poll<io::Result<void>> poll_flush(Context& cx) { return writer_.poll_flush(io_, cx); }
    Poll<io::Result<void>> poll_close(Context& cx) { return writer_.poll_close(io_, cx); }

    std::remove_reference_t<IO>& get_ref() noexcept { return io_; }
    E& encoder() noexcept { return encoder_; }
    /// The encoded bytes not written yet.
    BytesMut& write_buffer() noexcept { return writer_.buffer(); }
    /// The writer back; encoded bytes not flushed are lost.
std::remove_reference_t<IO> into_inner() && requires(!std::is_reference_v<IO>) { return std::move(io_); }

    private : IO io_;
    E encoder_;
    detail::FrameWriter<std::remove_reference_t<IO>> writer_;
};

/// One I/O object read and written through one codec: a Stream of decoded
/// frames (Item = io::Result<Codec::Item>; it ends after an error item) and
/// a Sink of every item type the codec encodes (Error = std::error_code).
/// Reads reuse one buffer; items sent together go out in one write.
/// Cancellation: a dropped stream::next loses nothing; dropping the Framed
/// loses the bytes read but not decoded, and the items handed over but not
/// yet flushed (only those).
template <class IO, class Codec>
    requires Decoder<Codec> && io::AsyncRead<std::remove_reference_t<IO>> && io::AsyncWrite<std::remove_reference_t<IO>>
class Framed {
public:
    using Item = io::Result<typename Codec::Item>;
    using Error = std::error_code;

    Framed(IO io, Codec codec) : io_(std::forward<IO>(io)), codec_(std::move(codec)) {}

    Poll<std::optional<Item>> poll_next(Context& cx) { return reader_.poll_next(io_, codec_, cx); }

    /// The next frame already in the read buffer, decoded without reading
    /// (nullopt when the buffer holds no whole frame, or after the end): a
    /// server answers every request of a pipelined read, then flushes once,
    /// before it awaits stream::next again. An error item ends the stream
    /// as one from poll_next does.
    std::optional<Item> next_buffered() { return reader_.next_buffered(codec_); }

    Poll<io::Result<void>> poll_ready(Context& cx) { return writer_.poll_ready(io_, cx); }
    template <class T>
        requires Encoder<Codec, T>
    io::Result<void> start_send(T&& item) {
        return writer_.start_send(codec_, std::forward<T>(item));
    }
    Poll<io::Result<void>> poll_flush(Context& cx) { return writer_.poll_flush(io_, cx); }
    Poll<io::Result<void>> poll_close(Context& cx) { return writer_.poll_close(io_, cx); }

    std::remove_reference_t<IO>& get_ref() noexcept { return io_; }
    Codec& codec() noexcept { return codec_; }
    BytesMut& read_buffer() noexcept { return reader_.buffer(); }
    BytesMut& write_buffer() noexcept { return writer_.buffer(); }
    /// The I/O object back; buffered bytes (read or to write) are lost.
std::remove_reference_t<IO> into_inner() && requires(!std::is_reference_v<IO>) { return std::move(io_); }

    private : IO io_;
    Codec codec_;
    detail::FrameReader<std::remove_reference_t<IO>, Codec> reader_;
    detail::FrameWriter<std::remove_reference_t<IO>> writer_;
};

}  // namespace corio::codec
