// LengthDelimitedCodec: each frame is a length field followed by that many
// bytes (as tokio-util's codec of that name), configurable: the field's
// width (1 to 8 bytes), its offset from the start of the header, its byte
// order, an adjustment added to the value read, the header bytes to skip,
// and a maximum frame length.
//
// Invariant: a frame is buffered only once its header said it fits the
// limit, so a peer announcing a huge frame gets errc::frame_too_large at
// once and never makes the buffer grow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "corio/codec/buffer.hpp"
#include "corio/io/core.hpp"

namespace corio::codec {

/// Length-prefixed frames; see the header comment. Defaults: a 4-byte
/// big-endian length at offset 0, no adjustment, the header skipped, and
/// frames of at most 8 MiB.
class LengthDelimitedCodec {
public:
    using Item = std::vector<std::byte>;

    LengthDelimitedCodec() noexcept = default;

    /// Width of the length field in bytes, 1 to 8 (std::invalid_argument otherwise).
    LengthDelimitedCodec& length_field_length(std::size_t n) {
        if (n < 1 || n > 8) throw std::invalid_argument("corio: length field must be 1 to 8 bytes");
        field_length_ = n;
        return *this;
    }
    /// Bytes before the length field in the header.
    LengthDelimitedCodec& length_field_offset(std::size_t n) noexcept {
        field_offset_ = n;
        return *this;
    }
    /// Added to the length read to get the bytes that follow the field
    /// (negative when the length counts the header too).
    LengthDelimitedCodec& length_adjustment(std::int64_t n) noexcept {
        adjustment_ = n;
        return *this;
    }
    /// Header bytes dropped from the frame (default: offset + field length,
    /// so a frame is the payload alone).
    LengthDelimitedCodec& num_skip(std::size_t n) noexcept {
        num_skip_ = n;
        return *this;
    }
    LengthDelimitedCodec& big_endian() noexcept {
        order_ = Endian::Big;
        return *this;
    }
    LengthDelimitedCodec& little_endian() noexcept {
        order_ = Endian::Little;
        return *this;
    }
    /// The longest frame accepted, decoding and encoding.
    LengthDelimitedCodec& max_frame_length(std::size_t n) noexcept {
        max_frame_ = n;
        return *this;
    }
    std::size_t max_frame_length() const noexcept { return max_frame_; }

    /// The next frame, nullopt while incomplete, errc::frame_too_large when
    /// the header announces more than the max frame length, or
    /// errc::invalid_frame when the adjusted length is negative.
    io::Result<std::optional<Item>> decode(BytesMut& buf) {
        if (!want_) {
            const std::size_t head = field_offset_ + field_length_;
            if (buf.size() < head) return std::nullopt;
            const std::uint64_t raw = buf.get_uint(field_offset_, field_length_, order_);
            const std::size_t skip = skip_bytes();
            // Bytes after the length field, then the whole frame from the header's start.
            const auto after = static_cast<std::int64_t>(raw) + adjustment_;
            if (raw > static_cast<std::uint64_t>(INT64_MAX) || after < 0 ||
                static_cast<std::uint64_t>(after) + head < skip) {
                return std::unexpected(make_error_code(errc::invalid_frame));
            }
            const std::uint64_t total = static_cast<std::uint64_t>(after) + head;
            if (total - skip > max_frame_) return std::unexpected(make_error_code(errc::frame_too_large));
            buf.advance(skip);
            want_ = static_cast<std::size_t>(total - skip);
            buf.reserve(*want_ > buf.size() ? *want_ - buf.size() : 0);
        }
        if (buf.size() < *want_) return std::nullopt;
        Item frame = buf.take_bytes(*want_);
        want_.reset();
        return std::optional<Item>(std::move(frame));
    }

    /// Appends the length field (the payload's size minus the adjustment)
    /// and the payload. errc::frame_too_large when the payload is over the
    /// max frame length or its length does not fit the field.
    io::Result<void> encode(std::span<const std::byte> payload, BytesMut& dst) {
        const auto value = static_cast<std::int64_t>(payload.size()) - adjustment_;
        const bool fits =
            field_length_ == 8 || (value >= 0 && static_cast<std::uint64_t>(value) >> (8 * field_length_) == 0);
        if (payload.size() > max_frame_ || value < 0 || !fits) {
            return std::unexpected(make_error_code(errc::frame_too_large));
        }
        dst.reserve(field_length_ + payload.size());
        dst.put_uint(static_cast<std::uint64_t>(value), field_length_, order_);
        dst.append(payload);
        return {};
    }
    io::Result<void> encode(std::string_view payload, BytesMut& dst) {
        return encode(std::as_bytes(std::span(payload.data(), payload.size())), dst);
    }
    io::Result<void> encode(const std::vector<std::byte>& payload, BytesMut& dst) {
        return encode(std::span<const std::byte>(payload), dst);
    }

private:
    std::size_t skip_bytes() const noexcept { return num_skip_ ? *num_skip_ : field_offset_ + field_length_; }

    std::size_t field_length_ = 4;
    std::size_t field_offset_ = 0;
    std::int64_t adjustment_ = 0;
    std::optional<std::size_t> num_skip_;
    Endian order_ = Endian::Big;
    std::size_t max_frame_ = 8 * 1024 * 1024;
    std::optional<std::size_t> want_;  // the current frame's length once its header was read
};

}  // namespace corio::codec
