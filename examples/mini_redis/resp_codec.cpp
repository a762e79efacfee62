// RequestCodec, FrameCodec and the resp_errc category (see resp_codec.hpp).
#include "resp_codec.hpp"

#include <utility>
#include <variant>

namespace mini_redis {

namespace {
/// A buffer this large or larger is given back once it is empty.
constexpr std::size_t kShrinkAbove = 256 * 1024;

/// Records `message` as the last protocol error and returns its code.
std::unexpected<std::error_code> fail(std::string& last, std::string message) {
    last = std::move(message);
    return std::unexpected(make_error_code(resp_errc::protocol_error));
}
}  // namespace

const std::error_category& resp_category() noexcept {
    class Category : public std::error_category {
    public:
        const char* name() const noexcept override { return "mini_redis.resp"; }
        std::string message(int value) const override {
            if (static_cast<resp_errc>(value) == resp_errc::protocol_error) return "RESP protocol error";
            return "unknown RESP codec error";
        }
    };
    static const Category category;
    return category;
}

corio::io::Result<std::optional<RequestCodec::Item>> RequestCodec::decode(corio::codec::BytesMut& buf) {
    // A Framed decodes before every read and once after the last request of
    // a batch, both usually on an empty buffer: answer those without parsing.
    if (buf.empty()) return std::optional<Item>();
    CommandResult parsed = parse_command_resuming(buf.view(), args_);
    if (auto* request = std::get_if<ParsedCommand>(&parsed)) {
        buf.advance(request->consumed);  // moves no byte: the words stay valid (see the header comment)
        return std::optional<Item>(args_.words());
    }
    if (auto* error = std::get_if<ProtocolError>(&parsed)) return fail(error_, std::move(error->message));
    if (buf.size() > kMaxFrameBytes) return fail(error_, "Protocol error: request too large");
    return std::optional<Item>();
}

corio::io::Result<std::optional<Frame>> FrameCodec::decode(corio::codec::BytesMut& buf) {
    if (buf.empty()) return std::optional<Frame>();
    ParseResult parsed = parse(buf.view());
    if (auto* frame = std::get_if<Parsed>(&parsed)) {
        buf.advance(frame->consumed);
        return std::optional<Frame>(std::move(frame->frame));
    }
    if (auto* error = std::get_if<ProtocolError>(&parsed)) return fail(error_, std::move(error->message));
    if (buf.size() > kMaxFrameBytes) return fail(error_, "Protocol error: frame too large");
    return std::optional<Frame>();
}

void release_if_large(corio::codec::BytesMut& buf) noexcept {
    if (buf.empty() && buf.capacity() >= kShrinkAbove) buf = corio::codec::BytesMut();
}

}  // namespace mini_redis
