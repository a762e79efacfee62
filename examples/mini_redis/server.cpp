// The accept loop, the connection limit and shutdown (see server.hpp).
#include "server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <corio/runtime.hpp>
#include <corio/select.hpp>
#include <corio/sync/semaphore.hpp>
#include <corio/task/builder.hpp>
#include <corio/task/task_tracker.hpp>
#include <corio/time.hpp>
#include <cstdint>
#include <cstdio>
#include <cstring>
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

/// Replays the append-only file into the server's Db, then opens it for
/// appending and has it log expired keys.
void load_append_only_file(ServerState& state) {
    // The replay runs the commands through a session, as a client's would
    // be; its "connection" is one end of a socket pair nobody reads.
    std::array<int, 2> pair{};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair.data()) != 0) {
        throw AofError(std::string("socketpair: ") + std::strerror(errno));
    }
    ::close(pair[1]);
    corio::io::Result<TcpStream> stream = TcpStream::from_fd(pair[0]);
    if (!stream) throw AofError("cannot register the replay socket: " + stream.error().message());
    std::shared_ptr<ServerState> borrowed(std::shared_ptr<ServerState>(), &state);  // no ownership: lives in run()
    Session replayer(std::move(*stream), borrowed);
    state.db.set_loading(true);
    auto replayed = replay_aof(state.options.aof.path, [&](Session::Args args) { replayer.replay(args); });
    state.db.set_loading(false);
    if (!replayed) throw AofError(replayed.error());
    state.total_connections.fetch_sub(1);  // the replayer was no client
    if (*replayed > 0) {
        std::fprintf(stderr, "mini-redis: replayed %zu commands from %s\n", *replayed, state.options.aof.path.c_str());
    }
    auto aof = AppendOnlyFile::open(state.options.aof);
    if (!aof) throw AofError(aof.error());
    state.aof = std::move(*aof);
    AppendOnlyFile* file = state.aof.get();
    state.db.on_expired([file](std::string_view key) {
        std::array<std::string_view, 2> del{"DEL", key};
        file->append(del);
    });
    state.db.on_served([file](std::string_view key, bool from_head) {
        std::array<std::string_view, 2> pop{from_head ? "LPOP" : "RPOP", key};
        file->defer(pop);
    });
}

}  // namespace

corio::Task<void> run(corio::net::TcpListener listener, corio::CancellationToken shutdown, ServerOptions options) {
    DbDropGuard db(options.db);
    auto state = std::make_shared<ServerState>(db.db(), options, shutdown);
    if (auto local = listener.local_addr()) state->port = local->port();
    corio::CancellationToken aof_stop;
    std::optional<corio::JoinHandle<void>> aof_task;
    if (options.aof.enabled) {
        load_append_only_file(*state);
        aof_task = corio::spawn(state->aof->run_background(aof_stop));
    }
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
    if (aof_task) {  // its last flush writes whatever is queued
        aof_stop.cancel();
        co_await *aof_task;
    }
}

}  // namespace mini_redis
