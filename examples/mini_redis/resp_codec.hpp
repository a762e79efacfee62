// The RESP2 codecs of mini-redis (corio::codec Decoder + Encoder): what a
// corio::codec::Framed connection reads and writes with.
//
//   RequestCodec  the server's: decodes requests as their words, zero-copy
//                 (views into the Framed's read buffer), and encodes replies
//   FrameCodec    the client's: decodes any Frame, encodes Frames
//
// Zero-copy: a request's words point into the bytes decode() consumed.
// BytesMut::advance moves no byte, so they stay valid until the next decode
// (which reuses the codec's word list) or the next read into the buffer,
// whichever comes first: the server runs each command before either.
//
// Errors: a request or frame that breaks the protocol or its limits is the
// error resp_errc::protocol_error; the codec's protocol_error() holds Redis's
// wording of it ("Protocol error: invalid bulk length"), which the server
// answers as "-ERR <message>" before it closes the connection. An incomplete
// frame larger than kMaxFrameBytes is such an error, so the read buffer never
// holds more than that plus one read.
#pragma once

#include <corio/codec/buffer.hpp>
#include <corio/io/core.hpp>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "frame.hpp"

namespace mini_redis {

/// The errors of the RESP codecs.
enum class resp_errc {
    protocol_error = 1,  ///< bytes that are not RESP, or over its limits (see the codec's protocol_error())
};

/// The category of resp_errc codes ("mini_redis.resp").
const std::error_category& resp_category() noexcept;

/// `e` as an error code.
inline std::error_code make_error_code(resp_errc e) noexcept { return {static_cast<int>(e), resp_category()}; }

/// Encodes Frames and the server's replies (frame.hpp's resp:: values).
/// Encoding never fails.
class RespEncoder {
public:
    /// Appends `frame`.
    corio::io::Result<void> encode(const Frame& frame, corio::codec::BytesMut& dst) {
        mini_redis::encode(frame, dst);
        return {};
    }
    /// Appends "+text\r\n".
    corio::io::Result<void> encode(resp::Simple reply, corio::codec::BytesMut& dst) {
        resp::simple(dst, reply.text);
        return {};
    }
    /// Appends "-message\r\n".
    corio::io::Result<void> encode(resp::Error reply, corio::codec::BytesMut& dst) {
        resp::error(dst, reply.message);
        return {};
    }
    /// Appends ":value\r\n".
    corio::io::Result<void> encode(resp::Integer reply, corio::codec::BytesMut& dst) {
        resp::integer(dst, reply.value);
        return {};
    }
    /// Appends "$len\r\nbytes\r\n".
    corio::io::Result<void> encode(resp::Bulk reply, corio::codec::BytesMut& dst) {
        resp::bulk(dst, reply.bytes);
        return {};
    }
    /// Appends "$-1\r\n".
    corio::io::Result<void> encode(resp::NullBulk, corio::codec::BytesMut& dst) {
        resp::null_bulk(dst);
        return {};
    }
    /// Appends "*size\r\n".
    corio::io::Result<void> encode(resp::ArrayHeader reply, corio::codec::BytesMut& dst) {
        resp::array_header(dst, reply.size);
        return {};
    }
    /// Appends "*-1\r\n".
    corio::io::Result<void> encode(resp::NullArray, corio::codec::BytesMut& dst) {
        resp::null_array(dst);
        return {};
    }
};

/// The server's codec: requests in (Item: the words of one request, the
/// command's name first; no words for an empty line, "*0" or "*-1", which a
/// server skips), replies out. See the header comment for how long the
/// words stay valid. Allocates nothing per request once the largest request
/// seen so far fits its word list.
class RequestCodec : public RespEncoder {
public:
    using Item = std::span<const std::string_view>;

    /// The next request, consumed from `buf`; nullopt while it is
    /// incomplete; resp_errc::protocol_error for a malformed one or one over
    /// the limits (including an incomplete one over kMaxFrameBytes).
    corio::io::Result<std::optional<Item>> decode(corio::codec::BytesMut& buf);

    /// Redis's wording of the last protocol error ("Protocol error: ...").
    const std::string& protocol_error() const noexcept { return error_; }

private:
    CommandArgs args_;  // the words of the last request decoded, reused
    std::string error_;
};

/// The client's codec: any Frame in (as a client reads replies), Frames out.
class FrameCodec : public RespEncoder {
public:
    using Item = Frame;

    /// The next frame, consumed from `buf`; nullopt while it is incomplete;
    /// resp_errc::protocol_error for a malformed one or one over the limits.
    corio::io::Result<std::optional<Frame>> decode(corio::codec::BytesMut& buf);

    /// Redis's wording of the last protocol error ("Protocol error: ...").
    const std::string& protocol_error() const noexcept { return error_; }

private:
    std::string error_;
};

/// Gives back the storage of `buf` when it is empty and large (after a large
/// frame), since a BytesMut keeps its capacity. Call it only while nothing
/// points into the buffer.
void release_if_large(corio::codec::BytesMut& buf) noexcept;

}  // namespace mini_redis

template <>
struct std::is_error_code_enum<mini_redis::resp_errc> : std::true_type {};
