// The shared state of a mini-redis server: the key space (with expiry) and
// the pub/sub channels.
//
// Db is a cheap handle (a shared_ptr) that every connection task holds a copy
// of; any of them may run on any worker thread. The key space is split into
// shards, each a std::unordered_map behind its own std::mutex, held only for
// the map operation itself and never across a co_await.
//
// Expiry: a key with a deadline is also entered, by (deadline, key), in its
// shard's ordered set of expirations. One background task (spawned by
// DbDropGuard) removes expired keys, then sleeps until the earliest deadline
// left; a SET or EXPIRE that brings a deadline earlier than the one it
// sleeps to wakes it through a corio::sync::Notify. No polling. It removes
// them in bounded batches, releasing the shard's lock and yielding to the
// runtime between two, so that a million keys expiring at one instant do
// not stall the clients. Reads check the deadline too, so a key is never
// seen after it expired, even before the task has removed it.
//
// Pub/sub: each channel name lists the outboxes (outbox.hpp) of its
// subscribers, created with the first and removed with the last. PUBLISH
// pushes the message into each outbox, never waiting: one queue per
// subscriber keeps publish order across all its channels, and nothing is
// dropped while the subscriber stays connected (its output limits cut it off
// instead).
#pragma once

#include <corio/sync/notify.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "outbox.hpp"

namespace mini_redis {

/// Why INCR failed.
enum class IncrError {
    NotAnInteger,  ///< the value is not a base-10 int64
    Overflow,      ///< the result would not fit in an int64
};

/// What SET requires of the key before it writes.
enum class SetCondition {
    Always,
    IfAbsent,   ///< NX
    IfPresent,  ///< XX
};

/// Settings of a Db.
struct DbOptions {};

/// A handle to the shared key space and channels; copies share them.
/// Every member is safe to call from any thread of the runtime.
class Db {
public:
    /// GET: the value, or std::nullopt when the key is absent or expired.
    std::optional<std::string> get(std::string_view key) const;

    /// SET: stores `value`, replacing any value and deadline; `expires_at`
    /// (if any) becomes the key's deadline. False, and no change, when
    /// `condition` is not met.
    bool set(std::string_view key, std::string value, std::optional<corio::time::Instant> expires_at,
             SetCondition condition = SetCondition::Always);

    /// DEL of one key: true when it existed.
    bool del(std::string_view key);

    /// EXISTS of one key.
    bool exists(std::string_view key) const;

    /// INCR: adds one to the integer in the key (0 when absent), keeping its
    /// deadline; the new value, or why not (the value is left unchanged).
    std::expected<std::int64_t, IncrError> incr(std::string_view key);

    /// EXPIRE: gives the key the deadline `at` (deleting it at once when
    /// `at` is not in the future); false when there is no such key.
    bool expire(std::string_view key, corio::time::Instant at);

    /// PTTL: the milliseconds left before the key expires (rounded up), -1
    /// when it has no deadline, -2 when there is no such key.
    std::int64_t ttl_millis(std::string_view key) const;

    /// PUBLISH: queues `message` in the outbox of every current subscriber
    /// of `channel`, without waiting for any; how many it was queued for (a
    /// subscriber cut off by its output limits is not counted).
    std::size_t publish(std::string_view channel, Payload message);

    /// Subscribes `outbox` to `channel`: every message published there from
    /// now on is queued in it. Subscribing twice queues each message twice.
    void subscribe(std::string_view channel, std::shared_ptr<Outbox> outbox);

    /// Ends the subscription of `outbox` to `channel`; the channel goes with
    /// its last subscriber.
    void unsubscribe(std::string_view channel, const Outbox* outbox);

    /// How many channels have at least one subscriber (for tests).
    std::size_t channel_count() const;

    /// How many keys are stored, expired ones not yet purged included (for tests).
    std::size_t key_count() const;

private:
    friend class DbDropGuard;
    struct Shared;
    explicit Db(std::shared_ptr<Shared> shared) noexcept : shared_(std::move(shared)) {}
    /// The expiry task: purges (in batches that yield), then sleeps until the
    /// earliest deadline or a wake-up.
    static corio::Task<void> purge_expired_keys(std::shared_ptr<Shared> shared);
    std::shared_ptr<Shared> shared_;
};

/// Owns a Db's background expiry task: creates both (spawning the task on
/// the current runtime) and stops the task when destroyed. Hand out
/// db() copies to connections; they stay usable after the guard is gone,
/// only expired keys are then no longer purged in the background.
class DbDropGuard {
public:
    /// Must be called inside a runtime (it spawns the expiry task).
    explicit DbDropGuard(DbOptions options = {});
    DbDropGuard(DbDropGuard&&) noexcept = default;
    DbDropGuard& operator=(DbDropGuard&&) noexcept = delete;
    ~DbDropGuard();

    /// A handle to the Db (copies share it).
    Db db() const { return db_; }

private:
    Db db_;
};

}  // namespace mini_redis
