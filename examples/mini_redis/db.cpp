// The key space, its expiry task and the pub/sub channels (see db.hpp).
#include "db.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cassert>
#include <corio/runtime.hpp>
#include <corio/select.hpp>
#include <functional>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "blocking.hpp"
#include "frame.hpp"
#include "glob.hpp"

namespace mini_redis {

namespace {

using corio::time::Instant;

/// std::hash over string_view, so maps keyed by std::string can be searched
/// with a string_view without building a string.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// One slice of the key space.
struct Shard {
    mutable std::mutex mutex;
    KeyTable table;
    BlockedQueues blocked;  // the clients blocked in BLPOP / BRPOP on keys of this shard
};

std::size_t shard_of(std::string_view key) noexcept {
    // Bits of the hash that KeyTable's bucket index and tag do not use.
    return (std::hash<std::string_view>{}(key) >> 40) % Db::kShardCount;
}

/// Keys the expiry task removes per hold of a shard's lock, between two
/// yields. Removing one costs 1-2 us (a map and a set erase, two frees).
/// The scheduler polls for I/O only after event_interval (61) polls, and a
/// yielded task is polled again within them, so a client may wait for 61
/// batches: 64 keys keep that near 5 ms (256 gave 28 ms), where removing
/// every expired key at once stalled clients for 0.6 s when 1,000,000
/// expired at one instant (bench/RESULTS.md).
constexpr std::size_t kPurgeBatch = 64;

/// purge_deadline_ values besides a deadline's tick count.
constexpr std::int64_t kPurging = std::numeric_limits<std::int64_t>::min();  // scanning: always wake
constexpr std::int64_t kNoDeadline = std::numeric_limits<std::int64_t>::max();

std::int64_t ticks(Instant t) noexcept { return t.into_std().time_since_epoch().count(); }

}  // namespace

struct Db::Shared {
    explicit Shared(DbOptions opts) : options(opts) {}

    /// Wakes the expiry task if `at` is earlier than the deadline it sleeps to.
    void deadline_added(Instant at) {
        // seq_cst pairs with the task's store of kPurging before it scans:
        // either this load sees kPurging (or a later deadline) and wakes it,
        // or the task's scan comes after this key was inserted and sees it.
        if (ticks(at) < purge_deadline.load()) purge_wakeup.notify_one();
    }

    DbOptions options;
    std::array<Shard, kShardCount> shards;

    corio::sync::Notify purge_wakeup;
    /// The deadline (in steady_clock ticks) the expiry task sleeps until,
    /// kPurging while it scans, kNoDeadline when it waits for any deadline.
    std::atomic<std::int64_t> purge_deadline{kPurging};
    std::atomic<bool> shutdown{false};
    std::atomic<bool> loading{false};
    /// Told of every key removed because it expired (set before serving).
    std::function<void(std::string_view)> expired_listener;

    void expired(std::string_view key) const {
        if (expired_listener) expired_listener(key);
    }
    /// Told of every element handed to a blocked client (set before serving).
    std::function<void(std::string_view, bool)> served_listener;

    /// A channel's subscribers, in subscription order, and its name as
    /// every message carries it (shared, not copied per message).
    struct Channel {
        Payload name;
        std::vector<std::shared_ptr<Outbox>> subscribers;
    };
    mutable std::mutex channels_mutex;
    std::unordered_map<std::string, Channel, StringHash, std::equal_to<>> channels;
    /// The pattern subscriptions (under channels_mutex), in subscription
    /// order: a PUBLISH matches the channel against each.
    struct PatternSubscription {
        Payload pattern;
        std::shared_ptr<Outbox> outbox;
    };
    std::vector<PatternSubscription> patterns;
};

namespace {

/// Removes the keys of `shard` expired at `now`, kPurgeBatch per hold of its
/// lock, yielding to the runtime between batches (a GET of another key may
/// run in between; one of a key not yet removed sees it expired, as reads
/// check the deadline). The earliest deadline left; it stops early, with
/// std::nullopt, on `shutdown`.
corio::Task<std::optional<Instant>> purge_shard(Shard& shard, Instant now, const std::atomic<bool>& shutdown,
                                                const std::function<void(std::string_view)>& removed) {
    for (;;) {
        {
            std::lock_guard lock(shard.mutex);
            if (shard.table.purge(now, kPurgeBatch, removed)) co_return shard.table.next_deadline();
        }
        co_await corio::task::yield_now();
        if (shutdown.load()) co_return std::nullopt;
    }
}

}  // namespace

/// The background expiry task: purge, then sleep until the earliest deadline
/// left or until woken by a new, earlier one (or by shutdown). A deadline
/// added while it purges wakes it through the Notify's permit (see
/// deadline_added), so it is caught by the next round.
corio::Task<void> Db::purge_expired_keys(std::shared_ptr<Shared> shared) {
    const std::function<void(std::string_view)> removed = [&shared](std::string_view key) { shared->expired(key); };
    while (!shared->shutdown.load()) {
        if (shared->loading.load()) {  // set_loading(false) wakes it
            shared->purge_deadline.store(kNoDeadline);
            co_await shared->purge_wakeup.notified();
            continue;
        }
        shared->purge_deadline.store(kPurging);
        Instant now = Instant::now();
        std::optional<Instant> next;
        for (Shard& shard : shared->shards) {
            std::optional<Instant> earliest = co_await purge_shard(shard, now, shared->shutdown, removed);
            if (earliest && (!next || *earliest < *next)) next = earliest;
        }
        if (shared->shutdown.load()) break;
        shared->purge_deadline.store(next ? ticks(*next) : kNoDeadline);
        if (!next) {
            co_await shared->purge_wakeup.notified();
            continue;
        }
        corio::time::Sleep until_deadline = corio::time::sleep_until(*next);
        auto woken = shared->purge_wakeup.notified();
        co_await corio::select(until_deadline, woken);
    }
}

Db::Access::Access(Shared& shared, std::uint32_t shards) : shared_(&shared), locked_(shards) {
    for (std::size_t i = 0; i < kShardCount; ++i) {
        if ((shards >> i) & 1U) shared.shards[i].mutex.lock();
    }
    now_ = Instant::now();
}

Db::Access::~Access() {
    if (shared_ == nullptr) return;
    for (std::size_t i = 0; i < kShardCount; ++i) {
        if ((locked_ >> i) & 1U) shared_->shards[i].mutex.unlock();
    }
    if (earliest_added_) shared_->deadline_added(*earliest_added_);
}

std::size_t Db::Access::shard_index(std::string_view key) const {
    std::size_t index = shard_of(key);
    assert(((locked_ >> index) & 1U) && "the key's shard is not locked by this access");
    return index;
}

KeyTable& Db::Access::table(std::string_view key) const { return shared_->shards[shard_index(key)].table; }

Entry* Db::Access::find(std::string_view key) {
    KeyTable& t = table(key);
    Entry* entry = t.find(key);
    if (entry != nullptr && KeyTable::expired(*entry, now_) && !shared_->loading.load(std::memory_order_relaxed)) {
        shared_->expired(key);
        t.erase(*entry);
        return nullptr;
    }
    return entry;
}

std::pair<Entry*, bool> Db::Access::find_or_create(std::string_view key) {
    if (Entry* entry = find(key)) return {entry, false};
    return {&table(key).find_or_insert(key), true};
}

void Db::Access::erase(Entry& entry) { table(entry.key()).erase(entry); }

void Db::Access::set_deadline(Entry& entry, std::optional<Instant> at) {
    table(entry.key()).set_deadline(entry, at);
    if (at && (!earliest_added_ || *at < *earliest_added_)) earliest_added_ = at;
}

void Db::Access::for_each(const std::function<void(const Entry&)>& visit) const {
    for (std::size_t i = 0; i < kShardCount; ++i) {
        if (((locked_ >> i) & 1U) == 0) continue;
        shared_->shards[i].table.for_each([&](const Entry& entry) {
            if (!KeyTable::expired(entry, now_)) visit(entry);
        });
    }
}

// ---- Clients blocked in BLPOP / BRPOP ----

void Db::Access::serve_blocked(Entry& entry) {
    BlockedQueues& blocked = shared_->shards[shard_index(entry.key())].blocked;
    if (blocked.empty()) return;  // the common case: nobody blocked in this shard
    List* list = entry.list();
    if (list == nullptr) return;
    blocked.serve(entry.key(), *list, shared_->served_listener);
    if (list->empty()) erase(entry);
}

void Db::Access::block(std::string_view key, std::shared_ptr<BlockedPop> waiter) {
    shared_->shards[shard_index(key)].blocked.add(key, std::move(waiter));
}

void Db::Access::unblock(std::string_view key, const BlockedPop& waiter) {
    shared_->shards[shard_index(key)].blocked.remove(key, waiter);
}

std::size_t Db::blocked_clients() const {
    // A client blocked on keys of several shards is queued in each: count it once.
    std::unordered_set<const BlockedPop*> waiting;
    for (const Shard& shard : shared_->shards) {
        std::lock_guard lock(shard.mutex);
        shard.blocked.collect_waiting(waiting);
    }
    return waiting.size();
}

Db::Access Db::lock(std::string_view key) const { return Access(*shared_, 1U << shard_of(key)); }

Db::Access Db::lock(std::span<const std::string_view> keys) const {
    std::uint32_t shards = 0;
    for (std::string_view key : keys) shards |= 1U << shard_of(key);
    return Access(*shared_, shards);
}

Db::Access Db::lock_shard(std::size_t index) const { return Access(*shared_, 1U << index); }

std::expected<std::optional<Str>, ValueType> Db::get(std::string_view key) const {
    Access access = lock(key);
    Entry* entry = access.find(key);
    if (entry == nullptr) return std::nullopt;
    if (const Str* value = entry->string()) return *value;
    return std::unexpected(entry->type());
}

std::uint64_t Db::scan(std::uint64_t cursor, std::size_t count, const std::function<void(const Entry&)>& visit) const {
    // The cursor: the shard in the low bits, the shard's table cursor above.
    constexpr unsigned kShardBits = std::bit_width(kShardCount - 1);
    std::size_t shard = cursor & (kShardCount - 1);
    std::uint64_t table_cursor = cursor >> kShardBits;
    std::size_t visited = 0;
    while (visited < count) {
        Access access = lock_shard(shard);
        table_cursor = shared_->shards[shard].table.scan(table_cursor, count - visited, [&](const Entry& entry) {
            if (KeyTable::expired(entry, access.now())) return;
            visit(entry);
            ++visited;
        });
        if (table_cursor == 0) {
            if (++shard == kShardCount) return 0;
        }
    }
    return (table_cursor << kShardBits) | shard;
}

void Db::flush() {
    for (std::size_t i = 0; i < kShardCount; ++i) {
        KeyTable old;
        {
            Access access = lock_shard(i);
            old.swap(shared_->shards[i].table);
        }
        // `old`'s entries are freed here, outside the lock.
    }
}

std::size_t Db::publish(std::string_view channel, Payload message) {
    std::lock_guard lock(shared_->channels_mutex);
    auto it = shared_->channels.find(channel);
    std::size_t reached = 0;
    Payload name;
    if (it != shared_->channels.end()) {
        name = it->second.name;
        for (const auto& outbox : it->second.subscribers) reached += outbox->push(name, message) ? 1 : 0;
    }
    for (const auto& sub : shared_->patterns) {
        if (!glob_match(*sub.pattern, channel)) continue;
        if (!name) name = std::make_shared<const std::string>(channel);
        reached += sub.outbox->push(name, message, sub.pattern) ? 1 : 0;
    }
    return reached;
}

void Db::subscribe(std::string_view channel, std::shared_ptr<Outbox> outbox) {
    std::lock_guard lock(shared_->channels_mutex);
    auto it = shared_->channels.find(channel);
    if (it == shared_->channels.end()) {
        auto name = std::make_shared<const std::string>(channel);
        it = shared_->channels.emplace(*name, Shared::Channel{name, {}}).first;
    }
    it->second.subscribers.push_back(std::move(outbox));
}

void Db::unsubscribe(std::string_view channel, const Outbox* outbox) {
    std::lock_guard lock(shared_->channels_mutex);
    auto it = shared_->channels.find(channel);
    if (it == shared_->channels.end()) return;
    auto& subs = it->second.subscribers;
    auto found = std::find_if(subs.begin(), subs.end(), [&](const auto& o) { return o.get() == outbox; });
    if (found != subs.end()) subs.erase(found);
    if (subs.empty()) shared_->channels.erase(it);
}

void Db::psubscribe(std::string_view pattern, std::shared_ptr<Outbox> outbox) {
    auto shared_pattern = std::make_shared<const std::string>(pattern);
    std::lock_guard lock(shared_->channels_mutex);
    shared_->patterns.push_back({std::move(shared_pattern), std::move(outbox)});
}

void Db::punsubscribe(std::string_view pattern, const Outbox* outbox) {
    std::lock_guard lock(shared_->channels_mutex);
    auto& subs = shared_->patterns;
    auto found = std::find_if(subs.begin(), subs.end(),
                              [&](const auto& sub) { return sub.outbox.get() == outbox && *sub.pattern == pattern; });
    if (found != subs.end()) subs.erase(found);
}

std::size_t Db::channel_count() const {
    std::lock_guard lock(shared_->channels_mutex);
    return shared_->channels.size();
}

void Db::set_loading(bool loading) {
    shared_->loading.store(loading);
    if (!loading) shared_->purge_wakeup.notify_one();  // deadlines may have passed while loading
}

void Db::on_expired(std::function<void(std::string_view key)> listener) {
    shared_->expired_listener = std::move(listener);
}

void Db::on_served(std::function<void(std::string_view key, bool from_head)> listener) {
    shared_->served_listener = std::move(listener);
}

std::size_t Db::key_count() const {
    std::size_t n = 0;
    for (const Shard& shard : shared_->shards) {
        std::lock_guard lock(shard.mutex);
        n += shard.table.size();
    }
    return n;
}

std::size_t Db::expiring_count() const {
    std::size_t n = 0;
    for (const Shard& shard : shared_->shards) {
        std::lock_guard lock(shard.mutex);
        n += shard.table.expiring();
    }
    return n;
}

DbDropGuard::DbDropGuard(DbOptions options) : db_(std::make_shared<Db::Shared>(options)) {
    corio::spawn(Db::purge_expired_keys(db_.shared_));
}

DbDropGuard::~DbDropGuard() {
    if (db_.shared_ == nullptr) return;
    db_.shared_->shutdown.store(true);
    db_.shared_->purge_wakeup.notify_one();
}

}  // namespace mini_redis
