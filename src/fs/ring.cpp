// corio::fs through io_uring (see ring.hpp).
#include "fs/ring.hpp"

#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <utility>

#include "corio/detail/atomic_waker.hpp"
#include "corio/detail/runtime_core.hpp"
#include "fs/sys.hpp"
#include "runtime/io/io_driver.hpp"

namespace corio::fs::ring {
namespace {

/// One ring operation and the memory it names (see ring.hpp's invariant).
class RingOp final : public corio::detail::OneShotOp {
public:
    static RingOp* create() { return new RingOp(); }

    void fill(io_uring_sqe& out) noexcept override {
        out.opcode = sqe.opcode;
        out.fd = sqe.fd;
        out.addr = sqe.addr;
        out.len = sqe.len;
        out.off = sqe.off;
        out.open_flags = sqe.op_flags;  // one union: open_flags, statx_flags, rw_flags
    }
    void complete(int res) noexcept override {
        res_ = res;
        done_.store(true, std::memory_order_release);  // publishes res_ and what the kernel wrote
        waker.wake();
        release();  // the ring's reference
    }

    void acquire() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }  // a holder adds: no ordering
    void release() noexcept {
        // acq_rel: the last holder sees every other holder's writes before deleting.
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }
    bool done() const noexcept { return done_.load(std::memory_order_acquire); }
    int result() const noexcept { return res_; }

    /// What the caller prepares (the fields of io_uring_sqe it uses), copied
    /// into the ring's entry by fill(). (io_uring_sqe itself ends in a
    /// flexible array, so it cannot be a member.)
    struct Prepared {
        std::uint8_t opcode = 0;
        std::int32_t fd = -1;
        std::uint64_t addr = 0;
        std::uint32_t len = 0;
        std::uint64_t off = 0;
        std::uint32_t op_flags = 0;
    } sqe;
    std::string path;
    std::vector<std::byte> buf;
    struct statx stx{};
    corio::detail::AtomicWaker waker;
    bool taken = false;  // the awaiter took the result (awaiter side only)

private:
    RingOp() = default;
    ~RingOp() {
        // An openat whose awaiter was dropped before it completed: nobody
        // owns the descriptor it opened.
        if (sqe.opcode == IORING_OP_OPENAT && !taken && done() && res_ >= 0) ::close(res_);
    }
    std::atomic<int> refs_{1};
    std::atomic<bool> done_{false};
    int res_ = 0;
};

/// The awaiting side's reference to a RingOp.
class OpRef {
public:
    OpRef() : op_(RingOp::create()) {}
    OpRef(OpRef&& other) noexcept : op_(std::exchange(other.op_, nullptr)) {}
    OpRef& operator=(OpRef&&) = delete;
    ~OpRef() {
        if (op_ != nullptr) op_->release();
    }
    RingOp* operator->() const noexcept { return op_; }
    RingOp& operator*() const noexcept { return *op_; }

private:
    RingOp* op_;
};

/// Submits a RingOp at the first poll; its result (>= 0, or -errno) once complete.
class Submitted {
public:
    using Output = int;
    explicit Submitted(RingOp& op) noexcept : op_(&op) {}

    Poll<int> poll(Context& cx) {
        if (!submitted_) {
            submitted_ = true;
            auto* core = corio::detail::current_runtime;
            op_->acquire();  // the ring's reference, released by complete()
            if (core == nullptr || !core->io_driver().backend().submit_one_shot(*op_)) {
                op_->release();
                return Ready(-ENOSYS);
            }
        }
        op_->waker.register_waker(cx.waker());
        if (!op_->done()) return Pending;
        op_->taken = true;
        return Ready(op_->result());
    }

private:
    RingOp* op_;
    bool submitted_ = false;
};

std::unexpected<std::error_code> os_error(int negative_errno) {
    return std::unexpected(std::error_code(-negative_errno, std::generic_category()));
}

/// Closes a descriptor when the coroutine ends or is dropped (a read still
/// in the ring holds its own reference to the file).
struct FdGuard {
    int fd = -1;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
};

void prep_openat(RingOp& op, int flags, mode_t mode) {
    op.sqe.opcode = IORING_OP_OPENAT;
    op.sqe.fd = AT_FDCWD;
    op.sqe.addr = reinterpret_cast<std::uint64_t>(op.path.c_str());
    op.sqe.len = mode;
    op.sqe.op_flags = static_cast<std::uint32_t>(flags | O_CLOEXEC);
}

/// A read or write of `len` bytes at `at` in op.buf, at the file's current
/// offset (-1: sequential, and right for files that cannot seek, /dev/full).
void prep_rw(RingOp& op, std::uint8_t opcode, int fd, std::size_t at, std::size_t len) {
    op.sqe.opcode = opcode;
    op.sqe.fd = fd;
    op.sqe.addr = reinterpret_cast<std::uint64_t>(op.buf.data() + at);
    op.sqe.len = static_cast<std::uint32_t>(len);
    op.sqe.off = ~std::uint64_t{0};
}

Metadata from_statx(const struct statx& x) {
    struct stat st{};
    st.st_mode = x.stx_mode;
    st.st_size = static_cast<off_t>(x.stx_size);
    st.st_ino = x.stx_ino;
    st.st_dev = makedev(x.stx_dev_major, x.stx_dev_minor);
    st.st_rdev = makedev(x.stx_rdev_major, x.stx_rdev_minor);
    st.st_nlink = x.stx_nlink;
    st.st_uid = x.stx_uid;
    st.st_gid = x.stx_gid;
    st.st_blksize = x.stx_blksize;
    st.st_blocks = static_cast<blkcnt_t>(x.stx_blocks);
    st.st_atim = {x.stx_atime.tv_sec, x.stx_atime.tv_nsec};
    st.st_mtim = {x.stx_mtime.tv_sec, x.stx_mtime.tv_nsec};
    st.st_ctim = {x.stx_ctime.tv_sec, x.stx_ctime.tv_nsec};
    return Metadata::from_stat(st);
}

/// openat through the ring: the descriptor, or the error.
Task<io::Result<int>> open_file(const Path& path, int flags, mode_t mode) {
    if (auto ok = sys::check_path(path); !ok) co_return std::unexpected(ok.error());
    OpRef op;
    op->path = path.native();
    prep_openat(*op, flags, mode);
    int fd = co_await Submitted(*op);
    if (fd < 0) co_return os_error(fd);
    co_return fd;
}

}  // namespace

bool available() noexcept {
    auto* core = corio::detail::current_runtime;
    return core != nullptr && core->io_backend() == IoBackend::IoUring;
}

Task<io::Result<std::vector<std::byte>>> read(Path path) {
    auto cached = sys::read_cached_file(path, sys::kMaxCachedRead);  // no ring trip when all is cached
    if (cached) co_return cached;
    auto opened = co_await open_file(path, O_RDONLY, 0);
    if (!opened) co_return std::unexpected(opened.error());
    FdGuard guard{*opened};
    struct stat st{};  // fstat of an open file never waits for I/O: no ring trip for it
    std::size_t hint = ::fstat(guard.fd, &st) == 0 && st.st_size > 0 ? static_cast<std::size_t>(st.st_size) : 0;
    std::vector<std::byte> data(hint + 1);  // one more, to see the end without another read
    std::size_t len = 0;
    for (;;) {
        OpRef op;
        op->buf = std::move(data);
        prep_rw(*op, IORING_OP_READ, guard.fd, len, op->buf.size() - len);
        int n = co_await Submitted(*op);
        data = std::move(op->buf);
        if (n < 0) {
            if (n == -EINTR || n == -EAGAIN) continue;
            co_return os_error(n);
        }
        if (n == 0) break;
        len += static_cast<std::size_t>(n);
        if (len == data.size()) data.resize(data.size() * 2);
    }
    data.resize(len);
    co_return data;
}

Task<io::Result<void>> write(Path path, std::vector<std::byte> data) {
    auto opened = co_await open_file(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (!opened) co_return std::unexpected(opened.error());
    FdGuard guard{*opened};
    std::size_t done = 0;
    std::vector<std::byte> owned = std::move(data);
    const std::size_t total = owned.size();
    while (done < total) {
        OpRef op;
        op->buf = std::move(owned);
        prep_rw(*op, IORING_OP_WRITE, guard.fd, done, total - done);
        int n = co_await Submitted(*op);
        owned = std::move(op->buf);
        if (n < 0) {
            if (n == -EINTR || n == -EAGAIN) continue;
            co_return os_error(n);
        }
        if (n == 0) co_return io::error(io::errc::write_zero);
        done += static_cast<std::size_t>(n);
    }
    co_return io::Result<void>();
}

Task<io::Result<Metadata>> stat(Path path, bool follow) {
    if (auto ok = sys::check_path(path); !ok) co_return std::unexpected(ok.error());
    OpRef op;
    op->path = path.native();
    op->sqe.opcode = IORING_OP_STATX;
    op->sqe.fd = AT_FDCWD;
    op->sqe.addr = reinterpret_cast<std::uint64_t>(op->path.c_str());
    op->sqe.len = STATX_BASIC_STATS;
    op->sqe.off = reinterpret_cast<std::uint64_t>(&op->stx);  // addr2: where the kernel writes
    op->sqe.op_flags = follow ? 0u : static_cast<std::uint32_t>(AT_SYMLINK_NOFOLLOW);
    int r = co_await Submitted(*op);
    if (r < 0) co_return os_error(r);
    co_return from_statx(op->stx);
}

Task<io::Result<bool>> try_exists(Path path) {
    auto md = co_await stat(std::move(path), true);
    if (md) co_return true;
    if (md.error() == std::errc::no_such_file_or_directory) co_return false;
    co_return std::unexpected(md.error());
}

}  // namespace corio::fs::ring
