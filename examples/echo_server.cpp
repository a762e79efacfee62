// echo_server: a TCP server that sends every byte it receives straight back.
//
//   echo_server [--port P] [--threads N]
//
// Listens on 127.0.0.1:P (default 0: the system picks a free port; the line
// "listening on 127.0.0.1:<port>" tells which). Each connection gets a task of
// its own. Stops on Ctrl-C (SIGINT) or SIGTERM: prints "shutting down", stops
// accepting, lets every connection finish the echo it is writing (one
// waiting for input closes at once), waits for them at most 5 s, and exits
// with status 0. --threads 1 (the default) runs everything on one thread;
// more selects the multi-thread, work-stealing runtime.
//
// Try it: ./echo_server --port 7000, then ./echo_client 127.0.0.1:7000 5
// (or nc 127.0.0.1 7000) in another terminal.
#include <array>
#include <charconv>
#include <chrono>
#include <corio/corio.hpp>
#include <corio/net.hpp>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <expected>
#include <span>
#include <string_view>
#include <variant>

namespace {

using namespace std::chrono_literals;
using corio::net::SocketAddr;
using corio::net::TcpListener;
using corio::net::TcpStream;
namespace io = corio::io;

/// How long a shutdown waits for the open connections before giving up on them.
constexpr auto kShutdownGrace = 5s;

/// Echoes until the peer closes its side or `stop` is cancelled. I/O errors
/// come back as values (io::Result), never as exceptions: a reset by the peer
/// just ends the task.
corio::Task<void> echo(TcpStream stream, SocketAddr peer, corio::CancellationToken stop) {
    // Send small writes at once instead of waiting to coalesce them (Nagle):
    // an echo server answers small messages and the client waits for each.
    (void)stream.set_nodelay(true);
    std::array<std::byte, 4096> buf;
    corio::Cancelled stopping = stop.cancelled();  // borrowed by every select below
    for (;;) {
        // read is cancellation-safe: when the stop signal wins the race, no
        // byte has been taken from the socket. A write in progress is never
        // raced, so an echo that has started is always finished.
        auto read = stream.read(buf);
        auto event = co_await corio::select_biased(stopping, read);
        if (event.index() == 0) co_return;  // shutting down
        io::Result<std::size_t>& n = std::get<1>(event);
        if (!n) {
            std::fprintf(stderr, "%s: read failed: %s\n", peer.to_string().c_str(), n.error().message().c_str());
            co_return;
        }
        if (*n == 0) co_return;  // end of stream: the peer closed its side
        // write_all loops until every byte is out (a write may take fewer).
        io::Result<void> written = co_await stream.write_all(std::span(buf).first(*n));
        if (!written) {
            std::fprintf(stderr, "%s: write failed: %s\n", peer.to_string().c_str(), written.error().message().c_str());
            co_return;
        }
    }
    // The stream's destructor closes the socket.
}

/// Accepts connections until `stop` is cancelled, one task per connection,
/// each spawned on `connections` so that the shutdown can wait for them.
/// Returning drops the listener, which closes it.
corio::Task<void> accept_loop(TcpListener listener, corio::task::TaskTracker connections,
                              corio::CancellationToken stop) {
    corio::Cancelled stopping = stop.cancelled();
    for (;;) {
        // accept is cancellation-safe: losing the race loses no connection.
        auto accept = listener.accept();
        auto event = co_await corio::select_biased(stopping, accept);
        if (event.index() == 0) co_return;
        auto& accepted = std::get<1>(event);
        if (!accepted) {
            // Typically EMFILE (out of file descriptors): back off a little
            // instead of spinning on the same error.
            std::fprintf(stderr, "accept failed: %s\n", accepted.error().message().c_str());
            auto pause = corio::time::sleep(100ms);
            co_await corio::select_biased(stopping, pause);
            continue;
        }
        // The JoinHandle is dropped at once, which detaches the task: it runs
        // on by itself, and the tracker counts it until it ends.
        connections.spawn(echo(std::move(accepted->first), accepted->second, stop));
    }
}

/// Completes at the first SIGINT or SIGTERM with the signal's number: a
/// two-way select written by hand. Both signal streams are polled with the
/// same Context, so whichever signal arrives first wakes the awaiting task.
/// The handlers are installed when this object is constructed.
class ShutdownSignal {
public:
    using Output = io::Result<int>;

    corio::Poll<Output> poll(corio::Context& cx) {
        if (auto r = interrupt_.poll(cx); r.is_ready()) return finish(*r, SIGINT);
        if (auto r = terminate_.poll_recv(cx); r.is_ready()) return finish(*r, SIGTERM);
        return corio::Pending;
    }

private:
    static corio::Poll<Output> finish(const io::Result<void>& r, int signum) {
        if (!r) return corio::Ready(Output(std::unexpect, r.error()));
        return corio::Ready(Output(signum));
    }

    corio::signal::CtrlC interrupt_ = corio::signal::ctrl_c();
    corio::signal::Signal terminate_ = corio::signal::signal(SIGTERM);
};

corio::Task<int> serve(std::uint16_t port) {
    // Listen for the shutdown signals before announcing the port, so that a
    // SIGTERM sent as soon as the port is known is not lost (nor fatal).
    ShutdownSignal shutdown;

    io::Result<SocketAddr> addr = SocketAddr::from_ip("127.0.0.1", port);
    io::Result<TcpListener> listener = TcpListener::bind(*addr);
    if (!listener) {
        std::fprintf(stderr, "error: cannot listen on %s: %s\n", addr->to_string().c_str(),
                     listener.error().message().c_str());
        co_return 1;
    }
    std::printf("listening on %s\n", listener->local_addr()->to_string().c_str());
    std::fflush(stdout);  // whoever waits for this line may be reading a pipe

    // The accept loop runs as a task of its own, so this task is free to wait
    // for the signal. `stop` tells it and every connection to finish; the
    // tracker counts the connection tasks.
    corio::CancellationToken stop;
    corio::task::TaskTracker connections;
    corio::JoinHandle<void> acceptor = corio::spawn(accept_loop(std::move(*listener), connections, stop));

    io::Result<int> signum = co_await shutdown;
    if (!signum) {
        std::fprintf(stderr, "error: cannot wait for signals: %s\n", signum.error().message().c_str());
        co_return 1;
    }
    std::printf("shutting down (%s)\n", *signum == SIGINT ? "SIGINT" : "SIGTERM");
    std::fflush(stdout);

    // Graceful shutdown: stop accepting (the accept loop returns, closing the
    // listener), then close the tracker, so that wait() completes once the
    // last connection task has ended; give them kShutdownGrace at most.
    stop.cancel();
    co_await acceptor;
    connections.close();
    std::expected<void, corio::time::Elapsed> drained =
        co_await corio::time::timeout(kShutdownGrace, connections.wait());
    if (!drained) {
        // Whatever is still open is cancelled when the runtime shuts down,
        // as soon as block_on returns.
        std::printf("%zu connection(s) still open after the grace period\n", connections.len());
    }
    co_return 0;
}

bool parse_number(const char* text, unsigned long& out) {
    const char* end = text + std::strlen(text);
    auto [ptr, ec] = std::from_chars(text, end, out);
    return ec == std::errc() && ptr == end;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned long port = 0;
    unsigned long threads = 1;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        bool ok = false;
        if (arg == "--port" && i + 1 < argc) {
            ok = parse_number(argv[++i], port) && port <= 65535;
        } else if (arg == "--threads" && i + 1 < argc) {
            ok = parse_number(argv[++i], threads) && threads >= 1;
        }
        if (!ok) {
            std::fprintf(stderr, "usage: %s [--port P] [--threads N]\n", argv[0]);
            return 2;
        }
    }

    // One thread: the current_thread runtime runs every task on the thread
    // that calls block_on. More: the work-stealing multi-thread runtime.
    corio::Runtime rt = threads > 1 ? corio::Builder::new_multi_thread().worker_threads(threads).build()
                                    : corio::Builder::new_current_thread().build();
    int rc = rt.block_on(serve(static_cast<std::uint16_t>(port)));
    std::fflush(stdout);
    return rc;
}
