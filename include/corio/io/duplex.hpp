// io::duplex: an in-memory, bidirectional byte pipe, for tests and for
// connecting two parts of a program with stream semantics.
//
// Each end owns two one-way pipes (shared with the peer): the one it reads
// from and the one it writes to. A pipe is guarded by a mutex and stores the
// waker of its reader and of its writer, so the ends may live on different
// threads and runtimes.
//
// This header depends on <corio/io/core.hpp> only (<corio/io.hpp> includes
// both), so it must not include another io/ facility header.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <utility>

#include "corio/future.hpp"
#include "corio/io/core.hpp"

namespace corio::io {

namespace detail {
class Pipe;  // one direction: a bounded byte ring with a reader and a writer (src/io/duplex.cpp)
}  // namespace detail

/// One end of an io::duplex() pipe: AsyncRead + AsyncWrite.
///
/// Destroying an end closes both directions for it: the peer reads the bytes
/// still buffered and then end of stream, and the peer's writes fail with
/// std::errc::broken_pipe. A default-constructed or moved-from end is not
/// connected: its operations fail with std::errc::not_connected.
class DuplexStream {
public:
    DuplexStream() noexcept = default;
    DuplexStream(DuplexStream&& other) noexcept = default;
    DuplexStream& operator=(DuplexStream&& other) noexcept;
    DuplexStream(const DuplexStream&) = delete;
    DuplexStream& operator=(const DuplexStream&) = delete;
    ~DuplexStream();

    /// Reads buffered bytes into `buf`; 0 once the peer is gone or shut its
    /// writing side down and the buffer is drained (or when `buf` is empty).
    /// Pending while the buffer is empty. Spends one unit of the task's
    /// cooperative budget.
    Poll<Result<std::size_t>> poll_read(Context& cx, std::span<std::byte> buf);

    /// Writes as much of `buf` as the peer's buffer has room for; Pending
    /// while it is full. Error std::errc::broken_pipe when the peer is gone
    /// or this end was shut down. Spends one unit of the cooperative budget.
    Poll<Result<std::size_t>> poll_write(Context& cx, std::span<const std::byte> buf);

    /// Nothing to flush: always ready.
    Poll<Result<void>> poll_flush(Context& cx);

    /// Closes this end's writing side: the peer reads end of stream after the
    /// bytes already written. Reading from this end goes on.
    Poll<Result<void>> poll_shutdown(Context& cx);

private:
    friend std::pair<DuplexStream, DuplexStream> duplex(std::size_t max_buf_size);
    DuplexStream(std::shared_ptr<detail::Pipe> read, std::shared_ptr<detail::Pipe> write) noexcept
        : read_(std::move(read)), write_(std::move(write)) {}
    void close() noexcept;

    std::shared_ptr<detail::Pipe> read_;   // the peer writes, this end reads
    std::shared_ptr<detail::Pipe> write_;  // this end writes, the peer reads
};

/// Two connected DuplexStream ends: what one writes the other reads. Each
/// direction buffers at most `max_buf_size` bytes (a write waits while the
/// peer's buffer is full); memory is allocated as the buffer fills. Throws
/// std::invalid_argument when `max_buf_size` is 0.
std::pair<DuplexStream, DuplexStream> duplex(std::size_t max_buf_size);

static_assert(AsyncRead<DuplexStream> && AsyncWrite<DuplexStream>);

}  // namespace corio::io
