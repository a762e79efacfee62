// A mini-redis client: one connection, one request at a time.
//
//   auto client = co_await mini_redis::Client::connect("127.0.0.1:6379");
//   co_await client->set("hello", "world");
//   auto value = co_await client->get("hello");          // "world"
//
//   auto subscriber = co_await std::move(*client).subscribe(channels);
//   auto message = co_await subscriber->next_message();   // {channel, content}
//
// Every operation returns a Result: the value, or an Error saying whether the
// socket failed, the server answered with an error reply, or it answered
// something unexpected. The futures refer to the client, which must outlive
// them; dropping one midway (a timeout) leaves the connection in an unknown
// state, so drop the client too.
#pragma once

#include <chrono>
#include <corio/net.hpp>
#include <corio/task.hpp>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "connection.hpp"
#include "frame.hpp"

namespace mini_redis {

/// A message received on a subscribed channel.
struct Message {
    /// The channel it was published on.
    std::string channel;
    /// What was published.
    std::string content;
    friend bool operator==(const Message&, const Message&) = default;
};

class Subscriber;

/// A connection to a RESP server (mini-redis or Redis).
class Client {
public:
    /// Connects to "ip:port". Errors: Io (refused, unreachable, unparsable address).
    static corio::Task<Result<Client>> connect(std::string addr);
    /// Connects to `addr`. Errors: Io.
    static corio::Task<Result<Client>> connect(corio::net::SocketAddr addr);

    /// PING: "PONG", or `message` echoed back.
    corio::Task<Result<std::string>> ping(std::optional<std::string> message = std::nullopt);
    /// GET: the value, or std::nullopt when the key does not exist.
    corio::Task<Result<std::optional<std::string>>> get(std::string key);
    /// SET with no expiry.
    corio::Task<Result<void>> set(std::string key, std::string value);
    /// SET ... PX: the key expires after `expires_in` (at least 1 ms).
    corio::Task<Result<void>> set(std::string key, std::string value, std::chrono::milliseconds expires_in);
    /// DEL: how many of the keys existed.
    corio::Task<Result<std::int64_t>> del(std::vector<std::string> keys);
    /// PUBLISH: how many subscriptions received the message.
    corio::Task<Result<std::int64_t>> publish(std::string channel, std::string message);
    /// Any command: the server's reply frame as it is (an error reply is a
    /// Frame of type Error, not an Error).
    corio::Task<Result<Frame>> command(std::vector<std::string> args);

    /// SUBSCRIBE: turns this client into a Subscriber of `channels` (at
    /// least one), once the server confirmed each. Consumes the client.
    corio::Task<Result<Subscriber>> subscribe(std::vector<std::string> channels) &&;

private:
    friend class Subscriber;
    explicit Client(Connection conn) : conn_(std::move(conn)) {}
    /// Sends `args` as a command and reads one reply frame (Closed when the
    /// server closed the connection instead).
    corio::Task<Result<Frame>> round_trip(std::vector<std::string> args);

    Connection conn_;
};

/// A client in subscribe mode: receives the messages of its channels.
class Subscriber {
public:
    /// The next message; std::nullopt once the server closed the connection.
    /// Errors: Io, Protocol, Reply (a frame that is not a message).
    /// Cancellation-safe: a partly received message stays buffered.
    corio::Task<Result<std::optional<Message>>> next_message();

    /// SUBSCRIBE to more channels, once the server confirmed each.
    corio::Task<Result<void>> subscribe(std::vector<std::string> channels);

    /// UNSUBSCRIBE from `channels` (from all when empty), once the server
    /// confirmed each. Messages that arrive meanwhile are kept for next_message().
    corio::Task<Result<void>> unsubscribe(std::vector<std::string> channels = {});

    /// The channels subscribed to, in the order they were confirmed.
    const std::vector<std::string>& subscribed_channels() const noexcept { return channels_; }

private:
    friend class Client;
    explicit Subscriber(Client client) : client_(std::move(client)) {}
    /// Reads frames until the confirmation of `kind` for one channel,
    /// keeping messages that come first.
    corio::Task<Result<std::string>> read_confirmation(std::string_view kind);

    Client client_;
    std::vector<std::string> channels_;
    std::deque<Message> early_;  // messages read while waiting for a confirmation
};

}  // namespace mini_redis
