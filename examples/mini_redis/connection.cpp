// ReadBuffer and Connection (see connection.hpp).
#include "connection.hpp"

#include <algorithm>
#include <cstring>
#include <utility>
#include <variant>

namespace mini_redis {

namespace {
/// A buffer this large or larger is given back once it is empty.
constexpr std::size_t kShrinkAbove = 256 * 1024;
}  // namespace

ReadBuffer::ReadBuffer(std::size_t limit) : limit_(std::max(limit, kMinRead)) {}

std::span<std::byte> ReadBuffer::spare() {
    if (capacity_ - end_ < kMinRead && start_ > 0) {
        std::memmove(buf_.get(), buf_.get() + start_, end_ - start_);
        end_ -= start_;
        start_ = 0;
    }
    if (capacity_ - end_ < kMinRead && capacity_ < limit_) {
        std::size_t grown = std::min(limit_, std::max(capacity_ * 2, end_ + kMinRead));
        auto bigger = std::make_unique_for_overwrite<char[]>(grown);
        if (end_ > 0) std::memcpy(bigger.get(), buf_.get(), end_);
        buf_ = std::move(bigger);
        capacity_ = grown;
    }
    return std::as_writable_bytes(std::span(buf_.get() + end_, capacity_ - end_));
}

void ReadBuffer::consume(std::size_t n) noexcept {
    start_ += std::min(n, end_ - start_);
    if (start_ != end_) return;
    start_ = end_ = 0;
    if (capacity_ >= kShrinkAbove) {
        buf_.reset();
        capacity_ = 0;
    }
}

corio::Poll<corio::io::Result<std::size_t>> Connection::ReadSome::poll(corio::Context& cx) {
    std::span<std::byte> room = c_->in_.spare();
    if (room.empty()) return corio::Ready(Output(0));
    corio::Poll<Output> r = c_->stream_.poll_read(cx, room);
    if (r.is_ready() && r->has_value()) c_->in_.commit(**r);
    return r;
}

corio::Task<Result<std::optional<Frame>>> Connection::read_frame() {
    for (;;) {
        ParseResult parsed = parse(in_.data());
        if (auto* frame = std::get_if<Parsed>(&parsed)) {
            in_.consume(frame->consumed);
            co_return std::optional<Frame>(std::move(frame->frame));
        }
        if (auto* error = std::get_if<ProtocolError>(&parsed)) {
            co_return std::unexpected(Error{Error::Kind::Protocol, std::move(error->message)});
        }
        if (in_.size() > kMaxFrameBytes) {
            co_return std::unexpected(Error{Error::Kind::Protocol, "Protocol error: frame too large"});
        }
        corio::io::Result<std::size_t> n = co_await read_some();
        if (!n) co_return std::unexpected(Error::from_io(n.error()));
        if (*n == 0) {
            if (in_.empty()) co_return std::optional<Frame>();
            co_return std::unexpected(Error{Error::Kind::Closed, "connection closed in the middle of a frame"});
        }
    }
}

corio::Task<corio::io::Result<void>> Connection::write_frame(const Frame& frame) {
    encode(frame, out_);
    co_return co_await flush();
}

corio::Task<corio::io::Result<void>> Connection::flush() {
    corio::io::Result<void> written = co_await stream_.write_all(std::as_bytes(std::span(out_.data(), out_.size())));
    out_.clear();
    co_return written;
}

}  // namespace mini_redis
