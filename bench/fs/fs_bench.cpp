// corio_fs_bench: corio's files and processes side by side with the plain
// blocking calls they replace, in one run (issue 14's targets):
//   walk   N files in nested directories, each with its metadata, against a
//          blocking std::filesystem walk (recursive_directory_iterator + lstat)
//   big    one file read whole with fs::File into a 64 KiB buffer, against a
//          blocking read(2) loop with the same buffer
//   small  N fs::read of 4 KiB files, 64 at a time, against a blocking
//          open/read/close loop
//   procs  N /bin/true children, 32 at a time, against a blocking
//          posix_spawn + waitpid loop
// Each corio case runs on a current_thread runtime with the epoll and with
// the io_uring backend. Every case is repeated --reps times (interleaved);
// the table shows medians and corio / blocking ratios.
//
//   corio_fs_bench [--walk N] [--big MiB] [--small N] [--procs N] [--reps R]
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <corio/fs.hpp>
#include <corio/io/util.hpp>
#include <corio/runtime.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../workloads/workloads.hpp"

extern char** environ;  // NOLINT: POSIX declares it nowhere in a header

namespace {

using Clock = std::chrono::steady_clock;
namespace stdfs = std::filesystem;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

constexpr std::size_t kBuffer = 64 * 1024;

// ---- blocking baselines -------------------------------------------------------------

double blocking_walk(const stdfs::path& root, std::uint64_t n) {
    auto t0 = Clock::now();
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
    for (const auto& entry : stdfs::recursive_directory_iterator(root)) {
        struct stat st{};
        if (::lstat(entry.path().c_str(), &st) != 0) throw std::runtime_error("lstat");
        if (!S_ISDIR(st.st_mode)) {
            ++files;
            bytes += static_cast<std::uint64_t>(st.st_size);
        }
    }
    double s = seconds_since(t0);
    if (files != n || bytes != 16 * n) throw std::runtime_error("blocking walk: wrong totals");
    return s;
}

double blocking_read_big(const stdfs::path& file, std::uint64_t size) {
    std::vector<char> buf(kBuffer);
    auto t0 = Clock::now();
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    std::uint64_t total = 0;
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n <= 0) break;
        total += static_cast<std::uint64_t>(n);
    }
    ::close(fd);
    double s = seconds_since(t0);
    if (total != size) throw std::runtime_error("blocking read: wrong size");
    return s;
}

double blocking_read_small(const stdfs::path& root, std::uint64_t n) {
    auto t0 = Clock::now();
    std::uint64_t total = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
        int fd = ::open(corio_bench::tree_file(root, i).c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st{};
        ::fstat(fd, &st);
        std::vector<char> data(static_cast<std::size_t>(st.st_size) + 1);
        ssize_t got = ::read(fd, data.data(), data.size());
        ::close(fd);
        total += static_cast<std::uint64_t>(got);
    }
    double s = seconds_since(t0);
    if (total != 4096 * n) throw std::runtime_error("blocking small reads: wrong total");
    return s;
}

double blocking_procs(std::uint64_t n) {
    auto t0 = Clock::now();
    char prog[] = "/bin/true";
    char* argv[] = {prog, nullptr};
    for (std::uint64_t i = 0; i < n; ++i) {
        pid_t pid;
        if (posix_spawn(&pid, prog, nullptr, nullptr, argv, environ) != 0) throw std::runtime_error("posix_spawn");
        int status = 0;
        ::waitpid(pid, &status, 0);
        if (status != 0) throw std::runtime_error("/bin/true failed");
    }
    return seconds_since(t0);
}

// ---- corio --------------------------------------------------------------------------

corio::Runtime runtime(corio::IoBackend backend) {
    return corio::Builder::new_current_thread().io_backend(backend).build();
}

corio::Task<double> read_big_body(stdfs::path file, std::uint64_t size) {
    std::vector<std::byte> buf(kBuffer);
    auto t0 = Clock::now();
    auto f = co_await corio::fs::File::open(std::move(file));
    if (!f) throw std::system_error(f.error(), "open");
    std::uint64_t total = 0;
    for (;;) {
        auto n = co_await corio::io::read(*f, std::span<std::byte>(buf));
        if (!n) throw std::system_error(n.error(), "read");
        if (*n == 0) break;
        total += *n;
    }
    double s = seconds_since(t0);
    if (total != size) throw std::runtime_error("corio read: wrong size");
    co_return s;
}

double corio_read_big(corio::IoBackend b, const stdfs::path& file, std::uint64_t size) {
    auto rt = runtime(b);
    return rt.block_on(rt.spawn(read_big_body(file, size)));
}

// ---- driver -------------------------------------------------------------------------

struct Args {
    std::uint64_t walk = 100'000;
    std::uint64_t big_mib = 1024;
    std::uint64_t small = 10'000;
    std::uint64_t procs = 1'000;
    int reps = 5;
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view flag = argv[i];
        auto value = std::strtoull(argv[i + 1], nullptr, 10);
        if (flag == "--walk")
            a.walk = value;
        else if (flag == "--big")
            a.big_mib = value;
        else if (flag == "--small")
            a.small = value;
        else if (flag == "--procs")
            a.procs = value;
        else if (flag == "--reps")
            a.reps = static_cast<int>(value);
        else
            throw std::runtime_error("unknown flag");
    }
    return a;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/// Times of one case: blocking, corio on epoll, corio on io_uring.
struct Case {
    std::string name;
    std::uint64_t ops;
    std::vector<double> blocking, epoll, uring;
};

void print(const Case& c) {
    double b = median(c.blocking);
    double e = median(c.epoll);
    double u = median(c.uring);
    double per = 1e9 / static_cast<double>(c.ops);
    std::printf("| %-6s | %8llu | %10.1f | %10.1f (%.2fx) | %10.1f (%.2fx) |\n", c.name.c_str(),
                static_cast<unsigned long long>(c.ops), b * per, e * per, e / b, u * per, u / b);
}

void write_big_file(const stdfs::path& file, std::uint64_t size) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    std::vector<char> chunk(1 << 20, 'b');
    for (std::uint64_t done = 0; done < size; done += chunk.size()) {
        if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
            throw std::runtime_error("writing the big file");
        }
    }
    ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
    using corio::IoBackend;
    Args a = parse(argc, argv);
    std::vector<Case> cases;
    try {
        if (a.walk != 0) {
            corio_bench::FileTree tree(a.walk, 1);
            Case c{"walk", a.walk, {}, {}, {}};
            blocking_walk(tree.root(), a.walk);  // warm the dentry cache
            for (int r = 0; r < a.reps; ++r) {
                c.blocking.push_back(blocking_walk(tree.root(), a.walk));
                auto e = runtime(IoBackend::Epoll);
                c.epoll.push_back(corio_bench::fs_walk_in(e, tree.root(), a.walk).seconds);
                auto u = runtime(IoBackend::IoUring);
                c.uring.push_back(corio_bench::fs_walk_in(u, tree.root(), a.walk).seconds);
            }
            cases.push_back(std::move(c));
        }
        if (a.big_mib != 0) {
            corio_bench::FileTree dir(0, 0);
            stdfs::path file = dir.root() / "big";
            std::uint64_t size = a.big_mib << 20;
            write_big_file(file, size);
            Case c{"big", a.big_mib, {}, {}, {}};  // ns per MiB
            blocking_read_big(file, size);
            for (int r = 0; r < a.reps; ++r) {
                c.blocking.push_back(blocking_read_big(file, size));
                c.epoll.push_back(corio_read_big(IoBackend::Epoll, file, size));
                c.uring.push_back(corio_read_big(IoBackend::IoUring, file, size));
            }
            cases.push_back(std::move(c));
        }
        if (a.small != 0) {
            corio_bench::FileTree tree(a.small, 256);
            Case c{"small", a.small, {}, {}, {}};
            blocking_read_small(tree.root(), a.small);
            for (int r = 0; r < a.reps; ++r) {
                c.blocking.push_back(blocking_read_small(tree.root(), a.small));
                auto e = runtime(IoBackend::Epoll);
                c.epoll.push_back(corio_bench::fs_read_small_in(e, tree.root(), a.small).seconds);
                auto u = runtime(IoBackend::IoUring);
                c.uring.push_back(corio_bench::fs_read_small_in(u, tree.root(), a.small).seconds);
            }
            cases.push_back(std::move(c));
        }
        if (a.procs != 0) {
            Case c{"procs", a.procs, {}, {}, {}};
            for (int r = 0; r < a.reps; ++r) {
                c.blocking.push_back(blocking_procs(a.procs));
                auto e = runtime(IoBackend::Epoll);
                c.epoll.push_back(corio_bench::process_spawn(e, a.procs).seconds);
                auto u = runtime(IoBackend::IoUring);
                c.uring.push_back(corio_bench::process_spawn(u, a.procs).seconds);
            }
            cases.push_back(std::move(c));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "corio_fs_bench: %s\n", e.what());
        return 1;
    }
    std::printf("| case   |      ops | blocking ns/op | corio epoll ns/op (ratio) | corio io_uring ns/op (ratio) |\n");
    std::printf("|---|---:|---:|---:|---:|\n");
    for (const auto& c : cases) print(c);
    return 0;
}
