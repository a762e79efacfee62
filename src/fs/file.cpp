// fs::File on the blocking pool: one operation in flight, an internal
// buffer, sequential read-ahead (see file.hpp for the invariants).
#include "corio/fs/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "corio/detail/blocking_io.hpp"
#include "corio/detail/coop.hpp"
#include "corio/task/join_error.hpp"
#include "fs/sys.hpp"

namespace corio::fs {
namespace {

using detail::FileOp;
using detail::rewind_by;

constexpr std::size_t kFirstChunk = 64 * 1024;  // the first read of a sequential run reads at least this

}  // namespace

namespace detail {
FileHandle::~FileHandle() {
    if (fd_ >= 0) ::close(fd_);
}
}  // namespace detail

// ---- OpenOptions ------------------------------------------------------------------

io::Result<int> OpenOptions::flags() const noexcept {
    bool writes = write_ || append_;
    int flags = 0;
    if (read_ && writes) {
        flags = O_RDWR;
    } else if (writes) {
        flags = O_WRONLY;
    } else if (read_) {
        flags = O_RDONLY;
    } else {
        return io::error(std::errc::invalid_argument);
    }
    if (append_) flags |= O_APPEND;
    if ((truncate_ || create_ || create_new_) && !writes) return io::error(std::errc::invalid_argument);
    if (truncate_ && !append_) flags |= O_TRUNC;
    if (create_new_) {
        flags |= O_CREAT | O_EXCL;
    } else if (create_) {
        flags |= O_CREAT;
    }
    return flags | custom_flags_;
}

corio::detail::BlockingIo<io::Result<File>> OpenOptions::open(std::filesystem::path path) const {
    auto flags = this->flags();
    return corio::detail::BlockingIo<io::Result<File>>(
        [path = std::move(path), flags, mode = mode_]() -> io::Result<File> {
            if (!flags) return std::unexpected(flags.error());
            auto fd = sys::open(path, *flags, mode);
            if (!fd) return std::unexpected(fd.error());
            return File(std::make_shared<detail::FileHandle>(*fd));
        });
}

corio::detail::BlockingIo<io::Result<File>> File::open(std::filesystem::path path) {
    return options().read(true).open(std::move(path));
}

corio::detail::BlockingIo<io::Result<File>> File::create(std::filesystem::path path) {
    return options().write(true).create(true).truncate(true).open(std::move(path));
}

File File::from_fd(int fd) { return File(std::make_shared<detail::FileHandle>(fd)); }

File::File(std::shared_ptr<detail::FileHandle> handle) noexcept : handle_(std::move(handle)) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;  // a write in flight keeps the handle, which closes the file after it

void File::start_read(std::size_t size) {
    // Into the spare buffer: buf_ may still hold unread bytes (a read-ahead).
    std::vector<std::byte> buf = std::move(spare_);
    buf.resize(size);
    ahead_ = size;
    inflight_.emplace(task::spawn_blocking([handle = handle_, buf = std::move(buf)]() mutable {
        auto n = sys::read_full(handle->fd(), buf);
        return FileOp{FileOp::Kind::Read, std::move(buf), n};
    }));
}

void File::absorb(FileOp op) {
    switch (op.kind) {
        case FileOp::Kind::Read:
            // Only once buf_ was drained (poll_read) or its unread bytes
            // were counted for the rewind (poll_settle).
            spare_ = std::move(buf_);
            buf_ = std::move(op.buf);
            pos_ = 0;
            end_ = op.result ? *op.result : 0;
            if (!op.result) {
                error_ = op.result.error();
            } else if (*op.result < ahead_) {
                read_eof_ = true;  // a short read: the end of the file, for now
            }
            ahead_ = 0;
            break;
        case FileOp::Kind::Write:
        case FileOp::Kind::Rewind:
            buf_ = std::move(op.buf);
            buf_.clear();
            pos_ = end_ = 0;
            if (!op.result) error_ = op.result.error();
            break;
    }
}

Poll<void> File::poll_inflight(Context& cx) {
    if (!inflight_) return Ready();
    try {
        auto op = inflight_->poll(cx);
        if (op.is_pending()) return Pending;
        inflight_.reset();
        absorb(std::move(*op));
    } catch (const JoinError&) {  // the runtime dropped the trip (shutdown)
        inflight_.reset();
        buf_.clear();
        pos_ = end_ = 0;
        ahead_ = 0;
        error_ = std::make_error_code(std::errc::operation_canceled);
    }
    return Ready();
}

Poll<io::Result<std::size_t>> File::poll_read(Context& cx, std::span<std::byte> dst) {
    using Out = io::Result<std::size_t>;
    if (!handle_) return Ready(Out(io::error(std::errc::bad_file_descriptor)));
    if (dst.empty()) return Ready(Out(std::size_t{0}));
    for (;;) {
        if (pos_ < end_) {
            std::size_t n = std::min(dst.size(), end_ - pos_);
            std::memcpy(dst.data(), buf_.data() + pos_, n);
            pos_ += n;
            if (!inflight_ && !read_eof_ && chunk_ != 0) {
                chunk_ = std::min(chunk_ * 2, kMaxFileChunk);
                start_read(chunk_);  // read ahead: the next chunk comes while this one is used
            }
            return Ready(Out(n));
        }
        bool was_read = inflight_.has_value() && ahead_ != 0;
        if (poll_inflight(cx).is_pending()) return Pending;
        if (error_) return Ready(Out(std::unexpected(std::exchange(error_, {}))));
        if (pos_ < end_) continue;
        if (was_read && read_eof_) {  // the end of the file: say so once, try again next time
            read_eof_ = false;
            chunk_ = 0;
            return Ready(Out(std::size_t{0}));
        }
        read_eof_ = false;
        if (!inflight_) {
            // What the page cache holds is read straight into `dst`, here,
            // without waiting (and the kernel offset stays the logical one).
            if (!corio::detail::poll_proceed(cx)) return Pending;
            auto cached = sys::read_cached(handle_->fd(), dst);
            if (cached) return Ready(Out(*cached));
        }
        if (chunk_ == 0) chunk_ = std::max(dst.size(), kFirstChunk);
        start_read(std::min(std::max(chunk_, dst.size()), kMaxFileChunk));
    }
}

Poll<io::Result<std::size_t>> File::poll_settle(Context& cx) {
    using Out = io::Result<std::size_t>;
    // A read-ahead in flight lands in buf_ and displaces what is unread there:
    // count both for the rewind.
    std::size_t unread_before = ahead_ != 0 ? end_ - pos_ : 0;
    if (poll_inflight(cx).is_pending()) return Pending;
    std::size_t rewind = unread_before + (end_ - pos_);
    pos_ = end_ = 0;
    chunk_ = 0;
    read_eof_ = false;
    if (error_) return Ready(Out(std::unexpected(std::exchange(error_, {}))));
    return Ready(Out(rewind));
}

Poll<io::Result<std::size_t>> File::poll_write(Context& cx, std::span<const std::byte> src) {
    using Out = io::Result<std::size_t>;
    if (!handle_) return Ready(Out(io::error(std::errc::bad_file_descriptor)));
    auto settled = poll_settle(cx);
    if (settled.is_pending()) return Pending;
    if (!*settled) return Ready(Out(std::unexpected(settled->error())));
    std::size_t rewind = **settled;
    std::size_t n = std::min(src.size(), kMaxFileChunk);
    std::vector<std::byte> buf = std::move(buf_);
    buf.assign(src.begin(), src.begin() + static_cast<std::ptrdiff_t>(n));
    inflight_.emplace(task::spawn_blocking([handle = handle_, buf = std::move(buf), rewind]() mutable {
        auto r = rewind_by(handle->fd(), rewind);
        if (r) r = sys::write_full(handle->fd(), buf);
        io::Result<std::size_t> written = buf.size();
        if (!r) written = std::unexpected(r.error());
        return FileOp{FileOp::Kind::Write, std::move(buf), written};
    }));
    return Ready(Out(n));
}

Poll<io::Result<void>> File::poll_flush(Context& cx) {
    using Out = io::Result<void>;
    if (ahead_ != 0) return Ready(Out());  // a read in flight: nothing written waits
    if (poll_inflight(cx).is_pending()) return Pending;
    if (error_) return Ready(Out(std::unexpected(std::exchange(error_, {}))));
    return Ready(Out());
}

detail::FileOpFuture<io::Result<std::uint64_t>> File::seek(SeekFrom pos) {
    return {*this, [pos](int fd) -> io::Result<std::uint64_t> {
                int whence = SEEK_CUR;
                if (pos.whence == SeekFrom::Whence::Start) whence = SEEK_SET;
                if (pos.whence == SeekFrom::Whence::End) whence = SEEK_END;
                off_t at = ::lseek(fd, static_cast<off_t>(pos.offset), whence);
                if (at < 0) return io::last_os_error();
                return static_cast<std::uint64_t>(at);
            }};
}

namespace {
io::Result<void> check(int rc) {
    if (rc != 0) return io::last_os_error();
    return {};
}
}  // namespace

detail::FileOpFuture<io::Result<void>> File::set_len(std::uint64_t size) {
    return {*this, [size](int fd) { return check(::ftruncate(fd, static_cast<off_t>(size))); }};
}

detail::FileOpFuture<io::Result<void>> File::sync_all() {
    return {*this, [](int fd) { return check(::fsync(fd)); }};
}

detail::FileOpFuture<io::Result<void>> File::sync_data() {
    return {*this, [](int fd) { return check(::fdatasync(fd)); }};
}

detail::FileOpFuture<io::Result<Metadata>> File::metadata() {
    return {*this, [](int fd) { return sys::fstat(fd); }};
}

detail::FileOpFuture<io::Result<void>> File::set_permissions(Permissions perm) {
    return {*this, [perm](int fd) { return check(::fchmod(fd, perm.mode())); }};
}

}  // namespace corio::fs
