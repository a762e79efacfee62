// Tests of the shared state (db.hpp, keyspace.hpp, value.hpp): Str and Hash,
// the shard table and SCAN's walk, Db::Access, expiry by
// the background task on the paused clock (including the wake-up when an
// earlier deadline arrives, and 200,000 keys expiring at one instant removed
// in batches that let other tasks run), and pub/sub: fan-out in publish
// order, no loss without blocking the publisher, the output limits, and
// removal with the last subscriber.
#include "db.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <corio/runtime.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>
#include <cstdint>
#include <deque>
#include <expected>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "support/co_assert.hpp"

namespace mini_redis {
namespace {

using namespace std::chrono_literals;
using corio::time::Instant;

corio::Runtime paused_runtime() { return corio::Builder::new_current_thread().start_paused(true).build(); }

Payload payload(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

/// Lets the expiry task run (it is woken by the timer or the Notify).
corio::Task<void> let_tasks_run() {
    for (int i = 0; i < 4; ++i) co_await corio::task::yield_now();
}

// Shorthands over Db::Access, as the commands use it.
std::optional<std::string> get(const Db& db, std::string_view key) {
    auto value = db.get(key);
    if (!value || !*value) return std::nullopt;
    return std::string((*value)->view());
}

void set(const Db& db, std::string_view key, std::string_view value, std::optional<Instant> at) {
    Db::Access access = db.lock(key);
    Entry* entry = access.find_or_create(key).first;
    entry->set_string(Str(value));
    access.set_deadline(*entry, at);
}

bool exists(const Db& db, std::string_view key) { return db.lock(key).find(key) != nullptr; }

/// PTTL's answer: -2 absent, -1 no deadline, else milliseconds left.
std::int64_t ttl_millis(const Db& db, std::string_view key) {
    Db::Access access = db.lock(key);
    const Entry* entry = access.find(key);
    if (entry == nullptr) return -2;
    if (!entry->deadline()) return -1;
    return std::chrono::ceil<std::chrono::milliseconds>(*entry->deadline() - access.now()).count();
}

bool expire(const Db& db, std::string_view key, Instant at) {
    Db::Access access = db.lock(key);
    Entry* entry = access.find(key);
    if (entry == nullptr) return false;
    if (at <= access.now()) {
        access.erase(*entry);
    } else {
        access.set_deadline(*entry, at);
    }
    return true;
}

TEST(Str, ShortValuesAreInlineAndLongOnesSharedByEveryCopy) {
    Str empty;
    EXPECT_EQ(empty.view(), "");
    Str small(std::string(Str::kInline, 'x'));
    EXPECT_FALSE(small.is_shared());
    EXPECT_EQ(small.view(), std::string(Str::kInline, 'x'));
    std::string text(1000, 'y');
    auto big = std::make_unique<Str>(text);
    EXPECT_TRUE(big->is_shared());
    Str copy = *big;
    EXPECT_EQ(copy.view().data(), big->view().data()) << "a copy shares the bytes";
    big.reset();
    EXPECT_EQ(copy.view(), text) << "the bytes live as long as any copy";
    Str moved = std::move(copy);
    EXPECT_EQ(moved.view(), text);
    EXPECT_EQ(copy.size(), 0u);  // NOLINT(bugprone-use-after-move): a moved-from Str is empty
    moved = small;
    EXPECT_EQ(moved.view(), small.view());
}

TEST(Hash, KeepsInsertionOrderWhileSmallAndFindsEveryFieldWhenLarge) {
    Hash hash;
    EXPECT_TRUE(hash.set("b", Str("1")));
    EXPECT_TRUE(hash.set("a", Str("2")));
    EXPECT_FALSE(hash.set("b", Str("3")));
    ASSERT_EQ(hash.size(), 2u);
    EXPECT_EQ(hash.fields()[0].first.view(), "b");
    EXPECT_EQ(hash.fields()[0].second.view(), "3");
    EXPECT_TRUE(hash.erase("b"));
    EXPECT_FALSE(hash.erase("b"));
    EXPECT_EQ(hash.fields()[0].first.view(), "a");
    for (int i = 0; i < 1000; ++i) hash.set("field-number-" + std::to_string(i), Str(std::to_string(i)));
    for (int i = 0; i < 1000; i += 2) EXPECT_TRUE(hash.erase("field-number-" + std::to_string(i)));
    for (int i = 0; i < 1000; ++i) {
        const Str* value = hash.find("field-number-" + std::to_string(i));
        if (i % 2 == 0) {
            EXPECT_EQ(value, nullptr);
        } else {
            ASSERT_NE(value, nullptr);
            EXPECT_EQ(value->view(), std::to_string(i));
        }
    }
    EXPECT_EQ(hash.size(), 501u);
}

TEST(KeyTable, FindsEveryKeyThroughGrowthAndErase) {
    KeyTable table;
    for (int i = 0; i < 10'000; ++i)
        table.find_or_insert("key:" + std::to_string(i)).set_string(Str(std::to_string(i)));
    EXPECT_EQ(table.size(), 10'000u);
    for (int i = 0; i < 10'000; i += 2) table.erase(*table.find("key:" + std::to_string(i)));
    EXPECT_EQ(table.size(), 5'000u);
    for (int i = 0; i < 10'000; ++i) {
        Entry* entry = table.find("key:" + std::to_string(i));
        if (i % 2 == 0) {
            EXPECT_EQ(entry, nullptr);
        } else {
            ASSERT_NE(entry, nullptr);
            EXPECT_EQ(entry->key(), "key:" + std::to_string(i));
            EXPECT_EQ(entry->string()->view(), std::to_string(i));
        }
    }
}

TEST(KeyTable, AScanVisitsEveryKeyPresentThroughoutWhileTheTableGrows) {
    KeyTable table;
    for (int i = 0; i < 1000; ++i) table.find_or_insert("old:" + std::to_string(i));
    std::set<std::string> seen;
    std::uint64_t cursor = 0;
    int added = 0;
    do {
        cursor = table.scan(cursor, 10, [&](const Entry& e) { seen.emplace(e.key()); });
        for (int i = 0; i < 50; ++i) table.find_or_insert("new:" + std::to_string(added++));  // grows the table
    } while (cursor != 0);
    for (int i = 0; i < 1000; ++i) EXPECT_TRUE(seen.contains("old:" + std::to_string(i))) << i;
}

corio::Task<void> access_body() {
    DbDropGuard guard;
    Db db = guard.db();
    EXPECT_EQ(get(db, "k"), std::nullopt);
    EXPECT_FALSE(exists(db, "k"));
    set(db, "k", "v", std::nullopt);
    EXPECT_EQ(get(db, "k"), "v");
    {
        Db::Access access = db.lock("list");
        auto [entry, created] = access.find_or_create("list");
        EXPECT_TRUE(created);
        entry->make_list().push_back(Str("a"));
        EXPECT_FALSE(access.find_or_create("list").second);
        EXPECT_EQ(entry->type(), ValueType::List);
        EXPECT_EQ(entry->string(), nullptr);
    }
    auto wrong = db.get("list");
    EXPECT_FALSE(wrong.has_value());
    if (!wrong) {
        EXPECT_EQ(wrong.error(), ValueType::List);
    }
    // A multi-key access locks every shard its keys fall in (here, with 40
    // keys, surely more than one) and sees them all.
    std::vector<std::string> names;
    for (int i = 0; i < 40; ++i) names.push_back("m" + std::to_string(i));
    std::vector<std::string_view> keys(names.begin(), names.end());
    {
        Db::Access access = db.lock(keys);
        for (std::string_view key : keys) access.find_or_create(key).first->set_string(Str(key));
    }
    for (const std::string& name : names) EXPECT_EQ(get(db, name), name);
    EXPECT_EQ(db.key_count(), 42u);
    db.flush();
    EXPECT_EQ(db.key_count(), 0u);
    EXPECT_EQ(get(db, "k"), std::nullopt);
    co_return;
}

TEST(Db, AccessFindsCreatesAndTypesEntriesAndLocksEveryShardOfItsKeys) { paused_runtime().block_on(access_body()); }

corio::Task<void> scan_body() {
    DbDropGuard guard;
    Db db = guard.db();
    for (int i = 0; i < 2000; ++i) set(db, "stay:" + std::to_string(i), "v", std::nullopt);
    for (int i = 0; i < 500; ++i) set(db, "gone:" + std::to_string(i), "v", std::nullopt);
    std::set<std::string> seen;
    std::uint64_t cursor = 0;
    int step = 0;
    do {
        cursor = db.scan(cursor, 10, [&](const Entry& e) { seen.emplace(e.key()); });
        // Keys come and go during the walk.
        set(db, "new:" + std::to_string(step), "v", std::nullopt);
        if (step < 500) {
            Db::Access access = db.lock("gone:" + std::to_string(step));
            access.erase(*access.find("gone:" + std::to_string(step)));
        }
        ++step;
    } while (cursor != 0);
    for (int i = 0; i < 2000; ++i) EXPECT_TRUE(seen.contains("stay:" + std::to_string(i))) << i;
    EXPECT_GT(step, 100) << "a count of 10 takes many steps";
    co_return;
}

TEST(Db, ScanReturnsEveryKeyPresentThroughoutWhileKeysComeAndGo) { paused_runtime().block_on(scan_body()); }

corio::Task<void> expiry_body() {
    DbDropGuard guard;
    Db db = guard.db();
    EXPECT_EQ(ttl_millis(db, "k"), -2);
    set(db, "forever", "v", std::nullopt);
    EXPECT_EQ(ttl_millis(db, "forever"), -1);
    set(db, "k", "v", Instant::now() + 100ms);
    EXPECT_EQ(ttl_millis(db, "k"), 100);
    co_await corio::time::advance(99ms);
    EXPECT_EQ(get(db, "k"), "v");
    EXPECT_EQ(ttl_millis(db, "k"), 1);
    co_await corio::time::advance(2ms);
    co_await let_tasks_run();
    EXPECT_EQ(get(db, "k"), std::nullopt);
    EXPECT_EQ(ttl_millis(db, "k"), -2);
    EXPECT_EQ(db.key_count(), 1u) << "the expiry task removed the key from memory";
}

TEST(Db, TheBackgroundTaskRemovesAKeyAtItsDeadline) { paused_runtime().block_on(expiry_body()); }

corio::Task<void> earlier_deadline_body() {
    DbDropGuard guard;
    Db db = guard.db();
    set(db, "late", "v", Instant::now() + 1h);
    co_await let_tasks_run();  // the task now sleeps until the 1 h deadline
    set(db, "soon", "v", Instant::now() + 10ms);
    co_await corio::time::advance(20ms);
    co_await let_tasks_run();
    EXPECT_EQ(db.key_count(), 1u) << "a new earlier deadline must wake the sleeping expiry task";
    EXPECT_EQ(get(db, "late"), "v");
}

TEST(Db, AnEarlierDeadlineWakesTheExpiryTask) { paused_runtime().block_on(earlier_deadline_body()); }

corio::Task<void> expire_body() {
    DbDropGuard guard;
    Db db = guard.db();
    EXPECT_FALSE(expire(db, "missing", Instant::now() + 1s));
    set(db, "k", "v", std::nullopt);
    EXPECT_TRUE(expire(db, "k", Instant::now() + 5s));
    EXPECT_EQ(ttl_millis(db, "k"), 5000);
    set(db, "k", "v2", std::nullopt);  // SET clears the deadline
    EXPECT_EQ(ttl_millis(db, "k"), -1);
    EXPECT_TRUE(expire(db, "k", Instant::now()));  // a deadline not in the future deletes
    EXPECT_FALSE(exists(db, "k"));
    co_await corio::time::advance(6s);
    co_await let_tasks_run();
    EXPECT_EQ(db.key_count(), 0u);
}

TEST(Db, ExpireSetsReplacesAndDeletes) { paused_runtime().block_on(expire_body()); }

/// A client's turn while the expiry task removes `expiring` keys that all
/// expired at one instant: one GET of a key with no deadline, and a read of
/// one expiring key, which must already look gone.
struct MassExpiryCounts {
    int served_midway = 0;      ///< turns taken while some, not all, keys were removed
    int expired_key_seen = 0;   ///< reads that found an expired key alive
    int other_key_missing = 0;  ///< GETs of the key with no deadline that failed
};

corio::Task<MassExpiryCounts> mass_expiry_body(int expiring) {
    DbDropGuard guard;
    Db db = guard.db();
    set(db, "other", "v", std::nullopt);
    Instant at = Instant::now() + 10ms;
    for (int i = 0; i < expiring; ++i) set(db, "k" + std::to_string(i), "v", at);
    co_await let_tasks_run();  // the expiry task now sleeps until `at`
    co_await corio::time::advance(20ms);
    MassExpiryCounts counts;
    auto all = static_cast<std::size_t>(expiring) + 1;
    // The round bound only ends a purge that never finishes (a failure).
    for (int round = 0; round < 10 * expiring && db.key_count() > 1; ++round) {
        std::size_t left = db.key_count();
        if (left < all) ++counts.served_midway;
        if (get(db, "other") != "v") ++counts.other_key_missing;
        if (exists(db, "k" + std::to_string(round % expiring))) ++counts.expired_key_seen;
        co_await corio::task::yield_now();
    }
    EXPECT_EQ(db.key_count(), 1u) << "every expired key is removed in the end";
    co_return counts;
}

/// mass_expiry_body under a 30 s bound; the paused clock only moves while
/// every task waits, so the bound stops a hang, not a slow purge.
corio::Task<std::expected<MassExpiryCounts, corio::time::Elapsed>> bounded_mass_expiry(int expiring) {
    co_return co_await corio::time::timeout(30s, mass_expiry_body(expiring));
}

TEST(Db, ExpiringManyKeysAtOneInstantYieldsToOtherTasksBetweenBatches) {
    auto result = paused_runtime().block_on(bounded_mass_expiry(200'000));
    ASSERT_TRUE(result.has_value()) << "the test hung";
    // One purge of all the keys under the locks would give the client no
    // turn between its first and last key.
    EXPECT_GE(result->served_midway, 10) << "the client had a turn between the expiry task's batches";
    EXPECT_EQ(result->expired_key_seen, 0) << "a key not yet removed reads as expired";
    EXPECT_EQ(result->other_key_missing, 0);
}

/// Everything `outbox` holds now (it must hold something).
std::deque<Outgoing> take_all(Outbox& outbox) {
    corio::Waker waker = corio::Waker::noop();
    corio::Context cx(waker);
    auto taken = outbox.poll_take(cx, SIZE_MAX);
    EXPECT_TRUE(taken.is_ready());
    return taken.is_ready() ? std::move(taken).take() : std::deque<Outgoing>();
}

corio::Task<void> fan_out_body() {
    DbDropGuard guard;
    Db db = guard.db();
    EXPECT_EQ(db.publish("news", payload("nobody")), 0u);
    EXPECT_EQ(db.channel_count(), 0u);
    auto a = std::make_shared<Outbox>(OutputLimits{});
    auto b = std::make_shared<Outbox>(OutputLimits{});
    db.subscribe("news", a);
    db.subscribe("news", b);
    db.subscribe("sport", a);
    EXPECT_EQ(db.channel_count(), 2u);
    EXPECT_EQ(db.publish("news", payload("hello")), 2u);
    EXPECT_EQ(db.publish("sport", payload("goal")), 1u);
    auto got_a = take_all(*a);
    auto got_b = take_all(*b);
    EXPECT_EQ(got_a.size(), 2u);
    CO_ASSERT_TRUE((got_a.size()) == (2u));
    EXPECT_EQ(*got_a[0].channel, "news");
    EXPECT_EQ(*got_a[0].message, "hello");
    EXPECT_EQ(*got_a[1].channel, "sport") << "one queue per subscriber keeps publish order across channels";
    EXPECT_EQ(got_b.size(), 1u);
    CO_ASSERT_TRUE((got_b.size()) == (1u));
    EXPECT_EQ(*got_b[0].message, "hello");
    db.unsubscribe("news", a.get());
    EXPECT_EQ(db.channel_count(), 2u) << "b is still on news";
    db.unsubscribe("news", b.get());
    db.unsubscribe("sport", a.get());
    EXPECT_EQ(db.channel_count(), 0u) << "a channel goes with its last subscriber";
    EXPECT_EQ(db.publish("news", payload("late")), 0u);
    co_return;
}

TEST(Db, PublishReachesEverySubscriberInPublishOrderAndTheChannelGoesWithTheLast) {
    paused_runtime().block_on(fan_out_body());
}

corio::Task<void> slow_subscriber_body() {
    DbDropGuard guard;
    Db db = guard.db();
    auto slow = std::make_shared<Outbox>(OutputLimits{});
    db.subscribe("c", slow);
    for (int i = 0; i < 10'000; ++i) EXPECT_EQ(db.publish("c", payload(std::to_string(i))), 1u);  // never waits
    auto got = take_all(*slow);
    EXPECT_EQ(got.size(), 10'000u) << "nothing is dropped while the subscriber stays";
    CO_ASSERT_TRUE((got.size()) == (10'000u));
    for (int i = 0; i < 10'000; ++i) CO_ASSERT_TRUE(*got[i].message == std::to_string(i));
    EXPECT_EQ(slow->bytes(), 0u);
    db.unsubscribe("c", slow.get());
}

TEST(Db, ASlowSubscriberLosesNothingAndNeverBlocksThePublisher) { paused_runtime().block_on(slow_subscriber_body()); }

corio::Task<void> hard_limit_body() {
    DbDropGuard guard;
    Db db = guard.db();
    auto outbox = std::make_shared<Outbox>(OutputLimits{.hard_bytes = 10'000, .soft_bytes = 0});
    db.subscribe("c", outbox);
    const std::string kilobyte(1000, 'x');
    int reached = 0;
    for (int i = 0; i < 20; ++i) reached += static_cast<int>(db.publish("c", payload(kilobyte)));
    EXPECT_EQ(reached, 9) << "the tenth message passes 10,000 bytes (1,040 each): the subscriber is cut off";
    EXPECT_TRUE(outbox->cut_off());
    EXPECT_EQ(outbox->bytes(), 0u) << "its queue is freed at once";
    corio::Waker waker = corio::Waker::noop();
    corio::Context cx(waker);
    auto taken = outbox->poll_take(cx, SIZE_MAX);
    CO_ASSERT_TRUE(taken.is_ready());
    EXPECT_TRUE(taken->empty()) << "a cut-off outbox hands out nothing";
    db.unsubscribe("c", outbox.get());
}

TEST(Db, ASubscriberOverItsHardOutputLimitIsCutOff) { paused_runtime().block_on(hard_limit_body()); }

corio::Task<void> soft_limit_body() {
    DbDropGuard guard;
    Db db = guard.db();
    auto outbox = std::make_shared<Outbox>(OutputLimits{.hard_bytes = 0, .soft_bytes = 2'000, .soft_period = 60s});
    db.subscribe("c", outbox);
    const std::string kilobyte(1000, 'x');
    for (int i = 0; i < 3; ++i) EXPECT_EQ(db.publish("c", payload(kilobyte)), 1u);  // over the soft limit from now
    co_await corio::time::sleep(59s);
    EXPECT_EQ(db.publish("c", payload(kilobyte)), 1u) << "59 s over the soft limit is allowed";
    co_await corio::time::sleep(2s);
    EXPECT_EQ(db.publish("c", payload(kilobyte)), 0u) << "61 s over it is not";
    EXPECT_TRUE(outbox->cut_off());
    db.unsubscribe("c", outbox.get());
}

TEST(Db, ASubscriberOverItsSoftLimitForLongerThanThePeriodIsCutOff) { paused_runtime().block_on(soft_limit_body()); }

corio::Task<void> soft_limit_reset_body() {
    DbDropGuard guard;
    Db db = guard.db();
    auto outbox = std::make_shared<Outbox>(OutputLimits{.hard_bytes = 0, .soft_bytes = 2'000, .soft_period = 60s});
    db.subscribe("c", outbox);
    const std::string kilobyte(1000, 'x');
    for (int i = 0; i < 3; ++i) EXPECT_EQ(db.publish("c", payload(kilobyte)), 1u);
    co_await corio::time::sleep(50s);
    (void)take_all(*outbox);  // the subscriber catches up: back under the soft limit
    for (int i = 0; i < 3; ++i) EXPECT_EQ(db.publish("c", payload(kilobyte)), 1u);
    co_await corio::time::sleep(50s);
    EXPECT_EQ(db.publish("c", payload(kilobyte)), 1u) << "the period starts again after it caught up";
    db.unsubscribe("c", outbox.get());
}

TEST(Db, CatchingUpRestartsTheSoftLimitPeriod) { paused_runtime().block_on(soft_limit_reset_body()); }

}  // namespace
}  // namespace mini_redis
