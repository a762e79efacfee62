// Client and Subscriber (see client.hpp).
#include "client.hpp"

#include <algorithm>
#include <utility>

namespace mini_redis {

namespace {

Error server_error(const Frame& reply) { return Error{Error::Kind::Server, reply.text}; }

Error unexpected_reply(const Frame& reply) {
    return Error{Error::Kind::Reply, "unexpected reply " + reply.to_debug_string()};
}

bool is_bulk(const Frame& f, std::string_view text) { return f.type == Frame::Type::Bulk && f.text == text; }

/// An integer reply as a value, or the error it stands for.
Result<std::int64_t> integer_reply(Result<Frame> reply) {
    if (!reply) return std::unexpected(std::move(reply.error()));
    if (reply->type == Frame::Type::Integer) return reply->integer;
    if (reply->is_error()) return std::unexpected(server_error(*reply));
    return std::unexpected(unexpected_reply(*reply));
}

/// "+OK" as success, or the error it stands for.
Result<void> ok_reply(Result<Frame> reply) {
    if (!reply) return std::unexpected(std::move(reply.error()));
    if (reply->type == Frame::Type::Simple && reply->text == "OK") return {};
    if (reply->is_error()) return std::unexpected(server_error(*reply));
    return std::unexpected(unexpected_reply(*reply));
}

}  // namespace

corio::Task<Result<Client>> Client::connect(std::string addr) {
    corio::io::Result<corio::net::TcpStream> stream = co_await corio::net::connect(addr);
    if (!stream) co_return std::unexpected(Error::from_io(stream.error()));
    (void)stream->set_nodelay(true);
    co_return Client(Connection(std::move(*stream)));
}

corio::Task<Result<Client>> Client::connect(corio::net::SocketAddr addr) {
    corio::io::Result<corio::net::TcpStream> stream = co_await corio::net::TcpStream::connect(addr);
    if (!stream) co_return std::unexpected(Error::from_io(stream.error()));
    (void)stream->set_nodelay(true);
    co_return Client(Connection(std::move(*stream)));
}

corio::Task<Result<Frame>> Client::round_trip(std::vector<std::string> args) {
    Frame request = Frame::command(std::move(args));
    corio::io::Result<void> sent = co_await conn_.write_frame(std::move(request));
    if (!sent) co_return std::unexpected(Error::from_io(sent.error()));
    Result<std::optional<Frame>> reply = co_await conn_.read_frame();
    if (!reply) co_return std::unexpected(std::move(reply.error()));
    if (!*reply) co_return std::unexpected(Error{Error::Kind::Closed, "the server closed the connection"});
    co_return std::move(**reply);
}

corio::Task<Result<Frame>> Client::command(std::vector<std::string> args) {
    co_return co_await round_trip(std::move(args));
}

corio::Task<Result<std::string>> Client::ping(std::optional<std::string> message) {
    std::vector<std::string> args{"PING"};
    if (message) args.push_back(std::move(*message));
    Result<Frame> reply = co_await round_trip(std::move(args));
    if (!reply) co_return std::unexpected(std::move(reply.error()));
    if (reply->type == Frame::Type::Simple || reply->type == Frame::Type::Bulk) co_return std::move(reply->text);
    if (reply->is_error()) co_return std::unexpected(server_error(*reply));
    co_return std::unexpected(unexpected_reply(*reply));
}

corio::Task<Result<std::optional<std::string>>> Client::get(std::string key) {
    std::vector<std::string> args{"GET", std::move(key)};
    Result<Frame> reply = co_await round_trip(std::move(args));
    if (!reply) co_return std::unexpected(std::move(reply.error()));
    if (reply->type == Frame::Type::Bulk) co_return std::optional<std::string>(std::move(reply->text));
    if (reply->type == Frame::Type::NullBulk) co_return std::optional<std::string>();
    if (reply->is_error()) co_return std::unexpected(server_error(*reply));
    co_return std::unexpected(unexpected_reply(*reply));
}

corio::Task<Result<void>> Client::set(std::string key, std::string value) {
    std::vector<std::string> args{"SET", std::move(key), std::move(value)};
    co_return ok_reply(co_await round_trip(std::move(args)));
}

corio::Task<Result<void>> Client::set(std::string key, std::string value, std::chrono::milliseconds expires_in) {
    std::vector<std::string> args{"SET", std::move(key), std::move(value), "PX",
                                  std::to_string(std::max<std::int64_t>(1, expires_in.count()))};
    co_return ok_reply(co_await round_trip(std::move(args)));
}

corio::Task<Result<std::int64_t>> Client::del(std::vector<std::string> keys) {
    keys.insert(keys.begin(), "DEL");
    co_return integer_reply(co_await round_trip(std::move(keys)));
}

corio::Task<Result<std::int64_t>> Client::publish(std::string channel, std::string message) {
    std::vector<std::string> args{"PUBLISH", std::move(channel), std::move(message)};
    co_return integer_reply(co_await round_trip(std::move(args)));
}

corio::Task<Result<Subscriber>> Client::subscribe(std::vector<std::string> channels) && {
    Subscriber subscriber(std::move(*this));
    Result<void> subscribed = co_await subscriber.subscribe(std::move(channels));
    if (!subscribed) co_return std::unexpected(std::move(subscribed.error()));
    co_return std::move(subscriber);
}

corio::Task<Result<std::string>> Subscriber::read_confirmation(std::string_view kind) {
    for (;;) {
        Result<std::optional<Frame>> frame = co_await client_.conn_.read_frame();
        if (!frame) co_return std::unexpected(std::move(frame.error()));
        if (!*frame) co_return std::unexpected(Error{Error::Kind::Closed, "the server closed the connection"});
        Frame& f = **frame;
        if (f.is_error()) co_return std::unexpected(server_error(f));
        bool shaped = f.is_array() && f.items.size() == 3;
        if (shaped && is_bulk(f.items[0], "message") && f.items[1].type == Frame::Type::Bulk &&
            f.items[2].type == Frame::Type::Bulk) {
            early_.push_back(Message{std::move(f.items[1].text), std::move(f.items[2].text)});
            continue;
        }
        if (shaped && is_bulk(f.items[0], kind) && f.items[2].type == Frame::Type::Integer) {
            co_return std::move(f.items[1].text);  // empty for a null channel ("unsubscribe" from nothing)
        }
        co_return std::unexpected(unexpected_reply(f));
    }
}

corio::Task<Result<void>> Subscriber::subscribe(std::vector<std::string> channels) {
    if (channels.empty()) co_return std::unexpected(Error{Error::Kind::Reply, "subscribe needs a channel"});
    std::size_t expected = channels.size();
    channels.insert(channels.begin(), "SUBSCRIBE");
    Frame request = Frame::command(std::move(channels));
    corio::io::Result<void> sent = co_await client_.conn_.write_frame(std::move(request));
    if (!sent) co_return std::unexpected(Error::from_io(sent.error()));
    for (std::size_t i = 0; i < expected; ++i) {
        Result<std::string> channel = co_await read_confirmation("subscribe");
        if (!channel) co_return std::unexpected(std::move(channel.error()));
        if (std::find(channels_.begin(), channels_.end(), *channel) == channels_.end()) {
            channels_.push_back(std::move(*channel));
        }
    }
    co_return Result<void>();
}

corio::Task<Result<void>> Subscriber::unsubscribe(std::vector<std::string> channels) {
    // One confirmation per channel named, or per channel held when none is
    // named (one with a null channel when there is none).
    std::size_t expected = channels.empty() ? std::max<std::size_t>(1, channels_.size()) : channels.size();
    channels.insert(channels.begin(), "UNSUBSCRIBE");
    Frame request = Frame::command(std::move(channels));
    corio::io::Result<void> sent = co_await client_.conn_.write_frame(std::move(request));
    if (!sent) co_return std::unexpected(Error::from_io(sent.error()));
    for (std::size_t i = 0; i < expected; ++i) {
        Result<std::string> channel = co_await read_confirmation("unsubscribe");
        if (!channel) co_return std::unexpected(std::move(channel.error()));
        std::erase(channels_, *channel);
    }
    co_return Result<void>();
}

corio::Task<Result<std::optional<Message>>> Subscriber::next_message() {
    if (!early_.empty()) {
        Message m = std::move(early_.front());
        early_.pop_front();
        co_return std::optional<Message>(std::move(m));
    }
    for (;;) {
        Result<std::optional<Frame>> frame = co_await client_.conn_.read_frame();
        if (!frame) co_return std::unexpected(std::move(frame.error()));
        if (!*frame) co_return std::optional<Message>();
        Frame& f = **frame;
        if (f.is_array() && f.items.size() == 3 && is_bulk(f.items[0], "message") &&
            f.items[1].type == Frame::Type::Bulk && f.items[2].type == Frame::Type::Bulk) {
            co_return std::optional<Message>(Message{std::move(f.items[1].text), std::move(f.items[2].text)});
        }
        // A PING answered in subscribe mode ("pong"): not a message.
        if (f.is_array() && !f.items.empty() && is_bulk(f.items[0], "pong")) continue;
        if (f.is_error()) co_return std::unexpected(server_error(f));
        co_return std::unexpected(unexpected_reply(f));
    }
}

}  // namespace mini_redis
