// mini-redis-server: a Redis-compatible server (a subset of the commands)
// written with corio, like Tokio's mini-redis.
//
//   mini-redis-server [--port 6379] [--bind 127.0.0.1] [--threads N] [--max-connections N]
//                     [--appendonly yes|no] [--appendfsync always|everysec|no]
//                     [--dir DIR] [--appendfilename appendonly.aof]
//
// Prints "listening on <ip>:<port>" once it accepts connections (--port 0
// picks a free port). --threads 1 (the default) runs on one thread, like
// Redis; more selects corio's multi-thread, work-stealing runtime. Stops on
// SIGINT or SIGTERM: stops accepting, lets every connection finish the
// command it is executing, and exits with status 0 within about 5 seconds.
//
// Try it: mini-redis-server, then redis-cli SET hello world; redis-cli GET hello.
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <corio/cancel.hpp>
#include <corio/corio.hpp>
#include <corio/net.hpp>
#include <corio/select.hpp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "server.hpp"

namespace {

namespace net = corio::net;

struct Settings {
    unsigned long port = 6379;
    std::string bind = "127.0.0.1";
    unsigned long threads = 1;
    unsigned long max_connections = 10'000;
    mini_redis::AofOptions aof;
    std::string dir = ".";
    std::string aof_name = "appendonly.aof";
};

/// run() until it ends; 1 (with the reason on stderr) when it cannot start.
corio::Task<int> run_server(corio::net::TcpListener listener, corio::CancellationToken shutdown,
                            mini_redis::ServerOptions options) {
    try {
        co_await mini_redis::run(std::move(listener), std::move(shutdown), std::move(options));
    } catch (const mini_redis::AofError& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        co_return 1;
    }
    co_return 0;
}

corio::Task<int> serve(Settings settings) {
    // Listen for the signals before announcing the port, so a SIGTERM sent as
    // soon as the port is known is handled (not fatal).
    corio::signal::CtrlC interrupt = corio::signal::ctrl_c();
    corio::signal::Signal terminate = corio::signal::signal(SIGTERM);

    corio::io::Result<net::SocketAddr> addr =
        net::SocketAddr::from_ip(settings.bind, static_cast<std::uint16_t>(settings.port));
    if (!addr) {
        std::fprintf(stderr, "error: bad address %s\n", settings.bind.c_str());
        co_return 2;
    }
    corio::io::Result<net::TcpListener> listener = net::TcpListener::bind(*addr);
    if (!listener) {
        std::fprintf(stderr, "error: cannot listen on %s: %s\n", addr->to_string().c_str(),
                     listener.error().message().c_str());
        co_return 1;
    }
    std::printf("listening on %s\n", listener->local_addr()->to_string().c_str());
    std::fflush(stdout);  // whoever waits for this line may be reading a pipe

    mini_redis::ServerOptions options;
    options.max_connections = static_cast<std::uint32_t>(settings.max_connections);
    options.aof = settings.aof;
    options.aof.path = std::filesystem::path(settings.dir) / settings.aof_name;
    corio::CancellationToken shutdown;
    corio::JoinHandle<int> server = corio::spawn(run_server(std::move(*listener), shutdown, options));

    auto terminated = terminate.recv();
    auto event = co_await corio::select(interrupt, terminated, server);
    if (event.index() == 2) co_return std::get<2>(event);  // it could not start
    std::printf("shutting down (%s)\n", event.index() == 0 ? "SIGINT" : "SIGTERM");
    std::fflush(stdout);
    shutdown.cancel();
    // run() returns once every connection has closed, or after its grace
    // period; connections still open then are dropped with the runtime.
    co_return co_await server;
}

// Descriptors kept for everything but clients: the listener, the runtime's
// own (epoll or io_uring, eventfds, timers), the standard streams, and one to
// accept and refuse a client over the limit. Redis keeps 32 as well.
constexpr unsigned long kReservedFds = 32;

// Raises the soft descriptor limit toward the hard one, as Redis does, so
// --max-connections clients fit; when they cannot, lowers max_connections to
// what fits and says so. Without this, clients past the limit would find
// accept failing (EMFILE) and hang instead of being told "max clients".
void fit_descriptor_limit(Settings& settings) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    rlim_t wanted = settings.max_connections + kReservedFds;
    if (limit.rlim_cur < wanted) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min<rlim_t>(wanted, limit.rlim_max);
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    if (limit.rlim_cur >= wanted) return;
    unsigned long fits =
        limit.rlim_cur > kReservedFds + 1 ? static_cast<unsigned long>(limit.rlim_cur) - kReservedFds : 1;
    std::fprintf(stderr,
                 "mini-redis: warning: the descriptor limit (%llu, hard %llu) fits %lu clients: --max-connections "
                 "lowered from %lu to %lu\n",
                 static_cast<unsigned long long>(limit.rlim_cur), static_cast<unsigned long long>(limit.rlim_max), fits,
                 settings.max_connections, fits);
    settings.max_connections = fits;
}

bool parse_number(const char* text, unsigned long& out) {
    const char* end = text + std::strlen(text);
    auto [ptr, ec] = std::from_chars(text, end, out);
    return ec == std::errc() && ptr == end;
}

}  // namespace

int main(int argc, char** argv) {
    Settings settings;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        bool ok = false;
        if (arg == "--port" && i + 1 < argc) {
            ok = parse_number(argv[++i], settings.port) && settings.port <= 65535;
        } else if (arg == "--bind" && i + 1 < argc) {
            settings.bind = argv[++i];
            ok = true;
        } else if (arg == "--threads" && i + 1 < argc) {
            ok = parse_number(argv[++i], settings.threads) && settings.threads >= 1 && settings.threads <= 1024;
        } else if (arg == "--appendonly" && i + 1 < argc) {
            std::string_view v = argv[++i];
            ok = v == "yes" || v == "no";
            settings.aof.enabled = v == "yes";
        } else if (arg == "--appendfsync" && i + 1 < argc) {
            std::string_view v = argv[++i];
            ok = v == "always" || v == "everysec" || v == "no";
            settings.aof.fsync = v == "always"     ? mini_redis::AppendFsync::Always
                                 : v == "everysec" ? mini_redis::AppendFsync::EverySec
                                                   : mini_redis::AppendFsync::No;
        } else if (arg == "--dir" && i + 1 < argc) {
            settings.dir = argv[++i];
            ok = true;
        } else if (arg == "--appendfilename" && i + 1 < argc) {
            settings.aof_name = argv[++i];
            ok = !settings.aof_name.empty();
        } else if (arg == "--max-connections" && i + 1 < argc) {
            ok = parse_number(argv[++i], settings.max_connections) && settings.max_connections >= 1 &&
                 settings.max_connections <= 1'000'000;
        }
        if (!ok) {
            std::fprintf(stderr,
                         "usage: %s [--port 6379] [--bind 127.0.0.1] [--threads N] [--max-connections N]\n"
                         "          [--appendonly yes|no] [--appendfsync always|everysec|no] [--dir DIR]\n"
                         "          [--appendfilename appendonly.aof]\n",
                         argv[0]);
            return 2;
        }
    }
    fit_descriptor_limit(settings);
    // `kill -USR1 <pid>` prints every task (one per connection, named after
    // its peer) and what it waits for on stderr.
    corio::Runtime rt =
        settings.threads > 1
            ? corio::Builder::new_multi_thread().worker_threads(settings.threads).dump_on_signal(SIGUSR1).build()
            : corio::Builder::new_current_thread().dump_on_signal(SIGUSR1).build();
    int rc = rt.block_on(serve(settings));
    std::fflush(stdout);
    return rc;
}
