// Tests of the shared state (db.hpp): strings with NX/XX, INCR, expiry by
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
#include <string>

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

corio::Task<void> strings_body() {
    DbDropGuard guard;
    Db db = guard.db();
    EXPECT_EQ(db.get("k"), std::nullopt);
    EXPECT_FALSE(db.exists("k"));
    EXPECT_TRUE(db.set("k", "v", std::nullopt));
    EXPECT_EQ(db.get("k"), "v");
    EXPECT_TRUE(db.exists("k"));
    EXPECT_FALSE(db.set("k", "nx", std::nullopt, SetCondition::IfAbsent));
    EXPECT_EQ(db.get("k"), "v");
    EXPECT_TRUE(db.set("k", "xx", std::nullopt, SetCondition::IfPresent));
    EXPECT_EQ(db.get("k"), "xx");
    EXPECT_TRUE(db.del("k"));
    EXPECT_FALSE(db.del("k"));
    EXPECT_FALSE(db.set("k", "xx", std::nullopt, SetCondition::IfPresent));
    EXPECT_TRUE(db.set("k", "nx", std::nullopt, SetCondition::IfAbsent));
    EXPECT_EQ(db.get("k"), "nx");
    co_return;
}

TEST(Db, SetGetDelAndExistsFollowNxAndXx) { paused_runtime().block_on(strings_body()); }

corio::Task<void> incr_body() {
    DbDropGuard guard;
    Db db = guard.db();
    EXPECT_EQ(db.incr("n"), 1);
    EXPECT_EQ(db.incr("n"), 2);
    db.set("text", "abc", std::nullopt);
    EXPECT_EQ(db.incr("text"), std::unexpected(IncrError::NotAnInteger));
    EXPECT_EQ(db.get("text"), "abc");
    db.set("max", std::to_string(std::numeric_limits<std::int64_t>::max()), std::nullopt);
    EXPECT_EQ(db.incr("max"), std::unexpected(IncrError::Overflow));
    db.set("ttl", "5", Instant::now() + 10s);
    EXPECT_EQ(db.incr("ttl"), 6);
    EXPECT_GT(db.ttl_millis("ttl"), 0);  // INCR keeps the deadline
    co_return;
}

TEST(Db, IncrCountsRejectsNonIntegersAndOverflowAndKeepsTheDeadline) { paused_runtime().block_on(incr_body()); }

corio::Task<void> expiry_body() {
    DbDropGuard guard;
    Db db = guard.db();
    EXPECT_EQ(db.ttl_millis("k"), -2);
    db.set("forever", "v", std::nullopt);
    EXPECT_EQ(db.ttl_millis("forever"), -1);
    db.set("k", "v", Instant::now() + 100ms);
    EXPECT_EQ(db.ttl_millis("k"), 100);
    co_await corio::time::advance(99ms);
    EXPECT_EQ(db.get("k"), "v");
    EXPECT_EQ(db.ttl_millis("k"), 1);
    co_await corio::time::advance(2ms);
    co_await let_tasks_run();
    EXPECT_EQ(db.get("k"), std::nullopt);
    EXPECT_EQ(db.ttl_millis("k"), -2);
    EXPECT_EQ(db.key_count(), 1u) << "the expiry task removed the key from memory";
}

TEST(Db, TheBackgroundTaskRemovesAKeyAtItsDeadline) { paused_runtime().block_on(expiry_body()); }

corio::Task<void> earlier_deadline_body() {
    DbDropGuard guard;
    Db db = guard.db();
    db.set("late", "v", Instant::now() + 1h);
    co_await let_tasks_run();  // the task now sleeps until the 1 h deadline
    db.set("soon", "v", Instant::now() + 10ms);
    co_await corio::time::advance(20ms);
    co_await let_tasks_run();
    EXPECT_EQ(db.key_count(), 1u) << "a new earlier deadline must wake the sleeping expiry task";
    EXPECT_EQ(db.get("late"), "v");
}

TEST(Db, AnEarlierDeadlineWakesTheExpiryTask) { paused_runtime().block_on(earlier_deadline_body()); }

corio::Task<void> expire_body() {
    DbDropGuard guard;
    Db db = guard.db();
    EXPECT_FALSE(db.expire("missing", Instant::now() + 1s));
    db.set("k", "v", std::nullopt);
    EXPECT_TRUE(db.expire("k", Instant::now() + 5s));
    EXPECT_EQ(db.ttl_millis("k"), 5000);
    db.set("k", "v2", std::nullopt);  // SET clears the deadline
    EXPECT_EQ(db.ttl_millis("k"), -1);
    EXPECT_TRUE(db.expire("k", Instant::now()));  // a deadline not in the future deletes
    EXPECT_FALSE(db.exists("k"));
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
    db.set("other", "v", std::nullopt);
    Instant at = Instant::now() + 10ms;
    for (int i = 0; i < expiring; ++i) db.set("k" + std::to_string(i), "v", at);
    co_await let_tasks_run();  // the expiry task now sleeps until `at`
    co_await corio::time::advance(20ms);
    MassExpiryCounts counts;
    auto all = static_cast<std::size_t>(expiring) + 1;
    // The round bound only ends a purge that never finishes (a failure).
    for (int round = 0; round < 10 * expiring && db.key_count() > 1; ++round) {
        std::size_t left = db.key_count();
        if (left < all) ++counts.served_midway;
        if (db.get("other") != "v") ++counts.other_key_missing;
        if (db.exists("k" + std::to_string(round % expiring))) ++counts.expired_key_seen;
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
