// Tests of the RESP2 codec (frame.hpp): every frame type, requests in both
// forms, frames split at every byte boundary, each limit, and seeded random
// garbage that must never crash the parser nor yield a frame that does not
// survive a round trip.
#include "frame.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace mini_redis {
namespace {

Frame parsed_frame(const ParseResult& r) {
    if (auto* p = std::get_if<Parsed>(&r)) return p->frame;
    ADD_FAILURE() << "not a whole frame";
    return Frame::error("not parsed");
}

std::string error_of(const ParseResult& r) {
    if (auto* e = std::get_if<ProtocolError>(&r)) return e->message;
    return "(no error)";
}

/// parse_command(buf, args) with its words as a Frame (an Array of Bulk
/// strings, as a client would send them), so requests compare like frames.
ParseResult command_of(std::string_view buf) {
    CommandArgs args;
    CommandResult r = parse_command(buf, args);
    if (std::holds_alternative<Incomplete>(r)) return Incomplete{};
    if (auto* e = std::get_if<ProtocolError>(&r)) return *e;
    std::vector<std::string> words(args.words().begin(), args.words().end());
    return Parsed{Frame::command(std::move(words)), std::get<ParsedCommand>(r).consumed};
}

std::string encoded(const Frame& f) {
    std::string out;
    encode(f, out);
    return out;
}

/// Frames of every type, nested and empty ones included.
std::vector<Frame> sample_frames() {
    return {
        Frame::simple("OK"),
        Frame::error("ERR something \"went\" wrong"),
        Frame::integer_of(0),
        Frame::integer_of(-9223372036854775807LL - 1),
        Frame::integer_of(9223372036854775807LL),
        Frame::bulk(""),
        Frame::bulk(std::string("bin\r\nary\0", 10)),
        Frame::null_bulk(),
        Frame::null_array(),
        Frame::array({}),
        Frame::command({"SET", "key", "value"}),
        Frame::array({Frame::integer_of(1), Frame::array({Frame::simple("x"), Frame::null_bulk()}), Frame::bulk("y")}),
    };
}

TEST(Frame, EveryFrameTypeSurvivesARoundTrip) {
    for (const Frame& f : sample_frames()) {
        std::string wire = encoded(f);
        ParseResult r = parse(wire);
        ASSERT_TRUE(std::holds_alternative<Parsed>(r)) << f.to_debug_string() << ": " << error_of(r);
        EXPECT_EQ(std::get<Parsed>(r).frame, f) << f.to_debug_string();
        EXPECT_EQ(std::get<Parsed>(r).consumed, wire.size());
    }
}

TEST(Frame, EncodingIsTheRespWireFormat) {
    EXPECT_EQ(encoded(Frame::simple("OK")), "+OK\r\n");
    EXPECT_EQ(encoded(Frame::error("ERR x")), "-ERR x\r\n");
    EXPECT_EQ(encoded(Frame::integer_of(-12)), ":-12\r\n");
    EXPECT_EQ(encoded(Frame::bulk("foo")), "$3\r\nfoo\r\n");
    EXPECT_EQ(encoded(Frame::null_bulk()), "$-1\r\n");
    EXPECT_EQ(encoded(Frame::null_array()), "*-1\r\n");
    EXPECT_EQ(encoded(Frame::command({"GET", "k"})), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
}

TEST(Frame, EveryStrictPrefixOfAFrameIsIncomplete) {
    for (const Frame& f : sample_frames()) {
        std::string wire = encoded(f);
        for (std::size_t k = 0; k < wire.size(); ++k) {
            ParseResult r = parse(std::string_view(wire).substr(0, k));
            EXPECT_TRUE(std::holds_alternative<Incomplete>(r))
                << f.to_debug_string() << " cut at " << k << ": " << error_of(r);
        }
    }
}

TEST(Frame, AStreamSplitAtEveryByteBoundaryYieldsTheSameFrames) {
    std::vector<Frame> frames = sample_frames();
    std::string wire;
    for (const Frame& f : frames) encode(f, wire);
    for (std::size_t split = 0; split <= wire.size(); ++split) {
        // Deliver the stream in two reads, parsing whatever is complete after each.
        std::string buffer;
        std::vector<Frame> got;
        for (std::string_view chunk : {std::string_view(wire).substr(0, split), std::string_view(wire).substr(split)}) {
            buffer.append(chunk);
            for (;;) {
                ParseResult r = parse(buffer);
                if (std::holds_alternative<Incomplete>(r)) break;
                ASSERT_TRUE(std::holds_alternative<Parsed>(r)) << "split " << split << ": " << error_of(r);
                got.push_back(std::get<Parsed>(r).frame);
                buffer.erase(0, std::get<Parsed>(r).consumed);
            }
        }
        EXPECT_TRUE(buffer.empty()) << "split " << split;
        EXPECT_EQ(got, frames) << "split " << split;
    }
}

TEST(Frame, ABulkLengthOver512MegabytesIsAProtocolError) {
    EXPECT_EQ(error_of(parse("$536870913\r\n")), "Protocol error: invalid bulk length");
    EXPECT_EQ(error_of(command_of("*1\r\n$536870913\r\n")), "Protocol error: invalid bulk length");
    // 512 MB exactly is allowed: it waits for the bytes without allocating them.
    EXPECT_TRUE(std::holds_alternative<Incomplete>(parse("$536870912\r\n")));
}

TEST(Frame, NegativeLengthsOtherThanMinusOneAreProtocolErrors) {
    EXPECT_EQ(error_of(parse("$-2\r\n")), "Protocol error: invalid bulk length");
    EXPECT_EQ(error_of(parse("*-2\r\n")), "Protocol error: invalid multibulk length");
    EXPECT_EQ(parsed_frame(parse("$-1\r\n")), Frame::null_bulk());
    EXPECT_EQ(parsed_frame(parse("*-1\r\n")), Frame::null_array());
    // A request's arguments cannot be null.
    EXPECT_EQ(error_of(command_of("*1\r\n$-1\r\n")), "Protocol error: invalid bulk length");
}

TEST(Frame, NonNumericLengthsAreProtocolErrors) {
    EXPECT_EQ(error_of(parse("$abc\r\n")), "Protocol error: invalid bulk length");
    EXPECT_EQ(error_of(parse("$\r\n")), "Protocol error: invalid bulk length");
    EXPECT_EQ(error_of(parse("$ 3\r\n")), "Protocol error: invalid bulk length");
    EXPECT_EQ(error_of(parse("$+3\r\n")), "Protocol error: invalid bulk length");
    EXPECT_EQ(error_of(parse("*1x\r\n")), "Protocol error: invalid multibulk length");
    EXPECT_EQ(error_of(command_of("*x\r\n")), "Protocol error: invalid multibulk length");
    EXPECT_EQ(error_of(parse(":12a\r\n")), "Protocol error: invalid integer");
    EXPECT_EQ(error_of(parse("$99999999999999999999\r\n")), "Protocol error: invalid bulk length");
}

TEST(Frame, AnArrayOverOneMillionElementsIsAProtocolError) {
    EXPECT_EQ(error_of(parse("*1048577\r\n")), "Protocol error: invalid multibulk length");
    EXPECT_EQ(error_of(command_of("*1048577\r\n")), "Protocol error: invalid multibulk length");
    EXPECT_TRUE(std::holds_alternative<Incomplete>(parse("*1048576\r\n")));
}

TEST(Frame, LinesOver64KilobytesAreProtocolErrors) {
    std::string long_inline(64 * 1024 + 1, 'a');
    EXPECT_EQ(error_of(command_of(long_inline)), "Protocol error: too big inline request");
    EXPECT_EQ(error_of(command_of(long_inline + "\r\n")), "Protocol error: too big inline request");
    std::string long_simple = "+" + std::string(64 * 1024 + 1, 'a');
    EXPECT_EQ(error_of(parse(long_simple)), "Protocol error: too big line");
    std::string fits(64 * 1024 - 2, 'a');
    EXPECT_TRUE(std::holds_alternative<Incomplete>(command_of(fits)));
}

TEST(Frame, ArraysNestedTooDeeplyAreProtocolErrors) {
    std::string deep;
    for (int i = 0; i < 40; ++i) deep += "*1\r\n";
    EXPECT_EQ(error_of(parse(deep)), "Protocol error: arrays nested too deeply");
}

TEST(Frame, UnknownTypeBytesAndBadTerminatorsAreProtocolErrors) {
    EXPECT_EQ(error_of(parse("?x\r\n")), "Protocol error: unknown frame type '?'");
    EXPECT_EQ(error_of(parse("$3\r\nfooXY")), "Protocol error: bulk string not terminated by CRLF");
    EXPECT_EQ(error_of(command_of("*1\r\n:1\r\n")), "Protocol error: expected '$', got ':'");
}

TEST(Frame, InlineCommandsAreSplitIntoWords) {
    EXPECT_EQ(parsed_frame(command_of("PING\r\n")), Frame::command({"PING"}));
    EXPECT_EQ(parsed_frame(command_of("set  k\t v\n")), Frame::command({"set", "k", "v"}));
    EXPECT_EQ(parsed_frame(command_of("SET k \"a b\\n\\x41\"\r\n")), Frame::command({"SET", "k", "a b\nA"}));
    EXPECT_EQ(parsed_frame(command_of("SET k 'it\\'s'\r\n")), Frame::command({"SET", "k", "it's"}));
    EXPECT_EQ(parsed_frame(command_of("\r\n")), Frame::array({}));
    EXPECT_EQ(error_of(command_of("SET k \"open\r\n")), "Protocol error: unbalanced quotes in request");
    EXPECT_EQ(error_of(command_of("SET k \"a\"b\r\n")), "Protocol error: unbalanced quotes in request");
    EXPECT_TRUE(std::holds_alternative<Incomplete>(command_of("PING")));
}

TEST(Frame, ARequestReportsHowManyBytesItTook) {
    std::string two = "*1\r\n$4\r\nPING\r\nPING\r\n";
    ParseResult first = command_of(two);
    ASSERT_TRUE(std::holds_alternative<Parsed>(first));
    EXPECT_EQ(std::get<Parsed>(first).consumed, 14u);
    ParseResult second = command_of(std::string_view(two).substr(14));
    ASSERT_TRUE(std::holds_alternative<Parsed>(second));
    EXPECT_EQ(std::get<Parsed>(second).frame, Frame::command({"PING"}));
}

TEST(Frame, ARequestsWordsPointIntoTheParsedBytesAndQuotedOnesIntoTheScratchBuffer) {
    CommandArgs args;
    std::string line = "SET \"a b\" 'c\\'d' \"\\x41\" plain\r\n";
    CommandResult r = parse_command(line, args);
    ASSERT_TRUE(std::holds_alternative<ParsedCommand>(r));
    ASSERT_EQ(args.size(), 5u);
    EXPECT_EQ(args[0], "SET");
    EXPECT_EQ(args[1], "a b");  // several quoted words share the scratch buffer unharmed
    EXPECT_EQ(args[2], "c'd");
    EXPECT_EQ(args[3], "A");
    EXPECT_EQ(args[4], "plain");
    EXPECT_EQ(args[4].data(), line.data() + line.find("plain"));  // no copy
    const std::string_view* words = args.words().data();

    // The same object parses the next (smaller) request into the same storage.
    std::string wire = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n";
    r = parse_command(wire, args);
    ASSERT_TRUE(std::holds_alternative<ParsedCommand>(r));
    EXPECT_EQ(args.words().data(), words);
    ASSERT_EQ(args.size(), 3u);
    EXPECT_EQ(args[2], "value");
    EXPECT_EQ(args[2].data(), wire.data() + wire.find("value"));  // no copy

    // An empty request leaves no words.
    r = parse_command("*0\r\n", args);
    ASSERT_TRUE(std::holds_alternative<ParsedCommand>(r));
    EXPECT_TRUE(args.empty());
}

TEST(Frame, ARequestStreamSplitAtEveryByteBoundaryYieldsTheSameCommands) {
    std::vector<Frame> commands{Frame::command({"SET", "key", std::string("bin\r\nary\0", 10)}),
                                Frame::command({"PING"}), Frame::command({"GET", "k"}),
                                Frame::command({"SET", "k", "a b"}), Frame::command({"ECHO", ""})};
    std::string wire;
    encode(commands[0], wire);
    wire += "PING\r\n";
    encode(commands[2], wire);
    wire += "SET k \"a b\"\n";
    encode(commands[4], wire);
    CommandArgs args;  // one object for every request, as a server uses it
    for (std::size_t split = 0; split <= wire.size(); ++split) {
        std::string buffer;
        std::vector<Frame> got;
        for (std::string_view chunk : {std::string_view(wire).substr(0, split), std::string_view(wire).substr(split)}) {
            buffer.append(chunk);
            for (;;) {
                CommandResult r = parse_command(buffer, args);
                if (std::holds_alternative<Incomplete>(r)) break;
                ASSERT_TRUE(std::holds_alternative<ParsedCommand>(r)) << "split " << split;
                got.push_back(Frame::command(std::vector<std::string>(args.words().begin(), args.words().end())));
                buffer.erase(0, std::get<ParsedCommand>(r).consumed);
            }
        }
        EXPECT_TRUE(buffer.empty()) << "split " << split;
        EXPECT_EQ(got, commands) << "split " << split;
    }
}

TEST(Frame, AResumedParseArrivingByteByByteYieldsTheSameCommands) {
    std::vector<Frame> commands{Frame::command({"SET", "key", std::string("bin\r\nary\0", 10)}),
                                Frame::command({"PING"}), Frame::command({"GET", "k"}), Frame::command({"ECHO", ""})};
    std::string wire;
    encode(commands[0], wire);
    wire += "PING\r\n";
    encode(commands[2], wire);
    wire += "*0\r\n";  // skipped: no words
    encode(commands[3], wire);
    CommandArgs args;
    std::string buffer;
    std::vector<Frame> got;
    for (char c : wire) {
        // A fresh copy every time: the parsed bytes move, as a growing read buffer moves them.
        buffer = std::string(buffer) + c;
        for (;;) {
            CommandResult r = parse_command_resuming(buffer, args);
            if (std::holds_alternative<Incomplete>(r)) break;
            ASSERT_TRUE(std::holds_alternative<ParsedCommand>(r));
            if (!args.empty())
                got.push_back(Frame::command(std::vector<std::string>(args.words().begin(), args.words().end())));
            buffer.erase(0, std::get<ParsedCommand>(r).consumed);
        }
    }
    EXPECT_TRUE(buffer.empty());
    EXPECT_EQ(got, commands);
}

TEST(Frame, AResumedParseStillFindsAnErrorAfterTheElementsItKept) {
    CommandArgs args;
    std::string buffer = "*3\r\n$3\r\nSET\r\n$1\r\nk";
    EXPECT_TRUE(std::holds_alternative<Incomplete>(parse_command_resuming(buffer, args)));
    buffer += "\r\n$x\r\n";
    CommandResult r = parse_command_resuming(buffer, args);
    ASSERT_TRUE(std::holds_alternative<ProtocolError>(r));
    EXPECT_EQ(std::get<ProtocolError>(r).message, "Protocol error: invalid bulk length");
    // The next request starts afresh: nothing of the failed one is kept.
    r = parse_command_resuming("*1\r\n$4\r\nPING\r\n", args);
    ASSERT_TRUE(std::holds_alternative<ParsedCommand>(r));
    ASSERT_EQ(args.size(), 1u);
    EXPECT_EQ(args[0], "PING");
    r = parse_command_resuming("*0\r\n", args);
    ASSERT_TRUE(std::holds_alternative<ParsedCommand>(r));
    EXPECT_TRUE(args.empty());
}

TEST(Frame, IntegersParseOnlyInTheirOneRedisSpelling) {
    std::int64_t v = 0;
    EXPECT_TRUE(parse_int64("0", v));
    EXPECT_TRUE(parse_int64("-42", v));
    EXPECT_EQ(v, -42);
    EXPECT_TRUE(parse_int64("9223372036854775807", v));
    EXPECT_FALSE(parse_int64("9223372036854775808", v));
    EXPECT_FALSE(parse_int64("", v));
    EXPECT_FALSE(parse_int64("-", v));
    EXPECT_FALSE(parse_int64("-0", v));
    EXPECT_FALSE(parse_int64("007", v));
    EXPECT_FALSE(parse_int64("+1", v));
    EXPECT_FALSE(parse_int64(" 1", v));
    EXPECT_FALSE(parse_int64("1.5", v));
}

/// Whatever parse returns for `buf` must be coherent: a frame takes no more
/// than the buffer, re-encodes to something that parses back to it.
void check_coherent(std::string_view buf) {
    for (bool as_command : {false, true}) {
        ParseResult r = as_command ? command_of(buf) : parse(buf);
        auto* p = std::get_if<Parsed>(&r);
        if (p == nullptr) continue;
        ASSERT_LE(p->consumed, buf.size());
        ASSERT_GT(p->consumed, 0u);
        std::string again = encoded(p->frame);
        ParseResult r2 = as_command ? command_of(again) : parse(again);
        ASSERT_TRUE(std::holds_alternative<Parsed>(r2)) << error_of(r2);
        EXPECT_EQ(std::get<Parsed>(r2).frame, p->frame);
        // The same bytes alone give the same frame.
        ParseResult r3 = as_command ? command_of(buf.substr(0, p->consumed)) : parse(buf.substr(0, p->consumed));
        ASSERT_TRUE(std::holds_alternative<Parsed>(r3));
        EXPECT_EQ(std::get<Parsed>(r3).frame, p->frame);
    }
}

TEST(Frame, RandomGarbageNeverCrashesAndWhatParsesRoundTrips) {
    std::mt19937 rng(20240601);  // fixed seed: a failure replays
    const std::string alphabet = "*$+-:\r\n0123456789-1 \"'\\xabcPINGSET";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::uniform_int_distribution<int> length(0, 64);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int round = 0; round < 20000; ++round) {
        std::string buf;
        int n = length(rng);
        for (int i = 0; i < n; ++i) {
            buf.push_back(round % 4 == 0 ? static_cast<char>(byte(rng)) : alphabet[pick(rng)]);
        }
        check_coherent(buf);
    }
}

TEST(Frame, MutatedValidFramesNeverCrashAndWhatParsesRoundTrips) {
    std::mt19937 rng(7);
    std::vector<Frame> frames = sample_frames();
    std::uniform_int_distribution<int> byte(0, 255);
    for (int round = 0; round < 5000; ++round) {
        std::string wire = encoded(frames[static_cast<std::size_t>(round) % frames.size()]);
        std::uniform_int_distribution<std::size_t> at(0, wire.size() - 1);
        for (int k = 0; k < 1 + round % 3; ++k) wire[at(rng)] = static_cast<char>(byte(rng));
        check_coherent(wire);
    }
}

}  // namespace
}  // namespace mini_redis
