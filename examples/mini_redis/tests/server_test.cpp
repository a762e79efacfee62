// In-process tests of the server (server.hpp) and the client library
// (client.hpp): each starts the server on an ephemeral loopback port inside
// the test, on a current_thread and on a multi_thread runtime, and talks to
// it with mini_redis::Client and with raw RESP bytes. Every test is bounded
// by time::timeout.
#include "server.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <corio/cancel.hpp>
#include <corio/net.hpp>
#include <corio/runtime.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "client.hpp"
#include "connection.hpp"
#include "server_harness.hpp"
#include "support/co_assert.hpp"

namespace mini_redis {
namespace {

using namespace std::chrono_literals;
using corio::net::SocketAddr;
using corio::net::TcpStream;

using test::Body;
using test::command;
using test::Flavor;
using test::Raw;
using test::with_server;

class Server : public ::testing::TestWithParam<Flavor> {
protected:
    void run_test(Body body, ServerOptions options = {}) { test::run_bounded(GetParam(), body, std::move(options)); }
};

const std::string ping = command({"PING"});
const std::string subscribe_flood = command({"SUBSCRIBE", "flood"});

Frame confirmation(const char* kind, const char* channel, int n) {
    return Frame::array({Frame::bulk(kind), Frame::bulk(channel), Frame::integer_of(n)});
}

/// Reads one reply per expected frame and compares them in order.
corio::Task<void> expect_replies(Raw& raw, std::vector<Frame> expected) {
    for (const Frame& want : expected) {
        Frame got = co_await raw.reply();
        EXPECT_EQ(got, want) << "got " << got.to_debug_string() << ", want " << want.to_debug_string();
    }
}

// ---- The client library -------------------------------------------------------

corio::Task<void> client_basics(SocketAddr addr) {
    Result<Client> client = co_await Client::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    Result<std::string> pong = co_await client->ping();
    EXPECT_EQ(pong.value_or("?"), "PONG");
    Result<std::string> echoed = co_await client->ping(std::string("hello"));
    EXPECT_EQ(echoed.value_or("?"), "hello");
    Result<std::optional<std::string>> missing = co_await client->get("k");
    CO_ASSERT_TRUE(missing.has_value());
    EXPECT_EQ(*missing, std::nullopt);
    Result<void> set = co_await client->set("k", "v");
    EXPECT_TRUE(set.has_value());
    Result<std::optional<std::string>> value = co_await client->get("k");
    CO_ASSERT_TRUE(value.has_value());
    EXPECT_EQ(*value, "v");
    std::vector<std::string> keys{"k", "nope"};
    Result<std::int64_t> deleted = co_await client->del(keys);
    EXPECT_EQ(deleted.value_or(-1), 1);
    std::vector<std::string> incr_text{"INCR", "text"};
    co_await client->set("text", "abc");
    Result<Frame> error = co_await client->command(incr_text);
    CO_ASSERT_TRUE(error.has_value());
    EXPECT_EQ(*error, Frame::error("ERR value is not an integer or out of range"));
}

TEST_P(Server, TheClientPingsSetsGetsAndDeletes) { run_test(client_basics); }

corio::Task<void> client_expiry(SocketAddr addr) {
    Result<Client> client = co_await Client::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    co_await client->set("short", "v", 30ms);
    Result<std::optional<std::string>> before = co_await client->get("short");
    EXPECT_EQ(before.value_or(std::nullopt), "v");
    // Bounded wait: the key must be gone well within a second.
    for (int i = 0; i < 100; ++i) {
        co_await corio::time::sleep(10ms);
        Result<std::optional<std::string>> now = co_await client->get("short");
        CO_ASSERT_TRUE(now.has_value());
        if (!now->has_value()) co_return;
    }
    ADD_FAILURE() << "the key did not expire";
}

TEST_P(Server, AKeySetWithAnExpiryDisappearsAfterIt) { run_test(client_expiry); }

corio::Task<void> ttl_semantics(SocketAddr addr) {
    std::optional<Raw> raw = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(raw.has_value());
    std::string script = command({"TTL", "none"}) + command({"SET", "plain", "v"}) + command({"TTL", "plain"}) +
                         command({"SET", "ex", "v", "EX", "100"}) + command({"TTL", "ex"}) +
                         command({"EXPIRE", "plain", "50"}) + command({"TTL", "plain"}) +
                         command({"EXPIRE", "none", "5"}) + command({"EXPIRE", "plain", "-1"}) +
                         command({"EXISTS", "plain", "ex", "ex", "none"});
    co_await raw->send(script);
    std::vector<Frame> expected{Frame::integer_of(-2), Frame::simple("OK"),    Frame::integer_of(-1),
                                Frame::simple("OK"),   Frame::integer_of(100), Frame::integer_of(1),
                                Frame::integer_of(50), Frame::integer_of(0),   Frame::integer_of(1),
                                Frame::integer_of(2)};
    for (const Frame& want : expected) {
        Frame got = co_await raw->reply();
        EXPECT_EQ(got, want) << got.to_debug_string();
    }
}

TEST_P(Server, TtlAndExpireFollowRedis) { run_test(ttl_semantics); }

corio::Task<void> set_options(SocketAddr addr) {
    std::optional<Raw> raw = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(raw.has_value());
    std::string script =
        command({"SET", "k", "1", "XX"}) + command({"SET", "k", "1", "NX"}) + command({"SET", "k", "2", "NX"}) +
        command({"SET", "k", "3", "XX", "PX", "100000"}) + command({"GET", "k"}) +
        command({"SET", "k", "v", "EX", "0"}) + command({"SET", "k", "v", "EX", "x"}) +
        command({"SET", "k", "v", "NX", "XX"}) + command({"SET", "k", "v", "EX"}) + command({"INCR", "k"}) +
        command({"SET", "big", "9223372036854775807"}) + command({"INCR", "big"}) + command({"INCR", "fresh"});
    co_await raw->send(script);
    std::vector<Frame> expected{Frame::null_bulk(),
                                Frame::simple("OK"),
                                Frame::null_bulk(),
                                Frame::simple("OK"),
                                Frame::bulk("3"),
                                Frame::error("ERR invalid expire time in 'set' command"),
                                Frame::error("ERR value is not an integer or out of range"),
                                Frame::error("ERR syntax error"),
                                Frame::error("ERR syntax error"),
                                Frame::integer_of(4),
                                Frame::simple("OK"),
                                Frame::error("ERR increment or decrement would overflow"),
                                Frame::integer_of(1)};
    for (const Frame& want : expected) {
        Frame got = co_await raw->reply();
        EXPECT_EQ(got, want) << got.to_debug_string();
    }
}

TEST_P(Server, SetOptionsAndIncrErrorsFollowRedis) { run_test(set_options); }

// ---- Errors that leave the connection usable -----------------------------------

corio::Task<void> wrong_arity(SocketAddr addr) {
    std::optional<Raw> raw = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(raw.has_value());
    std::string requests = command({"GET"}) + command({"get", "a", "b"}) + command({"PING"});
    co_await raw->send(requests);
    EXPECT_EQ(co_await raw->reply(), Frame::error("ERR wrong number of arguments for 'get' command"));
    EXPECT_EQ(co_await raw->reply(), Frame::error("ERR wrong number of arguments for 'get' command"));
    EXPECT_EQ(co_await raw->reply(), Frame::simple("PONG"));
}

TEST_P(Server, AWrongNumberOfArgumentsIsAnErrorAndTheConnectionStaysUsable) { run_test(wrong_arity); }

corio::Task<void> unknown_command(SocketAddr addr) {
    std::optional<Raw> raw = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(raw.has_value());
    std::string requests = command({"FLY", "to", "moon"}) + command({"PING", "still here"});
    co_await raw->send(requests);
    EXPECT_EQ(co_await raw->reply(), Frame::error("ERR unknown command 'FLY', with args beginning with: 'to' 'moon' "));
    EXPECT_EQ(co_await raw->reply(), Frame::bulk("still here"));
}

TEST_P(Server, AnUnknownCommandIsAnErrorAndTheConnectionStaysUsable) { run_test(unknown_command); }

// ---- Pipelining and inline commands --------------------------------------------

corio::Task<void> pipelining(SocketAddr addr) {
    std::optional<Raw> raw = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(raw.has_value());
    constexpr int kCount = 200;
    std::string batch;
    for (int i = 0; i < kCount; ++i) {
        batch += command({"SET", "key" + std::to_string(i), std::to_string(i)});
        batch += command({"INCR", "key" + std::to_string(i)});
        batch += "PING\r\n";  // inline, as redis-benchmark's PING_INLINE
    }
    co_await raw->send(batch);  // all in one write
    for (int i = 0; i < kCount; ++i) {
        EXPECT_EQ(co_await raw->reply(), Frame::simple("OK"));
        EXPECT_EQ(co_await raw->reply(), Frame::integer_of(i + 1));
        EXPECT_EQ(co_await raw->reply(), Frame::simple("PONG"));
    }
}

TEST_P(Server, PipelinedCommandsAreAllAnsweredInOrder) { run_test(pipelining); }

corio::Task<void> inline_commands(SocketAddr addr) {
    std::optional<Raw> raw = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(raw.has_value());
    co_await raw->send("SET greeting \"hello world\"\r\n\r\nGET greeting\nECHO x\r\n");
    EXPECT_EQ(co_await raw->reply(), Frame::simple("OK"));
    EXPECT_EQ(co_await raw->reply(), Frame::bulk("hello world"));
    EXPECT_EQ(co_await raw->reply(), Frame::bulk("x"));
}

TEST_P(Server, InlineCommandsAreUnderstood) { run_test(inline_commands); }

corio::Task<void> tool_commands(SocketAddr addr) {
    std::optional<Raw> raw = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(raw.has_value());
    std::string requests = command({"CONFIG", "GET", "save"}) + command({"CONFIG", "GET", "appendonly"}) +
                           command({"SELECT", "0"}) + command({"SELECT", "1"}) + command({"CLIENT", "SETNAME", "me"}) +
                           command({"CLIENT", "GETNAME"}) + command({"COMMAND", "DOCS"}) + command({"QUIT"});
    co_await raw->send(requests);
    std::vector<Frame> expected{Frame::array({Frame::bulk("save"), Frame::bulk("")}),
                                Frame::array({Frame::bulk("appendonly"), Frame::bulk("no")}),
                                Frame::simple("OK"),
                                Frame::error("ERR DB index is out of range"),
                                Frame::simple("OK"),
                                Frame::bulk("me"),
                                Frame::array({}),
                                Frame::simple("OK")};
    co_await expect_replies(*raw, expected);
    EXPECT_TRUE(co_await raw->closed_by_server()) << "QUIT closes the connection";
}

TEST_P(Server, TheCommandsRedisToolsSendOnConnectAreAnswered) { run_test(tool_commands); }

// ---- Pub/sub ---------------------------------------------------------------------

corio::Task<void> pubsub(SocketAddr addr) {
    std::vector<Subscriber> subscribers;
    for (int i = 0; i < 3; ++i) {
        Result<Client> client = co_await Client::connect(addr);
        CO_ASSERT_TRUE(client.has_value());
        std::vector<std::string> channels{"news", "sport"};
        Result<Subscriber> sub = co_await std::move(*client).subscribe(channels);
        CO_ASSERT_TRUE(sub.has_value());
        EXPECT_EQ(sub->subscribed_channels(), channels);
        subscribers.push_back(std::move(*sub));
    }
    Result<Client> publisher = co_await Client::connect(addr);
    CO_ASSERT_TRUE(publisher.has_value());
    Result<std::int64_t> reached = co_await publisher->publish("news", "extra");
    EXPECT_EQ(reached.value_or(-1), 3);
    reached = co_await publisher->publish("sport", "goal");
    EXPECT_EQ(reached.value_or(-1), 3);
    // One queue per subscriber: messages keep their publish order across
    // channels too, as in Redis.
    for (Subscriber& sub : subscribers) {
        Result<std::optional<Message>> first = co_await sub.next_message();
        CO_ASSERT_TRUE(first.has_value() && first->has_value());
        Result<std::optional<Message>> second = co_await sub.next_message();
        CO_ASSERT_TRUE(second.has_value() && second->has_value());
        std::vector<Message> got{**first, **second};
        EXPECT_EQ(got[0], (Message{"news", "extra"}));
        EXPECT_EQ(got[1], (Message{"sport", "goal"}));
    }
    std::vector<std::string> news{"news"};
    Result<void> left = co_await subscribers[0].unsubscribe(news);
    EXPECT_TRUE(left.has_value());
    EXPECT_EQ(subscribers[0].subscribed_channels(), std::vector<std::string>{"sport"});
    reached = co_await publisher->publish("news", "again");
    EXPECT_EQ(reached.value_or(-1), 2);
    left = co_await subscribers[1].unsubscribe();
    EXPECT_TRUE(left.has_value());
    EXPECT_TRUE(subscribers[1].subscribed_channels().empty());
    reached = co_await publisher->publish("sport", "again");
    EXPECT_EQ(reached.value_or(-1), 2);
}

TEST_P(Server, AMessageReachesEverySubscriberOfItsChannel) { run_test(pubsub); }

corio::Task<void> subscribe_mode(SocketAddr addr) {
    std::optional<Raw> raw = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(raw.has_value());
    std::string requests = command({"SUBSCRIBE", "a", "b"}) + command({"GET", "k"}) + command({"PING"}) +
                           command({"UNSUBSCRIBE"}) + command({"UNSUBSCRIBE"}) + command({"GET", "k"});
    co_await raw->send(requests);
    std::vector<Frame> expected{
        confirmation("subscribe", "a", 1),
        confirmation("subscribe", "b", 2),
        Frame::error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
                     "are allowed in this context"),
        Frame::array({Frame::bulk("pong"), Frame::bulk("")}),
        confirmation("unsubscribe", "a", 1),
        confirmation("unsubscribe", "b", 0),
        Frame::array({Frame::bulk("unsubscribe"), Frame::null_bulk(), Frame::integer_of(0)}),
        Frame::null_bulk(),  // out of subscribe mode, GET works again
    };
    co_await expect_replies(*raw, expected);
}

TEST_P(Server, SubscribeModeAllowsOnlySubscriptionCommandsAndPing) { run_test(subscribe_mode); }

corio::Task<void> stalled_subscriber(SocketAddr addr) {
    // A subscriber that never reads, with a small receive buffer.
    std::optional<Raw> idle = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(idle.has_value());
    int small = 4096;
    ::setsockopt(idle->connection().stream().native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    co_await idle->send(subscribe_flood);
    Frame confirmed = confirmation("subscribe", "flood", 1);
    EXPECT_EQ(co_await idle->reply(), confirmed);

    Result<Client> publisher = co_await Client::connect(addr);
    CO_ASSERT_TRUE(publisher.has_value());
    const std::string big(64 * 1024, 'x');
    // Every PUBLISH is answered at once however far behind the subscriber
    // is; once what waits for it passes its hard output limit (1 MiB here)
    // it is cut off and disconnected (PUBLISH reaches nobody).
    for (int i = 0; i < 2000; ++i) {
        auto publish = publisher->publish("flood", big);
        auto reached = co_await corio::time::timeout(2s, std::move(publish));
        CO_ASSERT_TRUE(reached.has_value());  // the publisher was never blocked
        CO_ASSERT_TRUE(reached->has_value());
        if (**reached == 0) co_return;
        co_await corio::time::sleep(1ms);
    }
    ADD_FAILURE() << "the stalled subscriber was never disconnected";
}

corio::Task<void> late_reader(SocketAddr addr) {
    Result<Client> client = co_await Client::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    std::vector<std::string> channels{"a", "b"};
    Result<Subscriber> sub = co_await std::move(*client).subscribe(channels);
    CO_ASSERT_TRUE(sub.has_value());
    Result<Client> publisher = co_await Client::connect(addr);
    CO_ASSERT_TRUE(publisher.has_value());
    // 20,000 messages (about 1.3 MB) published while the subscriber reads
    // nothing: far more than its socket buffers hold, far under its limits.
    constexpr int kMessages = 20'000;
    for (int i = 0; i < kMessages; ++i) {
        std::string channel = i % 2 == 0 ? "a" : "b";
        Result<std::int64_t> reached = co_await publisher->publish(channel, std::to_string(i));
        EXPECT_EQ(reached.value_or(-1), 1) << "PUBLISH " << i;
        CO_ASSERT_TRUE((reached.value_or(-1)) == (1));
    }
    for (int i = 0; i < kMessages; ++i) {
        Result<std::optional<Message>> got = co_await sub->next_message();
        CO_ASSERT_TRUE(got.has_value() && got->has_value());
        EXPECT_EQ(**got, (Message{i % 2 == 0 ? "a" : "b", std::to_string(i)})) << "in publish order, none lost";
        CO_ASSERT_TRUE((**got) == ((Message{i % 2 == 0 ? "a" : "b", std::to_string(i)})));
    }
}

TEST_P(Server, ASubscriberThatReadsLateGetsEveryMessageInPublishOrder) { run_test(late_reader); }

TEST_P(Server, ASubscriberThatReadsNothingNeverBlocksPublishersAndIsDisconnected) {
    ServerOptions options;
    options.pubsub_limits.hard_bytes = 1024 * 1024;
    run_test(stalled_subscriber, options);
}

// ---- Limits and protocol errors --------------------------------------------------

corio::Task<void> connection_limit(SocketAddr addr) {
    std::optional<Raw> first = co_await Raw::connect(addr);
    std::optional<Raw> second = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(first.has_value() && second.has_value());
    co_await first->send(ping);
    co_await second->send(ping);
    EXPECT_EQ(co_await first->reply(), Frame::simple("PONG"));
    EXPECT_EQ(co_await second->reply(), Frame::simple("PONG"));

    std::optional<Raw> third = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(third.has_value());
    co_await third->send(ping);
    EXPECT_EQ(co_await third->reply(), Frame::error("ERR max number of clients reached"));
    EXPECT_TRUE(co_await third->closed_by_server());

    // A place frees up when a client leaves.
    first.reset();
    for (int attempt = 0; attempt < 200; ++attempt) {
        std::optional<Raw> again = co_await Raw::connect(addr);
        CO_ASSERT_TRUE(again.has_value());
        co_await again->send(ping);
        Frame reply = co_await again->reply();
        if (reply == Frame::simple("PONG")) co_return;
        co_await corio::time::sleep(10ms);
    }
    ADD_FAILURE() << "the freed place was never given to a new client";
}

TEST_P(Server, ClientsOverTheConnectionLimitAreRefusedWithAnError) {
    ServerOptions options;
    options.max_connections = 2;
    run_test(connection_limit, options);
}

corio::Task<void> expect_protocol_error(SocketAddr addr, std::string bytes, std::string error) {
    std::optional<Raw> raw = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(raw.has_value());
    co_await raw->send(ping + bytes);
    EXPECT_EQ(co_await raw->reply(), Frame::simple("PONG"));
    EXPECT_EQ(co_await raw->reply(), Frame::error(error));
    EXPECT_TRUE(co_await raw->closed_by_server());
}

corio::Task<void> oversized_frames(SocketAddr addr) {
    co_await expect_protocol_error(addr, "*1\r\n$536870913\r\n", "ERR Protocol error: invalid bulk length");
    co_await expect_protocol_error(addr, "*1048577\r\n", "ERR Protocol error: invalid multibulk length");
    co_await expect_protocol_error(addr, "*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length");
    co_await expect_protocol_error(addr, "*x\r\n", "ERR Protocol error: invalid multibulk length");
    co_await expect_protocol_error(addr, std::string(70 * 1024, 'a'), "ERR Protocol error: too big inline request");
    // The server still serves others.
    Result<Client> client = co_await Client::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    Result<std::string> pong = co_await client->ping();
    EXPECT_EQ(pong.value_or("?"), "PONG");
}

TEST_P(Server, OversizedOrMalformedFramesGetAProtocolErrorAndAClose) { run_test(oversized_frames); }

corio::Task<void> large_values(SocketAddr addr) {
    Result<Client> client = co_await Client::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    std::string value(3 * 1024 * 1024 + 17, 'v');  // spans many reads and writes
    Result<void> set = co_await client->set("large", value);
    CO_ASSERT_TRUE(set.has_value());
    Result<std::optional<std::string>> got = co_await client->get("large");
    CO_ASSERT_TRUE(got.has_value() && got->has_value());
    EXPECT_TRUE(**got == value);
}

TEST_P(Server, ValuesOfSeveralMegabytesRoundTrip) { run_test(large_values); }

corio::Task<void> shared_large_values(SocketAddr addr) {
    std::optional<Raw> raw = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(raw.has_value());
    std::string first(3 << 20, 'a');
    std::string second(1 << 20, 'b');
    std::string set_first = command({"SET", "big", first});
    co_await raw->send(set_first);
    std::vector<Frame> stored{Frame::simple("OK")};
    co_await expect_replies(*raw, stored);
    // A GET of a large value is written from the stored value, after the
    // replies before it and before those after it, and replacing the value
    // meanwhile does not touch what is being sent.
    std::string pipeline = command({"SET", "small", "1"}) + command({"GET", "big"}) + command({"SET", "big", second}) +
                           command({"GET", "small"}) + command({"GET", "big"});
    co_await raw->send(pipeline);
    std::vector<Frame> expected{Frame::simple("OK"), Frame::bulk(first), Frame::simple("OK"), Frame::bulk("1"),
                                Frame::bulk(second)};
    co_await expect_replies(*raw, expected);
}

TEST_P(Server, LargeValuesAreSentInOrderFromTheStoredValueEvenWhenReplaced) { run_test(shared_large_values); }

/// The value of `field` in an INFO or CLIENT LIST text ("field:value" or
/// "field=value"), or "" when absent.
std::string field_of(const std::string& text, const std::string& field) {
    for (char separator : std::string_view(":=")) {
        std::string key = field + separator;
        std::size_t at = text.find(key);
        if (at != std::string::npos && (at == 0 || text[at - 1] == '\n' || text[at - 1] == ' ')) {
            std::size_t end = text.find_first_of(" \r\n", at);
            return text.substr(at + key.size(), end - at - key.size());
        }
    }
    return "";
}

corio::Task<void> info_and_client_list(SocketAddr addr) {
    std::optional<Raw> a = co_await Raw::connect(addr);
    std::optional<Raw> b = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(a.has_value() && b.has_value());
    std::string setup =
        command({"CLIENT", "SETNAME", "alpha"}) + command({"SET", "k", "v"}) + command({"SET", "t", "v", "EX", "100"});
    co_await a->send(setup);
    std::vector<Frame> three_oks(3, Frame::simple("OK"));
    co_await expect_replies(*a, three_oks);
    const std::string client_list = command({"CLIENT", "LIST"});
    co_await b->send(client_list);
    Frame list = co_await b->reply();
    EXPECT_EQ(list.type, Frame::Type::Bulk);
    std::string lines = list.text;
    EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 2) << lines;
    // The lines are in id order, and on two workers either connection may
    // have been given the first id: find a's by its name.
    std::size_t named = lines.find(" name=alpha ");
    EXPECT_NE(named, std::string::npos) << lines;
    std::size_t begin = named == std::string::npos ? 0 : lines.rfind('\n', named);
    begin = begin == std::string::npos || named == std::string::npos ? 0 : begin + 1;
    std::string alpha = lines.substr(begin, lines.find('\n', begin) - begin);
    EXPECT_EQ(field_of(alpha, "name"), "alpha") << alpha;
    EXPECT_EQ(field_of(alpha, "cmd"), "set") << alpha;
    EXPECT_EQ(field_of(alpha, "addr").rfind("127.0.0.1:", 0), 0u) << alpha;
    EXPECT_EQ(field_of(alpha, "flags"), "N") << alpha;

    const std::string info_all = command({"INFO"});
    co_await b->send(info_all);
    Frame info = co_await b->reply();
    for (const char* section : {"# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"}) {
        EXPECT_NE(info.text.find(section), std::string::npos) << section << " in " << info.text;
    }
    EXPECT_EQ(field_of(info.text, "connected_clients"), "2") << info.text;
    EXPECT_EQ(field_of(info.text, "db0"), "keys=2,expires=1,avg_ttl=0") << info.text;
    EXPECT_EQ(field_of(info.text, "tcp_port"), std::to_string(addr.port())) << info.text;
    EXPECT_GE(std::stoll("0" + field_of(info.text, "total_commands_processed")), 5);
    EXPECT_GT(std::stoll("0" + field_of(info.text, "used_memory")), 0);
    const std::string info_keyspace = command({"INFO", "keyspace"});
    co_await b->send(info_keyspace);
    Frame keyspace = co_await b->reply();
    EXPECT_EQ(keyspace.text, "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n");
}

TEST_P(Server, InfoHasItsSectionsAndClientListNamesEveryConnection) { run_test(info_and_client_list); }

corio::Task<void> keys_of_many(SocketAddr addr) {
    std::optional<Raw> raw = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(raw.has_value());
    std::string batch;
    for (int i = 0; i < 20'000; ++i) batch += command({"SET", "key:" + std::to_string(i), "v"});
    batch += command({"SET", "other", "v"});
    co_await raw->send(batch);
    for (int i = 0; i <= 20'000; ++i) {
        Frame ok = co_await raw->reply();
        CO_ASSERT_TRUE(ok == Frame::simple("OK"));
    }
    std::string keys_and_size = command({"KEYS", "key:*"}) + command({"DBSIZE"});
    co_await raw->send(keys_and_size);
    Frame keys = co_await raw->reply();
    CO_ASSERT_TRUE(keys.is_array());
    EXPECT_EQ(keys.items.size(), 20'000u);
    std::vector<Frame> size{Frame::integer_of(20'001)};
    co_await expect_replies(*raw, size);
    // SCAN walks them all, a few at a time.
    std::set<std::string> seen;
    std::string cursor = "0";
    do {
        std::string scan = command({"SCAN", cursor, "MATCH", "key:1*", "COUNT", "500"});
        co_await raw->send(scan);
        Frame step = co_await raw->reply();
        CO_ASSERT_TRUE(step.is_array() && step.items.size() == 2);
        cursor = step.items[0].text;
        for (const Frame& key : step.items[1].items) seen.insert(key.text);
    } while (cursor != "0");
    EXPECT_EQ(seen.size(), 11'111u);  // key:1, key:10-19, key:100-199, key:1000-1999, key:10000-19999
}

TEST_P(Server, KeysAndScanReturnEveryMatchingKey) { run_test(keys_of_many); }

corio::Task<void> disconnect_mid_frame(SocketAddr addr) {
    for (int i = 0; i < 3; ++i) {
        std::optional<Raw> raw = co_await Raw::connect(addr);
        CO_ASSERT_TRUE(raw.has_value());
        co_await raw->send("*2\r\n$3\r\nGET\r\n$10\r\nabc");  // then gone
    }
    // With a limit of one connection, a new client is served only once the
    // half-sent ones were dropped (bounded retries).
    for (int attempt = 0; attempt < 200; ++attempt) {
        std::optional<Raw> raw = co_await Raw::connect(addr);
        CO_ASSERT_TRUE(raw.has_value());
        co_await raw->send(ping);
        auto reply = co_await raw->reply();
        if (reply == Frame::simple("PONG")) co_return;
        co_await corio::time::sleep(10ms);
    }
    ADD_FAILURE() << "connections that vanished mid-frame were never dropped";
}

TEST_P(Server, AClientThatDisconnectsMidFrameIsDroppedCleanly) {
    ServerOptions options;
    options.max_connections = 1;
    run_test(disconnect_mid_frame, options);
}

// ---- Shutdown -----------------------------------------------------------------------

corio::Task<void> shutdown_scenario(ServerOptions options) {
    corio::io::Result<corio::net::TcpListener> listener = corio::net::TcpListener::bind("127.0.0.1:0");
    CO_ASSERT_TRUE(listener.has_value());
    SocketAddr addr = *listener->local_addr();
    corio::CancellationToken shutdown;
    corio::JoinHandle<void> server = corio::spawn(run(std::move(*listener), shutdown, options));

    // An idle client, and a busy one whose replies fill its socket because it
    // never reads them.
    std::optional<Raw> idle = co_await Raw::connect(addr);
    std::optional<Raw> busy = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(idle.has_value() && busy.has_value());
    co_await idle->send(ping);
    EXPECT_EQ(co_await idle->reply(), Frame::simple("PONG"));
    std::string set_big = command({"SET", "big", std::string(1024 * 1024, 'b')});
    co_await busy->send(set_big);
    EXPECT_EQ(co_await busy->reply(), Frame::simple("OK"));
    std::string gets;
    for (int i = 0; i < 64; ++i) gets += command({"GET", "big"});
    co_await busy->send(gets);
    co_await corio::time::sleep(50ms);  // let the server start writing 64 MB

    corio::time::Instant start = corio::time::Instant::now();
    shutdown.cancel();
    EXPECT_TRUE(co_await idle->closed_by_server()) << "an idle connection closes at once";
    co_await server;
    auto took = corio::time::Instant::now() - start;
    // A client that does not read its replies holds up nothing: its reply
    // write loses to the shutdown (Redis exits in 0.2 s in this case).
    EXPECT_LT(took, options.shutdown_grace / 2) << "run() waited for a client that does not read";
    EXPECT_TRUE(co_await busy->closed_by_server()) << "the busy connection is closed";
    // The listener is closed.
    corio::io::Result<TcpStream> late = co_await TcpStream::connect(addr);
    EXPECT_FALSE(late.has_value());
}

TEST_P(Server, ShutdownClosesIdleConnectionsAndDoesNotWaitForClientsThatDoNotRead) {
    ServerOptions options;
    options.shutdown_grace = 300ms;
    corio::Runtime rt = GetParam() == Flavor::CurrentThread
                            ? corio::Builder::new_current_thread().build()
                            : corio::Builder::new_multi_thread().worker_threads(2).build();
    auto bounded = corio::time::timeout(30s, shutdown_scenario(options));
    EXPECT_TRUE(rt.block_on(std::move(bounded)).has_value()) << "the test timed out";
}

INSTANTIATE_TEST_SUITE_P(Runtimes, Server, ::testing::Values(Flavor::CurrentThread, Flavor::MultiThread),
                         [](const ::testing::TestParamInfo<Flavor>& info) {
                             return info.param == Flavor::CurrentThread ? "CurrentThread" : "MultiThread";
                         });

}  // namespace
}  // namespace mini_redis
