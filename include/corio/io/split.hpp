// io::split: a read half and a write half over one stream, usable from two
// tasks (on any threads) at once.
//
// Both halves share the stream behind a mutex; each poll locks it for the
// duration of one inner poll_read / poll_write / poll_flush / poll_shutdown.
// Requirement on the stream, as for Tokio's split: it stores the waker of a
// pending read and of a pending write separately, so a reader's poll does
// not overwrite the writer's waker (sockets and DuplexStream do).
//
// This header depends on <corio/io/core.hpp> only (<corio/io.hpp> includes
// both), so it must not include another io/ facility header.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "corio/detail/sync.hpp"
#include "corio/future.hpp"
#include "corio/io/core.hpp"

namespace corio::io {

namespace detail {
template <class T>
struct Shared {
    explicit Shared(T&& s) : stream(std::move(s)) {}
    corio::detail::Mutex mutex;  // held for one inner poll at a time
    T stream;
};
}  // namespace detail

template <class T>
class WriteHalf;

/// The reading half of io::split(): AsyncRead.
template <class T>
class ReadHalf {
public:
    /// Reads from the shared stream (under its lock).
    Poll<Result<std::size_t>> poll_read(Context& cx, std::span<std::byte> buf) {
        std::lock_guard lock(shared_->mutex);
        return shared_->stream.poll_read(cx, buf);
    }

    /// True when `write` came from the same split() call as this half.
    bool is_pair_of(const WriteHalf<T>& write) const noexcept { return shared_ == write.shared_; }

    /// Puts the stream back together from both halves. Throws
    /// std::invalid_argument when `write` is not this half's pair (a
    /// programming error; both halves are then left untouched).
    T unsplit(WriteHalf<T>&& write) && {
        if (!is_pair_of(write)) {
            throw std::invalid_argument("corio::io::ReadHalf::unsplit: halves of different streams");
        }
        std::shared_ptr<detail::Shared<T>> shared = std::move(shared_);
        write.shared_.reset();
        return std::move(shared->stream);
    }

private:
    template <class U>
    friend std::pair<ReadHalf<U>, WriteHalf<U>> split(U&& stream)
        requires(!std::is_lvalue_reference_v<U> && AsyncRead<U> && AsyncWrite<U>);
    explicit ReadHalf(std::shared_ptr<detail::Shared<T>> shared) noexcept : shared_(std::move(shared)) {}

    std::shared_ptr<detail::Shared<T>> shared_;
};

/// The writing half of io::split(): AsyncWrite. Destroying it does not shut
/// the stream down (call poll_shutdown / io::shutdown for that).
template <class T>
class WriteHalf {
public:
    /// Writes to the shared stream (under its lock).
    Poll<Result<std::size_t>> poll_write(Context& cx, std::span<const std::byte> buf) {
        std::lock_guard lock(shared_->mutex);
        return shared_->stream.poll_write(cx, buf);
    }
    Poll<Result<void>> poll_flush(Context& cx) {
        std::lock_guard lock(shared_->mutex);
        return shared_->stream.poll_flush(cx);
    }
    Poll<Result<void>> poll_shutdown(Context& cx) {
        std::lock_guard lock(shared_->mutex);
        return shared_->stream.poll_shutdown(cx);
    }

    /// True when `read` came from the same split() call as this half.
    bool is_pair_of(const ReadHalf<T>& read) const noexcept { return read.is_pair_of(*this); }

private:
    friend class ReadHalf<T>;
    template <class U>
    friend std::pair<ReadHalf<U>, WriteHalf<U>> split(U&& stream)
        requires(!std::is_lvalue_reference_v<U> && AsyncRead<U> && AsyncWrite<U>);
    explicit WriteHalf(std::shared_ptr<detail::Shared<T>> shared) noexcept : shared_(std::move(shared)) {}

    std::shared_ptr<detail::Shared<T>> shared_;
};

/// Splits `stream` (taken by move) into a read half and a write half that
/// may be used from different tasks and threads at once; ReadHalf::unsplit
/// puts it back together. The stream must keep its read and write wakers
/// apart (see the top of this header).
template <class T>
std::pair<ReadHalf<T>, WriteHalf<T>> split(T&& stream)
    requires(!std::is_lvalue_reference_v<T> && AsyncRead<T> && AsyncWrite<T>)
{
    auto shared = std::make_shared<detail::Shared<T>>(std::forward<T>(stream));
    return {ReadHalf<T>(shared), WriteHalf<T>(shared)};
}

}  // namespace corio::io
