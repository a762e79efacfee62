// The client's Connection (see connection.hpp).
#include "connection.hpp"

#include <corio/codec/buffer.hpp>
#include <corio/sink.hpp>
#include <corio/stream/core.hpp>
#include <utility>

namespace mini_redis {

namespace {
/// The client's Error for an error item of the frame stream.
Error read_error(std::error_code ec, const FrameCodec& codec) {
    if (ec == resp_errc::protocol_error) return Error{Error::Kind::Protocol, codec.protocol_error()};
    if (ec == corio::codec::errc::incomplete_frame) {
        return Error{Error::Kind::Closed, "connection closed in the middle of a frame"};
    }
    return Error::from_io(ec);
}
}  // namespace

Connection::Connection(corio::net::TcpStream stream)
    : framed_(std::make_unique<Framed>(std::move(stream), FrameCodec())) {}

corio::Task<Result<std::optional<Frame>>> Connection::read_frame() {
    if (failed_) co_return std::unexpected(*failed_);
    std::optional<Framed::Item> frame = co_await corio::stream::next(*framed_);
    if (!frame) co_return std::optional<Frame>();
    if (!*frame) {
        failed_ = read_error(frame->error(), framed_->codec());
        co_return std::unexpected(*failed_);
    }
    release_if_large(framed_->read_buffer());  // the frame owns its bytes
    co_return std::optional<Frame>(std::move(**frame));
}

corio::Task<corio::io::Result<void>> Connection::write_frame(Frame frame) {
    co_return co_await corio::sink::send(*framed_, std::move(frame));
}

corio::Task<corio::io::Result<void>> Connection::flush() { co_return co_await corio::sink::flush(*framed_); }

}  // namespace mini_redis
