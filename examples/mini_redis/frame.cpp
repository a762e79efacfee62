// The RESP2 parser (see frame.hpp; the encoders are templates there). The parser is a recursive
// descent over a string_view that allocates only for bytes already present,
// so a declared length costs nothing until its bytes arrive.
#include "frame.hpp"

#include <charconv>
#include <cstring>
#include <utility>

namespace mini_redis {

bool parse_int64(std::string_view text, std::int64_t& out) noexcept {
    if (text.empty() || text.size() > 20) return false;
    std::size_t i = text[0] == '-' ? 1 : 0;
    if (i == text.size()) return false;
    // No leading zeros (and no "-0"): the one spelling of each number.
    if (text[i] == '0' && (text.size() > 1)) return false;
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size()) return false;
    out = value;
    return true;
}

namespace {

enum class Step { Done, NeedMore, Failed };

/// One pass of parsing over `buf` from `pos`; on Failed, `error` says why.
class Parser {
public:
    explicit Parser(std::string_view buf) noexcept : buf_(buf) {}

    Step frame(Frame& out, int depth) {
        if (pos_ >= buf_.size()) return Step::NeedMore;
        char tag = buf_[pos_];
        std::string_view line;
        if (Step s = read_line(pos_ + 1, line); s != Step::Done) return s;
        switch (tag) {
            case '+':
                out = Frame::simple(std::string(line));
                return Step::Done;
            case '-':
                out = Frame::error(std::string(line));
                return Step::Done;
            case ':': {
                std::int64_t v = 0;
                if (!parse_int64(line, v)) return fail("Protocol error: invalid integer");
                out = Frame::integer_of(v);
                return Step::Done;
            }
            case '$':
                return bulk_body(line, /*allow_null=*/true, out);
            case '*':
                return array_body(line, depth, out);
            default:
                return fail(std::string("Protocol error: unknown frame type '") + printable(tag) + "'");
        }
    }

    /// A request: "*N" then N bulk strings, recorded as (offset, length)
    /// spans. `expected` < 0 starts a request; otherwise it resumes after the
    /// spans already recorded (a request that arrived in pieces), and on
    /// NeedMore `resume_at` marks how far the whole elements reach.
    Step command_resuming(std::int64_t& expected, std::size_t& resume_at,
                          std::vector<std::pair<std::size_t, std::size_t>>& spans) {
        if (expected < 0) {
            spans.clear();
            std::string_view line;
            if (Step s = read_line(pos_ + 1, line); s != Step::Done) return s;
            std::int64_t n = 0;
            if (!parse_int64(line, n) || n > kMaxArrayLength || n < -1) {
                return fail("Protocol error: invalid multibulk length");
            }
            if (n <= 0) return Step::Done;
            expected = n;
            resume_at = pos_;
            spans.reserve(static_cast<std::size_t>(std::min<std::int64_t>(n, remaining() / 6 + 1)));
        }
        pos_ = resume_at;
        while (static_cast<std::int64_t>(spans.size()) < expected) {
            if (pos_ >= buf_.size()) return Step::NeedMore;
            if (buf_[pos_] != '$') {
                return fail(std::string("Protocol error: expected '$', got '") + printable(buf_[pos_]) + "'");
            }
            std::string_view header;
            if (Step s = read_line(pos_ + 1, header); s != Step::Done) return s;
            std::string_view bytes;
            if (Step s = bulk_bytes(header, /*allow_null=*/false, bytes); s != Step::Done) return s;
            spans.emplace_back(static_cast<std::size_t>(bytes.data() - buf_.data()), bytes.size());
            resume_at = pos_;
        }
        return Step::Done;
    }

    /// An inline command: one line of words, as views into the buffer or,
    /// for quoted words, into `scratch` (reserved here so it never moves).
    Step inline_command(std::vector<std::string_view>& words, std::string& scratch) {
        std::size_t nl = buf_.find('\n', pos_);
        if (nl == std::string_view::npos) {
            if (buf_.size() - pos_ > kMaxLineLength) return fail("Protocol error: too big inline request");
            return Step::NeedMore;
        }
        if (nl - pos_ > kMaxLineLength) return fail("Protocol error: too big inline request");
        std::string_view line = buf_.substr(pos_, nl - pos_);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos_ = nl + 1;
        return split_words(line, words, scratch);
    }

    std::size_t consumed() const noexcept { return pos_; }
    std::string& error() noexcept { return error_; }

private:
    /// The line starting at `from` up to "\r\n"; moves pos_ past it.
    Step read_line(std::size_t from, std::string_view& line) {
        std::size_t end = from;
        for (;;) {
            const void* cr = std::memchr(buf_.data() + end, '\r', buf_.size() - end);
            if (cr == nullptr) {
                end = buf_.size();
                break;
            }
            end = static_cast<std::size_t>(static_cast<const char*>(cr) - buf_.data());
            if (end + 1 >= buf_.size()) break;  // "\r" last: its "\n" has not arrived
            if (buf_[end + 1] == '\n') {
                if (end - from > kMaxLineLength) return fail("Protocol error: too big line");
                line = buf_.substr(from, end - from);
                pos_ = end + 2;
                return Step::Done;
            }
            ++end;  // a lone '\r' inside the line
        }
        if (buf_.size() - from > kMaxLineLength) return fail("Protocol error: too big line");
        return Step::NeedMore;
    }

    /// The bytes of a bulk string whose header line was `header`; an empty
    /// view with a null data pointer for "$-1" (when allowed).
    Step bulk_bytes(std::string_view header, bool allow_null, std::string_view& bytes) {
        std::int64_t len = 0;
        if (!parse_int64(header, len) || len > kMaxBulkLength || len < -1 || (len == -1 && !allow_null)) {
            return fail("Protocol error: invalid bulk length");
        }
        if (len == -1) {
            bytes = std::string_view();
            return Step::Done;
        }
        auto n = static_cast<std::size_t>(len);
        if (remaining() < n + 2) return Step::NeedMore;
        if (buf_[pos_ + n] != '\r' || buf_[pos_ + n + 1] != '\n') {
            return fail("Protocol error: bulk string not terminated by CRLF");
        }
        bytes = buf_.substr(pos_, n);
        pos_ += n + 2;
        return Step::Done;
    }

    Step bulk_body(std::string_view header, bool allow_null, Frame& out) {
        std::string_view bytes;
        if (Step s = bulk_bytes(header, allow_null, bytes); s != Step::Done) return s;
        out = bytes.data() == nullptr ? Frame::null_bulk() : Frame::bulk(std::string(bytes));
        return Step::Done;
    }

    Step array_body(std::string_view header, int depth, Frame& out) {
        std::int64_t n = 0;
        if (!parse_int64(header, n) || n > kMaxArrayLength || n < -1) {
            return fail("Protocol error: invalid multibulk length");
        }
        if (n == -1) {
            out = Frame::null_array();
            return Step::Done;
        }
        if (depth >= kMaxNesting) return fail("Protocol error: arrays nested too deeply");
        out = Frame::array({});
        // Each element takes at least 3 bytes (":0\r\n" is 4, "+\r\n" 3).
        out.items.reserve(static_cast<std::size_t>(std::min<std::int64_t>(n, remaining() / 3 + 1)));
        for (std::int64_t i = 0; i < n; ++i) {
            Frame item;
            if (Step s = frame(item, depth + 1); s != Step::Done) return s;
            out.items.push_back(std::move(item));
        }
        return Step::Done;
    }

    /// Splits an inline line into words like Redis's sdssplitargs.
    Step split_words(std::string_view line, std::vector<std::string_view>& words, std::string& scratch) {
        std::size_t i = 0;
        auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; };
        bool reserved = false;
        for (;;) {
            while (i < line.size() && blank(line[i])) ++i;
            if (i == line.size()) return Step::Done;
            if (line[i] == '"' || line[i] == '\'') {
                // Unescaped text is never longer than the line, so once this
                // much is reserved, appending never moves what views point at.
                if (!reserved) {
                    scratch.clear();
                    scratch.reserve(line.size());
                    reserved = true;
                }
                std::size_t from = scratch.size();
                if (!quoted_word(line, i, scratch)) return fail("Protocol error: unbalanced quotes in request");
                if (i < line.size() && !blank(line[i])) return fail("Protocol error: unbalanced quotes in request");
                words.push_back(std::string_view(scratch).substr(from));
            } else {
                std::size_t from = i;
                while (i < line.size() && !blank(line[i])) ++i;
                words.push_back(line.substr(from, i - from));
            }
        }
    }

    /// Reads a quoted word starting at line[i] (the quote); i ends past the closing quote.
    static bool quoted_word(std::string_view line, std::size_t& i, std::string& word) {
        char quote = line[i++];
        while (i < line.size()) {
            char c = line[i++];
            if (c == quote) return true;
            if (c != '\\' || i == line.size()) {
                word.push_back(c);
                continue;
            }
            char e = line[i++];
            if (quote == '\'') {
                if (e != '\'') word.push_back('\\');
                word.push_back(e);
                continue;
            }
            switch (e) {
                case 'n':
                    word.push_back('\n');
                    break;
                case 'r':
                    word.push_back('\r');
                    break;
                case 't':
                    word.push_back('\t');
                    break;
                case 'b':
                    word.push_back('\b');
                    break;
                case 'a':
                    word.push_back('\a');
                    break;
                case 'x':
                    if (i + 1 < line.size() && std::isxdigit(static_cast<unsigned char>(line[i])) &&
                        std::isxdigit(static_cast<unsigned char>(line[i + 1]))) {
                        word.push_back(static_cast<char>(std::stoi(std::string(line.substr(i, 2)), nullptr, 16)));
                        i += 2;
                    } else {
                        word.push_back('x');
                    }
                    break;
                default:
                    word.push_back(e);
                    break;
            }
        }
        return false;  // no closing quote
    }

    std::size_t remaining() const noexcept { return buf_.size() - pos_; }

    static std::string printable(char c) {
        if (c >= 0x20 && c < 0x7f) return std::string(1, c);
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
        return hex;
    }

    Step fail(std::string message) {
        error_ = std::move(message);
        return Step::Failed;
    }

    std::string_view buf_;
    std::size_t pos_ = 0;
    std::string error_;
};

ParseResult finish(Parser& parser, Step step, Frame&& frame) {
    switch (step) {
        case Step::Done:
            return Parsed{std::move(frame), parser.consumed()};
        case Step::NeedMore:
            return Incomplete{};
        case Step::Failed:
            break;
    }
    return ProtocolError{std::move(parser.error())};
}

void debug(const Frame& f, std::string& out) {
    switch (f.type) {
        case Frame::Type::Simple:
            out += "+" + f.text;
            break;
        case Frame::Type::Error:
            out += "-" + f.text;
            break;
        case Frame::Type::Integer:
            out += ":" + std::to_string(f.integer);
            break;
        case Frame::Type::Bulk:
            out += "\"" + f.text + "\"";
            break;
        case Frame::Type::NullBulk:
            out += "(nil)";
            break;
        case Frame::Type::NullArray:
            out += "(nil array)";
            break;
        case Frame::Type::Array:
            out += "[";
            for (std::size_t i = 0; i < f.items.size(); ++i) {
                if (i > 0) out += ", ";
                debug(f.items[i], out);
            }
            out += "]";
            break;
    }
}

}  // namespace

Frame Frame::command(std::vector<std::string> args) {
    Frame f = array({});
    f.items.reserve(args.size());
    for (std::string& a : args) f.items.push_back(bulk(std::move(a)));
    return f;
}

std::string Frame::to_debug_string() const {
    std::string out;
    debug(*this, out);
    return out;
}

ParseResult parse(std::string_view buf) {
    Parser parser(buf);
    Frame frame;
    Step step = parser.frame(frame, 0);
    return finish(parser, step, std::move(frame));
}

CommandResult parse_command_resuming(std::string_view buf, CommandArgs& out) {
    out.words_.clear();
    if (buf.empty()) return Incomplete{};
    Parser parser(buf);
    Step step;
    if (buf[0] == '*') {
        step = parser.command_resuming(out.expected_, out.resume_at_, out.spans_);
        if (step == Step::NeedMore) return Incomplete{};
        out.expected_ = -1;  // done or failed: the next request starts afresh
        out.words_.reserve(out.spans_.size());
        for (auto [offset, length] : out.spans_) out.words_.push_back(buf.substr(offset, length));
        out.spans_.clear();
    } else {
        out.expected_ = -1;
        step = parser.inline_command(out.words_, out.scratch_);  // one line, at most kMaxLineLength
    }
    switch (step) {
        case Step::Done:
            return ParsedCommand{parser.consumed()};
        case Step::NeedMore:
            return Incomplete{};
        case Step::Failed:
            break;
    }
    return ProtocolError{std::move(parser.error())};
}

CommandResult parse_command(std::string_view buf, CommandArgs& out) {
    out.expected_ = -1;  // never resumes: every call parses `buf` from its start
    return parse_command_resuming(buf, out);
}

}  // namespace mini_redis
