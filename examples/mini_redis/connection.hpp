// The two ends of a RESP connection, as corio::codec::Framed streams over a
// TcpStream. The server's, ServerConnection, decodes requests as views into
// its read buffer and encodes replies into its write buffer (session.hpp
// runs every pipelined request that has arrived, then flushes once). The
// client's, Connection, reads and writes whole Frames.
#pragma once

#include <corio/codec/framed.hpp>
#include <corio/io.hpp>
#include <corio/net.hpp>
#include <corio/task.hpp>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "frame.hpp"
#include "resp_codec.hpp"

namespace mini_redis {

/// The server's end of a connection: a Stream of requests (Item:
/// io::Result<RequestCodec::Item>) and a Sink of replies. Like every
/// stream, it must not be moved after its first poll.
using ServerConnection = corio::codec::Framed<corio::net::TcpStream, RequestCodec>;

/// Why a client operation failed.
struct Error {
    enum class Kind {
        Io,        ///< the socket failed (see `io`)
        Closed,    ///< the server closed the connection
        Protocol,  ///< the server sent bytes that are not RESP
        Server,    ///< the server answered with an error reply (see `message`)
        Reply,     ///< the server answered with an unexpected type of reply
    };
    Kind kind;
    std::string message;
    std::error_code io{};

    /// An Io error for `ec`.
    static Error from_io(std::error_code ec) { return Error{Kind::Io, ec.message(), ec}; }
};

/// The result of a client operation.
template <class T>
using Result = std::expected<T, Error>;

/// The client's end of a connection: Frames in and out over a TcpStream.
class Connection {
public:
    /// Takes over a connected stream, with empty buffers.
    explicit Connection(corio::net::TcpStream stream);

    /// The next frame; std::nullopt when the peer closed the connection
    /// between frames. Errors: Io, Protocol (malformed or over the limits),
    /// Closed (the peer closed in the middle of a frame); after one, every
    /// call returns it again. Cancellation-safe: the bytes of a partial
    /// frame stay buffered for the next call.
    corio::Task<Result<std::optional<Frame>>> read_frame();

    /// Sends `frame` (and whatever was in output()) in one write. Not
    /// cancellation-safe: dropped midway, part of it may have been sent.
    corio::Task<corio::io::Result<void>> write_frame(Frame frame);

    /// Sends output() and empties it. Not cancellation-safe (see write_frame).
    corio::Task<corio::io::Result<void>> flush();

    /// The bytes to send with the next flush().
    corio::codec::BytesMut& output() noexcept { return framed_->write_buffer(); }
    /// The socket.
    corio::net::TcpStream& stream() noexcept { return framed_->get_ref(); }

private:
    using Framed = corio::codec::Framed<corio::net::TcpStream, FrameCodec>;
    // Boxed: a Framed must not move after its first poll, and a Client (which
    // holds its Connection) moves, into a Subscriber for one.
    std::unique_ptr<Framed> framed_;
    std::optional<Error> failed_;  // the first error read_frame returned
};

}  // namespace mini_redis
