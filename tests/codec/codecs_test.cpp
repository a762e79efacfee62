// codec::BytesMut and the codecs on their own (no I/O): LinesCodec,
// LengthDelimitedCodec and BytesCodec, including bad input (over-long
// lines, oversized or negative lengths, input ending mid-frame) and the
// bound on the buffer.
#include <gtest/gtest.h>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "corio/codec.hpp"

namespace corio::codec {
namespace {

std::vector<std::byte> bytes(std::string_view s) {
    auto b = std::as_bytes(std::span(s.data(), s.size()));
    return {b.begin(), b.end()};
}

BytesMut buffer_of(std::string_view s) {
    BytesMut buf;
    buf.append(s);
    return buf;
}

static_assert(Decoder<LinesCodec> && Decoder<LengthDelimitedCodec> && Decoder<BytesCodec>);
static_assert(Encoder<LinesCodec, std::string> && Encoder<LinesCodec, std::string_view>);
static_assert(Encoder<LengthDelimitedCodec, std::vector<std::byte>> && Encoder<LengthDelimitedCodec, std::string>);
static_assert(Encoder<BytesCodec, std::span<const std::byte>>);

// ---- BytesMut -------------------------------------------------------------------

TEST(BytesMut, AppendsAndConsumesFromTheFront) {
    BytesMut buf;
    buf.append("hello world");
    EXPECT_EQ(buf.take_string(6), "hello ");
    EXPECT_EQ(buf.view(), "world");
    buf.advance(100);
    EXPECT_TRUE(buf.empty());
}

TEST(BytesMut, ReusesItsStorageInsteadOfGrowing) {
    BytesMut buf(128);
    const std::size_t cap = buf.capacity();
    for (int i = 0; i < 1000; ++i) {
        buf.append("0123456789");
        buf.advance(10);
    }
    buf.append(std::string(100, 'x'));
    buf.advance(90);
    buf.append(std::string(100, 'y'));  // fits once the 10 left move to the front
    EXPECT_EQ(buf.capacity(), cap);
    EXPECT_EQ(buf.size(), 110U);
    EXPECT_EQ(buf.view().substr(0, 11), "xxxxxxxxxxy");
}

TEST(BytesMut, WriteAreaAndCommitAppendWhatWasFilled) {
    BytesMut buf;
    auto area = buf.write_area(16);
    ASSERT_GE(area.size(), 16U);
    area[0] = std::byte{'a'};
    area[1] = std::byte{'b'};
    buf.commit(2);
    EXPECT_EQ(buf.view(), "ab");
}

TEST(BytesMut, PutsAndGetsIntegersInBothByteOrders) {
    BytesMut buf;
    buf.put_uint(0x010203, 3, Endian::Big);
    buf.put_uint(0x010203, 3, Endian::Little);
    EXPECT_EQ(buf.view(), std::string_view("\x01\x02\x03\x03\x02\x01", 6));
    EXPECT_EQ(buf.get_uint(0, 3, Endian::Big), 0x010203U);
    EXPECT_EQ(buf.get_uint(3, 3, Endian::Little), 0x010203U);
}

TEST(CodecErrors, HaveTheirOwnCategoryAndMessages) {
    std::error_code ec = errc::line_too_long;
    EXPECT_STREQ(ec.category().name(), "corio.codec");
    EXPECT_FALSE(ec.message().empty());
    EXPECT_EQ(ec, errc::line_too_long);
}

// ---- LinesCodec -----------------------------------------------------------------

TEST(LinesCodec, DecodesLinesWithoutTheirEndings) {
    LinesCodec codec;
    auto buf = buffer_of("one\ntwo\r\nthr");
    EXPECT_EQ(codec.decode(buf).value(), "one");
    EXPECT_EQ(codec.decode(buf).value(), "two");
    EXPECT_EQ(codec.decode(buf).value(), std::nullopt);
    buf.append("ee\n");
    EXPECT_EQ(codec.decode(buf).value(), "three");
    EXPECT_TRUE(buf.empty());
}

TEST(LinesCodec, DecodeEofReturnsTheLastLineWithoutANewline) {
    LinesCodec codec;
    auto buf = buffer_of("a\nlast");
    EXPECT_EQ(decode_eof(codec, buf).value(), "a");
    EXPECT_EQ(decode_eof(codec, buf).value(), "last");
    EXPECT_EQ(decode_eof(codec, buf).value(), std::nullopt);
}

TEST(LinesCodec, ReportsALineOverTheMaxLengthOnceThenGoesOnAfterIt) {
    LinesCodec codec(4);
    auto buf = buffer_of("toolong\nok\n");
    auto err = codec.decode(buf);
    ASSERT_FALSE(err.has_value());
    EXPECT_EQ(err.error(), errc::line_too_long);
    EXPECT_EQ(codec.decode(buf).value(), "ok");
}

TEST(LinesCodec, NeverBuffersMoreThanTheMaxLengthOfAnEndlessLine) {
    LinesCodec codec(50);
    BytesMut buf;
    int errors = 0;
    for (int chunk = 0; chunk < 100; ++chunk) {
        buf.append(std::string(30, 'x'));  // one "read"
        auto r = codec.decode(buf);
        if (!r) ++errors;
        EXPECT_LE(buf.size(), 50U + 30U);
    }
    EXPECT_EQ(errors, 1);  // reported once, then discarded silently
    buf.append("\nnext\n");
    EXPECT_EQ(codec.decode(buf).value(), "next");
}

TEST(LinesCodec, AcceptsALineOfExactlyTheMaxLength) {
    LinesCodec codec(4);
    auto buf = buffer_of("four\r\n");
    EXPECT_EQ(codec.decode(buf).value(), "four");
}

TEST(LinesCodec, EncodeAppendsANewline) {
    LinesCodec codec;
    BytesMut buf;
    ASSERT_TRUE(codec.encode("a", buf).has_value());
    ASSERT_TRUE(codec.encode(std::string("b"), buf).has_value());
    EXPECT_EQ(buf.view(), "a\nb\n");
}

// ---- LengthDelimitedCodec ---------------------------------------------------------

TEST(LengthDelimitedCodec, RoundTripsFramesWithTheDefaultHeader) {
    LengthDelimitedCodec codec;
    BytesMut buf;
    ASSERT_TRUE(codec.encode("hello", buf).has_value());
    ASSERT_TRUE(codec.encode(std::string_view(), buf).has_value());
    EXPECT_EQ(buf.view().substr(0, 4), std::string_view("\0\0\0\5", 4));
    EXPECT_EQ(codec.decode(buf).value(), bytes("hello"));
    EXPECT_EQ(codec.decode(buf).value(), bytes(""));
    EXPECT_EQ(codec.decode(buf).value(), std::nullopt);
}

TEST(LengthDelimitedCodec, WaitsForTheWholeFrame) {
    LengthDelimitedCodec codec;
    auto buf = buffer_of(std::string_view("\0\0", 2));
    EXPECT_EQ(codec.decode(buf).value(), std::nullopt);
    buf.append(std::string_view("\0\3ab", 4));
    EXPECT_EQ(codec.decode(buf).value(), std::nullopt);
    buf.append("c");
    EXPECT_EQ(codec.decode(buf).value(), bytes("abc"));
}

TEST(LengthDelimitedCodec, ReadsAnOffsetLittleEndianFieldWithAnAdjustment) {
    // Header: 1 tag byte, a 2-byte little-endian length that counts the
    // whole frame (header included), kept in the frame.
    auto codec = LengthDelimitedCodec()
                     .length_field_offset(1)
                     .length_field_length(2)
                     .little_endian()
                     .length_adjustment(-3)
                     .num_skip(0);
    auto buf = buffer_of(std::string_view("T\x05\x00hiX", 6));
    EXPECT_EQ(codec.decode(buf).value(), bytes(std::string_view("T\x05\x00hi", 5)));
    EXPECT_EQ(buf.view(), "X");
}

TEST(LengthDelimitedCodec, RejectsALengthOverTheMaxFrameWithoutBufferingIt) {
    auto codec = LengthDelimitedCodec().max_frame_length(1024);
    auto buf = buffer_of(std::string_view("\x7f\xff\xff\xff", 4));  // 2 GiB announced
    auto r = codec.decode(buf);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), errc::frame_too_large);
    EXPECT_LT(buf.capacity(), 4096U);
}

TEST(LengthDelimitedCodec, RejectsANegativeAdjustedLength) {
    auto codec = LengthDelimitedCodec().length_field_length(1).length_adjustment(-10);
    auto buf = buffer_of(std::string_view("\x02xx", 3));
    auto r = codec.decode(buf);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), errc::invalid_frame);
}

TEST(LengthDelimitedCodec, InputEndingMidFrameIsAnIncompleteFrame) {
    LengthDelimitedCodec codec;
    auto buf = buffer_of(std::string_view("\0\0\0\x09partial", 11));
    auto r = decode_eof(codec, buf);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), errc::incomplete_frame);
}

TEST(LengthDelimitedCodec, RefusesToEncodeWhatItCouldNotDecode) {
    auto codec = LengthDelimitedCodec().max_frame_length(4);
    BytesMut buf;
    EXPECT_EQ(codec.encode("12345", buf).error(), errc::frame_too_large);
    auto narrow = LengthDelimitedCodec().length_field_length(1);
    EXPECT_EQ(narrow.encode(std::string(256, 'x'), buf).error(), errc::frame_too_large);
    EXPECT_TRUE(buf.empty());
}

TEST(LengthDelimitedCodec, RejectsAFieldWidthOutsideOneToEight) {
    EXPECT_THROW(LengthDelimitedCodec().length_field_length(0), std::invalid_argument);
    EXPECT_THROW(LengthDelimitedCodec().length_field_length(9), std::invalid_argument);
}

// ---- BytesCodec -----------------------------------------------------------------

TEST(BytesCodec, DecodesWhateverIsBufferedAndEncodesBytesAsTheyAre) {
    BytesCodec codec;
    auto buf = buffer_of("abc");
    EXPECT_EQ(codec.decode(buf).value(), bytes("abc"));
    EXPECT_EQ(codec.decode(buf).value(), std::nullopt);
    ASSERT_TRUE(codec.encode("xyz", buf).has_value());
    EXPECT_EQ(buf.view(), "xyz");
    EXPECT_EQ(decode_eof(codec, buf).value(), bytes("xyz"));
}

}  // namespace
}  // namespace corio::codec
