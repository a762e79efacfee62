// echo_server: a TCP server that sends every byte it receives straight back.
//
//   echo_server [--port P] [--threads N]
//
// Listens on 127.0.0.1:P (default 0: the system picks a free port; the line
// "listening on 127.0.0.1:<port>" tells which). Each connection gets a task of
// its own. Stops on Ctrl-C (SIGINT) or SIGTERM: prints "shutting down" and
// exits with status 0. --threads 1 (the default) runs everything on one
// thread; more selects the multi-thread, work-stealing runtime.
//
// Try it: ./echo_server --port 7000, then ./echo_client 127.0.0.1:7000 5
// (or nc 127.0.0.1 7000) in another terminal.
#include <array>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string_view>

#include <corio/corio.hpp>
#include <corio/net.hpp>

namespace {

using corio::net::SocketAddr;
using corio::net::TcpListener;
using corio::net::TcpStream;
namespace io = corio::io;

/// Echoes until the peer closes its side. I/O errors come back as values
/// (io::Result), never as exceptions: a reset by the peer just ends the task.
corio::Task<void> echo(TcpStream stream, SocketAddr peer) {
    // Send small writes at once instead of waiting to coalesce them (Nagle):
    // an echo server answers small messages and the client waits for each.
    (void)stream.set_nodelay(true);
    std::array<std::byte, 4096> buf;
    for (;;) {
        // read is cancellation-safe: if this task is aborted while waiting
        // here, no byte has been taken from the socket.
        io::Result<std::size_t> n = co_await stream.read(buf);
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

/// Accepts connections forever, one task per connection.
corio::Task<void> accept_loop(TcpListener listener) {
    for (;;) {
        auto accepted = co_await listener.accept();
        if (!accepted) {
            // Typically EMFILE (out of file descriptors): back off a little
            // instead of spinning on the same error.
            std::fprintf(stderr, "accept failed: %s\n", accepted.error().message().c_str());
            co_await corio::time::sleep(std::chrono::milliseconds(100));
            continue;
        }
        // Dropping the JoinHandle detaches the task: it runs on by itself.
        (void)corio::spawn(echo(std::move(accepted->first), accepted->second));
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
    // for the signal. (With a select combinator this would be one co_await
    // racing accept() against the signal.)
    corio::JoinHandle<void> acceptor = corio::spawn(accept_loop(std::move(*listener)));

    io::Result<int> signum = co_await shutdown;
    if (!signum) {
        std::fprintf(stderr, "error: cannot wait for signals: %s\n", signum.error().message().c_str());
        co_return 1;
    }
    std::printf("shutting down (%s)\n", *signum == SIGINT ? "SIGINT" : "SIGTERM");

    // Abort the accept loop: its task is destroyed at its suspension point
    // (accept is cancellation-safe, no connection is lost in the kernel's
    // queue by dropping it), which closes the listener. Awaiting an aborted
    // task throws JoinError.
    acceptor.abort();
    try {
        co_await acceptor;
    } catch (const corio::JoinError&) {
    }
    // Connections still open are cancelled when the runtime shuts down, as
    // soon as block_on returns.
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
