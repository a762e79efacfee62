// The append-only file (see aof.hpp).
#include "aof.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <corio/runtime.hpp>
#include <corio/select.hpp>
#include <corio/time.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "command_support.hpp"
#include "frame.hpp"

namespace mini_redis {

namespace {

using namespace std::chrono_literals;

std::string error_text(int err) { return std::generic_category().message(err); }

/// What a blocking write of `bytes` did: the bytes it wrote and the errno
/// that stopped it (0: all written, and synced when asked).
struct WriteResult {
    std::size_t written = 0;
    int error = 0;
};

WriteResult write_all(int fd, std::string_view bytes, bool sync) {
    WriteResult r;
    while (r.written < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + r.written, bytes.size() - r.written);
        if (n < 0) {
            if (errno == EINTR) continue;
            r.error = errno;
            return r;
        }
        r.written += static_cast<std::size_t>(n);
    }
    // /dev/full and pipes cannot be synced (EINVAL): only a real failure counts.
    if (sync && ::fdatasync(fd) != 0 && errno != EINVAL) r.error = errno;
    return r;
}

/// One RESP request, as the file holds it.
void encode_request(std::string& out, std::span<const std::string_view> words) {
    resp::array_header(out, words.size());
    for (std::string_view w : words) resp::bulk(out, w);
}

/// The commands that rebuild one snapshot entry.
struct SnapshotEntry {
    std::string key;
    std::variant<Str, List, std::vector<std::pair<Str, Str>>> value;
    std::optional<std::int64_t> deadline_unix_ms;
};

void encode_entry(std::string& out, const SnapshotEntry& e) {
    std::vector<std::string_view> words;
    if (const Str* s = std::get_if<Str>(&e.value)) {
        std::string deadline;
        words = {"SET", e.key, s->view()};
        if (e.deadline_unix_ms) {
            deadline = std::to_string(*e.deadline_unix_ms);
            words.push_back("PXAT");
            words.push_back(deadline);
        }
        encode_request(out, words);
        return;
    }
    if (const List* list = std::get_if<List>(&e.value)) {
        // In requests of at most 64 elements, as Redis's rewrite does.
        for (std::size_t i = 0; i < list->size(); i += 64) {
            words = {"RPUSH", e.key};
            for (std::size_t j = i; j < list->size() && j < i + 64; ++j) words.push_back((*list)[j].view());
            encode_request(out, words);
        }
    } else {
        const auto& fields = std::get<std::vector<std::pair<Str, Str>>>(e.value);
        for (std::size_t i = 0; i < fields.size(); i += 64) {
            words = {"HSET", e.key};
            for (std::size_t j = i; j < fields.size() && j < i + 64; ++j) {
                words.push_back(fields[j].first.view());
                words.push_back(fields[j].second.view());
            }
            encode_request(out, words);
        }
    }
    if (e.deadline_unix_ms) {
        std::string deadline = std::to_string(*e.deadline_unix_ms);
        std::array<std::string_view, 3> expire{"PEXPIREAT", e.key, deadline};
        encode_request(out, expire);
    }
}

}  // namespace

std::expected<std::unique_ptr<AppendOnlyFile>, std::string> AppendOnlyFile::open(const AofOptions& options) {
    int fd = ::open(options.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return std::unexpected("cannot open the append-only file " + options.path.string() + ": " + error_text(errno));
    return std::unique_ptr<AppendOnlyFile>(new AppendOnlyFile(options, fd));
}

AppendOnlyFile::~AppendOnlyFile() { ::close(fd_); }

std::uint64_t AppendOnlyFile::append(std::span<const std::string_view> words) { return append(words, false); }

void AppendOnlyFile::defer(std::span<const std::string_view> words) {
    std::lock_guard lock(pending_mutex_);
    encode_request(deferred_, words);
}

std::uint64_t AppendOnlyFile::append(std::span<const std::string_view> words, bool with_deferred) {
    std::lock_guard lock(pending_mutex_);
    std::size_t before = pending_.size();
    encode_request(pending_, words);
    if (with_deferred) {
        pending_ += deferred_;
        deferred_.clear();
    }
    std::size_t added = pending_.size() - before;
    if (rewriting_.load(std::memory_order_relaxed)) rewrite_buffer_.append(pending_, before, added);
    appended_ += added;
    return appended_;
}

std::uint64_t AppendOnlyFile::append_command(std::span<const std::string_view> words) {
    std::string name = lower(words[0]);
    std::vector<std::string_view> out;
    std::string deadline;  // the absolute deadline that replaces a relative one
    auto absolute = [&](std::string_view amount, std::int64_t unit_ms, bool relative) {
        std::int64_t v = 0;
        (void)parse_int64(amount, v);  // the command already checked it
        deadline = std::to_string(v * unit_ms + (relative ? unix_millis_now() : 0));
        return std::string_view(deadline);
    };
    if (name == "set") {
        out = {words[0], words[1], words[2]};
        for (std::size_t i = 3; i < words.size(); ++i) {
            std::string option = lower(words[i]);
            if (option == "ex" || option == "px" || option == "exat") {
                out.push_back("PXAT");
                out.push_back(absolute(words[++i], option[0] == 'p' ? 1 : 1000, option != "exat"));
            } else if (option != "get") {  // GET only shapes the reply
                out.push_back(words[i]);
            }
        }
    } else if (name == "setex" || name == "psetex") {
        out = {"SET", words[1], words[3], "PXAT", absolute(words[2], name == "setex" ? 1000 : 1, true)};
    } else if (name == "expire" || name == "pexpire" || name == "expireat") {
        out = {"PEXPIREAT", words[1], absolute(words[2], name == "pexpire" ? 1 : 1000, name != "expireat")};
        out.insert(out.end(), words.begin() + 3, words.end());
    } else {
        out.assign(words.begin(), words.end());
    }
    return append(out, true);
}

bool AppendOnlyFile::done(std::uint64_t offset) const noexcept {
    const std::atomic<std::uint64_t>& mark = options_.fsync == AppendFsync::Always ? synced_ : written_;
    return mark.load(std::memory_order_acquire) >= offset;
}

corio::Task<bool> AppendOnlyFile::commit(std::uint64_t offset) {
    if (done(offset)) co_return true;
    auto guard = co_await flush_lock_.lock();
    if (done(offset)) co_return true;  // another commit wrote it meanwhile
    co_return co_await flush(options_.fsync == AppendFsync::Always);
}

corio::Task<bool> AppendOnlyFile::flush(bool sync) {
    std::string bytes;
    std::uint64_t end = 0;
    {
        std::lock_guard lock(pending_mutex_);
        bytes.swap(pending_);
        end = appended_;
    }
    if (bytes.empty() && !sync) co_return !failure().has_value();
    // The closure and its handle are named, not temporaries of the co_await
    // expression: GCC 12 destroys such temporaries twice.
    auto write = [fd = fd_, bytes = std::move(bytes), sync]() mutable {
        WriteResult r = write_all(fd, bytes, sync);
        bytes.erase(0, r.written);
        return std::pair(r, std::move(bytes));
    };
    corio::JoinHandle<std::pair<WriteResult, std::string>> writing = corio::task::spawn_blocking(std::move(write));
    std::pair<WriteResult, std::string> outcome = co_await writing;
    std::lock_guard lock(pending_mutex_);
    if (outcome.first.error != 0) {
        // Keep what was not written, ahead of what was appended since.
        pending_.insert(0, outcome.second);
        failure_ = error_text(outcome.first.error);
        co_return false;
    }
    failure_.reset();
    written_.store(end, std::memory_order_release);
    if (sync) synced_.store(end, std::memory_order_release);
    co_return true;
}

std::optional<std::string> AppendOnlyFile::failure() const {
    std::lock_guard lock(pending_mutex_);
    return failure_;
}

corio::Task<void> AppendOnlyFile::run_background(corio::CancellationToken stop) {
    corio::Cancelled stopped = stop.cancelled();
    for (;;) {
        auto second = corio::time::sleep(1s);
        auto event = co_await corio::select_biased(stopped, second);
        if (event.index() == 0) break;
        auto guard = co_await flush_lock_.lock();
        (void)co_await flush(options_.fsync == AppendFsync::EverySec);
    }
    // Whatever is queued goes out before the server stops.
    auto guard = co_await flush_lock_.lock();
    (void)co_await flush(options_.fsync != AppendFsync::No);
}

corio::Task<std::expected<void, std::string>> AppendOnlyFile::rewrite(Db db) {
    if (rewriting_.exchange(true))
        co_return std::unexpected("ERR Background append only file rewriting already in progress");
    // 1. The snapshot: write commands wait on order() meanwhile. Appends
    //    from now on (expired keys' DELs included) also go to rewrite_buffer_.
    std::vector<SnapshotEntry> snapshot;
    {
        std::lock_guard order(order_mutex_);
        {
            std::lock_guard lock(pending_mutex_);
            rewrite_buffer_.clear();
        }
        for (std::size_t shard = 0; shard < Db::kShardCount; ++shard) {
            Db::Access access = db.lock_shard(shard);
            access.for_each([&](const Entry& entry) {
                SnapshotEntry e{std::string(entry.key()), Str(), std::nullopt};
                if (const Str* s = entry.string()) {
                    e.value = *s;
                } else if (const List* list = entry.list()) {
                    e.value = *list;
                } else {
                    e.value = entry.hash()->fields();
                }
                if (entry.deadline()) e.deadline_unix_ms = unix_millis_of(*entry.deadline(), access.now());
                snapshot.push_back(std::move(e));
            });
        }
    }
    // 2. The temporary file, written and synced by the blocking pool.
    std::filesystem::path temp = options_.path;
    temp += ".rewrite";
    auto write_snapshot = [temp, snapshot = std::move(snapshot)] {
        int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) return -errno;
        std::string out;
        for (const SnapshotEntry& e : snapshot) {
            encode_entry(out, e);
            if (out.size() < (1U << 20)) continue;
            if (WriteResult r = write_all(fd, out, false); r.error != 0) {
                ::close(fd);
                return -r.error;
            }
            out.clear();
        }
        if (WriteResult r = write_all(fd, out, true); r.error != 0) {
            ::close(fd);
            return -r.error;
        }
        return fd;
    };
    corio::JoinHandle<int> writing = corio::task::spawn_blocking(std::move(write_snapshot));
    int temp_fd = co_await writing;
    if (temp_fd < 0) {
        rewriting_.store(false);
        co_return std::unexpected("ERR cannot write " + temp.string() + ": " + error_text(-temp_fd));
    }
    // 3. The switch, with no writer of the old file and no write command
    //    running: the commands appended since the snapshot, then the rename.
    auto guard = co_await flush_lock_.lock();
    std::lock_guard order(order_mutex_);
    std::lock_guard lock(pending_mutex_);
    WriteResult tail = write_all(temp_fd, rewrite_buffer_, true);
    rewrite_buffer_.clear();
    rewriting_.store(false);
    if (tail.error != 0 || ::rename(temp.c_str(), options_.path.c_str()) != 0) {
        int err = tail.error != 0 ? tail.error : errno;
        ::close(temp_fd);
        ::unlink(temp.c_str());
        co_return std::unexpected("ERR cannot replace the append-only file: " + error_text(err));
    }
    ::close(fd_);
    fd_ = temp_fd;
    // Everything appended so far is in the new file: the snapshot holds what
    // came before it, the tail what came after.
    pending_.clear();
    failure_.reset();
    written_.store(appended_, std::memory_order_release);
    synced_.store(appended_, std::memory_order_release);
    co_return std::expected<void, std::string>();
}

std::expected<std::size_t, std::string> replay_aof(
    const std::filesystem::path& path, const std::function<void(std::span<const std::string_view>)>& execute) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;  // nothing to replay
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return std::unexpected("cannot read " + path.string());
    CommandArgs args;
    std::size_t at = 0;
    std::size_t count = 0;
    while (at < bytes.size()) {
        CommandResult r = parse_command(std::string_view(bytes).substr(at), args);
        if (std::holds_alternative<Incomplete>(r)) {
            std::fprintf(stderr,
                         "mini-redis: the append-only file %s ends in the middle of a command (%zu bytes): "
                         "cut off, as redis-check-aof --fix does\n",
                         path.c_str(), bytes.size() - at);
            if (::truncate(path.c_str(), static_cast<off_t>(at)) != 0) {
                return std::unexpected("cannot truncate " + path.string() + ": " + error_text(errno));
            }
            break;
        }
        const auto* parsed = std::get_if<ParsedCommand>(&r);
        if (parsed == nullptr || args.empty()) {
            return std::unexpected("bad file format reading the append-only file " + path.string() + " at offset " +
                                   std::to_string(at));
        }
        execute(args.words());
        at += parsed->consumed;
        ++count;
    }
    return count;
}

}  // namespace mini_redis
