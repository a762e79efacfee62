// corio::fs: asynchronous file system operations (Tokio's tokio::fs, Rust's
// std::fs names).
//
// On the epoll backend each free function is one trip to the runtime's
// blocking pool, which runs the plain system calls (open, read, stat, ...)
// there. On the io_uring backend read, read_to_string, write, metadata,
// symlink_metadata and try_exists go through the ring instead (openat,
// statx, read, write, close), so many small files cost no thread hand-offs;
// the others, fs::read_dir (io_uring has no directory read) and fs::File
// use the pool on both backends. fs::read_dir and fs::File batch (see their
// headers) so that walking a directory or reading a large file does not cost
// a trip per entry or per small read.
//
// Errors are io::Result values with the system's error code (compare with
// std::errc: no_such_file_or_directory, permission_denied, is_a_directory,
// not_a_directory, no_space_on_device, ...), never exceptions; a path with
// a NUL byte is invalid_argument. Each function takes its path by value and
// owns what it needs, so dropping its future is safe (the pool finishes the
// call, whose result is then dropped). They must run inside a runtime.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "corio/fs/file.hpp"
#include "corio/fs/io_future.hpp"
#include "corio/fs/metadata.hpp"
#include "corio/fs/read_dir.hpp"
#include "corio/io/core.hpp"

namespace corio::fs {

using Path = std::filesystem::path;

/// The whole contents of a file.
IoFuture<std::vector<std::byte>> read(Path path);
/// The whole contents of a file, as a string (its bytes are not checked for UTF-8).
IoFuture<std::string> read_to_string(Path path);
/// Creates or truncates `path` and writes `data` (copied first).
IoFuture<void> write(Path path, std::span<const std::byte> data);
/// write() with text.
IoFuture<void> write(Path path, std::string_view text);
/// Copies the contents and permission bits of `from` to `to` (created or
/// truncated); how many bytes.
IoFuture<std::uint64_t> copy(Path from, Path to);
/// rename(2): moves `from` to `to`, replacing a file there.
IoFuture<void> rename(Path from, Path to);
/// Removes a file (or symbolic link).
IoFuture<void> remove_file(Path path);
/// Removes an empty directory.
IoFuture<void> remove_dir(Path path);
/// Removes a directory and everything in it. Symbolic links are removed,
/// never followed, so nothing outside the tree is touched. A `path` that
/// is itself a symbolic link is removed as a link.
IoFuture<void> remove_dir_all(Path path);
/// Creates a directory (its parent must exist).
IoFuture<void> create_dir(Path path);
/// Creates a directory and any missing parents; success if it exists.
IoFuture<void> create_dir_all(Path path);
/// stat(2), following symbolic links.
IoFuture<Metadata> metadata(Path path);
/// lstat(2): a symbolic link's own metadata.
IoFuture<Metadata> symlink_metadata(Path path);
/// The absolute path with every symbolic link, "." and ".." resolved (realpath(3)).
IoFuture<Path> canonicalize(Path path);
/// link(2): `link` becomes another name of `original`.
IoFuture<void> hard_link(Path original, Path link);
/// symlink(2): creates `link` pointing at `original`.
IoFuture<void> symlink(Path original, Path link);
/// readlink(2): what a symbolic link points at.
IoFuture<Path> read_link(Path path);
/// chmod(2).
IoFuture<void> set_permissions(Path path, Permissions perm);
/// Whether `path` exists (following links): false for no_such_file_or_directory
/// (and a dangling link), the error for anything else (permission_denied, ...).
IoFuture<bool> try_exists(Path path);
/// Opens a directory and reads its first batch of entries.
IoFuture<ReadDir> read_dir(Path path);

}  // namespace corio::fs
