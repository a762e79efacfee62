// fs::IoFuture<T>: the future of corio::fs's free functions. It runs the
// call on the blocking pool (epoll backend), or as a short chain of io_uring
// operations when the runtime's backend is io_uring and the call has a ring
// form (read, write, metadata, ...). Same results either way. A small file
// read whose path and data are all cached is served at once on the polling
// thread with calls that cannot wait (openat2 RESOLVE_CACHED, preadv2
// RWF_NOWAIT), on either backend.
#pragma once

#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "corio/detail/blocking_io.hpp"
#include "corio/future.hpp"
#include "corio/io/core.hpp"
#include "corio/task.hpp"

namespace corio::fs {

/// The future of an fs call: io::Result<T>. Lazy: nothing runs before the
/// first poll. Dropped midway, the call still completes (on the pool or in
/// the ring) and its result is dropped; nothing it owns is freed early.
template <class T>
class CORIO_NODISCARD_FUTURE IoFuture {
public:
    using Output = io::Result<T>;

    /// Runs `fn` (blocking system calls) on the runtime's blocking pool.
    template <class F>
        requires std::is_invocable_r_v<Output, F&>
    explicit IoFuture(F fn) : impl_(std::in_place_index<0>, std::move_only_function<Output()>(std::move(fn))) {}
    /// Runs `ring` (a chain of io_uring operations).
    explicit IoFuture(Task<Output> ring) noexcept : impl_(std::in_place_index<1>, std::move(ring)) {}
    /// Tries `fast` on the polling thread (no value: it would wait), then
    /// runs `pool` on the blocking pool.
    IoFuture(std::move_only_function<std::optional<Output>()> fast, std::move_only_function<Output()> pool)
        : impl_(std::in_place_index<2>, std::move(fast), std::move(pool)) {}

    Poll<Output> poll(Context& cx) {
        return std::visit([&cx](auto& fut) { return fut.poll(cx); }, impl_);
    }

private:
    std::variant<corio::detail::BlockingIo<Output>, Task<Output>, corio::detail::CachedOrBlocking<Output>> impl_;
};

}  // namespace corio::fs
