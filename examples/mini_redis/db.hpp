// The shared state of a mini-redis server: the key space (with expiry) and
// the pub/sub channels.
//
// Commands work on the key space through a Db::Access: the locks of the
// shards their keys fall in, and find/create/erase/set_deadline of entries
// (keyspace.hpp), each holding a string, a list or a hash (value.hpp).
//
// Db is a cheap handle (a shared_ptr) that every connection task holds a copy
// of; any of them may run on any worker thread. The key space is split into
// shards, each a KeyTable behind its own std::mutex, held for one command's
// work on it and never across a co_await.
//
// Expiry: a key with a deadline is also entered, by deadline, in its
// shard's ordered set of deadlines. One background task (spawned by
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
// Pattern subscriptions (PSUBSCRIBE) are a list of (pattern, outbox) pairs
// that PUBLISH matches the channel against (glob.hpp), after the channel's
// own subscribers, as Redis does.
//
// Blocked clients (BLPOP / BRPOP): each shard also queues, per key, the
// clients blocked on its keys (blocking.hpp); a push serves them under the
// same lock as the push itself.
#pragma once

#include <corio/sync/notify.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "keyspace.hpp"
#include "outbox.hpp"
#include "value.hpp"

namespace mini_redis {

class BlockedPop;  // blocking.hpp

/// Settings of a Db.
struct DbOptions {};

/// A handle to the shared key space and channels; copies share them.
/// Every member is safe to call from any thread of the runtime.
class Db {
    struct Shared;

public:
    /// How many shards the key space is split into.
    static constexpr std::size_t kShardCount = 16;

    /// Exclusive access to the keys of one or more shards, while it lives:
    /// what a command works through. Expired entries are invisible through
    /// it (find() removes them). Never hold one across a co_await.
    class Access {
    public:
        Access(Access&& other) noexcept
            : shared_(std::exchange(other.shared_, nullptr)),
              locked_(std::exchange(other.locked_, 0)),
              now_(other.now_),
              earliest_added_(other.earliest_added_) {}
        Access& operator=(Access&&) = delete;
        ~Access();

        /// The live entry of `key`, or null (an expired one is removed).
        Entry* find(std::string_view key);
        /// The live entry of `key`, and whether it was just created (with
        /// an empty string value and no deadline).
        std::pair<Entry*, bool> find_or_create(std::string_view key);
        /// Removes `entry` (the pointer dangles after).
        void erase(Entry& entry);
        /// Gives `entry` the deadline `at`, or none.
        void set_deadline(Entry& entry, std::optional<corio::time::Instant> at);
        /// Calls `visit(entry)` for every live entry of the locked shards.
        void for_each(const std::function<void(const Entry&)>& visit) const;
        /// The time this access started: what "expired" is judged against.
        corio::time::Instant now() const noexcept { return now_; }

        // Clients blocked in BLPOP / BRPOP (blocking.hpp), queued per key in
        // the key's shard.
        /// After elements were added to the list of `entry`: hands them to
        /// the clients blocked on its key, oldest first, while both last;
        /// erases the entry if that empties the list (`entry` then dangles).
        void serve_blocked(Entry& entry);
        /// Queues `waiter` on `key`, behind the clients already blocked on it.
        void block(std::string_view key, std::shared_ptr<BlockedPop> waiter);
        /// Takes `waiter` off the queue of `key`.
        void unblock(std::string_view key, const BlockedPop& waiter);

    private:
        friend class Db;
        Access(Shared& shared, std::uint32_t shards);
        KeyTable& table(std::string_view key) const;
        std::size_t shard_index(std::string_view key) const;

        Shared* shared_;
        std::uint32_t locked_;  // bit i: shard i is locked
        corio::time::Instant now_;
        std::optional<corio::time::Instant> earliest_added_;  // of the deadlines set: may wake the expiry task
    };

    /// Locks the shard of `key`.
    Access lock(std::string_view key) const;
    /// Locks the shards of every key in `keys` (in shard order, so two
    /// multi-key commands never deadlock): MSET, RENAME and DEL of several
    /// keys are atomic.
    Access lock(std::span<const std::string_view> keys) const;
    /// Locks shard `index` alone (SCAN, KEYS, FLUSHDB go shard by shard).
    Access lock_shard(std::size_t index) const;

    /// GET: the string value, shared, not copied; std::nullopt when the key
    /// is absent or expired; kWrongType's error when it holds another type.
    std::expected<std::optional<Str>, ValueType> get(std::string_view key) const;

    /// SCAN's step: calls `visit(key)` (under the shard's lock: copy what
    /// you keep) for about `count` live keys from `cursor`; the cursor to go
    /// on from, 0 once every shard was walked. A key present for the whole
    /// walk is visited at least once.
    std::uint64_t scan(std::uint64_t cursor, std::size_t count, const std::function<void(const Entry&)>& visit) const;

    /// Removes every key (FLUSHDB).
    void flush();

    /// While loading (replaying the append-only file), deadlines are not
    /// enforced and the expiry task waits: a replay reaches the state the
    /// file recorded whatever time it runs at (as Redis does while loading).
    void set_loading(bool loading);
    /// Calls `listener(key)` for every key removed because it expired
    /// (by a read or by the expiry task), under the shard's lock: the
    /// append-only file logs it as a DEL. Set it before serving clients.
    void on_expired(std::function<void(std::string_view key)> listener);
    /// Calls `listener(key, from_head)` for every element a push hands to a
    /// client blocked in BLPOP (from_head) or BRPOP, under the shard's lock:
    /// the append-only file logs it as an LPOP or RPOP after the push.
    void on_served(std::function<void(std::string_view key, bool from_head)> listener);

    /// How many keys are stored, expired ones not yet purged included.
    std::size_t key_count() const;
    /// How many of them have a deadline (INFO's keyspace line).
    std::size_t expiring_count() const;

    /// How many clients are blocked in BLPOP / BRPOP (INFO's blocked_clients).
    std::size_t blocked_clients() const;

    /// PUBLISH: queues `message` in the outbox of every current subscriber
    /// of `channel`, then of every pattern subscription matching it, without
    /// waiting for any; how many it was queued for (a subscriber cut off by
    /// its output limits is not counted).
    std::size_t publish(std::string_view channel, Payload message);

    /// Subscribes `outbox` to `channel`: every message published there from
    /// now on is queued in it. Subscribing twice queues each message twice.
    void subscribe(std::string_view channel, std::shared_ptr<Outbox> outbox);

    /// Ends the subscription of `outbox` to `channel`; the channel goes with
    /// its last subscriber.
    void unsubscribe(std::string_view channel, const Outbox* outbox);

    /// PSUBSCRIBE: every message published from now on to a channel that
    /// matches the glob `pattern` (glob.hpp) is queued in `outbox`, with
    /// the pattern. PUBLISH counts each match.
    void psubscribe(std::string_view pattern, std::shared_ptr<Outbox> outbox);

    /// Ends the subscription of `outbox` to `pattern`.
    void punsubscribe(std::string_view pattern, const Outbox* outbox);

    /// How many channels have at least one subscriber (for tests).
    std::size_t channel_count() const;

private:
    friend class DbDropGuard;
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
