// I/O basics: io::Result, the error helpers and the AsyncRead / AsyncWrite
// concepts. Every other io/ header builds on this one alone.
//
// I/O never throws: every operation returns io::Result, whose error is the
// std::error_code the system reported (std::errc values compare equal).
#pragma once

#include <cerrno>
#include <cstddef>
#include <expected>
#include <span>
#include <system_error>

#include "corio/future.hpp"

namespace corio::io {

/// corio's own I/O error conditions (the rest are std::errc / errno values).
enum class errc {
    unexpected_eof = 1,  ///< the stream ended before the requested bytes arrived
    write_zero,          ///< a write accepted no bytes
    host_not_found,      ///< a host name did not resolve to any address (EAI_NONAME, EAI_NODATA)
    resolver_failure,    ///< the resolver failed for another reason (EAI_AGAIN, EAI_FAIL, ...)
};

/// The category of io::errc codes ("corio.io").
const std::error_category& io_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), io_category()}; }

/// The result of an I/O operation.
template <class T>
using Result = std::expected<T, std::error_code>;

/// An error result from a std::errc value.
inline std::unexpected<std::error_code> error(std::errc e) { return std::unexpected(std::make_error_code(e)); }

/// An error result from an io::errc value.
inline std::unexpected<std::error_code> error(errc e) { return std::unexpected(make_error_code(e)); }

/// The error result of the current `errno`.
inline std::unexpected<std::error_code> last_os_error() {
    return std::unexpected(std::error_code(errno, std::generic_category()));
}

/// A source of bytes. `poll_read` reads into `buf` and returns how many bytes
/// it read; 0 means end of stream (or an empty `buf`).
template <class R>
concept AsyncRead = requires(R& r, Context& cx, std::span<std::byte> buf) {
    { r.poll_read(cx, buf) } -> std::same_as<Poll<Result<std::size_t>>>;
};

/// A sink of bytes. `poll_write` writes some of `buf` and returns how many;
/// `poll_flush` pushes buffered bytes out; `poll_shutdown` flushes and then
/// shuts the writing side down (the peer reads end of stream).
template <class W>
concept AsyncWrite = requires(W& w, Context& cx, std::span<const std::byte> buf) {
    { w.poll_write(cx, buf) } -> std::same_as<Poll<Result<std::size_t>>>;
    { w.poll_flush(cx) } -> std::same_as<Poll<Result<void>>>;
    { w.poll_shutdown(cx) } -> std::same_as<Poll<Result<void>>>;
};

}  // namespace corio::io

template <>
struct std::is_error_code_enum<corio::io::errc> : std::true_type {};
