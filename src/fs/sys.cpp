// The blocking system calls behind corio::fs (see sys.hpp).
#include "fs/sys.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace corio::fs::sys {
namespace {

io::Result<void> check(int rc) {
    if (rc < 0) return io::last_os_error();
    return {};
}

/// Closes a descriptor on scope exit.
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
};

/// Removes what `name` names under the directory `parent`: a directory with
/// all it holds (recursively), anything else (a symbolic link included)
/// with unlinkat. O_NOFOLLOW: a link is never entered.
io::Result<void> remove_tree_at(int parent, const char* name) {
    int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOTDIR || errno == ELOOP) return check(::unlinkat(parent, name, 0));
        return io::last_os_error();
    }
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
        auto err = io::last_os_error();
        ::close(fd);
        return err;
    }
    std::unique_ptr<DIR, int (*)(DIR*)> owner(dir, ::closedir);
    for (;;) {
        errno = 0;
        dirent* e = ::readdir(dir);
        if (e == nullptr) {
            if (errno != 0) return io::last_os_error();
            break;
        }
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        io::Result<void> r = (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) ? remove_tree_at(fd, e->d_name)
                                                                              : check(::unlinkat(fd, e->d_name, 0));
        if (!r && r.error() != std::errc::no_such_file_or_directory) return r;
    }
    owner.reset();
    return check(::unlinkat(parent, name, AT_REMOVEDIR));
}

/// The file lives in a memory file system (tmpfs, ramfs).
bool in_memory(int fd) noexcept {
    struct statfs fs{};
    if (::fstatfs(fd, &fs) != 0) return false;
    return fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
}

}  // namespace

io::Result<void> check_path(const Path& path) {
    if (path.native().find('\0') != std::string::npos) return io::error(std::errc::invalid_argument);
    return {};
}

io::Result<int> open(const Path& path, int flags, mode_t mode) {
    if (auto ok = check_path(path); !ok) return std::unexpected(ok.error());
    for (;;) {
        int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
        if (fd >= 0) return fd;
        if (errno != EINTR) return io::last_os_error();
    }
}

io::Result<std::size_t> read_full(int fd, std::span<std::byte> buf) {
    std::size_t done = 0;
    while (done < buf.size()) {
        ssize_t n = ::read(fd, buf.data() + done, buf.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return io::last_os_error();
        }
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    return done;
}

io::Result<std::size_t> read_cached(int fd, std::span<std::byte> buf) {
    iovec iov{buf.data(), buf.size()};
    for (;;) {
        ssize_t n = ::preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
        if (n >= 0) return static_cast<std::size_t>(n);
        if (errno == EINTR) continue;
        // tmpfs and ramfs cannot say (EOPNOTSUPP), but they hold their files
        // in memory: a plain read there copies without waiting for a disk.
        if (errno == EOPNOTSUPP && in_memory(fd)) {
            n = ::read(fd, buf.data(), buf.size());
            if (n >= 0) return static_cast<std::size_t>(n);
            if (errno == EINTR) continue;
        }
        return io::error(std::errc::resource_unavailable_try_again);
    }
}

io::Result<std::vector<std::byte>> read_cached_file(const Path& path, std::size_t max) {
    auto would_block = io::error(std::errc::resource_unavailable_try_again);
    if (path.native().find('\0') != std::string::npos) return would_block;
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_CACHED;
    int fd = static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how));
    if (fd < 0) return would_block;
    FdGuard guard{fd};
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) > max) {
        return would_block;
    }
    std::vector<std::byte> data(static_cast<std::size_t>(st.st_size) + 1);
    std::size_t len = 0;
    for (;;) {
        auto n = read_cached(fd, std::span<std::byte>(data).subspan(len));
        if (!n) return would_block;
        if (*n == 0) break;
        len += *n;
        if (len == data.size()) {
            if (data.size() > max) return would_block;  // it grew: the blocking path reads it
            data.resize(data.size() * 2);
        }
    }
    data.resize(len);
    return data;
}

io::Result<void> write_full(int fd, std::span<const std::byte> buf) {
    std::size_t done = 0;
    while (done < buf.size()) {
        ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return io::last_os_error();
        }
        if (n == 0) return io::error(io::errc::write_zero);
        done += static_cast<std::size_t>(n);
    }
    return {};
}

io::Result<std::vector<std::byte>> read(const Path& path) {
    auto fd = open(path, O_RDONLY, 0);
    if (!fd) return std::unexpected(fd.error());
    FdGuard guard{*fd};
    struct stat st{};
    std::size_t hint = ::fstat(*fd, &st) == 0 && st.st_size > 0 ? static_cast<std::size_t>(st.st_size) : 0;
    // One byte more than the size, so a file read whole needs no second read
    // to see its end; a file that grows or shrinks meanwhile is read as it is.
    std::vector<std::byte> data(hint + 1);
    std::size_t len = 0;
    for (;;) {
        auto n = read_full(*fd, std::span<std::byte>(data).subspan(len));
        if (!n) return std::unexpected(n.error());
        len += *n;
        if (len < data.size()) break;
        data.resize(data.size() * 2);
    }
    data.resize(len);
    return data;
}

io::Result<void> write(const Path& path, std::span<const std::byte> data) {
    auto fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (!fd) return std::unexpected(fd.error());
    FdGuard guard{*fd};
    return write_full(*fd, data);
}

io::Result<std::uint64_t> copy(const Path& from, const Path& to) {
    auto in = open(from, O_RDONLY, 0);
    if (!in) return std::unexpected(in.error());
    FdGuard in_guard{*in};
    struct stat st{};
    if (::fstat(*in, &st) != 0) return io::last_os_error();
    if (S_ISDIR(st.st_mode)) return io::error(std::errc::is_a_directory);
    auto out = open(to, O_WRONLY | O_CREAT | O_TRUNC, st.st_mode & 07777);
    if (!out) return std::unexpected(out.error());
    FdGuard out_guard{*out};
    std::uint64_t total = 0;
    for (;;) {  // in the kernel where it can; by hand where it cannot (EXDEV on old kernels, ...)
        ssize_t n = ::copy_file_range(*in, nullptr, *out, nullptr, 1 << 30, 0);
        if (n > 0) {
            total += static_cast<std::uint64_t>(n);
            continue;
        }
        if (n == 0) break;
        if (errno == EINTR) continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) return io::last_os_error();
        std::vector<std::byte> buf(256 * 1024);
        for (;;) {
            auto r = read_full(*in, buf);
            if (!r) return std::unexpected(r.error());
            if (*r == 0) break;
            auto w = write_full(*out, std::span<const std::byte>(buf).first(*r));
            if (!w) return std::unexpected(w.error());
            total += *r;
        }
        break;
    }
    if (::fchmod(*out, st.st_mode & 07777) != 0) return io::last_os_error();
    return total;
}

io::Result<void> rename(const Path& from, const Path& to) {
    if (auto ok = check_path(from); !ok) return ok;
    if (auto ok = check_path(to); !ok) return ok;
    return check(::rename(from.c_str(), to.c_str()));
}

io::Result<void> remove_file(const Path& path) {
    if (auto ok = check_path(path); !ok) return ok;
    return check(::unlink(path.c_str()));
}

io::Result<void> remove_dir(const Path& path) {
    if (auto ok = check_path(path); !ok) return ok;
    return check(::rmdir(path.c_str()));
}

io::Result<void> remove_dir_all(const Path& path) {
    if (auto ok = check_path(path); !ok) return ok;
    return remove_tree_at(AT_FDCWD, path.c_str());
}

io::Result<void> create_dir(const Path& path) {
    if (auto ok = check_path(path); !ok) return ok;
    return check(::mkdir(path.c_str(), 0777));
}

io::Result<void> create_dir_all(const Path& path) {
    if (auto ok = check_path(path); !ok) return ok;
    if (path.empty()) return {};
    if (::mkdir(path.c_str(), 0777) == 0) return {};
    if (errno == EEXIST) {
        struct stat st{};
        if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
        return io::error(std::errc::file_exists);
    }
    if (errno != ENOENT) return io::last_os_error();
    Path parent = path.parent_path();
    if (parent == path || parent.empty()) return io::last_os_error();
    if (auto up = create_dir_all(parent); !up) return up;
    if (::mkdir(path.c_str(), 0777) == 0 || errno == EEXIST) return {};  // EEXIST: made meanwhile
    return io::last_os_error();
}

io::Result<Metadata> stat(const Path& path, bool follow) {
    if (auto ok = check_path(path); !ok) return std::unexpected(ok.error());
    struct stat st{};
    int rc = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
    if (rc != 0) return io::last_os_error();
    return Metadata::from_stat(st);
}

io::Result<Metadata> fstat(int fd) {
    struct stat st{};
    if (::fstat(fd, &st) != 0) return io::last_os_error();
    return Metadata::from_stat(st);
}

io::Result<Path> canonicalize(const Path& path) {
    if (auto ok = check_path(path); !ok) return std::unexpected(ok.error());
    std::unique_ptr<char, void (*)(void*)> resolved(::realpath(path.c_str(), nullptr), ::free);
    if (!resolved) return io::last_os_error();
    return Path(resolved.get());
}

io::Result<void> hard_link(const Path& original, const Path& link) {
    if (auto ok = check_path(original); !ok) return ok;
    if (auto ok = check_path(link); !ok) return ok;
    return check(::link(original.c_str(), link.c_str()));
}

io::Result<void> symlink(const Path& original, const Path& link) {
    if (auto ok = check_path(original); !ok) return ok;
    if (auto ok = check_path(link); !ok) return ok;
    return check(::symlink(original.c_str(), link.c_str()));
}

io::Result<Path> read_link(const Path& path) {
    if (auto ok = check_path(path); !ok) return std::unexpected(ok.error());
    std::string buf(256, '\0');
    for (;;) {
        ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
        if (n < 0) return io::last_os_error();
        if (static_cast<std::size_t>(n) < buf.size()) {
            buf.resize(static_cast<std::size_t>(n));
            return Path(buf);
        }
        buf.resize(buf.size() * 2);  // it may have been cut short
    }
}

io::Result<void> set_permissions(const Path& path, Permissions perm) {
    if (auto ok = check_path(path); !ok) return ok;
    return check(::chmod(path.c_str(), perm.mode()));
}

io::Result<bool> try_exists(const Path& path) {
    if (auto ok = check_path(path); !ok) return std::unexpected(ok.error());
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT) return false;
    return io::last_os_error();
}

}  // namespace corio::fs::sys
