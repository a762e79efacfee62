// A RESP connection: a TcpStream with a read buffer that frames are parsed
// out of, and a write buffer that replies are encoded into and sent from in
// one write. The client reads and writes whole frames with read_frame() and
// write_frame(); the server uses the building blocks (read_some(), input(),
// output(), flush()) to execute every pipelined command that has arrived and
// answer them all with one write.
#pragma once

#include <corio/io.hpp>
#include <corio/net.hpp>
#include <corio/task.hpp>
#include <cstddef>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "frame.hpp"

namespace mini_redis {

/// The bytes received and not yet parsed. Grows only as bytes arrive (never
/// to a length a peer merely announced) and never beyond `limit`, which is
/// the largest frame plus one read; shrinks back once a large frame is gone.
class ReadBuffer {
public:
    /// The smallest free space a read is offered.
    static constexpr std::size_t kMinRead = 16 * 1024;

    /// An empty buffer that will hold at most `limit` bytes.
    explicit ReadBuffer(std::size_t limit = kMaxFrameBytes + kMinRead);

    /// The buffered bytes.
    std::string_view data() const noexcept { return {buf_.get() + start_, end_ - start_}; }
    /// How many bytes are buffered.
    std::size_t size() const noexcept { return end_ - start_; }
    /// True when no byte is buffered.
    bool empty() const noexcept { return start_ == end_; }

    /// Room for the next read (at least kMinRead bytes unless the limit is
    /// reached, then possibly empty). Valid until the next call on the buffer.
    std::span<std::byte> spare();
    /// Marks `n` bytes of spare() as received.
    void commit(std::size_t n) noexcept { end_ += n; }
    /// Drops the first `n` buffered bytes (parsed already).
    void consume(std::size_t n) noexcept;

private:
    std::unique_ptr<char[]> buf_;
    std::size_t start_ = 0;
    std::size_t end_ = 0;
    std::size_t capacity_ = 0;
    std::size_t limit_;
};

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

/// A TCP connection speaking RESP, with its buffers.
class Connection {
public:
    /// Takes over a connected stream, with empty buffers.
    explicit Connection(corio::net::TcpStream stream) : stream_(std::move(stream)) {}

    /// The future of read_some().
    class ReadSome {
    public:
        using Output = corio::io::Result<std::size_t>;
        explicit ReadSome(Connection& c) noexcept : c_(&c) {}
        /// One poll_read into the spare room of the input buffer.
        corio::Poll<Output> poll(corio::Context& cx);

    private:
        Connection* c_;
    };

    /// Reads once from the socket into input(): how many bytes (0 at end of
    /// stream, or when the buffer is at its limit). Cancellation-safe: bytes
    /// are added to the buffer in the poll that reads them.
    ReadSome read_some() noexcept { return ReadSome(*this); }

    /// The next frame; std::nullopt when the peer closed the connection
    /// between frames. Errors: Io, Protocol (malformed or over the limits),
    /// Closed (the peer closed in the middle of a frame). Cancellation-safe:
    /// the bytes of a partial frame stay buffered for the next call.
    corio::Task<Result<std::optional<Frame>>> read_frame();

    /// Sends `frame` (and whatever was in output()) in one write. Not
    /// cancellation-safe: dropped midway, part of it may have been sent.
    corio::Task<corio::io::Result<void>> write_frame(const Frame& frame);

    /// Sends output() and empties it. Not cancellation-safe (see write_frame).
    corio::Task<corio::io::Result<void>> flush();

    /// The bytes received and not parsed yet.
    ReadBuffer& input() noexcept { return in_; }
    /// The bytes to send with the next flush().
    std::string& output() noexcept { return out_; }
    /// The socket.
    corio::net::TcpStream& stream() noexcept { return stream_; }

private:
    corio::net::TcpStream stream_;
    ReadBuffer in_;
    std::string out_;
};

}  // namespace mini_redis
