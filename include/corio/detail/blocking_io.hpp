// Running blocking system calls on the blocking pool as a lazy I/O future
// that never throws: what corio::fs uses on the epoll backend.
//
// The pool trip starts at the first poll (like a coroutine, the future is
// lazy). A JoinHandle throws JoinError when the runtime drops the task
// (shutdown); I/O reports errors as values, so BlockingIo turns that into
// the error operation_canceled. The closure owns everything it touches:
// dropping the future detaches the pool task, which still runs to its end.
#pragma once

#include <functional>
#include <optional>
#include <system_error>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/future.hpp"
#include "corio/io/core.hpp"
#include "corio/runtime.hpp"
#include "corio/task/join_error.hpp"
#include "corio/task/join_handle.hpp"

namespace corio::detail {

/// Polls a pool task's JoinHandle, turning JoinError into operation_canceled.
template <class R>
Poll<R> poll_blocking(JoinHandle<R>& handle, Context& cx) {
    try {
        return handle.poll(cx);
    } catch (const JoinError&) {
        return Ready(R(io::error(std::errc::operation_canceled)));
    }
}

/// A future running a closure (returning an io::Result R) on the current
/// runtime's blocking pool, from its first poll. Cancellation: dropping it
/// after the first poll lets the closure finish and drops its result.
template <class R>
class CORIO_NODISCARD_FUTURE BlockingIo {
public:
    using Output = R;
    explicit BlockingIo(std::move_only_function<R()> fn) noexcept : fn_(std::move(fn)) {}

    Poll<R> poll(Context& cx) {
        if (!handle_) handle_.emplace(task::spawn_blocking(std::move(fn_)));
        return poll_blocking(*handle_, cx);
    }

private:
    std::move_only_function<R()> fn_;
    std::optional<JoinHandle<R>> handle_;
};

/// A future that first tries `fast` on the polling thread (a call that
/// cannot wait: its result, or no value when it would have to), and only
/// then runs `pool` on the blocking pool. One unit of the cooperative budget.
template <class R>
class CORIO_NODISCARD_FUTURE CachedOrBlocking {
public:
    using Output = R;
    CachedOrBlocking(std::move_only_function<std::optional<R>()> fast, std::move_only_function<R()> pool) noexcept
        : fast_(std::move(fast)), pool_(std::move(pool)) {}

    Poll<R> poll(Context& cx) {
        if (fast_) {
            if (!poll_proceed(cx)) return Pending;
            auto fast = std::exchange(fast_, nullptr);
            if (std::optional<R> r = fast()) return Ready(std::move(*r));
        }
        return pool_.poll(cx);
    }

private:
    std::move_only_function<std::optional<R>()> fast_;
    BlockingIo<R> pool_;
};

}  // namespace corio::detail
