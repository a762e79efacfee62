// The mini-redis server: accepts connections on a listener and serves each
// in a task of its own until told to shut down.
//
//   corio::CancellationToken shutdown;
//   auto listener = corio::net::TcpListener::bind("127.0.0.1:6379");
//   co_await mini_redis::run(std::move(*listener), shutdown);   // until shutdown.cancel()
//
// Connection limit: every connection holds a permit of a
// corio::sync::Semaphore; a client over the limit is accepted, answered
// "-ERR max number of clients reached" and closed, so it is refused at once
// rather than left waiting in the kernel's backlog.
//
// Shutdown: cancelling the token stops the accept loop and tells every
// connection. A connection that is waiting for a command closes at once; one
// that is executing commands finishes them and sends their replies first.
// run() then waits for the connections (a corio::task::TaskTracker counts
// their tasks), at most `shutdown_grace`; whatever is still open after that
// is dropped when the runtime is destroyed.
#pragma once

#include <chrono>
#include <corio/cancel.hpp>
#include <corio/net.hpp>
#include <corio/task.hpp>
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "aof.hpp"
#include "db.hpp"

namespace mini_redis {

/// Settings of a server.
struct ServerOptions {
    /// Connections served at once; more are refused.
    std::uint32_t max_connections = 10'000;
    /// How long run() waits for open connections after shutdown.
    std::chrono::milliseconds shutdown_grace{5'000};
    /// A subscriber's output-buffer limits (Redis's `client-output-buffer-limit
    /// pubsub 32mb 8mb 60`): its queued messages and unwritten replies over
    /// the hard limit, or over the soft one for longer than the period, and
    /// it is disconnected. Until then it loses no message, however slowly it
    /// reads.
    OutputLimits pubsub_limits;
    /// The key space and channels.
    DbOptions db;
    /// The append-only file (off by default).
    AofOptions aof;
};

/// Serves RESP2 clients on `listener` until `shutdown` is cancelled, then
/// waits (at most options.shutdown_grace) for the open connections to end.
/// With options.aof.enabled, first replays the append-only file, and throws
/// AofError (before serving anyone) when it cannot be read or opened.
/// Accept errors (such as running out of descriptors) are reported on stderr
/// and retried after 100 ms; nothing is thrown for I/O errors. Dropping the
/// future closes the listener and leaves the connection tasks running until
/// they end or the runtime is destroyed.
/// The append-only file could not be replayed or opened.
struct AofError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

corio::Task<void> run(corio::net::TcpListener listener, corio::CancellationToken shutdown, ServerOptions options = {});

}  // namespace mini_redis
