// codec::BytesMut, the growable byte buffer codecs decode from and encode
// into, and codec::errc, the errors of the codecs.
//
// Invariant: bytes [begin_, end_) of storage_ are the buffer's contents;
// [end_, capacity_) is spare room a reader may fill (write_area/commit).
// Consuming from the front only moves begin_; the contents move to the
// front of the storage only when reserve needs the room, so a framed
// reader reuses one allocation for the whole connection.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace corio::codec {

/// The codecs' own errors (I/O errors stay what the system reported).
enum class errc {
    line_too_long = 1,  ///< LinesCodec: a line longer than its max length
    frame_too_large,    ///< LengthDelimitedCodec: a length over the max frame length
    incomplete_frame,   ///< the stream ended in the middle of a frame
    invalid_frame,      ///< a frame header that cannot be valid (a negative length)
};

/// The category of codec::errc codes ("corio.codec").
inline const std::error_category& codec_category() noexcept {
    class Category : public std::error_category {
    public:
        const char* name() const noexcept override { return "corio.codec"; }
        std::string message(int value) const override {
            switch (static_cast<errc>(value)) {
                case errc::line_too_long:
                    return "line longer than the codec's max length";
                case errc::frame_too_large:
                    return "frame longer than the codec's max frame length";
                case errc::incomplete_frame:
                    return "stream ended in the middle of a frame";
                case errc::invalid_frame:
                    return "invalid frame header";
            }
            return "unknown codec error";
        }
    };
    static const Category category;
    return category;
}

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), codec_category()}; }

/// Byte order of a length field.
enum class Endian { Big, Little };

/// A growable byte buffer with cheap consumption from the front.
class BytesMut {
public:
    BytesMut() noexcept = default;
    explicit BytesMut(std::size_t capacity) { reserve(capacity); }
    BytesMut(BytesMut&&) noexcept = default;
    BytesMut& operator=(BytesMut&&) noexcept = default;

    /// Bytes held.
    std::size_t size() const noexcept { return end_ - begin_; }
    bool empty() const noexcept { return begin_ == end_; }
    /// Bytes the storage can hold without growing (contents included).
    std::size_t capacity() const noexcept { return capacity_; }

    /// The contents.
    std::span<const std::byte> data() const noexcept { return {storage_.get() + begin_, size()}; }
    std::span<std::byte> data() noexcept { return {storage_.get() + begin_, size()}; }
    /// The contents as characters.
    std::string_view view() const noexcept { return {reinterpret_cast<const char*>(storage_.get() + begin_), size()}; }
    std::byte operator[](std::size_t i) const noexcept { return storage_[begin_ + i]; }

    /// Drops the first `n` bytes (at most size()). Moves and frees nothing:
    /// views of the bytes dropped stay valid until the next call that adds
    /// bytes or room (reserve, write_area, append, push_back, put_uint), so
    /// a decoder may consume a frame and hand out views into it.
    void advance(std::size_t n) noexcept {
        begin_ += std::min(n, size());
        if (begin_ == end_) begin_ = end_ = 0;  // empty: the next read starts at the front
    }
    void clear() noexcept { begin_ = end_ = 0; }

    /// Removes the first `n` bytes and returns them as a string.
    std::string take_string(std::size_t n) {
        n = std::min(n, size());
        std::string out(view().substr(0, n));
        advance(n);
        return out;
    }
    /// Removes the first `n` bytes and returns them.
    std::vector<std::byte> take_bytes(std::size_t n) {
        n = std::min(n, size());
        std::vector<std::byte> out(data().begin(), data().begin() + static_cast<std::ptrdiff_t>(n));
        advance(n);
        return out;
    }

    /// Makes room for at least `additional` more bytes after the contents,
    /// moving them to the front or growing the storage (doubling) if needed.
    void reserve(std::size_t additional) {
        if (capacity_ - end_ >= additional) return;
        const std::size_t len = size();
        if (capacity_ - len >= additional && begin_ > 0) {
            std::memmove(storage_.get(), storage_.get() + begin_, len);
        } else {
            std::size_t grown = std::max({capacity_ * 2, len + additional, std::size_t{64}});
            auto fresh = std::make_unique_for_overwrite<std::byte[]>(grown);
            if (len > 0) std::memcpy(fresh.get(), storage_.get() + begin_, len);
            storage_ = std::move(fresh);
            capacity_ = grown;
        }
        begin_ = 0;
        end_ = len;
    }

    /// The spare room after the contents, at least `min` bytes (reserved).
    std::span<std::byte> write_area(std::size_t min) {
        reserve(min);
        return {storage_.get() + end_, capacity_ - end_};
    }
    /// Appends the first `n` bytes of the last write_area() (filled by a read).
    void commit(std::size_t n) noexcept { end_ += std::min(n, capacity_ - end_); }

    void append(std::span<const std::byte> bytes) {
        if (bytes.empty()) return;
        reserve(bytes.size());
        std::memcpy(storage_.get() + end_, bytes.data(), bytes.size());
        end_ += bytes.size();
    }
    void append(std::string_view text) { append(std::as_bytes(std::span(text.data(), text.size()))); }
    void push_back(std::byte b) {
        reserve(1);
        storage_[end_++] = b;
    }

    /// Appends the low `width` bytes (1 to 8) of `value` in `order`.
    void put_uint(std::uint64_t value, std::size_t width, Endian order) {
        std::byte bytes[8];
        for (std::size_t i = 0; i < width; ++i) {
            auto b = static_cast<std::byte>((value >> (8 * i)) & 0xff);
            bytes[order == Endian::Little ? i : width - 1 - i] = b;
        }
        append(std::span<const std::byte>(bytes, width));
    }
    /// Reads `width` bytes (1 to 8) at `offset` as an unsigned integer in
    /// `order`. Precondition: offset + width <= size().
    std::uint64_t get_uint(std::size_t offset, std::size_t width, Endian order) const noexcept {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < width; ++i) {
            std::size_t at = order == Endian::Big ? i : width - 1 - i;
            v = (v << 8) | std::to_integer<std::uint64_t>((*this)[offset + at]);
        }
        return v;
    }

private:
    std::unique_ptr<std::byte[]> storage_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

}  // namespace corio::codec

template <>
struct std::is_error_code_enum<corio::codec::errc> : std::true_type {};
