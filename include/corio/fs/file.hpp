// fs::File and fs::OpenOptions: a file opened for asynchronous reading and
// writing, served by the blocking pool (Tokio's design, with read-ahead).
//
// A File keeps at most one operation in flight on the pool and two internal
// buffers. poll_read serves bytes from one; when it runs dry, one trip reads
// a chunk (at least what was asked; it doubles, up to kMaxFileChunk, while
// the file is read sequentially), and as soon as a full chunk is being
// consumed the next one is read ahead into the other buffer. poll_write copies
// up to kMaxFileChunk bytes into the buffer, starts the write and returns at
// once; its error, if any, is reported by the next operation (flush, write,
// seek, ...), so call flush() (or sync_all()) before relying on the data.
//
// Invariant: the file offset the kernel holds runs ahead of the logical one
// by exactly the unread buffered bytes; before anything but a read (a write,
// seek, set_len, ...), the in-flight operation is awaited and the offset is
// moved back by that amount, the buffer dropped.
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <system_error>
#include <type_traits>
#include <vector>

#include "corio/detail/blocking_io.hpp"
#include "corio/fs/metadata.hpp"
#include "corio/future.hpp"
#include "corio/io/core.hpp"
#include "corio/task/join_handle.hpp"

namespace corio::fs {

/// The largest chunk a File reads or writes per pool trip.
inline constexpr std::size_t kMaxFileChunk = 2 * 1024 * 1024;

/// Where File::seek moves to.
struct SeekFrom {
    enum class Whence : std::uint8_t { Start, Current, End };
    static constexpr SeekFrom start(std::uint64_t offset) noexcept {
        return {Whence::Start, static_cast<std::int64_t>(offset)};
    }
    static constexpr SeekFrom current(std::int64_t offset) noexcept { return {Whence::Current, offset}; }
    static constexpr SeekFrom end(std::int64_t offset) noexcept { return {Whence::End, offset}; }
    Whence whence;
    std::int64_t offset;
};

class File;

namespace detail {
/// Owns a file descriptor; shared by a File and its operation in flight, so
/// a File dropped mid-operation closes the descriptor once that ends.
class FileHandle {
public:
    explicit FileHandle(int fd) noexcept : fd_(fd) {}
    FileHandle(const FileHandle&) = delete;
    FileHandle& operator=(const FileHandle&) = delete;
    ~FileHandle();
    int fd() const noexcept { return fd_; }

private:
    int fd_;
};

/// What a File's pool trip brings back: the buffer (read: data in
/// [0, result)) and the result.
struct FileOp {
    enum class Kind : std::uint8_t { Read, Write, Rewind };
    Kind kind;
    std::vector<std::byte> buf;
    io::Result<std::size_t> result;
};

/// Moves the kernel's offset back over `rewind` unread (read-ahead) bytes.
inline io::Result<void> rewind_by(int fd, std::size_t rewind) {
    if (rewind == 0) return {};
    if (::lseek(fd, -static_cast<off_t>(rewind), SEEK_CUR) < 0) return io::last_os_error();
    return {};
}

/// The future of File::seek, set_len, sync_all, ...: settles the file (ends
/// the operation in flight, drops read-ahead), then runs `fn(fd)` on the
/// blocking pool. Borrows the File. Dropped after it started, the call
/// still completes on the pool.
template <class R>
class CORIO_NODISCARD_FUTURE FileOpFuture {
public:
    using Output = R;
    FileOpFuture(File& file, std::move_only_function<R(int)> fn) noexcept : file_(&file), fn_(std::move(fn)) {}
    Poll<R> poll(Context& cx);

private:
    File* file_;
    std::move_only_function<R(int)> fn_;
    std::optional<JoinHandle<R>> handle_;
};
}  // namespace detail

/// How to open a file (Rust's OpenOptions): a builder; open() does it.
class OpenOptions {
public:
    OpenOptions& read(bool on) noexcept { return set(read_, on); }
    OpenOptions& write(bool on) noexcept { return set(write_, on); }
    /// Every write goes to the end (implies write).
    OpenOptions& append(bool on) noexcept { return set(append_, on); }
    OpenOptions& truncate(bool on) noexcept { return set(truncate_, on); }
    /// Create the file if missing (needs write or append).
    OpenOptions& create(bool on) noexcept { return set(create_, on); }
    /// Create the file, failing with file_exists if it is there (needs write or append).
    OpenOptions& create_new(bool on) noexcept { return set(create_new_, on); }
    /// The permission bits of a created file (before the umask); default 0666.
    OpenOptions& mode(mode_t mode) noexcept {
        mode_ = mode;
        return *this;
    }
    /// More open(2) flags (O_NOFOLLOW, O_DIRECT, ...).
    OpenOptions& custom_flags(int flags) noexcept {
        custom_flags_ = flags;
        return *this;
    }

    /// Opens `path`. Errors: as open(2) (no_such_file_or_directory,
    /// permission_denied, file_exists, is_a_directory, ...), invalid_argument
    /// for no access mode or a path holding a NUL byte. Cancellation-safe in
    /// effect: a file opened after the future was dropped is closed.
    corio::detail::BlockingIo<io::Result<File>> open(std::filesystem::path path) const;

    /// The open(2) flags, or invalid_argument.
    io::Result<int> flags() const noexcept;

private:
    OpenOptions& set(bool& field, bool on) noexcept {
        field = on;
        return *this;
    }
    bool read_ = false;
    bool write_ = false;
    bool append_ = false;
    bool truncate_ = false;
    bool create_ = false;
    bool create_new_ = false;
    mode_t mode_ = 0666;
    int custom_flags_ = 0;
};

/// An open file. AsyncRead + AsyncWrite, with seek, set_len, sync_all,
/// sync_data and metadata. Move-only; futures and poll calls borrow it (it
/// must outlive them and not move while one is pending). Use from one task
/// at a time. Dropping it closes the file (after a write in flight ends).
class File {
public:
    /// Opens `path` for reading.
    static corio::detail::BlockingIo<io::Result<File>> open(std::filesystem::path path);
    /// Opens `path` for writing, creating it or truncating it.
    static corio::detail::BlockingIo<io::Result<File>> create(std::filesystem::path path);
    /// A blank OpenOptions.
    static OpenOptions options() noexcept { return OpenOptions(); }
    /// Takes ownership of an open descriptor.
    static File from_fd(int fd);

    File(File&&) noexcept;
    File& operator=(File&&) noexcept;
    ~File();

    Poll<io::Result<std::size_t>> poll_read(Context& cx, std::span<std::byte> buf);
    /// Takes up to kMaxFileChunk bytes and starts writing them; see the header comment.
    Poll<io::Result<std::size_t>> poll_write(Context& cx, std::span<const std::byte> buf);
    /// Ready once the write in flight ended; its error, if it failed.
    Poll<io::Result<void>> poll_flush(Context& cx);
    /// poll_flush (a file has no write side to shut).
    Poll<io::Result<void>> poll_shutdown(Context& cx) { return poll_flush(cx); }

    /// Moves the file offset; the new offset from the start.
    detail::FileOpFuture<io::Result<std::uint64_t>> seek(SeekFrom pos);
    /// Truncates or extends the file to `size` bytes (the offset stays).
    detail::FileOpFuture<io::Result<void>> set_len(std::uint64_t size);
    /// Flushes, then fsync(2): data and metadata reach the disk.
    detail::FileOpFuture<io::Result<void>> sync_all();
    /// Flushes, then fdatasync(2).
    detail::FileOpFuture<io::Result<void>> sync_data();
    /// fstat(2) of the open file.
    detail::FileOpFuture<io::Result<Metadata>> metadata();
    /// fchmod(2).
    detail::FileOpFuture<io::Result<void>> set_permissions(Permissions perm);

    /// The descriptor (still owned by the File).
    int native_handle() const noexcept { return handle_ ? handle_->fd() : -1; }

private:
    friend class OpenOptions;
    explicit File(std::shared_ptr<detail::FileHandle> handle) noexcept;

    /// Ends the operation in flight and drops the read buffer: how far the
    /// kernel offset is ahead of the logical one (to move back), or the
    /// error of a failed write.
    Poll<io::Result<std::size_t>> poll_settle(Context& cx);
    /// Polls the operation in flight; Ready once it ended (and was absorbed).
    Poll<void> poll_inflight(Context& cx);
    void absorb(detail::FileOp op);
    void start_read(std::size_t size);
    template <class R>
    friend class detail::FileOpFuture;

    std::shared_ptr<detail::FileHandle> handle_;
    std::vector<std::byte> buf_;    // read: unread bytes are [pos_, end_)
    std::vector<std::byte> spare_;  // the other buffer: a read-ahead fills it while buf_ is consumed
    std::size_t pos_ = 0;
    std::size_t end_ = 0;
    std::size_t chunk_ = 0;  // the next read's size while reading sequentially; 0: not reading
    std::optional<JoinHandle<detail::FileOp>> inflight_;
    std::size_t ahead_ = 0;    // bytes the in-flight read asked for (read-ahead)
    std::error_code error_;    // a failed write, reported by the next operation
    bool read_eof_ = false;    // the last read returned 0: no read-ahead until asked
    bool read_ahead_ = false;  // the in-flight read is a read-ahead, not asked for
};

static_assert(io::AsyncRead<File> && io::AsyncWrite<File>);

template <class R>
Poll<R> detail::FileOpFuture<R>::poll(Context& cx) {
    if (!handle_) {
        if (!file_->handle_) return Ready(R(io::error(std::errc::bad_file_descriptor)));
        auto rewind = file_->poll_settle(cx);
        if (rewind.is_pending()) return Pending;
        if (!*rewind) return Ready(R(std::unexpected(rewind->error())));
        handle_.emplace(task::spawn_blocking([handle = file_->handle_, back = **rewind, fn = std::move(fn_)]() mutable {
            if (auto r = rewind_by(handle->fd(), back); !r) return R(std::unexpected(r.error()));
            return fn(handle->fd());
        }));
    }
    return corio::detail::poll_blocking(*handle_, cx);
}

}  // namespace corio::fs
