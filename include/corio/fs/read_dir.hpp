// fs::ReadDir and fs::DirEntry: a directory's entries as a stream, fetched
// on the blocking pool in batches.
//
// One pool trip opens the directory and reads the first batch (up to
// kReadDirBatch entries, each with its lstat metadata, fetched beside it with
// fstatat on the open directory); while the caller consumes a batch the next
// one is already being read, so a walk costs one pool round trip per batch,
// never one per entry, and DirEntry::metadata() and file_type() need no trip
// at all.
//
// Invariant: at most one batch is in flight; the open directory (DIR*)
// travels with it to the pool thread and back, so dropping a ReadDir with a
// batch in flight closes the directory when that batch ends.
#pragma once

#include <dirent.h>
#include <sys/types.h>

#include <cstddef>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "corio/fs/metadata.hpp"
#include "corio/future.hpp"
#include "corio/io/core.hpp"
#include "corio/task/join_handle.hpp"

namespace corio::fs {

/// Entries a ReadDir fetches per trip to the blocking pool.
inline constexpr std::size_t kReadDirBatch = 256;

class ReadDir;

namespace detail {
struct DirCloser {
    void operator()(DIR* dir) const noexcept { ::closedir(dir); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;
struct DirBatch;
DirBatch read_dir_batch(DirPtr dir, const std::shared_ptr<const std::filesystem::path>& path, std::size_t max);
}  // namespace detail

/// One entry of a directory (never "." or ".."). A plain value: its
/// metadata was fetched with it, without following a symbolic link.
class DirEntry {
public:
    /// The directory's path joined with the file name.
    std::filesystem::path path() const { return *dir_ / name_; }
    /// The bare file name.
    const std::string& file_name() const noexcept { return name_; }
    /// The inode number (from the directory entry itself).
    ino_t ino() const noexcept { return ino_; }
    /// The entry's type, not following a symbolic link. No pool trip: fetched
    /// with the entry. Error: the entry vanished before it could be looked at
    /// (no_such_file_or_directory), or another lstat error.
    io::Result<FileType> file_type() const {
        if (!metadata_) return std::unexpected(metadata_.error());
        return metadata_->file_type();
    }
    /// The entry's metadata, as symlink_metadata() reports it (a symbolic
    /// link is not followed). No pool trip; errors as file_type().
    io::Result<Metadata> metadata() const { return metadata_; }

private:
    friend detail::DirBatch detail::read_dir_batch(detail::DirPtr, const std::shared_ptr<const std::filesystem::path>&,
                                                   std::size_t);
    DirEntry(std::shared_ptr<const std::filesystem::path> dir, std::string name, ino_t ino, io::Result<Metadata> md)
        : dir_(std::move(dir)), name_(std::move(name)), ino_(ino), metadata_(std::move(md)) {}

    std::shared_ptr<const std::filesystem::path> dir_;
    std::string name_;
    ino_t ino_;
    io::Result<Metadata> metadata_;
};

namespace detail {
/// What one pool trip brings back: the entries, the directory to read on
/// (null once done), and an error that ended the listing.
struct DirBatch {
    DirPtr dir;
    std::vector<DirEntry> entries;
    std::error_code error;
};
}  // namespace detail

/// The entries of a directory, in the order the file system lists them.
/// A Stream of io::Result<DirEntry> (Item); next() and next_entry() are its
/// futures. Must be polled inside the runtime that created it. Move-only;
/// not moved while a next() future is pending.
class ReadDir {
public:
    using Item = io::Result<DirEntry>;

    ReadDir(ReadDir&&) noexcept = default;
    ReadDir& operator=(ReadDir&&) noexcept = default;
    ~ReadDir() = default;

    /// The next entry; no value at the end; an error item when listing failed
    /// (then the end). Cancellation-safe: a batch in flight stays for the next call.
    Poll<std::optional<Item>> poll_next(Context& cx);

    /// The future of next(): std::optional<Item> (the Stream's own shape).
    class CORIO_NODISCARD_FUTURE NextFuture {
    public:
        using Output = std::optional<Item>;
        explicit NextFuture(ReadDir& dir) noexcept : dir_(&dir) {}
        Poll<Output> poll(Context& cx) { return dir_->poll_next(cx); }

    private:
        ReadDir* dir_;
    };
    /// The future of next_entry(): io::Result<std::optional<DirEntry>> (Tokio's shape).
    class CORIO_NODISCARD_FUTURE NextEntryFuture {
    public:
        using Output = io::Result<std::optional<DirEntry>>;
        explicit NextEntryFuture(ReadDir& dir) noexcept : dir_(&dir) {}
        Poll<Output> poll(Context& cx) {
            auto r = dir_->poll_next(cx);
            if (r.is_pending()) return Pending;
            if (!r->has_value()) return Ready(Output(std::optional<DirEntry>()));
            if (!**r) return Ready(Output(std::unexpected((*r)->error())));
            return Ready(Output(std::optional<DirEntry>(std::move(***r))));
        }

    private:
        ReadDir* dir_;
    };

    /// The next entry, or no value at the end (see poll_next). Borrows this ReadDir.
    NextFuture next() noexcept { return NextFuture(*this); }
    /// The next entry, no value at the end, or the error. Borrows this ReadDir.
    NextEntryFuture next_entry() noexcept { return NextEntryFuture(*this); }

    /// Builds from a first batch (read_dir does this). Internal.
    ReadDir(std::shared_ptr<const std::filesystem::path> path, detail::DirBatch first);

private:
    void absorb(detail::DirBatch batch);
    void start_next();

    std::shared_ptr<const std::filesystem::path> path_;
    std::deque<DirEntry> ready_;
    detail::DirPtr dir_;  // null while a batch is in flight or once done
    std::optional<JoinHandle<detail::DirBatch>> inflight_;
    std::error_code error_;
    bool done_ = false;
};

}  // namespace corio::fs
