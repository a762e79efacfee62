// LinesCodec: frames are lines ending in "\n" (a "\r" before it is dropped
// too), decoded as std::string; encoding appends "\n".
//
// Invariant: the buffer never holds more than max_length bytes of one line
// (plus the bytes of one read): a line that grows past the limit is
// reported once as errc::line_too_long and then discarded up to its "\n",
// so a peer cannot make the buffer grow without bound.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "corio/codec/buffer.hpp"
#include "corio/io/core.hpp"

namespace corio::codec {

/// Lines as frames; see the header comment. Bytes are not checked for
/// being UTF-8.
class LinesCodec {
public:
    using Item = std::string;

    /// Lines of any length (a peer can then fill memory: prefer a limit).
    LinesCodec() noexcept = default;
    /// Lines of at most `max_length` bytes (without the line ending).
    explicit LinesCodec(std::size_t max_length) noexcept : max_length_(max_length) {}

    std::size_t max_length() const noexcept { return max_length_; }

    /// The next complete line, nullopt when none is complete yet, or
    /// errc::line_too_long once for each line over the limit (the rest of
    /// that line is then skipped and decoding goes on after it).
    io::Result<std::optional<std::string>> decode(BytesMut& buf) {
        for (;;) {
            std::string_view text = buf.view();
            std::size_t newline = text.find('\n', scanned_);
            if (newline == std::string_view::npos) {
                if (discarding_) {
                    buf.clear();
                    scanned_ = 0;
                    return std::nullopt;
                }
                if (text.size() > max_length_) return too_long(buf);
                scanned_ = text.size();  // the next call scans only what is new
                return std::nullopt;
            }
            scanned_ = 0;
            if (discarding_) {  // the end of an over-long line: drop it, go on
                buf.advance(newline + 1);
                discarding_ = false;
                continue;
            }
            std::size_t len = newline;
            if (len > 0 && text[len - 1] == '\r') --len;
            if (len > max_length_) return too_long(buf);
            std::string line(text.substr(0, len));
            buf.advance(newline + 1);
            return std::optional<std::string>(std::move(line));
        }
    }

    /// At end of input: the remaining lines, and then the last one even
    /// without its "\n" (as BufReader::lines()).
    io::Result<std::optional<std::string>> decode_eof(BytesMut& buf) {
        auto line = decode(buf);
        if (!line || *line) return line;
        if (buf.empty()) return std::nullopt;
        std::size_t len = buf.size();
        if (len > max_length_) {
            buf.clear();
            return std::unexpected(make_error_code(errc::line_too_long));
        }
        std::string last = buf.take_string(len);
        if (!last.empty() && last.back() == '\r') last.pop_back();
        scanned_ = 0;
        return std::optional<std::string>(std::move(last));
    }

    /// Appends `line` and "\n" (the line is not checked for "\n" inside it).
    io::Result<void> encode(std::string_view line, BytesMut& dst) {
        dst.reserve(line.size() + 1);
        dst.append(line);
        dst.push_back(std::byte{'\n'});
        return {};
    }

private:
    // Starts discarding the over-long line (keeping no byte of it).
    io::Result<std::optional<std::string>> too_long(BytesMut& buf) {
        std::string_view text = buf.view();
        std::size_t newline = text.find('\n');
        if (newline == std::string_view::npos) {
            buf.clear();
            discarding_ = true;
        } else {
            buf.advance(newline + 1);
        }
        scanned_ = 0;
        return std::unexpected(make_error_code(errc::line_too_long));
    }

    std::size_t max_length_ = std::numeric_limits<std::size_t>::max();
    std::size_t scanned_ = 0;  // bytes at the front already known to hold no "\n"
    bool discarding_ = false;  // inside a line over the limit: skip to its "\n"
};

}  // namespace corio::codec
