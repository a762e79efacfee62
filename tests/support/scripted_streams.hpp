// Readers and writers whose behaviour a test scripts, to drive the io
// helpers and buffers through short reads, Pending and errors:
// ScriptedReader hands out chunks with a self-woken Pending before each,
// one_byte_chunks cuts text into one-byte chunks, and ZeroWriter accepts no
// bytes at all. Polled from one task only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "corio/future.hpp"
#include "corio/io.hpp"

namespace corio::test {

/// Hands out `chunks` one per poll, returning Pending (after waking its
/// task) before each one; then end of stream, or `end_error` when set.
/// Counts the reads that got past the Pending and the largest buffer one
/// offered.
class ScriptedReader {
public:
    explicit ScriptedReader(std::vector<std::string> chunks, std::error_code end_error = {})
        : chunks_(std::move(chunks)), end_error_(end_error) {}

    Poll<io::Result<std::size_t>> poll_read(Context& cx, std::span<std::byte> buf) {
        if (!pending_given_) {
            pending_given_ = true;
            cx.waker().wake_by_ref();
            return Pending;
        }
        ++reads;
        largest_read = std::max(largest_read, buf.size());
        if (next_ == chunks_.size()) {
            if (end_error_) return Ready(io::Result<std::size_t>(std::unexpect, end_error_));
            return Ready(io::Result<std::size_t>(0));
        }
        const std::string& chunk = chunks_[next_];
        std::size_t n = std::min(buf.size(), chunk.size() - offset_);
        std::memcpy(buf.data(), chunk.data() + offset_, n);
        offset_ += n;
        if (offset_ == chunk.size()) {
            ++next_;
            offset_ = 0;
            pending_given_ = false;
        }
        return Ready(io::Result<std::size_t>(n));
    }

    int reads = 0;
    std::size_t largest_read = 0;

private:
    std::vector<std::string> chunks_;
    std::error_code end_error_;
    std::size_t next_ = 0;
    std::size_t offset_ = 0;
    bool pending_given_ = false;
};

/// One chunk per byte of `text`.
inline std::vector<std::string> one_byte_chunks(std::string_view text) {
    std::vector<std::string> chunks;
    for (char c : text) chunks.emplace_back(1, c);
    return chunks;
}

/// A writer whose every write accepts no bytes.
struct ZeroWriter {
    Poll<io::Result<std::size_t>> poll_write(Context&, std::span<const std::byte>) {
        return Ready(io::Result<std::size_t>(0));
    }
    Poll<io::Result<void>> poll_flush(Context&) { return Ready(io::Result<void>()); }
    Poll<io::Result<void>> poll_shutdown(Context&) { return Ready(io::Result<void>()); }
};

}  // namespace corio::test
