// In-process tests of the list and hash commands that one-shot redis-cli
// cases (tests/compat/*.txt) cannot show: blocked BLPOP / BRPOP clients
// (arrival order, several keys, timeouts, disconnects, shutdown, requests
// pipelined behind them, many clients on several threads), the hand-back of
// an element whose waiter is gone (blocking.hpp, on the Db itself), and
// pattern subscriptions. Each server test runs on a current_thread and on a
// multi_thread runtime, bounded by time::timeout; a test that needs a client
// to be blocked first waits for INFO's blocked_clients to say so.
#include <gtest/gtest.h>

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

#include "blocking.hpp"
#include "connection.hpp"
#include "db.hpp"
#include "server.hpp"
#include "server_harness.hpp"
#include "support/co_assert.hpp"

namespace mini_redis {
namespace {

using namespace std::chrono_literals;
using corio::net::SocketAddr;
using corio::net::TcpStream;

using test::Body;
using test::Flavor;
using test::make_runtime;
using test::Raw;

class ListsAndHashes : public ::testing::TestWithParam<Flavor> {
protected:
    void run_test(Body body) { test::run_bounded(GetParam(), body); }
};

/// The request for `line`'s words (separated by single spaces).
std::string command(std::string_view line) { return test::command_line(line); }

Frame popped(const char* key, const char* value) { return Frame::array({Frame::bulk(key), Frame::bulk(value)}); }

/// INFO's blocked_clients.
std::int64_t blocked_clients(const Frame& info) {
    constexpr std::string_view kField = "blocked_clients:";
    std::size_t at = info.text.find(kField);
    if (at == std::string::npos) return -1;
    return std::stoll(info.text.substr(at + kField.size()));
}

/// Waits until the server counts `n` blocked clients (bounded by the test's
/// timeout): a client's BLPOP is only queued once the server has read it.
corio::Task<void> wait_for_blocked(SocketAddr addr, std::int64_t n) {
    std::optional<Raw> observer = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(observer.has_value());
    for (;;) {
        Frame info = co_await observer->call("INFO");
        if (blocked_clients(info) == n) co_return;
        co_await corio::time::sleep(1ms);
    }
}

// ---- BLPOP / BRPOP ------------------------------------------------------------------

corio::Task<void> arrival_order(SocketAddr addr) {
    std::optional<Raw> first = co_await Raw::connect(addr);
    std::optional<Raw> second = co_await Raw::connect(addr);
    std::optional<Raw> third = co_await Raw::connect(addr);
    std::optional<Raw> pusher = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(first && second && third && pusher);
    co_await first->send(command("BLPOP q 0"));
    co_await wait_for_blocked(addr, 1);
    co_await second->send(command("BRPOP q 0"));
    co_await wait_for_blocked(addr, 2);
    co_await third->send(command("BLPOP q 0"));
    co_await wait_for_blocked(addr, 3);
    // Redis answers the length before the blocked clients take their share.
    EXPECT_EQ(co_await pusher->call("RPUSH q a b c d"), Frame::integer_of(4));
    EXPECT_EQ(co_await first->reply(), popped("q", "a"));
    EXPECT_EQ(co_await second->reply(), popped("q", "d")) << "BRPOP takes the tail";
    EXPECT_EQ(co_await third->reply(), popped("q", "b"));
    Frame only_c = Frame::array({Frame::bulk("c")});
    EXPECT_EQ(co_await pusher->call("LRANGE q 0 -1"), only_c);
    // A push that a blocked client takes whole leaves no key behind.
    co_await first->send(command("BLPOP q2 0"));
    co_await wait_for_blocked(addr, 1);
    EXPECT_EQ(co_await pusher->call("LPUSH q2 x"), Frame::integer_of(1));
    EXPECT_EQ(co_await first->reply(), popped("q2", "x"));
    EXPECT_EQ(co_await pusher->call("EXISTS q2"), Frame::integer_of(0));
}

TEST_P(ListsAndHashes, BlockedClientsAreServedInTheOrderTheyBlocked) { run_test(arrival_order); }

corio::Task<void> several_keys(SocketAddr addr) {
    std::optional<Raw> blocked = co_await Raw::connect(addr);
    std::optional<Raw> pusher = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(blocked && pusher);
    // Served at once from the first key, in order, that holds elements.
    co_await pusher->call("RPUSH k2 v2");
    co_await pusher->call("RPUSH k3 v3");
    EXPECT_EQ(co_await blocked->call("BLPOP k1 k3 k2 0"), popped("k3", "v3"));
    EXPECT_EQ(co_await blocked->call("BLPOP k1 k2 k4 0"), popped("k2", "v2"));
    // Blocked on several keys: the first push to any of them serves it, once.
    co_await blocked->send(command("BLPOP k1 k2 k4 0"));
    co_await wait_for_blocked(addr, 1);
    EXPECT_EQ(co_await pusher->call("RPUSH k4 x"), Frame::integer_of(1));
    EXPECT_EQ(co_await blocked->reply(), popped("k4", "x"));
    EXPECT_EQ(co_await pusher->call("RPUSH k1 y"), Frame::integer_of(1));
    EXPECT_EQ(co_await pusher->call("LLEN k1"), Frame::integer_of(1)) << "nobody waits for k1 now";
}

TEST_P(ListsAndHashes, ABlpopOnSeveralKeysIsServedOnceByTheFirstKeyWithAnElement) { run_test(several_keys); }

corio::Task<void> timeout_then_usable(SocketAddr addr) {
    std::optional<Raw> client = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    corio::time::Instant start = corio::time::Instant::now();
    EXPECT_EQ(co_await client->call("BLPOP none other 0.1"), Frame::null_array());
    EXPECT_GE(corio::time::Instant::now() - start, 100ms);
    EXPECT_EQ(co_await client->call("PING"), Frame::simple("PONG"));
    // Nothing stays queued for a client that timed out.
    std::optional<Raw> pusher = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(pusher.has_value());
    EXPECT_EQ(co_await pusher->call("RPUSH none a"), Frame::integer_of(1));
    EXPECT_EQ(co_await pusher->call("LLEN none"), Frame::integer_of(1));
}

TEST_P(ListsAndHashes, ABlpopTimesOutWithANullArrayAndTheClientStaysUsable) { run_test(timeout_then_usable); }

corio::Task<void> disconnect_while_blocked(SocketAddr addr) {
    std::optional<Raw> leaver = co_await Raw::connect(addr);
    std::optional<Raw> stayer = co_await Raw::connect(addr);
    std::optional<Raw> pusher = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(leaver && stayer && pusher);
    co_await leaver->send(command("BLPOP q 0"));
    co_await wait_for_blocked(addr, 1);
    co_await stayer->send(command("BLPOP q 0"));
    co_await wait_for_blocked(addr, 2);
    leaver.reset();
    co_await wait_for_blocked(addr, 1);  // the server saw it leave while blocked
    EXPECT_EQ(co_await pusher->call("RPUSH q x"), Frame::integer_of(1));
    EXPECT_EQ(co_await stayer->reply(), popped("q", "x"));
    EXPECT_EQ(co_await pusher->call("EXISTS q"), Frame::integer_of(0));
}

TEST_P(ListsAndHashes, AClientThatLeavesWhileBlockedTakesNothingFromTheNext) { run_test(disconnect_while_blocked); }

corio::Task<void> pipelined_behind_blpop(SocketAddr addr) {
    std::optional<Raw> client = co_await Raw::connect(addr);
    std::optional<Raw> pusher = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(client && pusher);
    // Sent together with the BLPOP, and sent while it is blocked: both run
    // after it is served, in order, as Redis queues them.
    co_await client->send(command("BLPOP q 0") + command("LLEN q"));
    co_await wait_for_blocked(addr, 1);
    co_await client->send(command("ECHO after") + command("LPOP q"));
    EXPECT_EQ(co_await pusher->call("RPUSH q a b"), Frame::integer_of(2));
    EXPECT_EQ(co_await client->reply(), popped("q", "a"));
    EXPECT_EQ(co_await client->reply(), Frame::integer_of(1));
    EXPECT_EQ(co_await client->reply(), Frame::bulk("after"));
    EXPECT_EQ(co_await client->reply(), Frame::bulk("b"));
}

TEST_P(ListsAndHashes, RequestsPipelinedBehindABlpopRunAfterItIsServed) { run_test(pipelined_behind_blpop); }

/// One client: `rounds` BLPOPs of "work"; the values it got.
corio::Task<std::vector<std::string>> consume(SocketAddr addr, int rounds) {
    std::vector<std::string> got;
    std::optional<Raw> client = co_await Raw::connect(addr);
    if (!client) co_return got;
    for (int i = 0; i < rounds; ++i) {
        Frame reply = co_await client->call("BLPOP work 0");
        if (reply.items.size() != 2) {
            ADD_FAILURE() << "BLPOP: " << reply.to_debug_string();
            co_return got;
        }
        got.push_back(reply.items[1].text);
    }
    co_return got;
}

corio::Task<void> produce(SocketAddr addr, int first, int count) {
    std::optional<Raw> client = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    for (int i = first; i < first + count; ++i) {
        Frame reply = co_await client->call("RPUSH work " + std::to_string(i));
        EXPECT_EQ(reply.type, Frame::Type::Integer);
    }
}

corio::Task<void> many_clients(SocketAddr addr) {
    constexpr int kConsumers = 6;
    constexpr int kRounds = 50;
    constexpr int kProducers = 3;
    constexpr int kPerProducer = kConsumers * kRounds / kProducers;
    std::vector<corio::JoinHandle<std::vector<std::string>>> consumers;
    for (int i = 0; i < kConsumers; ++i) consumers.push_back(corio::spawn(consume(addr, kRounds)));
    std::vector<corio::JoinHandle<void>> producers;
    for (int i = 0; i < kProducers; ++i)
        producers.push_back(corio::spawn(produce(addr, i * kPerProducer, kPerProducer)));
    for (auto& producer : producers) co_await producer;
    std::multiset<std::string> got;
    for (auto& consumer : consumers) {
        std::vector<std::string> values = co_await consumer;
        got.insert(values.begin(), values.end());
    }
    std::multiset<std::string> pushed;
    for (int i = 0; i < kConsumers * kRounds; ++i) pushed.insert(std::to_string(i));
    EXPECT_EQ(got, pushed) << "every element reached exactly one client";
    std::optional<Raw> check = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(check.has_value());
    EXPECT_EQ(co_await check->call("EXISTS work"), Frame::integer_of(0));
}

TEST_P(ListsAndHashes, ManyBlockedClientsAndPushersLoseAndDuplicateNothing) { run_test(many_clients); }

// ---- Pattern subscriptions ------------------------------------------------------------

Frame confirmation(const char* kind, const char* name, int count) {
    return Frame::array({Frame::bulk(kind), Frame::bulk(name), Frame::integer_of(count)});
}

Frame message(const char* channel, const char* body) {
    return Frame::array({Frame::bulk("message"), Frame::bulk(channel), Frame::bulk(body)});
}

Frame pmessage(const char* pattern, const char* channel, const char* message) {
    return Frame::array({Frame::bulk("pmessage"), Frame::bulk(pattern), Frame::bulk(channel), Frame::bulk(message)});
}

corio::Task<void> pattern_subscriptions(SocketAddr addr) {
    std::optional<Raw> subscriber = co_await Raw::connect(addr);
    std::optional<Raw> other = co_await Raw::connect(addr);
    std::optional<Raw> publisher = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(subscriber && other && publisher);
    co_await subscriber->send(command("PSUBSCRIBE news.* h[ae]llo") + command("SUBSCRIBE news.sport"));
    // The counts include channels and patterns.
    EXPECT_EQ(co_await subscriber->reply(), confirmation("psubscribe", "news.*", 1));
    EXPECT_EQ(co_await subscriber->reply(), confirmation("psubscribe", "h[ae]llo", 2));
    EXPECT_EQ(co_await subscriber->reply(), confirmation("subscribe", "news.sport", 3));
    EXPECT_EQ(co_await other->call("PSUBSCRIBE *"), confirmation("psubscribe", "*", 1));

    // Every match counts: the channel, the pattern, the other client's "*".
    EXPECT_EQ(co_await publisher->call("PUBLISH news.sport goal"), Frame::integer_of(3));
    EXPECT_EQ(co_await subscriber->reply(), message("news.sport", "goal"));
    EXPECT_EQ(co_await subscriber->reply(), pmessage("news.*", "news.sport", "goal"));
    EXPECT_EQ(co_await other->reply(), pmessage("*", "news.sport", "goal"));
    EXPECT_EQ(co_await publisher->call("PUBLISH hallo there"), Frame::integer_of(2));
    EXPECT_EQ(co_await subscriber->reply(), pmessage("h[ae]llo", "hallo", "there"));
    EXPECT_EQ(co_await other->reply(), pmessage("*", "hallo", "there"));
    EXPECT_EQ(co_await publisher->call("PUBLISH hullo nobody"), Frame::integer_of(1));
    EXPECT_EQ(co_await other->reply(), pmessage("*", "hullo", "nobody"));

    // PUNSUBSCRIBE with no argument leaves every pattern, not the channels;
    // subscribe mode lasts while either is left.
    co_await subscriber->send(command("PUNSUBSCRIBE") + command("GET k") + command("UNSUBSCRIBE") +
                              command("PUNSUBSCRIBE") + command("GET k"));
    EXPECT_EQ(co_await subscriber->reply(), confirmation("punsubscribe", "news.*", 2));
    EXPECT_EQ(co_await subscriber->reply(), confirmation("punsubscribe", "h[ae]llo", 1));
    Frame refused = co_await subscriber->reply();
    EXPECT_TRUE(refused.is_error()) << refused.to_debug_string();
    EXPECT_EQ(co_await subscriber->reply(), confirmation("unsubscribe", "news.sport", 0));
    Frame none_left = Frame::array({Frame::bulk("punsubscribe"), Frame::null_bulk(), Frame::integer_of(0)});
    EXPECT_EQ(co_await subscriber->reply(), none_left);
    EXPECT_EQ(co_await subscriber->reply(), Frame::null_bulk()) << "out of subscribe mode";
    EXPECT_EQ(co_await publisher->call("PUBLISH news.x y"), Frame::integer_of(1)) << "only the other's *";
    EXPECT_EQ(co_await other->reply(), pmessage("*", "news.x", "y"));
    // A client that leaves takes its patterns with it.
    other.reset();
    for (;;) {
        Frame reached = co_await publisher->call("PUBLISH news.x z");
        if (reached == Frame::integer_of(0)) break;
        co_await corio::time::sleep(1ms);  // the server has not seen it leave yet
    }
}

TEST_P(ListsAndHashes, PatternSubscribersGetPmessagesAndPublishCountsThem) { run_test(pattern_subscriptions); }

corio::Task<void> shutdown_while_blocked(Flavor) {
    corio::io::Result<corio::net::TcpListener> listener = corio::net::TcpListener::bind("127.0.0.1:0");
    CO_ASSERT_TRUE(listener.has_value());
    SocketAddr addr = *listener->local_addr();
    corio::CancellationToken shutdown;
    ServerOptions options;
    options.shutdown_grace = 5s;
    corio::JoinHandle<void> server = corio::spawn(run(std::move(*listener), shutdown, options));
    std::optional<Raw> blocked = co_await Raw::connect(addr);
    CO_ASSERT_TRUE(blocked.has_value());
    co_await blocked->send(command("BLPOP q 0") + command("PING"));
    co_await wait_for_blocked(addr, 1);
    corio::time::Instant start = corio::time::Instant::now();
    shutdown.cancel();
    EXPECT_EQ(co_await blocked->reply(), Frame::error("(closed)")) << "closed with no reply, the PING not run";
    co_await server;
    EXPECT_LT(corio::time::Instant::now() - start, 1s) << "run() waited for the blocked client";
}

TEST_P(ListsAndHashes, ShutdownClosesABlockedClientAtOnce) {
    corio::Runtime rt = make_runtime(GetParam());
    auto bounded = corio::time::timeout(30s, shutdown_while_blocked(GetParam()));
    EXPECT_TRUE(rt.block_on(std::move(bounded)).has_value()) << "the test timed out";
}

INSTANTIATE_TEST_SUITE_P(Runtimes, ListsAndHashes, ::testing::Values(Flavor::CurrentThread, Flavor::MultiThread),
                         [](const ::testing::TestParamInfo<Flavor>& info) {
                             return info.param == Flavor::CurrentThread ? "CurrentThread" : "MultiThread";
                         });

// ---- The hand-back, on the Db ---------------------------------------------------------

/// Pushes `values` at the tail of `key` and serves its blocked clients.
void push(Db& db, std::string_view key, std::vector<std::string_view> values) {
    Db::Access access = db.lock(key);
    auto [entry, created] = access.find_or_create(key);
    List& list = created ? entry->make_list() : *entry->list();
    for (std::string_view v : values) list.emplace_back(v);
    access.serve_blocked(*entry);
}

std::vector<std::string> contents(Db& db, std::string_view key) {
    Db::Access access = db.lock(key);
    std::vector<std::string> out;
    if (Entry* entry = access.find(key)) {
        for (const Str& v : *entry->list()) out.emplace_back(v.view());
    }
    return out;
}

std::unique_ptr<PopWaiter> queued_waiter(Db& db, std::string key, ListEnd end) {
    auto waiter = std::make_unique<PopWaiter>(db, std::vector<std::string>{key}, end);
    Db::Access access = db.lock(key);
    waiter->enqueue(access);
    return waiter;
}

corio::Task<void> hand_back_to_next() {
    DbDropGuard guard;
    Db db = guard.db();
    std::unique_ptr<PopWaiter> gone = queued_waiter(db, "q", ListEnd::Head);
    std::unique_ptr<PopWaiter> next = queued_waiter(db, "q", ListEnd::Head);
    push(db, "q", {"x"});
    EXPECT_TRUE(contents(db, "q").empty()) << "x was handed to the first waiter";
    gone.reset();  // its session ended before it could reply
    std::optional<PopWaiter::Popped> got = next->finish();
    CO_ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->key, "q");
    EXPECT_EQ(got->value.view(), "x");
    EXPECT_EQ(db.key_count(), 0u);
    EXPECT_EQ(db.blocked_clients(), 0u);
    co_return;
}

TEST(PopWaiter, AnElementHandedToAWaiterThatIsGoneGoesToTheNextWaiter) {
    corio::Runtime rt = corio::Builder::new_current_thread().build();
    rt.block_on(hand_back_to_next());
}

corio::Task<void> hand_back_to_list() {
    DbDropGuard guard;
    Db db = guard.db();
    std::unique_ptr<PopWaiter> head = queued_waiter(db, "q", ListEnd::Head);
    std::unique_ptr<PopWaiter> tail = queued_waiter(db, "q", ListEnd::Tail);
    push(db, "q", {"a", "b", "c", "d"});
    EXPECT_EQ(contents(db, "q"), (std::vector<std::string>{"b", "c"}));
    std::optional<PopWaiter::Popped> got = head->finish();
    CO_ASSERT_TRUE(got.has_value());
    head->give_back(std::move(*got));  // its client left: back where it came from
    tail.reset();
    EXPECT_EQ(contents(db, "q"), (std::vector<std::string>{"a", "b", "c", "d"}));
    EXPECT_EQ(db.blocked_clients(), 0u);
}

TEST(PopWaiter, WithNobodyElseWaitingAnElementGoesBackToItsEndOfTheList) {
    corio::Runtime rt = corio::Builder::new_current_thread().build();
    rt.block_on(hand_back_to_list());
}

}  // namespace
}  // namespace mini_redis
