// Durability: the append-only file (Redis's AOF, one file as before Redis 7).
//
// Every command that changed the key space is appended to the file as the
// RESP request that redoes it; a server started with the file replays it.
// Relative times are written as absolute ones (SET k v EX 10 as SET k v PXAT
// <unix ms>, EXPIRE as PEXPIREAT), and keys the server removes because they
// expired as DEL, so a replay reaches the same state whenever it runs. While
// replaying, deadlines are not enforced (Db::set_loading), as in Redis.
//
// Order: a write command runs and is appended while holding order(), so the
// file's order is the order in which the commands changed the key space
// even when they ran on several threads. A push that hands elements to
// clients blocked in BLPOP is followed by an LPOP per element (defer()), an
// element that goes back to its list (its client left) is logged as the
// push that puts it back, and a BLPOP that pops at once as an LPOP.
//
// When the bytes reach the disk (--appendfsync):
//   always    a reply is sent only after the write and an fdatasync of
//             every command it acknowledges (commits of concurrent clients
//             share one write and one fdatasync)
//   everysec  a reply is sent after the write() (the page cache: a SIGKILL
//             loses nothing); fdatasync once a second (a power loss may
//             lose about the last second)
//   no        the write() only; the kernel decides when to flush
//
// A write that fails (ENOSPC) keeps the unwritten bytes queued: write
// commands are then refused with Redis's MISCONF error, reads go on, and
// the background task retries every second. Under `always` the connections
// whose commit failed are closed without their replies, so no write that
// was not stored is acknowledged.
//
// BGREWRITEAOF compacts the file without stopping the server: a snapshot of
// the key space is taken (write commands wait meanwhile; reads do not),
// written to a temporary file by the blocking pool, then the commands
// appended since the snapshot follow, and the file replaces the old one.
#pragma once

#include <atomic>
#include <corio/cancel.hpp>
#include <corio/sync/mutex.hpp>
#include <corio/task.hpp>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "db.hpp"

namespace mini_redis {

/// --appendfsync.
enum class AppendFsync { Always, EverySec, No };

/// The append-only file's settings.
struct AofOptions {
    bool enabled = false;                           ///< --appendonly yes
    std::filesystem::path path = "appendonly.aof";  ///< --dir and --appendfilename
    AppendFsync fsync = AppendFsync::EverySec;
};

class AppendOnlyFile {
public:
    /// Opens (creating) the file at options.path for appending.
    static std::expected<std::unique_ptr<AppendOnlyFile>, std::string> open(const AofOptions& options);
    AppendOnlyFile(const AppendOnlyFile&) = delete;
    AppendOnlyFile& operator=(const AppendOnlyFile&) = delete;
    ~AppendOnlyFile();

    AppendFsync policy() const noexcept { return options_.fsync; }

    /// Held around a write command's execution and its append().
    std::unique_lock<std::mutex> order() { return std::unique_lock(order_mutex_); }

    /// Queues `words` as one RESP request; the offset (bytes appended since
    /// the start) just after it.
    std::uint64_t append(std::span<const std::string_view> words);
    /// append() of `words` after rewriting relative times as absolute ones
    /// (see the header comment); `words` as the client sent it. The requests
    /// defer()red while it ran follow it.
    std::uint64_t append_command(std::span<const std::string_view> words);
    /// Queues a request to append right after the command being run (with
    /// order() held): the pops of blocked clients a push served.
    void defer(std::span<const std::string_view> words);

    /// Writes (and under `always` fdatasyncs) everything appended up to
    /// `offset`; false when that failed (failure() says why). Callers that
    /// overlap share one write.
    corio::Task<bool> commit(std::uint64_t offset);

    /// Why the last write failed ("No space left on device"), if it did.
    std::optional<std::string> failure() const;

    /// Every second until `stop`: writes what is queued, fdatasyncs under
    /// `everysec`, and retries after a failure. Spawn it once.
    corio::Task<void> run_background(corio::CancellationToken stop);

    /// BGREWRITEAOF: compacts the file to the commands that rebuild `db`.
    /// An error when one is already running or the file cannot be written.
    corio::Task<std::expected<void, std::string>> rewrite(Db db);
    bool rewriting() const noexcept { return rewriting_.load(std::memory_order_relaxed); }

private:
    std::uint64_t append(std::span<const std::string_view> words, bool with_deferred);
    AppendOnlyFile(AofOptions options, int fd) noexcept : options_(std::move(options)), fd_(fd) {}
    bool done(std::uint64_t offset) const noexcept;
    corio::Task<bool> flush(bool sync);  // flush_lock_ held

    const AofOptions options_;
    int fd_;  // written only with flush_lock_ held

    std::mutex order_mutex_;
    corio::sync::Mutex<int> flush_lock_;  // one writer of the file at a time

    mutable std::mutex pending_mutex_;
    std::string pending_;         // appended, not yet written
    std::string rewrite_buffer_;  // appended since a rewrite's snapshot
    std::string deferred_;        // defer()red requests, encoded
    std::uint64_t appended_ = 0;  // offset of the end of pending_
    std::optional<std::string> failure_;

    std::atomic<std::uint64_t> written_{0};  // offsets up to here are in the file
    std::atomic<std::uint64_t> synced_{0};   // ... and on the disk
    std::atomic<bool> rewriting_{false};
};

/// Replays the file at `path` (when it exists and is a regular file),
/// calling `execute` with each request's words; how many it replayed. A
/// last request cut short (a crash mid-write) is cut off the file, as
/// `redis-check-aof --fix` does, with a warning on stderr; any other
/// damage is an error naming the offset.
std::expected<std::size_t, std::string> replay_aof(
    const std::filesystem::path& path, const std::function<void(std::span<const std::string_view>)>& execute);

}  // namespace mini_redis
