// The task and channel workloads of ../../../shared/peers/CONTRACT.md, written against
// corio's public API. Each mirrors the Tokio peer's function of the same name
// (shared/peers/tokio/src/main.rs) so the two measure the same work.
#pragma once

#include <corio/runtime.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace corio_bench {

/// What a workload reports: the measured wall time, the number of ops it
/// divides by, and any extra JSON fields (",\"late_ms\":1.2").
struct Outcome {
    double seconds = 0;
    std::uint64_t ops = 0;
    std::string extra;
};

Outcome spawn_many(corio::Runtime& rt, std::uint64_t n);
Outcome spawn_remote(corio::Runtime& rt, std::uint64_t n);
Outcome yield_many(corio::Runtime& rt, std::uint64_t n);
Outcome ping_pong(corio::Runtime& rt, std::uint64_t n);
Outcome chained_spawn(corio::Runtime& rt, std::uint64_t n);
Outcome mpsc(corio::Runtime& rt, std::uint64_t n);
Outcome timers(corio::Runtime& rt, std::uint64_t n);
Outcome idle_tasks(corio::Runtime& rt, std::uint64_t n);

Outcome fs_walk(corio::Runtime& rt, std::uint64_t n);
Outcome fs_read_small(corio::Runtime& rt, std::uint64_t n);
Outcome process_spawn(corio::Runtime& rt, std::uint64_t n);

/// A fresh directory under $TMPDIR (/tmp) holding file i = 0..n-1 at
/// d{i/1000}/s{(i/100)%10}/f{i%100}, each the 16-byte line "%015llu\n"
/// repeated `repeat` times (CONTRACT.md); removed when destroyed.
class FileTree {
public:
    FileTree(std::uint64_t n, std::size_t repeat);
    FileTree(const FileTree&) = delete;
    FileTree& operator=(const FileTree&) = delete;
    ~FileTree();
    const std::filesystem::path& root() const noexcept { return root_; }

private:
    std::filesystem::path root_;
};

/// The path of file `i` in a FileTree rooted at `root`.
std::filesystem::path tree_file(const std::filesystem::path& root, std::uint64_t i);

/// fs_walk and fs_read_small on an existing tree (for side-by-side runs).
Outcome fs_walk_in(corio::Runtime& rt, const std::filesystem::path& root, std::uint64_t n);
Outcome fs_read_small_in(corio::Runtime& rt, const std::filesystem::path& root, std::uint64_t n);

/// Serves the TCP echo of the contract on 127.0.0.1:`port` until killed; 1 if it cannot bind.
int echo_server(corio::Runtime& rt, std::uint16_t port);

/// A field of /proc/self/status in kB ("VmRSS:" = current, "VmHWM:" = peak); 0 if absent.
std::uint64_t status_kb(const char* field);

/// Delay of timer task i in ms, 1..=50 (splitmix64 of i ^ seed; CONTRACT.md).
std::uint64_t timer_delay_ms(std::uint64_t i) noexcept;

}  // namespace corio_bench
