// The file and process workloads of CONTRACT.md (fs_walk, fs_read_small,
// process_spawn), each the counterpart of the Tokio peer's function of the
// same name, and the file trees they run on. Setup and cleanup of the trees
// are plain blocking calls outside the measured region.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <corio/fs.hpp>
#include <corio/process.hpp>
#include <corio/task.hpp>
#include <corio/task/join_set.hpp>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "workloads.hpp"

namespace corio_bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace stdfs = std::filesystem;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

template <class T>
T in_task(corio::Runtime& rt, corio::Task<T> body) {
    return rt.block_on(rt.spawn(std::move(body)));
}

// ---- fs_walk -----------------------------------------------------------------------

struct WalkTotals {
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
};

corio::Task<void> walk(stdfs::path dir, WalkTotals& totals) {
    auto rd = co_await corio::fs::read_dir(std::move(dir));
    if (!rd) throw std::system_error(rd.error(), "read_dir");
    for (;;) {
        auto entry = co_await rd->next_entry();
        if (!entry) throw std::system_error(entry.error(), "next_entry");
        if (!entry->has_value()) break;
        auto md = (*entry)->metadata();
        if (!md) throw std::system_error(md.error(), "metadata");
        if (md->is_dir()) {
            co_await walk((*entry)->path(), totals);
        } else {
            ++totals.files;
            totals.bytes += md->len();
        }
    }
}

corio::Task<double> fs_walk_body(stdfs::path root, std::uint64_t n) {
    WalkTotals totals;
    auto t0 = Clock::now();
    co_await walk(root, totals);
    double s = seconds_since(t0);
    if (totals.files != n || totals.bytes != 16 * n) throw std::runtime_error("fs_walk: wrong totals");
    co_return s;
}

// ---- fs_read_small -----------------------------------------------------------------

constexpr std::size_t kReadsAtOnce = 64;

corio::Task<std::uint64_t> read_one(stdfs::path path) {
    auto bytes = co_await corio::fs::read(std::move(path));
    if (!bytes) throw std::system_error(bytes.error(), "fs::read");
    co_return bytes->size();
}

corio::Task<double> fs_read_small_body(stdfs::path root, std::uint64_t n) {
    corio::task::JoinSet<std::uint64_t> set;
    std::uint64_t total = 0;
    auto take_one = [&](corio::task::JoinResult<std::uint64_t> r) { total += std::move(r).value(); };
    auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < n; ++i) {
        if (set.len() >= kReadsAtOnce) {
            auto done = co_await set.join_next();
            take_one(std::move(*done));
        }
        set.spawn(read_one(tree_file(root, i)));
    }
    for (;;) {
        auto done = co_await set.join_next();
        if (!done) break;
        take_one(std::move(*done));
    }
    double s = seconds_since(t0);
    if (total != 4096 * n) throw std::runtime_error("fs_read_small: wrong total");
    co_return s;
}

// ---- process_spawn -----------------------------------------------------------------

constexpr std::size_t kChildrenAtOnce = 32;

corio::Task<bool> run_true() {
    corio::process::Command cmd("/bin/true");
    auto status = co_await cmd.status();
    co_return status && status->success();
}

corio::Task<double> process_spawn_body(std::uint64_t n) {
    corio::task::JoinSet<bool> set;
    std::uint64_t ok = 0;
    auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < n; ++i) {
        if (set.len() >= kChildrenAtOnce) {
            auto done = co_await set.join_next();
            ok += std::move(*done).value() ? 1 : 0;
        }
        set.spawn(run_true());
    }
    for (;;) {
        auto done = co_await set.join_next();
        if (!done) break;
        ok += std::move(*done).value() ? 1 : 0;
    }
    double s = seconds_since(t0);
    if (ok != n) throw std::runtime_error("process_spawn: a child failed");
    co_return s;
}

}  // namespace

// ---- file trees --------------------------------------------------------------------

stdfs::path tree_file(const stdfs::path& root, std::uint64_t i) {
    return root / ("d" + std::to_string(i / 1000)) / ("s" + std::to_string((i / 100) % 10)) /
           ("f" + std::to_string(i % 100));
}

FileTree::FileTree(std::uint64_t n, std::size_t repeat) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/corio-tree-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    root_ = pattern;
    for (std::uint64_t i = 0; i < n; ++i) {
        stdfs::path file = tree_file(root_, i);
        if (i % 100 == 0) stdfs::create_directories(file.parent_path());
        char line[24];  // 15 digits and a newline for any i below 10^15; room for the rest (GCC -Wformat-truncation)
        std::snprintf(line, sizeof line, "%015llu\n", static_cast<unsigned long long>(i));
        std::string body;
        body.reserve(16 * repeat);
        for (std::size_t r = 0; r < repeat; ++r) body.append(line, 16);
        int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || ::write(fd, body.data(), body.size()) != static_cast<ssize_t>(body.size())) {
            throw std::system_error(errno, std::generic_category(), "writing the file tree");
        }
        ::close(fd);
    }
}

FileTree::~FileTree() {
    std::error_code ignored;
    stdfs::remove_all(root_, ignored);
}

Outcome fs_walk(corio::Runtime& rt, std::uint64_t n) {
    FileTree tree(n, 1);
    return {in_task(rt, fs_walk_body(tree.root(), n)), n, {}};
}

Outcome fs_read_small(corio::Runtime& rt, std::uint64_t n) {
    FileTree tree(n, 256);
    return {in_task(rt, fs_read_small_body(tree.root(), n)), n, {}};
}

Outcome process_spawn(corio::Runtime& rt, std::uint64_t n) { return {in_task(rt, process_spawn_body(n)), n, {}}; }

Outcome fs_walk_in(corio::Runtime& rt, const stdfs::path& root, std::uint64_t n) {
    return {in_task(rt, fs_walk_body(root, n)), n, {}};
}

Outcome fs_read_small_in(corio::Runtime& rt, const stdfs::path& root, std::uint64_t n) {
    return {in_task(rt, fs_read_small_body(root, n)), n, {}};
}

}  // namespace corio_bench
