// File metadata as corio::fs reports it: FileType, Permissions and
// Metadata, plain values made from a struct stat (Rust's std::fs names).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>

namespace corio::fs {

/// What kind of file an entry is.
class FileType {
public:
    /// From the S_IFMT bits of a mode.
    static constexpr FileType from_mode(mode_t mode) noexcept { return FileType(mode & S_IFMT); }

    constexpr bool is_file() const noexcept { return bits_ == S_IFREG; }
    constexpr bool is_dir() const noexcept { return bits_ == S_IFDIR; }
    constexpr bool is_symlink() const noexcept { return bits_ == S_IFLNK; }
    constexpr bool is_fifo() const noexcept { return bits_ == S_IFIFO; }
    constexpr bool is_socket() const noexcept { return bits_ == S_IFSOCK; }
    constexpr bool is_block_device() const noexcept { return bits_ == S_IFBLK; }
    constexpr bool is_char_device() const noexcept { return bits_ == S_IFCHR; }
    /// The S_IFMT bits (0 when unknown).
    constexpr mode_t bits() const noexcept { return bits_; }

    constexpr bool operator==(const FileType&) const noexcept = default;

private:
    constexpr explicit FileType(mode_t bits) noexcept : bits_(bits) {}
    mode_t bits_;
};

/// A file's permission bits (the low 12 bits of its mode).
class Permissions {
public:
    static constexpr Permissions from_mode(mode_t mode) noexcept { return Permissions(mode & 07777); }

    constexpr mode_t mode() const noexcept { return mode_; }
    void set_mode(mode_t mode) noexcept { mode_ = mode & 07777; }
    /// No write bit is set for anyone.
    constexpr bool readonly() const noexcept { return (mode_ & 0222) == 0; }
    /// Clears (true) or sets (false: owner, group and others) the write bits.
    void set_readonly(bool readonly) noexcept { mode_ = readonly ? (mode_ & ~mode_t{0222}) : (mode_ | 0222); }

    constexpr bool operator==(const Permissions&) const noexcept = default;

private:
    constexpr explicit Permissions(mode_t mode) noexcept : mode_(mode) {}
    mode_t mode_;
};

/// What stat(2) says of a file.
class Metadata {
public:
    using TimePoint = std::chrono::system_clock::time_point;

    /// From a stat result.
    static Metadata from_stat(const struct stat& st) noexcept { return Metadata(st); }

    FileType file_type() const noexcept { return FileType::from_mode(st_.st_mode); }
    bool is_file() const noexcept { return file_type().is_file(); }
    bool is_dir() const noexcept { return file_type().is_dir(); }
    bool is_symlink() const noexcept { return file_type().is_symlink(); }
    /// Size in bytes.
    std::uint64_t len() const noexcept { return static_cast<std::uint64_t>(st_.st_size); }
    Permissions permissions() const noexcept { return Permissions::from_mode(st_.st_mode); }
    TimePoint modified() const noexcept { return time_of(st_.st_mtim); }
    TimePoint accessed() const noexcept { return time_of(st_.st_atim); }
    /// Last status change (ctime).
    TimePoint changed() const noexcept { return time_of(st_.st_ctim); }
    mode_t mode() const noexcept { return st_.st_mode; }
    ino_t ino() const noexcept { return st_.st_ino; }
    dev_t dev() const noexcept { return st_.st_dev; }
    nlink_t nlink() const noexcept { return st_.st_nlink; }
    uid_t uid() const noexcept { return st_.st_uid; }
    gid_t gid() const noexcept { return st_.st_gid; }
    /// The stat result itself.
    const struct stat& as_stat() const noexcept { return st_; }

private:
    explicit Metadata(const struct stat& st) noexcept : st_(st) {}
    static TimePoint time_of(const timespec& ts) noexcept {
        auto d = std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
        return TimePoint(std::chrono::duration_cast<TimePoint::duration>(d));
    }
    struct stat st_;
};

}  // namespace corio::fs
