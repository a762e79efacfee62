// One client connection of the server: reads commands, executes them
// against the Db, writes the replies, and in subscribe mode forwards the
// messages of its channels.
//
// The loop of a connection, over a ServerConnection (a codec::Framed): wait
// for the next request from the stream (or, when subscribed, a message; or
// shutdown) -> execute it and every other complete request already in the
// read buffer (next_buffered()), in order, encoding each reply into the
// write buffer -> flush the write buffer in one write. So a pipelined batch
// costs one read and one write, and shutdown is only noticed between
// batches: a command that started always completes and its reply is sent.
//
// Subscribe mode: the connection has one Outbox, which every channel it
// subscribed to pushes into, in publish order. The loop takes up to
// kFlushAbove bytes of messages at a time, encodes and writes them. A
// subscriber that does not read: its messages wait in the outbox while its
// socket is full; publishers never wait; once the output limits cut it off
// (the outbox frees its queue at once), the connection is closed.
#pragma once

#include <atomic>
#include <chrono>
#include <corio/cancel.hpp>
#include <corio/net.hpp>
#include <corio/sync/semaphore.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "blocking.hpp"
#include "connection.hpp"
#include "db.hpp"
#include "resp_codec.hpp"
#include "server.hpp"

namespace mini_redis {

/// Looks strings up by std::string_view.
struct ChannelHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// What CLIENT LIST and INFO show of one connection. Its session writes it
/// and any session reads it: the atomics freely, `name` under
/// ServerState::clients_mutex.
struct ClientInfo {
    std::int64_t id = 0;
    std::string addr;   // the client's address
    std::string laddr;  // the server's address of the connection
    corio::time::Instant created;
    std::string name;                               // CLIENT SETNAME
    std::atomic<std::int64_t> last_batch_ticks{0};  // when its last batch of commands began
    std::atomic<std::uint64_t> commands{0};         // commands run
    std::atomic<std::int32_t> last_command{-1};     // index in the command table, -1 before the first
    std::atomic<std::uint32_t> channels{0};         // subscriptions
    std::atomic<std::uint32_t> patterns{0};         // pattern subscriptions
};

/// What every connection of one server shares.
struct ServerState {
    /// The state of a server over `db` with `options`, stopped by `shutdown`.
    ServerState(Db db_, const ServerOptions& options_, corio::CancellationToken shutdown_)
        : db(std::move(db_)), options(options_), shutdown(std::move(shutdown_)) {}

    /// The key space and channels.
    Db db;
    /// The server's settings.
    ServerOptions options;
    /// Cancelled when the server shuts down.
    corio::CancellationToken shutdown;
    /// The next connection id (CLIENT ID).
    std::atomic<std::int64_t> next_client_id{1};
    /// The append-only file, when on.
    std::unique_ptr<AppendOnlyFile> aof;
    /// The port it listens on (INFO).
    std::uint16_t port = 0;
    /// When the server started (INFO's uptime).
    corio::time::Instant started = corio::time::Instant::now();
    /// The open connections, by id (CLIENT LIST, INFO).
    mutable std::mutex clients_mutex;
    std::map<std::int64_t, ClientInfo*> clients;
    /// Connections accepted, and the commands of the connections that closed.
    std::atomic<std::uint64_t> total_connections{0};
    std::atomic<std::uint64_t> retired_commands{0};
};

/// The state of one client connection and the commands it can run.
class Session {
public:
    using Args = std::span<const std::string_view>;  // the command's name, then its arguments

    /// A session for the client on `stream`.
    Session(corio::net::TcpStream stream, std::shared_ptr<ServerState> state);
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    /// Leaves every channel (removing those left without subscribers).
    ~Session();

    /// Serves the client until it quits or disconnects, the server shuts
    /// down, or it breaks the protocol. The session must outlive the future.
    corio::Task<void> run();

    /// Runs one request as if the client had sent it, dropping the reply:
    /// how the append-only file is replayed.
    void replay(Args args);

private:
    enum class Batch {
        Done,           ///< every complete command ran
        More,           ///< the replies got large: send them, then go on
        Await,          ///< send the replies so far, run awaiting_, then go on
        Quit,           ///< QUIT: send the replies and close
        ProtocolError,  ///< the error reply is queued: send it and close
        Closed,         ///< the read failed or the client closed mid-request: close
    };
    using Request = ServerConnection::Item;  // the words of a request, or the stream's error

    corio::Task<bool> respond(std::optional<Request> request);
    Batch execute_batch(std::optional<Request> request);
    Batch refuse_request(std::error_code error);
    corio::Task<bool> send_output();
    void deliver(const std::deque<Outgoing>& messages);
    void add_subscription(std::string_view channel);
    bool remove_subscription(std::string_view channel);
    /// Channels or patterns subscribed to, each with its subscription number.
    using Subscriptions = std::unordered_map<std::string, std::uint64_t, ChannelHash, std::equal_to<>>;
    /// What an UNSUBSCRIBE or PUNSUBSCRIBE leaves: the names it gives, or
    /// else every one of `subscribed`, in subscription order.
    static std::vector<std::string> to_leave(Args args, const Subscriptions& subscribed);
    /// The reply to one (un)subscription: `kind`, the channel or pattern
    /// (nil for none), and how many subscriptions are left.
    void confirm(std::string_view kind, std::optional<std::string_view> name);
    bool subscribed() const noexcept { return subscription_count() != 0; }
    /// Channels and patterns: what SUBSCRIBE's and PSUBSCRIBE's replies count.
    std::size_t subscription_count() const noexcept { return channels_.size() + patterns_.size(); }
    void add_pattern(std::string_view pattern);
    bool remove_pattern(std::string_view pattern);

    // commands.cpp
    using Handler = void (Session::*)(Args);
    using AsyncHandler = corio::Task<void> (Session::*)(Args);
    enum CommandFlags : unsigned {
        kWrite = 1,          ///< may change the key space
        kSubscribeMode = 2,  ///< allowed in subscribe mode
    };
    /// How a command is looked up, checked and run.
    struct Command {
        std::string_view name;   // lower case
        int arity;               // Redis's convention: N exactly N words, -N at least N
        unsigned flags;          // CommandFlags
        Handler run;             // one of run and run_async is set
        AsyncHandler run_async;  // a command that waits (BLPOP) or yields (KEYS): see Batch::Await
    };
    /// A command that waits, between execute() and respond() running it.
    /// Its words stay valid meanwhile: nothing is read until it is done.
    struct AwaitedCommand {
        AsyncHandler run;
        Args args;
    };
    static const Command kCommandTable[];
    static const Command* find_command(std::string_view name);
    void execute(Args args);
    void ping(Args args);
    void echo(Args args);
    // commands_string.cpp
    enum class SetIf { Always, Absent, Present };
    /// SET's work: stores `bytes` under `key` if `condition` holds, with the
    /// deadline `deadline_ms` (Unix ms), or keeping the old one (`keep_ttl`)
    /// or none; replies OK / nil, or with the old value (`reply_old`, SET GET).
    void store_string(std::string_view key, std::string_view bytes, std::optional<std::int64_t> deadline_ms,
                      bool keep_ttl, SetIf condition, bool reply_old);
    void get(Args args);
    void set(Args args);
    void setnx(Args args);
    void setex(Args args);  // and PSETEX
    void getdel(Args args);
    void mget(Args args);
    void mset(Args args);  // and MSETNX
    void incr(Args args);  // and INCRBY, DECR, DECRBY
    void append(Args args);
    void strlen(Args args);
    // commands_keys.cpp
    void del(Args args);
    void exists(Args args);
    void expire(Args args);  // and PEXPIRE, EXPIREAT, PEXPIREAT
    void ttl(Args args);     // and PTTL
    void persist(Args args);
    void type(Args args);
    void rename(Args args);  // and RENAMENX
    corio::Task<void> keys(Args args);
    void scan(Args args);
    void dbsize(Args args);
    void flushdb(Args args);
    // commands.cpp
    void publish(Args args);
    void subscribe(Args args);
    void unsubscribe(Args args);
    void config(Args args);
    void command(Args args);
    void client(Args args);
    void info(Args args);
    void bgrewriteaof(Args args);
    /// CLIENT LIST's line for `client` (call with clients_mutex held).
    std::string client_line(const ClientInfo& client) const;
    void select(Args args);
    void quit(Args args);
    // commands_list.cpp
    void lpush(Args args);
    void rpush(Args args);
    void lpop(Args args);
    void rpop(Args args);
    void lrange(Args args);
    void llen(Args args);
    corio::Task<void> blpop(Args args);
    corio::Task<void> brpop(Args args);
    void push(Args args, ListEnd end);
    void pop(Args args, ListEnd end);
    bool pop_first_ready(Db::Access& access, std::span<const std::string> keys, ListEnd end,
                         const std::string*& popped);
    corio::Task<void> blocking_pop(Args args, ListEnd end);
    corio::Task<bool> wait_blocked(PopWaiter& waiter, std::optional<corio::time::Instant> deadline);
    // commands_pattern.cpp
    void psubscribe(Args args);
    void punsubscribe(Args args);
    // commands_hash.cpp
    void hset(Args args);
    void hget(Args args);
    void hdel(Args args);
    void hgetall(Args args);
    void hlen(Args args);
    /// Encodes `r` into the write buffer with the codec (what the Sink's
    /// start_send does; the session bounds the buffer itself, flushing once
    /// it holds kFlushAbove bytes, so it needs no poll_ready). Never fails.
    template <class R>
    void reply(const R& r) {
        (void)conn_.codec().encode(r, conn_.write_buffer());
    }
    /// Replies with a stored string value as a bulk string. One of
    /// kSendDirectlyFrom bytes or more is not copied into the write buffer:
    /// it ends the batch, and send_output() writes it to the socket from the
    /// value itself, after the replies before it.
    void reply_value(const Str& value);

    /// Runs a write command under the append-only file's order and appends
    /// it unless it failed (see aof.hpp).
    void execute_logged(const Command& command, Args args);

    ServerConnection conn_;  // its read buffer holds the bytes the words of the running command point into
    std::shared_ptr<ServerState> state_;
    corio::Cancelled stop_;                   // long-lived: raced against every read
    ClientInfo info_;                         // in state_->clients while the session lives
    std::uint64_t aof_offset_ = 0;            // the append-only file's offset after this session's last write
    bool aof_committed_ = true;               // whether aof_offset_ was committed
    std::optional<AwaitedCommand> awaiting_;  // set by execute() for an async command
    Str direct_reply_;                        // a large value to send after the write buffer (see reply_value)
    std::shared_ptr<Outbox> outbox_;          // made at the first SUBSCRIBE; what its channels push into
    // The channels subscribed to, each with its subscription number (an
    // UNSUBSCRIBE of all answers in subscription order).
    Subscriptions channels_;
    // The patterns subscribed to (PSUBSCRIBE), numbered as channels_.
    Subscriptions patterns_;
    std::uint64_t subscriptions_made_ = 0;
    bool quit_ = false;  // QUIT ran, or a waiting command saw the client leave or the server stop: close
};

/// Serves one client until it quits or disconnects, the server shuts down,
/// or it breaks the protocol (answered "-ERR Protocol error: ..." and
/// closed). Holds `permit` (its place under the connection limit) until it
/// ends.
corio::Task<void> serve_connection(corio::net::TcpStream stream, std::shared_ptr<ServerState> state,
                                   corio::sync::OwnedSemaphorePermit permit);

/// Flushes what is in conn's write buffer, shuts the sending side down and
/// reads (discarding) until the client closes or `limit` has passed, then
/// closes. Reading first keeps the kernel from answering the client's unread
/// bytes with a reset that could destroy the reply before the client reads it.
corio::Task<void> close_with_reply(ServerConnection& conn, std::chrono::milliseconds limit);

}  // namespace mini_redis
