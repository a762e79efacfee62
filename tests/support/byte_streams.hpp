// What tests of byte streams (io::DuplexStream, BufReader, TcpStream,
// UnixStream, UdpSocket, ...) share: text as bytes and back, the error of an
// io::Result, reading a string of a given length, and a patterned stream
// that one task writes through a write half and another checks through a
// read half, so that a lost, repeated or reordered byte is caught.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "corio/io.hpp"
#include "corio/task.hpp"

namespace corio::test {

/// The bytes of `s` (a view: `s` must outlive it).
inline std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

/// `b` as a string.
inline std::string string_of(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// The error of `r`, or an empty error_code when it holds a value.
template <class T>
std::error_code error_of(const io::Result<T>& r) {
    return r ? std::error_code() : r.error();
}

/// Reads from `s` until `want` bytes arrived, the stream ended or a read
/// failed; what was read.
template <class Stream>
Task<std::string> read_string(Stream& s, std::size_t want) {
    std::string out;
    std::array<std::byte, 4096> buf{};
    while (out.size() < want) {
        auto n = co_await s.read(std::span(buf).first(std::min(buf.size(), want - out.size())));
        if (!n || *n == 0) break;
        out += string_of(std::span(buf).first(*n));
    }
    co_return out;
}

/// How many bytes write_pattern writes: enough to fill the socket buffers
/// many times over.
inline constexpr std::size_t kPatternBytes = 1 << 20;

/// The byte at offset `i` of the pattern.
inline std::byte pattern_byte(std::size_t i) { return static_cast<std::byte>((i * 31 + 7) & 0xff); }

/// Writes kPatternBytes of the pattern through `w`, then drops it (which
/// shuts the write direction down); how many bytes were written.
template <class WriteHalf>
Task<std::size_t> write_pattern(WriteHalf w) {
    std::vector<std::byte> chunk(8192);
    std::size_t sent = 0;
    while (sent < kPatternBytes) {
        for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = pattern_byte(sent + i);
        auto written = co_await w.write_all(chunk);
        if (!written) co_return sent;
        sent += chunk.size();
    }
    co_return sent;  // dropping `w` shuts the write direction down
}

/// Reads `r` to its end, failing the test at the first byte that is not the
/// pattern's; how many bytes matched.
template <class ReadHalf>
Task<std::size_t> read_pattern(ReadHalf r) {
    std::array<std::byte, 5000> buf{};
    std::size_t received = 0;
    for (;;) {
        auto n = co_await r.read(buf);
        if (!n || *n == 0) co_return received;
        for (std::size_t i = 0; i < *n; ++i) {
            if (buf[i] != pattern_byte(received + i)) {
                ADD_FAILURE() << "byte " << received + i << " differs";
                co_return received;
            }
        }
        received += *n;
    }
}

}  // namespace corio::test
