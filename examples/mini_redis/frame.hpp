// The RESP2 wire format of mini-redis: the Frame value, an incremental
// parser that works on whatever bytes have arrived so far, and the encoders.
// The corio codecs built on them are in resp_codec.hpp.
//
// The parser never trusts a length it was sent: it allocates only for bytes
// that are already in the buffer, and rejects what the limits below forbid
// with a ProtocolError whose message is what Redis itself would answer
// ("Protocol error: invalid bulk length", ...). A server replies
// "-ERR <message>" and closes the connection.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mini_redis {

/// The largest bulk string accepted (Redis's proto-max-bulk-len): 512 MB.
inline constexpr std::int64_t kMaxBulkLength = 512LL * 1024 * 1024;
/// The most elements an array may declare (Redis's limit for a request): 1M.
inline constexpr std::int64_t kMaxArrayLength = 1024 * 1024;
/// The longest line (an inline command, or the header line of a frame): 64 KB.
inline constexpr std::size_t kMaxLineLength = 64 * 1024;
/// How deeply arrays may nest inside each other.
inline constexpr int kMaxNesting = 32;
/// The most bytes one frame may occupy on the wire: a connection whose
/// buffered incomplete frame is larger than this is in error, so a read buffer
/// never holds more than this plus one read.
inline constexpr std::size_t kMaxFrameBytes = static_cast<std::size_t>(kMaxBulkLength) + 1024 * 1024;

/// One RESP2 value.
struct Frame {
    enum class Type : std::uint8_t {
        Simple,     ///< +OK
        Error,      ///< -ERR message
        Integer,    ///< :42
        Bulk,       ///< $3 foo
        NullBulk,   ///< $-1
        Array,      ///< *2 ...
        NullArray,  ///< *-1
    };

    Type type = Type::NullBulk;
    std::int64_t integer = 0;  ///< the value of an Integer
    std::string text;          ///< the bytes of a Simple, Error or Bulk
    std::vector<Frame> items;  ///< the elements of an Array

    /// A simple string (must not contain "\r\n").
    static Frame simple(std::string s) { return Frame{Type::Simple, 0, std::move(s), {}}; }
    /// An error reply, conventionally "ERR ..." (must not contain "\r\n").
    static Frame error(std::string message) { return Frame{Type::Error, 0, std::move(message), {}}; }
    /// An integer.
    static Frame integer_of(std::int64_t v) { return Frame{Type::Integer, v, {}, {}}; }
    /// A bulk string: any bytes.
    static Frame bulk(std::string bytes) { return Frame{Type::Bulk, 0, std::move(bytes), {}}; }
    /// The null bulk string ("$-1"): GET of a missing key.
    static Frame null_bulk() { return Frame{Type::NullBulk, 0, {}, {}}; }
    /// An array of frames.
    static Frame array(std::vector<Frame> items) { return Frame{Type::Array, 0, {}, std::move(items)}; }
    /// The null array ("*-1").
    static Frame null_array() { return Frame{Type::NullArray, 0, {}, {}}; }
    /// An array of bulk strings: how a client sends a command.
    static Frame command(std::vector<std::string> args);

    /// True for a (non-null) Array.
    bool is_array() const noexcept { return type == Type::Array; }
    /// True for an Error.
    bool is_error() const noexcept { return type == Type::Error; }

    /// A readable rendering for tests and diagnostics (not RESP).
    std::string to_debug_string() const;

    friend bool operator==(const Frame&, const Frame&) = default;
};

/// parse() needs more bytes: nothing was consumed.
struct Incomplete {
    friend bool operator==(Incomplete, Incomplete) = default;
};
/// parse() found a whole frame occupying the first `consumed` bytes.
struct Parsed {
    Frame frame;
    std::size_t consumed = 0;
};
/// The bytes break the protocol or its limits; the connection cannot go on.
struct ProtocolError {
    /// "Protocol error: ..." as Redis words it; a server replies "-ERR " + message.
    std::string message;
};
/// What parse() returns.
using ParseResult = std::variant<Incomplete, Parsed, ProtocolError>;

/// parse_command() found a whole request occupying the first `consumed` bytes.
struct ParsedCommand {
    std::size_t consumed = 0;
};
/// What parse_command() returns.
using CommandResult = std::variant<Incomplete, ParsedCommand, ProtocolError>;

/// The words of one request (the command's name, then its arguments), as a
/// server parses them: views into the bytes that were parsed, or into the
/// object's own scratch buffer for an inline word that had to be unescaped.
/// Reused from one request to the next, it keeps its capacity, so parsing a
/// request allocates nothing once the largest request seen so far fits.
class CommandArgs {
public:
    /// The words; valid until the next parse into this object, and only as
    /// long as the parsed bytes stay where they are.
    std::span<const std::string_view> words() const noexcept { return words_; }
    /// How many words.
    std::size_t size() const noexcept { return words_.size(); }
    /// True for no word (an empty line, "*0" or "*-1", which a server skips).
    bool empty() const noexcept { return words_.empty(); }
    /// The i-th word (i < size()).
    std::string_view operator[](std::size_t i) const noexcept { return words_[i]; }

private:
    friend CommandResult parse_command(std::string_view buf, CommandArgs& out);

    /// parse_command() for a connection whose requests arrive in pieces: after
    /// Incomplete on an array request, `out` remembers the elements already
    /// parsed, and the next call parses only what follows them, so a large
    /// request arriving slowly costs linear time, not quadratic. `buf` must
    /// then start with the same bytes as before (more may follow).
    CommandResult parse_command_resuming(std::string_view buf, CommandArgs& out);
    friend CommandResult parse_command_resuming(std::string_view buf, CommandArgs& out);
    std::vector<std::string_view> words_;
    std::string scratch_;  // unescaped inline words (reserved before use: never reallocates under a view)
    // Where parse_command_resuming stopped in an incomplete array request:
    // the element count it announced (-1: none in progress), the bytes up to
    // the end of the last whole element, and those elements as (offset,
    // length) pairs (offsets, not views: the buffer may move between reads).
    std::int64_t expected_ = -1;
    std::size_t resume_at_ = 0;
    std::vector<std::pair<std::size_t, std::size_t>> spans_;
};

/// Parses the first RESP2 frame of `buf` (any type, as a client reads
/// replies). Incomplete when `buf` holds only a prefix of a valid frame;
/// ProtocolError for a malformed frame or one over the limits above (a
/// negative length other than -1, a non-numeric length, a bulk over 512 MB,
/// an array over 1M elements, a line over 64 KB, nesting over 32).
ParseResult parse(std::string_view buf);

/// Parses the first command of `buf`, as a server reads requests: an array
/// of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), or an inline command
/// ("GET k\r\n", words separated by blanks, double or single quotes
/// allowed), into `out` (cleared first). On ParsedCommand, `out` holds the
/// words, which point into `buf` (or into `out` itself), so `buf` must not be
/// modified or freed while they are used; no words for an empty line or
/// "*0" / "*-1", which a server skips. Incomplete when `buf` holds only a
/// prefix of a request; ProtocolError (with Redis's message) for a malformed
/// request or one over the limits; `out` is unspecified after either.
/// Allocates only to grow `out`'s capacity (or for an error's message).
CommandResult parse_command(std::string_view buf, CommandArgs& out);

/// parse_command() for a connection whose requests arrive in pieces: after
/// Incomplete on an array request, `out` remembers the elements already
/// parsed, and the next call parses only what follows them, so a large
/// request arriving slowly costs linear time, not quadratic. `buf` must
/// then start with the same bytes as before (more may follow).
CommandResult parse_command_resuming(std::string_view buf, CommandArgs& out);

/// The encoders, appending to any byte buffer with append(std::string_view):
/// a std::string, or the corio::codec::BytesMut of a framed connection.
namespace resp {

/// "<tag><v>\r\n", the header line of integers, bulks and arrays.
template <class Out>
void number_line(Out& out, char tag, std::int64_t v) {
    char line[24];
    line[0] = tag;
    auto [end, ec] = std::to_chars(line + 1, line + sizeof line - 2, v);
    end[0] = '\r';
    end[1] = '\n';
    out.append(std::string_view(line, static_cast<std::size_t>(end + 2 - line)));
}
/// "+s\r\n".
template <class Out>
void simple(Out& out, std::string_view s) {
    out.append("+");
    out.append(s);
    out.append("\r\n");
}
/// "-message\r\n".
template <class Out>
void error(Out& out, std::string_view message) {
    out.append("-");
    out.append(message);
    out.append("\r\n");
}
/// ":v\r\n".
template <class Out>
void integer(Out& out, std::int64_t v) {
    number_line(out, ':', v);
}
/// "$len\r\nbytes\r\n".
template <class Out>
void bulk(Out& out, std::string_view bytes) {
    number_line(out, '$', static_cast<std::int64_t>(bytes.size()));
    out.append(bytes);
    out.append("\r\n");
}
/// "$-1\r\n".
template <class Out>
void null_bulk(Out& out) {
    out.append("$-1\r\n");
}
/// "*n\r\n": follow it with the n elements.
template <class Out>
void array_header(Out& out, std::size_t n) {
    number_line(out, '*', static_cast<std::int64_t>(n));
}
/// "*-1\r\n".
template <class Out>
void null_array(Out& out) {
    out.append("*-1\r\n");
}

/// The replies a server sends, as values a codec encodes (resp_codec.hpp)
/// without building a Frame: each refers to bytes it does not own, which
/// must outlive the encoding only.
/// "+text".
struct Simple {
    std::string_view text;
};
/// "-message", conventionally "ERR ...".
struct Error {
    std::string_view message;
};
/// ":value".
struct Integer {
    std::int64_t value;
};
/// A bulk string.
struct Bulk {
    std::string_view bytes;
};
/// The null bulk string ("$-1").
struct NullBulk {};
/// "*size": the `size` elements follow as replies of their own.
struct ArrayHeader {
    std::size_t size;
};
/// The null array ("*-1").
struct NullArray {};

}  // namespace resp

/// Appends the RESP2 encoding of `frame` to `out` (a std::string or BytesMut).
template <class Out>
void encode(const Frame& frame, Out& out) {
    switch (frame.type) {
        case Frame::Type::Simple:
            resp::simple(out, frame.text);
            return;
        case Frame::Type::Error:
            resp::error(out, frame.text);
            return;
        case Frame::Type::Integer:
            resp::integer(out, frame.integer);
            return;
        case Frame::Type::Bulk:
            resp::bulk(out, frame.text);
            return;
        case Frame::Type::NullBulk:
            resp::null_bulk(out);
            return;
        case Frame::Type::NullArray:
            resp::null_array(out);
            return;
        case Frame::Type::Array:
            resp::array_header(out, frame.items.size());
            for (const Frame& item : frame.items) encode(item, out);
            return;
    }
}

/// Parses a whole decimal integer the way Redis does (optional '-', no '+',
/// no blanks, no leading zeros, within int64): false otherwise.
bool parse_int64(std::string_view text, std::int64_t& out) noexcept;

}  // namespace mini_redis
