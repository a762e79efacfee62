// The shared state of io::duplex: one Pipe per direction.
//
// Invariants of a Pipe, all under its mutex:
// - the ring holds len_ bytes starting at head_, never more than max_;
// - a reader that returned Pending stored its waker in read_waker_, and every
//   change that lets it progress (bytes written, writer closed) wakes it;
//   symmetrically for the writer (room made, reader closed);
// - wakers are taken out under the lock and woken after it is released, so a
//   wake that runs code (or takes another lock) never runs under this one.
#include "corio/io/duplex.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "corio/detail/coop.hpp"
#include "corio/detail/sync.hpp"

namespace corio::io {
namespace detail {

class Pipe {
public:
    explicit Pipe(std::size_t max_buf_size) : max_(max_buf_size) {}

    Poll<Result<std::size_t>> poll_read(Context& cx, std::span<std::byte> out) {
        using Out = Result<std::size_t>;
        Waker to_wake;
        std::size_t n = 0;
        {
            std::lock_guard lock(mutex_);
            if (len_ == 0) {
                if (write_closed_) return Ready(Out(0));
                read_waker_.clone_from(cx.waker());
                return Pending;
            }
            n = take(out);
            to_wake = std::exchange(write_waker_, Waker());  // room was made
        }
        std::move(to_wake).wake();
        return Ready(Out(n));
    }

    Poll<Result<std::size_t>> poll_write(Context& cx, std::span<const std::byte> in) {
        using Out = Result<std::size_t>;
        Waker to_wake;
        std::size_t n = 0;
        {
            std::lock_guard lock(mutex_);
            if (write_closed_ || read_closed_) return Ready(Out(error(std::errc::broken_pipe)));
            if (in.empty()) return Ready(Out(0));
            if (len_ == max_) {
                write_waker_.clone_from(cx.waker());
                return Pending;
            }
            n = put(in);
            to_wake = std::exchange(read_waker_, Waker());  // bytes arrived
        }
        std::move(to_wake).wake();
        return Ready(Out(n));
    }

    /// The writer shut down or went away: the reader drains, then reads 0.
    void close_write() noexcept {
        Waker to_wake;
        {
            std::lock_guard lock(mutex_);
            write_closed_ = true;
            to_wake = std::exchange(read_waker_, Waker());
        }
        std::move(to_wake).wake();
    }

    /// The reader went away: nobody will read, so writes fail from now on.
    /// Its own stored waker is released (not woken): it waits for nothing now.
    void close_read() noexcept {
        Waker to_wake;
        Waker own;
        std::vector<std::byte> freed;
        {
            std::lock_guard lock(mutex_);
            read_closed_ = true;
            freed.swap(ring_);
            head_ = len_ = 0;
            to_wake = std::exchange(write_waker_, Waker());
            own = std::exchange(read_waker_, Waker());
        }
        std::move(to_wake).wake();
    }

    /// The writer went away (after close_write): releases its stored waker.
    void release_writer() noexcept {
        Waker own;
        std::lock_guard lock(mutex_);
        own = std::exchange(write_waker_, Waker());
    }

private:
    // Copies up to out.size() bytes out of the ring. Requires len_ > 0.
    std::size_t take(std::span<std::byte> out) noexcept {
        std::size_t n = std::min(out.size(), len_);
        std::size_t first = std::min(n, ring_.size() - head_);
        std::memcpy(out.data(), ring_.data() + head_, first);
        std::memcpy(out.data() + first, ring_.data(), n - first);
        head_ = (head_ + n) % ring_.size();
        len_ -= n;
        if (len_ == 0) head_ = 0;  // keeps the next writes contiguous
        return n;
    }

    // Copies as much of `in` as fits (up to max_) into the ring, growing it
    // on demand. Requires len_ < max_.
    std::size_t put(std::span<const std::byte> in) {
        std::size_t n = std::min(in.size(), max_ - len_);
        if (len_ + n > ring_.size()) grow(len_ + n);
        std::size_t tail = (head_ + len_) % ring_.size();
        std::size_t first = std::min(n, ring_.size() - tail);
        std::memcpy(ring_.data() + tail, in.data(), first);
        std::memcpy(ring_.data(), in.data() + first, n - first);
        len_ += n;
        return n;
    }

    // Reallocates the ring to hold at least `needed` bytes (doubling, at
    // most max_), moving the buffered bytes to its start.
    void grow(std::size_t needed) {
        std::size_t size = std::min(std::max({ring_.size() * 2, needed, kMinRing}), max_);
        std::vector<std::byte> bigger(size);
        std::size_t len = len_;
        if (len != 0) take(std::span(bigger.data(), len));  // empties the ring
        ring_.swap(bigger);
        head_ = 0;
        len_ = len;
    }

    static constexpr std::size_t kMinRing = 4096;

    corio::detail::Mutex mutex_;
    std::vector<std::byte> ring_;
    std::size_t head_ = 0;
    std::size_t len_ = 0;
    const std::size_t max_;
    Waker read_waker_;
    Waker write_waker_;
    bool write_closed_ = false;  // the writer shut down or was destroyed
    bool read_closed_ = false;   // the reader was destroyed
};

}  // namespace detail

DuplexStream& DuplexStream::operator=(DuplexStream&& other) noexcept {
    if (this != &other) {
        close();
        read_ = std::move(other.read_);
        write_ = std::move(other.write_);
    }
    return *this;
}

DuplexStream::~DuplexStream() { close(); }

void DuplexStream::close() noexcept {
    if (write_) {
        write_->close_write();
        write_->release_writer();
    }
    if (read_) read_->close_read();
    write_.reset();
    read_.reset();
}

Poll<Result<std::size_t>> DuplexStream::poll_read(Context& cx, std::span<std::byte> buf) {
    using Out = Result<std::size_t>;
    if (!read_) return Ready(Out(error(std::errc::not_connected)));
    if (buf.empty()) return Ready(Out(0));
    if (!corio::detail::poll_proceed(cx)) return Pending;
    return read_->poll_read(cx, buf);
}

Poll<Result<std::size_t>> DuplexStream::poll_write(Context& cx, std::span<const std::byte> buf) {
    using Out = Result<std::size_t>;
    if (!write_) return Ready(Out(error(std::errc::not_connected)));
    if (!corio::detail::poll_proceed(cx)) return Pending;
    return write_->poll_write(cx, buf);
}

Poll<Result<void>> DuplexStream::poll_flush(Context&) {
    if (!write_) return Ready(Result<void>(error(std::errc::not_connected)));
    return Ready(Result<void>());
}

Poll<Result<void>> DuplexStream::poll_shutdown(Context&) {
    if (!write_) return Ready(Result<void>(error(std::errc::not_connected)));
    write_->close_write();
    return Ready(Result<void>());
}

std::pair<DuplexStream, DuplexStream> duplex(std::size_t max_buf_size) {
    if (max_buf_size == 0) throw std::invalid_argument("corio::io::duplex: max_buf_size must be at least 1");
    auto a_to_b = std::make_shared<detail::Pipe>(max_buf_size);
    auto b_to_a = std::make_shared<detail::Pipe>(max_buf_size);
    return {DuplexStream(b_to_a, a_to_b), DuplexStream(a_to_b, b_to_a)};
}

}  // namespace corio::io
