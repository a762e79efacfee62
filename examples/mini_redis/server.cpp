// The accept loop, the connection limit and shutdown (see server.hpp).
#include "server.hpp"

#include <corio/runtime.hpp>
#include <corio/select.hpp>
#include <corio/sync/semaphore.hpp>
#include <corio/task/builder.hpp>
#include <corio/task/task_tracker.hpp>
#include <corio/time.hpp>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <utility>
#include <variant>

#include "session.hpp"

namespace mini_redis {

namespace {

using namespace std::chrono_literals;
using corio::net::TcpStream;

/// Answers a client over the connection limit and closes its connection.
/// It waits only briefly for the client to close first: at the limit,
/// descriptors are scarce, and each refusal holds one while it waits.
corio::Task<void> refuse(TcpStream stream) {
    ServerConnection conn(std::move(stream), RequestCodec());
    (void)conn.codec().encode(resp::Error{"ERR max number of clients reached"}, conn.write_buffer());
    co_await close_with_reply(conn, 50ms);
}

}  // namespace

corio::Task<void> run(corio::net::TcpListener listener, corio::CancellationToken shutdown, ServerOptions options) {
    DbDropGuard db(options.db);
    auto state = std::make_shared<ServerState>(db.db(), options, shutdown);
    if (auto local = listener.local_addr()) state->port = local->port();
    auto limit = std::make_shared<corio::sync::Semaphore>(options.max_connections);
    corio::task::TaskTracker connections;  // every connection task, refused ones too

    corio::Cancelled stop = shutdown.cancelled();
    corio::time::Instant last_complaint;
    std::uint64_t failed_accepts = 0;
    for (;;) {
        auto accept = listener.accept();
        auto event = co_await corio::select_biased(stop, accept);
        if (event.index() == 0) break;
        auto& accepted = std::get<1>(event);
        if (!accepted) {
            // Typically EMFILE: back off instead of spinning on the same
            // error, and say so at most once a second.
            ++failed_accepts;
            if (failed_accepts == 1 || last_complaint.elapsed() >= 1s) {
                std::fprintf(stderr, "mini-redis: accept failed: %s (%llu times so far)\n",
                             accepted.error().message().c_str(), static_cast<unsigned long long>(failed_accepts));
                last_complaint = corio::time::Instant::now();
            }
            auto pause = corio::time::sleep(100ms);
            co_await corio::select_biased(stop, pause);
            continue;
        }
        TcpStream stream = std::move(accepted->first);
        // Named after the peer: that is what Handle::dump() and stall reports show.
        corio::task::Builder task = corio::task::Builder().name("conn " + accepted->second.to_string());
        // Replies are small and awaited one by one: send them without delay.
        (void)stream.set_nodelay(true);
        auto permit = corio::sync::Semaphore::try_acquire_owned(limit);
        // Dropping the JoinHandle detaches the task; the tracker counts it
        // until it ends.
        if (!permit) {
            task.spawn(connections.track_future(refuse(std::move(stream))));
            continue;
        }
        task.spawn(connections.track_future(serve_connection(std::move(stream), state, std::move(*permit))));
    }

    // Stop accepting, then wait until every connection task has ended (the
    // tracker, once closed, is done when it is empty), but not for ever.
    listener = corio::net::TcpListener();
    connections.close();
    (void)co_await corio::time::timeout(options.shutdown_grace, connections.wait());
}

}  // namespace mini_redis
