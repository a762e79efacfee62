// corio_workloads: corio's side of the peer comparison.
//
//   corio_workloads WORKLOAD [--threads T] [--n N] [--io-backend B]
//   corio_workloads echo_server --port P [--threads T] [--io-backend B]
//
// B is auto (the default: io_uring where the kernel has it, else epoll;
// CORIO_IO_BACKEND=epoll|io_uring overrides it), epoll or io_uring.
//
// Contract: ../../../shared/peers/CONTRACT.md. One JSON line on stdout, exit
// status 0; usage errors and unknown workloads exit 2 with nothing on stdout.
#include <cerrno>
#include <corio/runtime.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "workloads.hpp"

namespace {

struct Args {
    std::string workload;
    std::uint64_t threads = 1;
    std::optional<std::uint64_t> n;
    std::optional<std::uint64_t> port;
    corio::IoBackend backend = corio::IoBackend::Auto;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "corio_workloads: %s\n"
                 "usage: corio_workloads WORKLOAD [--threads T] [--n N] [--io-backend auto|epoll|io_uring]\n"
                 "       corio_workloads echo_server --port P [--threads T] [--io-backend auto|epoll|io_uring]\n",
                 why);
    std::exit(2);
}

std::uint64_t parse_u64(std::string_view flag, const char* text) {
    if (*text < '0' || *text > '9') usage("a flag value must be a non-negative integer");
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        std::string msg = "bad value for " + std::string(flag) + ": " + text;
        usage(msg.c_str());
    }
    return v;
}

Args parse_args(int argc, char** argv) {
    if (argc < 2) usage("missing WORKLOAD");
    Args a;
    a.workload = argv[1];
    for (int i = 2; i < argc; i += 2) {
        std::string_view flag = argv[i];
        if (i + 1 >= argc) usage("a flag is missing its value");
        const char* value = argv[i + 1];
        if (flag == "--threads") {
            a.threads = parse_u64(flag, value);
        } else if (flag == "--n") {
            a.n = parse_u64(flag, value);
        } else if (flag == "--port") {
            a.port = parse_u64(flag, value);
        } else if (flag == "--io-backend") {
            std::string_view b = value;
            if (b == "auto") {
                a.backend = corio::IoBackend::Auto;
            } else if (b == "epoll") {
                a.backend = corio::IoBackend::Epoll;
            } else if (b == "io_uring") {
                a.backend = corio::IoBackend::IoUring;
            } else {
                usage("--io-backend must be auto, epoll or io_uring");
            }
        } else {
            std::string msg = "unknown flag " + std::string(flag);
            usage(msg.c_str());
        }
    }
    if (a.threads == 0) usage("--threads must be at least 1");
    if (a.n && *a.n == 0) usage("--n must be at least 1");
    return a;
}

std::uint64_t default_n(std::string_view w) {
    if (w == "spawn_many" || w == "spawn_remote" || w == "ping_pong" || w == "timers") return 100'000;
    if (w == "yield_many" || w == "mpsc") return 1'000'000;
    if (w == "chained_spawn") return 10'000;
    if (w == "idle_tasks") return 200'000;
    if (w == "fs_walk") return 100'000;
    if (w == "fs_read_small") return 10'000;
    if (w == "process_spawn") return 1'000;
    return 0;
}

using WorkloadFn = corio_bench::Outcome (*)(corio::Runtime&, std::uint64_t);

WorkloadFn find_workload(std::string_view w) {
    if (w == "spawn_many") return &corio_bench::spawn_many;
    if (w == "spawn_remote") return &corio_bench::spawn_remote;
    if (w == "yield_many") return &corio_bench::yield_many;
    if (w == "ping_pong") return &corio_bench::ping_pong;
    if (w == "chained_spawn") return &corio_bench::chained_spawn;
    if (w == "mpsc") return &corio_bench::mpsc;
    if (w == "timers") return &corio_bench::timers;
    if (w == "idle_tasks") return &corio_bench::idle_tasks;
    if (w == "fs_walk") return &corio_bench::fs_walk;
    if (w == "fs_read_small") return &corio_bench::fs_read_small;
    if (w == "process_spawn") return &corio_bench::process_spawn;
    return nullptr;
}

// T == 1: the current_thread scheduler driven by block_on on this thread;
// T > 1: the multi-thread scheduler with T workers (CONTRACT.md's mapping).
corio::Runtime make_runtime(std::uint64_t threads, corio::IoBackend backend) {
    if (threads == 1) return corio::Builder::new_current_thread().io_backend(backend).build();
    return corio::Builder::new_multi_thread().worker_threads(threads).io_backend(backend).build();
}

}  // namespace

int main(int argc, char** argv) {
    Args a = parse_args(argc, argv);

    const bool known = a.workload == "echo_server" || default_n(a.workload) != 0;
    if (!known) {
        std::string msg = "unknown workload " + a.workload;
        usage(msg.c_str());
    }
    if (a.workload == "echo_server") {
        if (!a.port) usage("echo_server needs --port P");
        if (*a.port > 65535) usage("--port must be at most 65535");
        corio::Runtime rt = make_runtime(a.threads, a.backend);
        return corio_bench::echo_server(rt, static_cast<std::uint16_t>(*a.port));
    }
    if (a.port) usage("--port is only for echo_server");

    const std::uint64_t n = a.n.value_or(default_n(a.workload));
    WorkloadFn run = find_workload(a.workload);

    corio_bench::Outcome out;
    try {
        corio::Runtime rt = make_runtime(a.threads, a.backend);
        out = run(rt, n);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "corio_workloads: %s failed: %s\n", a.workload.c_str(), e.what());
        return 1;
    }

    const std::uint64_t peak_kb = corio_bench::status_kb("VmHWM:");
    const double ops = static_cast<double>(out.ops == 0 ? 1 : out.ops);
    std::printf(
        "{\"runtime\":\"corio\",\"workload\":\"%s\",\"threads\":%llu,\"n\":%llu,\"seconds\":%.6f,"
        "\"ns_per_op\":%.2f,\"peak_rss_kb\":%llu%s}\n",
        a.workload.c_str(), static_cast<unsigned long long>(a.threads), static_cast<unsigned long long>(n), out.seconds,
        out.seconds * 1e9 / ops, static_cast<unsigned long long>(peak_kb), out.extra.c_str());
    return 0;
}
