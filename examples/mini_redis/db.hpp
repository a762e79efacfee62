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
// Pub/sub: one corio::sync::broadcast channel per channel name, created by
// the first subscriber and removed when the last one leaves. Publishing
// never waits: a subscriber that falls more than the channel's capacity
// behind loses the oldest messages (it is told how many) instead of slowing
// the publisher or growing memory.
#pragma once

#include <corio/sync/broadcast.hpp>
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

namespace mini_redis {

/// A published message as it travels to every subscriber of its channel:
/// shared, so a large message is not copied once per subscriber.
using Payload = std::shared_ptr<const std::string>;

/// The receiving end of one channel subscription.
using ChannelReceiver = corio::sync::broadcast::Receiver<Payload>;

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
struct DbOptions {
    /// Messages a subscriber may fall behind before it loses the oldest.
    std::size_t channel_capacity = 1024;
};

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

    /// PUBLISH: hands `message` to every current subscriber of `channel`
    /// without waiting for any; how many subscriptions it reached.
    std::size_t publish(std::string_view channel, Payload message);

    /// A new subscription to `channel`: it receives every message published
    /// from now on. Drop the receiver, then call release_channel().
    ChannelReceiver subscribe(std::string_view channel);

    /// Removes `channel` when it has no subscriber left (call after dropping a receiver).
    void release_channel(std::string_view channel);

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
