// chat_server: a line-based chat room over TCP.
//
//   chat_server [--port P]     serve on 127.0.0.1:P (default 0: a free port)
//   chat_server --selftest     start a server, connect 3 clients, check that
//                              a line from one reaches the other two
//
// Every client first gets "welcome <its address>"; from then on each line it
// sends is relayed as "<its address>: <line>" to every other client. Stops
// on Ctrl-C, gracefully: no new clients, each client is sent what is queued
// for it and disconnected, and the server waits for that at most 5 s. Try it
// with two or more `nc 127.0.0.1 <port>`.
//
// How it is built, on the multi-thread runtime (corio::run):
// - one task per client reads its lines (io::BufReader(...).lines());
// - the stream is split (into_split) so that a second task per client can
//   write to it at the same time;
// - the writer task drains an Outbox, a queue of lines protected by a mutex
//   plus the waker of the writer: a minimal hand-written channel;
// - the Room, a map of outboxes behind a mutex, lets a reader hand a line to
//   every other client without waiting for any of them;
// - a CancellationToken asks the accept loop and every client to stop, and a
//   task::TaskTracker counts the client tasks so that shutdown can wait for
//   them to end.
// No lock is held across a co_await: a task may resume on another thread,
// and a std::mutex must be unlocked by the thread that locked it.
#include <charconv>
#include <chrono>
#include <corio/corio.hpp>
#include <corio/net.hpp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace io = corio::io;
namespace net = corio::net;
using net::SocketAddr;
using net::TcpListener;
using net::TcpStream;

/// The lines waiting to be written to one client. Any task on any thread may
/// push(); one task awaits next(). The writer's waker is stored under the
/// same mutex as the lines, so a push can never slip in between the writer
/// finding the queue empty and registering its waker.
class Outbox {
public:
    /// Lines beyond this many are dropped for a client that does not keep up,
    /// so one stalled reader cannot make the server's memory grow without end.
    static constexpr std::size_t kMaxQueued = 1024;

    /// Queues `line` (dropped if the outbox is closed or full).
    void push(std::string line) {
        corio::Waker to_wake;
        {
            std::lock_guard lock(mutex_);
            if (closed_ || lines_.size() >= kMaxQueued) return;
            lines_.push_back(std::move(line));
            to_wake = std::move(waker_);
        }
        // Wake outside the lock: the woken task may start on another worker
        // at once and lock the mutex itself.
        std::move(to_wake).wake();
    }

    /// No more lines: next() yields what is queued, then std::nullopt.
    void close() {
        corio::Waker to_wake;
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
            to_wake = std::move(waker_);
        }
        std::move(to_wake).wake();
    }

    /// The future of next(): a leaf future written by hand.
    class Next {
    public:
        using Output = std::optional<std::string>;
        explicit Next(Outbox& outbox) noexcept : outbox_(&outbox) {}
        corio::Poll<Output> poll(corio::Context& cx) { return outbox_->poll_next(cx); }

    private:
        Outbox* outbox_;
    };

    /// The next line; std::nullopt once closed and empty. Cancellation-safe:
    /// a line is taken off the queue only by the poll that returns it.
    Next next() noexcept { return Next(*this); }

private:
    corio::Poll<std::optional<std::string>> poll_next(corio::Context& cx) {
        std::lock_guard lock(mutex_);
        if (!lines_.empty()) {
            std::string line = std::move(lines_.front());
            lines_.pop_front();
            return corio::Ready(std::optional<std::string>(std::move(line)));
        }
        if (closed_) return corio::Ready(std::optional<std::string>());
        // Pending: keep the most recent waker, so that push() wakes the task
        // that is waiting now (it may have moved to another worker).
        waker_.clone_from(cx.waker());
        return corio::Pending;
    }

    std::mutex mutex_;
    std::deque<std::string> lines_;  // guarded by mutex_
    corio::Waker waker_;             // guarded by mutex_; a no-op waker when nobody waits
    bool closed_ = false;            // guarded by mutex_
};

/// Everyone connected: client id -> outbox.
class Room {
public:
    std::uint64_t join(std::shared_ptr<Outbox> outbox) {
        std::lock_guard lock(mutex_);
        std::uint64_t id = next_id_++;
        members_.emplace(id, std::move(outbox));
        return id;
    }

    void leave(std::uint64_t id) {
        std::lock_guard lock(mutex_);
        members_.erase(id);
    }

    /// Queues `line` for every member but `from`.
    void broadcast(std::uint64_t from, const std::string& line) {
        std::vector<std::shared_ptr<Outbox>> others;
        {
            std::lock_guard lock(mutex_);
            for (const auto& [id, outbox] : members_) {
                if (id != from) others.push_back(outbox);
            }
        }
        for (const std::shared_ptr<Outbox>& outbox : others) outbox->push(line);
    }

private:
    std::mutex mutex_;
    std::map<std::uint64_t, std::shared_ptr<Outbox>> members_;  // guarded by mutex_
    std::uint64_t next_id_ = 0;                                 // guarded by mutex_
};

/// Takes a client out of the room when its task ends, however it ends:
/// normally, or destroyed by an abort or by the runtime shutting down
/// (cancellation runs destructors, not the code after a co_await).
class Membership {
public:
    Membership(std::shared_ptr<Room> room, std::shared_ptr<Outbox> outbox)
        : room_(std::move(room)), outbox_(std::move(outbox)), id_(room_->join(outbox_)) {}
    Membership(const Membership&) = delete;
    Membership& operator=(const Membership&) = delete;
    ~Membership() {
        room_->leave(id_);
        outbox_->close();  // the writer sends what is queued, then ends
    }
    std::uint64_t id() const noexcept { return id_; }

private:
    std::shared_ptr<Room> room_;
    std::shared_ptr<Outbox> outbox_;
    std::uint64_t id_;
};

/// What the server's tasks share: the room, the tracker that counts every
/// client task (so a shutdown can wait for them) and the token that asks
/// them all to finish. Cheap to copy.
struct Server {
    std::shared_ptr<Room> room = std::make_shared<Room>();
    corio::task::TaskTracker tasks;
    corio::CancellationToken stop;
};

/// Writes the outbox's lines to the client until the outbox is closed or the
/// client is gone. Destroying the write half at the end shuts the socket's
/// writing side down: the client reads end of stream.
corio::Task<void> write_lines(TcpStream::OwnedWriteHalf writer, std::shared_ptr<Outbox> outbox) {
    for (;;) {
        std::optional<std::string> line = co_await outbox->next();
        if (!line) co_return;
        // write_all is not cancellation-safe (dropped midway, part of the
        // line is out), which is why it runs in a task of its own that is
        // never cancelled mid-line, rather than in a race with reading.
        io::Result<void> written = co_await writer.write_all(*line);
        if (!written) {
            outbox->close();  // the client went away; stop queueing for it
            co_return;
        }
    }
}

/// One client: reads its lines and relays them to the room, until the client
/// leaves or the server stops.
corio::Task<void> serve_client(Server server, TcpStream stream, SocketAddr peer) {
    (void)stream.set_nodelay(true);
    const std::string name = peer.to_string();

    // The halves may be used by two tasks at once, on different threads.
    auto halves = std::move(stream).into_split();
    auto outbox = std::make_shared<Outbox>();
    std::optional<Membership> member(std::in_place, server.room, outbox);
    // Queued after joining: once the client has read its welcome, it is sure
    // to receive every line sent afterwards.
    outbox->push("welcome " + name + "\n");
    corio::JoinHandle<void> writer = server.tasks.spawn(write_lines(std::move(halves.second), outbox));

    auto lines = io::BufReader(std::move(halves.first)).lines();
    corio::Cancelled stopping = server.stop.cancelled();  // borrowed by every select
    for (;;) {
        // next() is cancellation-safe: a partly received line stays in
        // `lines` when the stop signal wins the race (or this task is
        // cancelled here).
        auto next = lines.next();
        auto event = co_await corio::select_biased(stopping, next);
        if (event.index() == 0) break;  // the server is shutting down
        io::Result<std::optional<std::string>>& line = std::get<1>(event);
        if (!line || !*line) break;  // error, or the client closed its side
        server.room->broadcast(member->id(), name + ": " + **line + "\n");
    }
    // Leave the room and close the outbox; the writer sends what is queued
    // and ends, dropping the write half, which closes the connection.
    member.reset();
    co_await writer;
}

/// Accepts clients until the server stops, one tracked task each. Returning
/// drops the listener, which closes it.
corio::Task<void> accept_loop(TcpListener listener, Server server) {
    corio::Cancelled stopping = server.stop.cancelled();
    for (;;) {
        auto accept = listener.accept();  // cancellation-safe: losing the race loses no client
        auto event = co_await corio::select_biased(stopping, accept);
        if (event.index() == 0) co_return;
        auto& accepted = std::get<1>(event);
        if (!accepted) {
            std::fprintf(stderr, "accept failed: %s\n", accepted.error().message().c_str());
            auto pause = corio::time::sleep(100ms);
            co_await corio::select_biased(stopping, pause);
            continue;
        }
        // The JoinHandle is dropped at once, which detaches the task: it runs
        // on by itself, and the tracker counts it until it ends.
        server.tasks.spawn(serve_client(server, std::move(accepted->first), accepted->second));
    }
}

/// Graceful shutdown: stops the accept loop (closing the listener) and asks
/// every client task to finish (each sends its client what is queued, then
/// closes the connection), then waits for them, at most `grace`. True when
/// all have ended; those still running are cancelled when the runtime shuts
/// down.
corio::Task<bool> shut_down(Server server, corio::JoinHandle<void> acceptor, std::chrono::milliseconds grace) {
    server.stop.cancel();
    co_await acceptor;
    server.tasks.close();  // from now on wait() completes once no client task is left
    std::expected<void, corio::time::Elapsed> drained = co_await corio::time::timeout(grace, server.tasks.wait());
    co_return drained.has_value();
}

corio::Task<int> serve(std::uint16_t port) {
    corio::signal::CtrlC ctrl_c = corio::signal::ctrl_c();  // from now on, Ctrl-C is ours
    io::Result<SocketAddr> addr = SocketAddr::from_ip("127.0.0.1", port);
    io::Result<TcpListener> listener = TcpListener::bind(*addr);
    if (!listener) {
        std::fprintf(stderr, "error: cannot listen on %s: %s\n", addr->to_string().c_str(),
                     listener.error().message().c_str());
        co_return 1;
    }
    std::printf("listening on %s\n", listener->local_addr()->to_string().c_str());
    std::fflush(stdout);

    Server server;
    corio::JoinHandle<void> acceptor = corio::spawn(accept_loop(std::move(*listener), server));
    io::Result<void> interrupted = co_await ctrl_c;
    std::puts("shutting down");
    std::fflush(stdout);
    bool drained = co_await shut_down(server, std::move(acceptor), 5s);
    if (!drained) std::printf("%zu client task(s) still running after 5 s\n", server.tasks.len());
    co_return interrupted ? 0 : 1;
}

// --- --selftest: three clients in the same process ---------------------------

/// A client of the chat: the lines it receives, and a way to send.
struct ChatClient {
    std::string name;  // its address, as the server names it
    io::Lines<io::BufReader<TcpStream::OwnedReadHalf>> lines;
    TcpStream::OwnedWriteHalf writer;
};

/// Connects to the server and waits for the welcome, after which the client
/// is a member of the room.
corio::Task<io::Result<ChatClient>> join_chat(SocketAddr server) {
    io::Result<TcpStream> stream = co_await TcpStream::connect(server);
    if (!stream) co_return std::unexpected(stream.error());
    io::Result<SocketAddr> local = stream->local_addr();
    if (!local) co_return std::unexpected(local.error());
    auto halves = std::move(*stream).into_split();
    ChatClient client{local->to_string(), io::BufReader(std::move(halves.first)).lines(), std::move(halves.second)};

    io::Result<std::optional<std::string>> welcome = co_await client.lines.next();
    if (!welcome) co_return std::unexpected(welcome.error());
    if (*welcome != "welcome " + client.name) co_return io::error(std::errc::protocol_error);
    co_return std::move(client);
}

/// True when `client`'s next line is `expected`; says what came otherwise.
corio::Task<bool> receives(ChatClient& client, std::string expected) {
    io::Result<std::optional<std::string>> line = co_await client.lines.next();
    if (line && *line && **line == expected) co_return true;
    std::string got = !line ? "error " + line.error().message() : !*line ? "end of stream" : "\"" + **line + "\"";
    std::printf("error: %s expected \"%s\", got %s\n", client.name.c_str(), expected.c_str(), got.c_str());
    co_return false;
}

corio::Task<int> selftest() {
    io::Result<TcpListener> listener = TcpListener::bind("127.0.0.1:0");
    if (!listener) {
        std::printf("error: cannot listen: %s\n", listener.error().message().c_str());
        co_return 1;
    }
    SocketAddr addr = *listener->local_addr();
    Server server;
    corio::JoinHandle<void> acceptor = corio::spawn(accept_loop(std::move(*listener), server));

    std::vector<ChatClient> clients;
    for (int i = 0; i < 3; ++i) {
        io::Result<ChatClient> client = co_await join_chat(addr);
        if (!client) {
            std::printf("error: client %d could not join: %s\n", i + 1, client.error().message().c_str());
            co_return 1;
        }
        clients.push_back(std::move(*client));
    }

    // Client 1 speaks; clients 2 and 3 hear it.
    io::Result<void> sent = co_await clients[0].writer.write_all("hello from client 1\n");
    if (!sent) co_return 1;
    bool ok = co_await receives(clients[1], clients[0].name + ": hello from client 1");
    if (!ok) co_return 1;
    ok = co_await receives(clients[2], clients[0].name + ": hello from client 1");
    if (!ok) co_return 1;

    // Client 2 answers; client 1's next line is that answer, so it was not
    // sent its own line back.
    sent = co_await clients[1].writer.write_all("hi from client 2\n");
    if (!sent) co_return 1;
    ok = co_await receives(clients[0], clients[1].name + ": hi from client 2");
    if (!ok) co_return 1;
    ok = co_await receives(clients[2], clients[1].name + ": hi from client 2");
    if (!ok) co_return 1;

    // Shut down: every client is disconnected (it reads end of stream) and
    // the tracker sees every client task end.
    bool drained = co_await shut_down(server, std::move(acceptor), 5s);
    if (!drained) {
        std::printf("error: %zu client task(s) still running after shutdown\n", server.tasks.len());
        co_return 1;
    }
    for (ChatClient& client : clients) {
        io::Result<std::optional<std::string>> line = co_await client.lines.next();
        if (!line || line->has_value()) {
            std::printf("error: %s was not disconnected at shutdown\n", client.name.c_str());
            co_return 1;
        }
    }
    std::puts("chat selftest ok");
    co_return 0;
}

/// The self-test with a deadline, so that a bug shows as a failure, not a hang.
corio::Task<int> selftest_with_deadline() {
    std::expected<int, corio::time::Elapsed> rc = co_await corio::time::timeout(20s, selftest());
    if (!rc) {
        std::puts("error: the chat self-test timed out");
        co_return 1;
    }
    co_return *rc;
}

}  // namespace

int main(int argc, char** argv) {
    std::string_view mode = argc > 1 ? argv[1] : "";
    if (argc == 2 && mode == "--selftest") return corio::run(selftest_with_deadline());
    unsigned long port = 0;
    if (argc == 3 && mode == "--port") {
        const char* end = argv[2] + std::strlen(argv[2]);
        auto [ptr, ec] = std::from_chars(argv[2], end, port);
        if (ec != std::errc() || ptr != end || port > 65535) argc = 0;
    }
    if (argc != 1 && !(argc == 3 && mode == "--port")) {
        std::fprintf(stderr, "usage: %s [--port P] | --selftest\n", argv[0]);
        return 2;
    }
    return corio::run(serve(static_cast<std::uint16_t>(port)));
}
