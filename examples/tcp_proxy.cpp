// tcp_proxy: a TCP proxy that forwards every client to one upstream server.
//
//   tcp_proxy --listen 127.0.0.1:0 --upstream HOST:PORT [--idle-timeout-ms N] [--grace-ms N]
//
// Binds --listen (port 0: the system picks a free one) and prints
// "listening on <addr>" once it is bound. For each client it connects to
// --upstream (a name is resolved off the worker threads) and pipes bytes both
// ways with io::copy_bidirectional. A connection on which no byte has moved,
// in either direction, for --idle-timeout-ms (default 30000) is closed.
//
// On Ctrl-C (SIGINT) or SIGTERM it stops accepting, lets the open connections
// finish for at most --grace-ms (default 5000), closes whatever is still open
// after that, prints one summary line
//
//   summary: N connection(s) served, B bytes client->upstream, B bytes upstream->client, ...
//
// and exits with status 0.
//
// Try it: ./echo_server --port 7000 in one terminal, ./tcp_proxy --listen
// 127.0.0.1:7001 --upstream 127.0.0.1:7000 in another, then
// ./echo_client 127.0.0.1:7001 5 (or nc 127.0.0.1 7001).
//
// In Tokio terms: a `select!` accept loop racing accept() against the two
// signals, a tokio_util TaskTracker for the connections, a CancellationToken
// that closes the stragglers after the grace period.
#include <atomic>
#include <charconv>
#include <chrono>
#include <corio/corio.hpp>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace {

using namespace std::chrono_literals;
namespace io = corio::io;
namespace net = corio::net;
namespace time = corio::time;

struct Options {
    std::string listen;
    std::string upstream;
    std::chrono::milliseconds idle_timeout{30000};
    std::chrono::milliseconds grace{5000};
};

/// Totals over every connection, shared by the connection tasks (which may
/// run on different worker threads: atomics) and read once for the summary.
struct Stats {
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> served{0};  // reached the upstream and ended
    std::atomic<std::uint64_t> upstream_failed{0};
    std::atomic<std::uint64_t> idle_closed{0};
    std::atomic<std::uint64_t> bytes_up{0};    // written to the upstream
    std::atomic<std::uint64_t> bytes_down{0};  // written back to the client
};

/// When a byte last moved on one connection. Only that connection's task
/// touches it (the stream wrappers and the idle timer are polled by the
/// same task), so it needs no lock.
struct Activity {
    time::Instant last = time::Instant::now();
};

/// An AsyncRead + AsyncWrite over a stream that records every byte moved in
/// `activity` and counts the bytes written into `written`. It is what lets
/// an idle timeout sit next to copy_bidirectional, which has no progress
/// hook of its own: copy_bidirectional reads and writes through two of
/// these, and the idle timer looks at `activity`.
template <class S>
class Metered {
public:
    Metered(S& inner, Activity& activity, std::atomic<std::uint64_t>& written) noexcept
        : inner_(&inner), activity_(&activity), written_(&written) {}

    corio::Poll<io::Result<std::size_t>> poll_read(corio::Context& cx, std::span<std::byte> buf) {
        corio::Poll<io::Result<std::size_t>> r = inner_->poll_read(cx, buf);
        if (r.is_ready() && *r && **r > 0) activity_->last = time::Instant::now();
        return r;
    }

    corio::Poll<io::Result<std::size_t>> poll_write(corio::Context& cx, std::span<const std::byte> buf) {
        corio::Poll<io::Result<std::size_t>> r = inner_->poll_write(cx, buf);
        if (r.is_ready() && *r && **r > 0) {
            activity_->last = time::Instant::now();
            written_->fetch_add(**r, std::memory_order_relaxed);
        }
        return r;
    }

    corio::Poll<io::Result<void>> poll_flush(corio::Context& cx) { return inner_->poll_flush(cx); }
    corio::Poll<io::Result<void>> poll_shutdown(corio::Context& cx) { return inner_->poll_shutdown(cx); }

private:
    S* inner_;
    Activity* activity_;
    std::atomic<std::uint64_t>* written_;
};

/// Completes once nothing has moved on the connection for `limit`: sleeps
/// until the last activity plus `limit`, and sleeps again when something
/// moved meanwhile. Cancellation-safe (it only sleeps). Takes `activity` by
/// reference, which a lazy Task may do only because `activity` lives in the
/// frame that owns this Task and outlives it (guide section 11).
corio::Task<void> idle_for(const Activity& activity, time::Duration limit) {
    for (;;) {
        time::Instant deadline = activity.last + limit;
        if (time::Instant::now() >= deadline) co_return;
        co_await time::sleep_until(deadline);
    }
}

/// One client: connect to the upstream, then copy both ways until both
/// sides have closed, an error, the idle timeout, or `stop` (the grace
/// period of a shutdown ran out). Takes everything by value (a spawned
/// task must not borrow from its spawner), except the shared stats.
corio::Task<void> proxy(net::TcpStream client, net::SocketAddr peer, std::string upstream_addr,
                        time::Duration idle_timeout, std::shared_ptr<Stats> stats, corio::CancellationToken stop) {
    const std::string who = peer.to_string();
    (void)client.set_nodelay(true);

    // Connecting counts against the idle timeout too: an upstream that
    // neither accepts nor refuses must not hold the client for ever.
    // net::connect resolves a name on the blocking pool first.
    std::expected<io::Result<net::TcpStream>, time::Elapsed> connected =
        co_await time::timeout(idle_timeout, net::connect(upstream_addr));
    if (!connected || !*connected) {
        std::string why = !connected ? std::string("timed out") : connected->error().message();
        std::fprintf(stderr, "%s: cannot connect to %s: %s\n", who.c_str(), upstream_addr.c_str(), why.c_str());
        stats->upstream_failed.fetch_add(1, std::memory_order_relaxed);
        co_return;  // dropping `client` closes it
    }
    net::TcpStream upstream = std::move(**connected);
    (void)upstream.set_nodelay(true);

    Activity activity;
    Metered<net::TcpStream> client_side(client, activity, stats->bytes_down);    // written: upstream->client
    Metered<net::TcpStream> upstream_side(upstream, activity, stats->bytes_up);  // written: client->upstream

    // All three are named, so the select borrows them (and GCC 12 sees no
    // temporaries in the co_await operand).
    auto copying = io::copy_bidirectional(client_side, upstream_side);
    corio::Task<void> idle = idle_for(activity, idle_timeout);
    corio::Cancelled stopping = stop.cancelled();
    // Biased: a copy that has just finished wins over a timer that fired in
    // the same poll.
    auto ended = co_await corio::select_biased(copying, idle, stopping);

    const char* how = "closed";
    if (ended.index() == 0) {
        io::Result<std::pair<std::uint64_t, std::uint64_t>>& copied = std::get<0>(ended);
        if (!copied) {
            // A reset by either peer ends the connection like an end of
            // stream; it is worth a line, not a failure of the proxy.
            std::fprintf(stderr, "%s: %s\n", who.c_str(), copied.error().message().c_str());
            how = "failed";
        }
    } else if (ended.index() == 1) {
        how = "idle timeout";
        stats->idle_closed.fetch_add(1, std::memory_order_relaxed);
    } else {
        how = "closed by shutdown";
    }
    stats->served.fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr, "%s: %s\n", who.c_str(), how);
    // Returning drops both streams: each socket is closed, so each peer reads
    // end of stream (an idle client learns that the proxy gave up on it).
}

/// What the accept loop does after one select.
enum class Next { Continue, BackOff, Interrupted, Terminated, SignalFailed };

corio::Task<int> run(Options opts) {
    // Listen for the signals before announcing the port, so that a signal
    // sent as soon as the port is known is neither lost nor fatal.
    corio::signal::CtrlC interrupt = corio::signal::ctrl_c();
    corio::signal::Signal terminate = corio::signal::signal(SIGTERM);

    io::Result<net::TcpListener> listener = net::TcpListener::bind(opts.listen);
    if (!listener) {
        std::fprintf(stderr, "error: cannot listen on %s: %s\n", opts.listen.c_str(),
                     listener.error().message().c_str());
        co_return 1;
    }
    io::Result<net::SocketAddr> local = listener->local_addr();
    if (!local) {
        std::fprintf(stderr, "error: local_addr: %s\n", local.error().message().c_str());
        co_return 1;
    }
    std::printf("listening on %s\n", local->to_string().c_str());
    std::fflush(stdout);  // whoever waits for this line may be reading a pipe

    auto stats = std::make_shared<Stats>();
    corio::task::TaskTracker connections;
    corio::CancellationToken stop;  // cancelled when the grace period runs out
    const time::Duration idle_timeout = opts.idle_timeout;

    // The handlers run synchronously inside the poll in which their branch
    // wins; spawning is synchronous, so the accept handler spawns right there.
    auto on_accept = [&](io::Result<std::pair<net::TcpStream, net::SocketAddr>> accepted) {
        if (!accepted) {
            // Typically EMFILE (out of file descriptors): back off a little
            // instead of spinning on the same error.
            std::fprintf(stderr, "accept failed: %s\n", accepted.error().message().c_str());
            return Next::BackOff;
        }
        stats->accepted.fetch_add(1, std::memory_order_relaxed);
        // The dropped JoinHandle detaches the task; the tracker counts it.
        connections.spawn(
            proxy(std::move(accepted->first), accepted->second, opts.upstream, idle_timeout, stats, stop));
        return Next::Continue;
    };
    // A signal future completes with an error when its handler could not be
    // installed: a proxy that cannot be stopped cleanly does not run.
    auto on_interrupt = [](io::Result<void> got) { return got ? Next::Interrupted : Next::SignalFailed; };
    auto on_terminate = [](io::Result<void> got) { return got ? Next::Terminated : Next::SignalFailed; };

    Next next = Next::Continue;
    for (;;) {
        // accept() and Signal::recv() are cancellation-safe: the branches that
        // lose are dropped and made again on the next turn, losing nothing.
        // `interrupt` is borrowed: one SIGINT listener for the whole loop.
        next = co_await corio::select_with(corio::on(listener->accept(), on_accept), corio::on(interrupt, on_interrupt),
                                           corio::on(terminate.recv(), on_terminate));
        if (next == Next::Interrupted || next == Next::Terminated || next == Next::SignalFailed) break;
        if (next == Next::BackOff) {
            // A signal during the pause is seen at the next turn (recv keeps arrivals).
            co_await time::sleep(100ms);
        }
    }
    if (next == Next::SignalFailed) {
        std::fprintf(stderr, "error: cannot wait for signals\n");
        co_return 1;
    }

    std::printf("shutting down (%s)\n", next == Next::Interrupted ? "SIGINT" : "SIGTERM");
    std::fflush(stdout);
    // Stop accepting: close the listening socket now rather than when this
    // frame ends, so new clients are refused during the grace period.
    {
        net::TcpListener closing = std::move(*listener);
    }

    connections.close();  // from now on wait() completes once the last connection ended
    std::expected<void, time::Elapsed> drained = co_await time::timeout(opts.grace, connections.wait());
    if (!drained) {
        std::printf("%zu connection(s) still open after %lld ms; closing them\n", connections.len(),
                    static_cast<long long>(opts.grace.count()));
        std::fflush(stdout);
        stop.cancel();  // each one's select sees it and returns, closing both sockets
        std::expected<void, time::Elapsed> closed = co_await time::timeout(1s, connections.wait());
        if (!closed) std::printf("%zu connection(s) did not close; dropping them\n", connections.len());
    }

    std::printf(
        "summary: %llu connection(s) served, %llu bytes client->upstream, %llu bytes upstream->client, "
        "%llu idle timeout(s), %llu upstream failure(s)\n",
        static_cast<unsigned long long>(stats->served.load()), static_cast<unsigned long long>(stats->bytes_up.load()),
        static_cast<unsigned long long>(stats->bytes_down.load()),
        static_cast<unsigned long long>(stats->idle_closed.load()),
        static_cast<unsigned long long>(stats->upstream_failed.load()));
    std::fflush(stdout);
    co_return 0;
}

bool parse_ms(const char* text, std::chrono::milliseconds& out) {
    const char* end = text + std::strlen(text);
    unsigned long long value = 0;
    auto [ptr, ec] = std::from_chars(text, end, value);
    if (ec != std::errc() || ptr != end || value > 86'400'000ULL) return false;
    out = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(value));
    return true;
}

int usage(const char* argv0) {
    std::fprintf(stderr, "usage: %s --listen ADDR:PORT --upstream HOST:PORT [--idle-timeout-ms N] [--grace-ms N]\n",
                 argv0);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    Options opts;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (i + 1 >= argc) return usage(argv[0]);
        const char* value = argv[++i];
        bool ok = true;
        if (arg == "--listen") {
            opts.listen = value;
        } else if (arg == "--upstream") {
            opts.upstream = value;
        } else if (arg == "--idle-timeout-ms") {
            ok = parse_ms(value, opts.idle_timeout) && opts.idle_timeout.count() > 0;
        } else if (arg == "--grace-ms") {
            ok = parse_ms(value, opts.grace);
        } else {
            ok = false;
        }
        if (!ok) return usage(argv[0]);
    }
    if (opts.listen.empty() || opts.upstream.empty()) return usage(argv[0]);

    // corio::run: the multi-thread runtime, as #[tokio::main].
    int rc = corio::run(run(std::move(opts)));
    std::fflush(stdout);
    return rc;
}
