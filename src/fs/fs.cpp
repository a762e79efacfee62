// corio::fs free functions and ReadDir: each a trip to the blocking pool
// running the calls of fs/sys.hpp; ReadDir reads its entries in batches.
#include "corio/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "corio/detail/blocking_io.hpp"
#include "fs/ring.hpp"
#include "fs/sys.hpp"

namespace corio::fs {

IoFuture<std::vector<std::byte>> read(Path path) {
    if (ring::available()) return IoFuture<std::vector<std::byte>>(ring::read(std::move(path)));
    using Out = io::Result<std::vector<std::byte>>;
    Path fast_path = path;  // each closure its own copy (argument order is unspecified)
    return IoFuture<std::vector<std::byte>>(
        [path = std::move(fast_path)]() -> std::optional<Out> {
            auto cached = sys::read_cached_file(path, sys::kMaxCachedRead);
            if (!cached) return std::nullopt;
            return cached;
        },
        [path = std::move(path)] { return sys::read(path); });
}

namespace {
std::string as_string(const std::vector<std::byte>& bytes) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

Task<io::Result<std::string>> ring_read_to_string(Path path) {
    auto bytes = co_await ring::read(std::move(path));
    if (!bytes) co_return std::unexpected(bytes.error());
    co_return as_string(*bytes);
}
}  // namespace

IoFuture<std::string> read_to_string(Path path) {
    if (ring::available()) return IoFuture<std::string>(ring_read_to_string(std::move(path)));
    using Out = io::Result<std::string>;
    Path fast_path = path;  // each closure its own copy (argument order is unspecified)
    return IoFuture<std::string>(
        [path = std::move(fast_path)]() -> std::optional<Out> {
            auto cached = sys::read_cached_file(path, sys::kMaxCachedRead);
            if (!cached) return std::nullopt;
            return Out(as_string(*cached));
        },
        [path = std::move(path)]() -> Out {
            auto bytes = sys::read(path);
            if (!bytes) return std::unexpected(bytes.error());
            return as_string(*bytes);
        });
}

IoFuture<void> write(Path path, std::span<const std::byte> data) {
    std::vector<std::byte> owned(data.begin(), data.end());
    if (ring::available()) return IoFuture<void>(ring::write(std::move(path), std::move(owned)));
    return IoFuture<void>([path = std::move(path), owned = std::move(owned)] { return sys::write(path, owned); });
}

IoFuture<void> write(Path path, std::string_view text) {
    return write(std::move(path), std::as_bytes(std::span<const char>(text.data(), text.size())));
}

IoFuture<std::uint64_t> copy(Path from, Path to) {
    return IoFuture<std::uint64_t>([from = std::move(from), to = std::move(to)] { return sys::copy(from, to); });
}

IoFuture<void> rename(Path from, Path to) {
    return IoFuture<void>([from = std::move(from), to = std::move(to)] { return sys::rename(from, to); });
}

IoFuture<void> remove_file(Path path) {
    return IoFuture<void>([path = std::move(path)] { return sys::remove_file(path); });
}

IoFuture<void> remove_dir(Path path) {
    return IoFuture<void>([path = std::move(path)] { return sys::remove_dir(path); });
}

IoFuture<void> remove_dir_all(Path path) {
    return IoFuture<void>([path = std::move(path)] { return sys::remove_dir_all(path); });
}

IoFuture<void> create_dir(Path path) {
    return IoFuture<void>([path = std::move(path)] { return sys::create_dir(path); });
}

IoFuture<void> create_dir_all(Path path) {
    return IoFuture<void>([path = std::move(path)] { return sys::create_dir_all(path); });
}

IoFuture<Metadata> metadata(Path path) {
    if (ring::available()) return IoFuture<Metadata>(ring::stat(std::move(path), true));
    return IoFuture<Metadata>([path = std::move(path)] { return sys::stat(path, true); });
}

IoFuture<Metadata> symlink_metadata(Path path) {
    if (ring::available()) return IoFuture<Metadata>(ring::stat(std::move(path), false));
    return IoFuture<Metadata>([path = std::move(path)] { return sys::stat(path, false); });
}

IoFuture<Path> canonicalize(Path path) {
    return IoFuture<Path>([path = std::move(path)] { return sys::canonicalize(path); });
}

IoFuture<void> hard_link(Path original, Path link) {
    return IoFuture<void>(
        [original = std::move(original), link = std::move(link)] { return sys::hard_link(original, link); });
}

IoFuture<void> symlink(Path original, Path link) {
    return IoFuture<void>(
        [original = std::move(original), link = std::move(link)] { return sys::symlink(original, link); });
}

IoFuture<Path> read_link(Path path) {
    return IoFuture<Path>([path = std::move(path)] { return sys::read_link(path); });
}

IoFuture<void> set_permissions(Path path, Permissions perm) {
    return IoFuture<void>([path = std::move(path), perm] { return sys::set_permissions(path, perm); });
}

IoFuture<bool> try_exists(Path path) {
    if (ring::available()) return IoFuture<bool>(ring::try_exists(std::move(path)));
    return IoFuture<bool>([path = std::move(path)] { return sys::try_exists(path); });
}

// ---- read_dir ---------------------------------------------------------------------

namespace detail {

DirBatch read_dir_batch(DirPtr dir, const std::shared_ptr<const std::filesystem::path>& path, std::size_t max) {
    DirBatch batch;
    batch.entries.reserve(max);
    int dfd = ::dirfd(dir.get());
    while (batch.entries.size() < max) {
        errno = 0;
        dirent* e = ::readdir(dir.get());
        if (e == nullptr) {
            if (errno != 0) batch.error = std::error_code(errno, std::generic_category());
            return batch;  // the end: `dir` closes here
        }
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        struct stat st{};
        io::Result<Metadata> md = ::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
                                      ? io::Result<Metadata>(Metadata::from_stat(st))
                                      : io::Result<Metadata>(io::last_os_error());
        batch.entries.push_back(DirEntry(path, e->d_name, e->d_ino, std::move(md)));
    }
    batch.dir = std::move(dir);
    return batch;
}

}  // namespace detail

IoFuture<ReadDir> read_dir(Path path) {
    return IoFuture<ReadDir>([path = std::move(path)]() -> io::Result<ReadDir> {
        if (auto ok = sys::check_path(path); !ok) return std::unexpected(ok.error());
        auto fd = sys::open(path, O_RDONLY | O_DIRECTORY, 0);
        if (!fd) return std::unexpected(fd.error());
        DIR* dir = ::fdopendir(*fd);
        if (dir == nullptr) {
            auto err = io::last_os_error();
            ::close(*fd);
            return err;
        }
        auto shared = std::make_shared<const std::filesystem::path>(path);
        auto first = detail::read_dir_batch(detail::DirPtr(dir), shared, kReadDirBatch);
        return ReadDir(std::move(shared), std::move(first));
    });
}

ReadDir::ReadDir(std::shared_ptr<const std::filesystem::path> path, detail::DirBatch first) : path_(std::move(path)) {
    absorb(std::move(first));
}

void ReadDir::absorb(detail::DirBatch batch) {
    for (auto& e : batch.entries) ready_.push_back(std::move(e));
    dir_ = std::move(batch.dir);
    if (batch.error) error_ = batch.error;
    if (!dir_) done_ = true;
}

void ReadDir::start_next() {
    if (inflight_ || !dir_ || error_) return;
    inflight_.emplace(task::spawn_blocking([dir = std::move(dir_), path = path_]() mutable {
        return detail::read_dir_batch(std::move(dir), path, kReadDirBatch);
    }));
}

Poll<std::optional<ReadDir::Item>> ReadDir::poll_next(Context& cx) {
    using Out = std::optional<Item>;
    for (;;) {
        if (!ready_.empty()) {
            DirEntry e = std::move(ready_.front());
            ready_.pop_front();
            // Read ahead: the next batch is fetched while this one is consumed.
            if (!done_) start_next();
            return Ready(Out(Item(std::move(e))));
        }
        if (error_) {
            auto err = std::exchange(error_, {});
            done_ = true;
            dir_.reset();
            return Ready(Out(Item(std::unexpected(err))));
        }
        if (!inflight_) {
            if (done_ || !dir_) return Ready(Out());
            start_next();
        }
        try {
            auto batch = inflight_->poll(cx);
            if (batch.is_pending()) return Pending;
            inflight_.reset();
            absorb(std::move(*batch));
        } catch (const JoinError&) {  // the runtime dropped the trip (shutdown)
            inflight_.reset();
            done_ = true;
            error_ = std::make_error_code(std::errc::operation_canceled);
        }
    }
}

}  // namespace corio::fs
