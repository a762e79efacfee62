// BytesCodec: no framing at all. Each decode returns every byte buffered
// (the bytes of one read or more); encoding appends the bytes as they are.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "corio/codec/buffer.hpp"
#include "corio/io/core.hpp"

namespace corio::codec {

/// Raw bytes as frames; see the header comment.
class BytesCodec {
public:
    using Item = std::vector<std::byte>;

    /// All bytes buffered, or nullopt when there are none.
    io::Result<std::optional<Item>> decode(BytesMut& buf) {
        if (buf.empty()) return std::nullopt;
        return std::optional<Item>(buf.take_bytes(buf.size()));
    }
    /// Never an error: nothing is ever incomplete.
    io::Result<std::optional<Item>> decode_eof(BytesMut& buf) { return decode(buf); }

    io::Result<void> encode(std::span<const std::byte> bytes, BytesMut& dst) {
        dst.append(bytes);
        return {};
    }
    io::Result<void> encode(std::string_view text, BytesMut& dst) {
        dst.append(text);
        return {};
    }
};

}  // namespace corio::codec
