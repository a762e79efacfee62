// The blocking system calls behind corio::fs, each returning io::Result:
// what the blocking pool runs (and a blocking benchmark may call directly).
// No function here touches a runtime.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "corio/fs/metadata.hpp"
#include "corio/io/core.hpp"

namespace corio::fs::sys {

using Path = std::filesystem::path;

/// invalid_argument when `path` holds a NUL byte (the kernel would see a shorter name).
io::Result<void> check_path(const Path& path);

io::Result<int> open(const Path& path, int flags, mode_t mode);
io::Result<std::vector<std::byte>> read(const Path& path);
io::Result<void> write(const Path& path, std::span<const std::byte> data);
io::Result<std::uint64_t> copy(const Path& from, const Path& to);
io::Result<void> rename(const Path& from, const Path& to);
io::Result<void> remove_file(const Path& path);
io::Result<void> remove_dir(const Path& path);
io::Result<void> remove_dir_all(const Path& path);
io::Result<void> create_dir(const Path& path);
io::Result<void> create_dir_all(const Path& path);
io::Result<Metadata> stat(const Path& path, bool follow);
io::Result<Metadata> fstat(int fd);
io::Result<Path> canonicalize(const Path& path);
io::Result<void> hard_link(const Path& original, const Path& link);
io::Result<void> symlink(const Path& original, const Path& link);
io::Result<Path> read_link(const Path& path);
io::Result<void> set_permissions(const Path& path, Permissions perm);
io::Result<bool> try_exists(const Path& path);
/// Reads into `buf` at the file offset only if that needs no disk I/O
/// (preadv2 with RWF_NOWAIT: the bytes are in the page cache; or a plain
/// read on tmpfs and ramfs, whose files are memory); a short read is possible. resource_unavailable_try_again when it
/// would wait, or on any failure (the caller then takes its blocking path, which reports errors).
io::Result<std::size_t> read_cached(int fd, std::span<std::byte> buf);
/// read(path) without waiting, for files of at most `max` bytes: the path
/// resolves from the dentry cache (openat2 RESOLVE_CACHED) and the data is in
/// the page cache. resource_unavailable_try_again otherwise, or on any error.
io::Result<std::vector<std::byte>> read_cached_file(const Path& path, std::size_t max);
/// The largest file read_cached_file serves on a runtime thread (a copy of
/// this size is short next to a trip to the blocking pool).
inline constexpr std::size_t kMaxCachedRead = 256 * 1024;
/// Reads until `buf` is full or end of file (retrying EINTR and short reads).
io::Result<std::size_t> read_full(int fd, std::span<std::byte> buf);
/// Writes all of `buf`.
io::Result<void> write_full(int fd, std::span<const std::byte> buf);

}  // namespace corio::fs::sys
