// Tests of the RESP codecs (resp_codec.hpp) on a BytesMut, without sockets:
// a pipelined read decodes into one request after another as views into the
// buffer, a partial request waits for its bytes, protocol errors carry
// Redis's wording, and the encoders write the RESP that frame.hpp parses
// back.
#include "resp_codec.hpp"

#include <gtest/gtest.h>

#include <corio/codec/buffer.hpp>
#include <corio/codec/framed.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frame.hpp"

namespace mini_redis {
namespace {

using corio::codec::BytesMut;

static_assert(corio::codec::Decoder<RequestCodec>);
static_assert(corio::codec::Decoder<FrameCodec>);
static_assert(corio::codec::Encoder<RequestCodec, resp::Bulk>);
static_assert(corio::codec::Encoder<RequestCodec, resp::ArrayHeader>);
static_assert(corio::codec::Encoder<FrameCodec, Frame>);

std::string wire(const Frame& f) {
    std::string out;
    encode(f, out);
    return out;
}

std::vector<std::string> words_of(RequestCodec::Item words) { return {words.begin(), words.end()}; }

TEST(RequestCodec, DecodesEveryPipelinedRequestAsViewsIntoTheBuffer) {
    BytesMut buf;
    buf.append(wire(Frame::command({"SET", "k", "v"})) + "PING\r\n" + wire(Frame::command({"GET", "k"})));
    const char* storage = buf.view().data();
    const std::size_t stored = buf.size();
    RequestCodec codec;
    std::vector<std::vector<std::string>> seen;
    for (;;) {
        auto request = codec.decode(buf);
        ASSERT_TRUE(request.has_value());
        if (!*request) break;
        for (std::string_view w : **request) {
            // Zero-copy: each word lies in the bytes the buffer held.
            EXPECT_GE(w.data(), storage);
            EXPECT_LE(w.data() + w.size(), storage + stored);
        }
        seen.push_back(words_of(**request));
    }
    EXPECT_EQ(seen, (std::vector<std::vector<std::string>>{{"SET", "k", "v"}, {"PING"}, {"GET", "k"}}));
    EXPECT_TRUE(buf.empty());
}

TEST(RequestCodec, APartialRequestConsumesNothingUntilItsLastByteArrives) {
    std::string request = wire(Frame::command({"SET", "key", "value"}));
    BytesMut buf;
    RequestCodec codec;
    for (std::size_t i = 0; i + 1 < request.size(); ++i) {
        buf.append(request.substr(i, 1));
        auto decoded = codec.decode(buf);
        ASSERT_TRUE(decoded.has_value());
        EXPECT_FALSE(decoded->has_value()) << "after " << i + 1 << " bytes";
        EXPECT_EQ(buf.size(), i + 1);
    }
    buf.append(request.substr(request.size() - 1));
    auto decoded = codec.decode(buf);
    ASSERT_TRUE(decoded.has_value() && decoded->has_value());
    EXPECT_EQ(words_of(**decoded), (std::vector<std::string>{"SET", "key", "value"}));
}

TEST(RequestCodec, AMalformedRequestIsAProtocolErrorWithRedisWording) {
    BytesMut buf;
    buf.append("*1\r\n$-5\r\n");
    RequestCodec codec;
    auto decoded = codec.decode(buf);
    ASSERT_FALSE(decoded.has_value());
    EXPECT_EQ(decoded.error(), resp_errc::protocol_error);
    EXPECT_EQ(codec.protocol_error(), "Protocol error: invalid bulk length");
}

TEST(RequestCodec, EncodesRepliesAsRedisDoes) {
    RequestCodec codec;
    BytesMut out;
    ASSERT_TRUE(codec.encode(resp::ArrayHeader{5}, out).has_value());
    ASSERT_TRUE(codec.encode(resp::Simple{"OK"}, out).has_value());
    ASSERT_TRUE(codec.encode(resp::Error{"ERR no"}, out).has_value());
    ASSERT_TRUE(codec.encode(resp::Integer{-42}, out).has_value());
    ASSERT_TRUE(codec.encode(resp::Bulk{std::string_view("a\r\nb", 4)}, out).has_value());
    ASSERT_TRUE(codec.encode(resp::NullBulk{}, out).has_value());
    ASSERT_TRUE(codec.encode(resp::NullArray{}, out).has_value());
    EXPECT_EQ(out.view(), "*5\r\n+OK\r\n-ERR no\r\n:-42\r\n$4\r\na\r\nb\r\n$-1\r\n*-1\r\n");
}

TEST(FrameCodec, DecodesWhatItEncodes) {
    Frame frame = Frame::array({Frame::integer_of(1), Frame::bulk("x"), Frame::null_bulk(), Frame::array({})});
    FrameCodec codec;
    BytesMut buf;
    ASSERT_TRUE(codec.encode(frame, buf).has_value());
    ASSERT_TRUE(codec.encode(Frame::simple("PONG"), buf).has_value());
    auto first = codec.decode(buf);
    ASSERT_TRUE(first.has_value() && first->has_value());
    EXPECT_EQ(**first, frame);
    auto second = codec.decode(buf);
    ASSERT_TRUE(second.has_value() && second->has_value());
    EXPECT_EQ(**second, Frame::simple("PONG"));
    EXPECT_TRUE(buf.empty());
    buf.append("?\r\n");
    auto bad = codec.decode(buf);
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(codec.protocol_error(), "Protocol error: unknown frame type '?'");
}

TEST(ReleaseIfLarge, GivesBackTheStorageOfAnEmptiedLargeBufferOnly) {
    BytesMut small;
    small.append("abc");
    small.clear();
    release_if_large(small);
    EXPECT_GT(small.capacity(), 0U);
    BytesMut large;
    large.append(std::string(1 << 20, 'x'));
    release_if_large(large);  // not empty: kept
    EXPECT_GE(large.capacity(), std::size_t{1} << 20);
    large.advance(large.size());
    release_if_large(large);
    EXPECT_EQ(large.capacity(), 0U);
}

}  // namespace
}  // namespace mini_redis
