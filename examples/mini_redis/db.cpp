// The key space, its expiry task and the pub/sub channels (see db.hpp).
#include "db.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <corio/runtime.hpp>
#include <corio/select.hpp>
#include <functional>
#include <limits>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "frame.hpp"

namespace mini_redis {

namespace {

using corio::time::Instant;

/// std::hash over string_view, so maps keyed by std::string can be searched
/// with a string_view without building a string.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct Entry {
    std::string value;
    std::optional<Instant> expires_at;
};

/// One slice of the key space. Invariant: `expirations` holds exactly the
/// (deadline, key) pairs of the entries that have a deadline.
struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> entries;
    std::set<std::pair<Instant, std::string>> expirations;

    /// The live entry of `key` at `now`, or null when absent or expired.
    Entry* live(std::string_view key, Instant now) {
        auto it = entries.find(key);
        if (it == entries.end()) return nullptr;
        if (it->second.expires_at && *it->second.expires_at <= now) return nullptr;
        return &it->second;
    }
    const Entry* live(std::string_view key, Instant now) const { return const_cast<Shard*>(this)->live(key, now); }

    /// The same, reading the clock only when the entry has a deadline: most
    /// keys have none, and a clock read per command showed in profiles.
    Entry* live(std::string_view key) {
        auto it = entries.find(key);
        if (it == entries.end()) return nullptr;
        if (it->second.expires_at && *it->second.expires_at <= Instant::now()) return nullptr;
        return &it->second;
    }
    const Entry* live(std::string_view key) const { return const_cast<Shard*>(this)->live(key); }

    void set_deadline(const std::string& key, Entry& entry, std::optional<Instant> at) {
        if (entry.expires_at) expirations.erase({*entry.expires_at, key});
        entry.expires_at = at;
        if (at) expirations.emplace(*at, key);
    }

    bool erase(std::string_view key) {
        auto it = entries.find(key);
        if (it == entries.end()) return false;
        if (it->second.expires_at) expirations.erase({*it->second.expires_at, it->first});
        entries.erase(it);
        return true;
    }

    /// Whether an entry expired at `now` is still stored.
    bool has_expired(Instant now) const { return !expirations.empty() && expirations.begin()->first <= now; }

    /// Removes at most `limit` of the entries expired at `now` (earliest
    /// first); true when none expired at `now` is left.
    bool purge(Instant now, std::size_t limit) {
        for (; limit > 0 && has_expired(now); --limit) {
            auto first = expirations.begin();
            entries.erase(first->second);
            expirations.erase(first);
        }
        return !has_expired(now);
    }

    /// The earliest deadline of a stored entry, if any.
    std::optional<Instant> next_deadline() const {
        if (expirations.empty()) return std::nullopt;
        return expirations.begin()->first;
    }
};

/// Keys the expiry task removes per hold of a shard's lock, between two
/// yields. Removing one costs 1-2 us (a map and a set erase, two frees).
/// The scheduler polls for I/O only after event_interval (61) polls, and a
/// yielded task is polled again within them, so a client may wait for 61
/// batches: 64 keys keep that near 5 ms (256 gave 28 ms), where removing
/// every expired key at once stalled clients for 0.6 s when 1,000,000
/// expired at one instant (bench/RESULTS.md).
constexpr std::size_t kPurgeBatch = 64;

constexpr std::size_t kShardCount = 16;

/// purge_deadline_ values besides a deadline's tick count.
constexpr std::int64_t kPurging = std::numeric_limits<std::int64_t>::min();  // scanning: always wake
constexpr std::int64_t kNoDeadline = std::numeric_limits<std::int64_t>::max();

std::int64_t ticks(Instant t) noexcept { return t.into_std().time_since_epoch().count(); }

}  // namespace

struct Db::Shared {
    explicit Shared(DbOptions opts) : options(opts) {}

    Shard& shard(std::string_view key) { return shards[StringHash{}(key) % kShardCount]; }
    const Shard& shard(std::string_view key) const { return shards[StringHash{}(key) % kShardCount]; }

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

    /// A channel's subscribers, in subscription order, and its name as
    /// every message carries it (shared, not copied per message).
    struct Channel {
        Payload name;
        std::vector<std::shared_ptr<Outbox>> subscribers;
    };
    mutable std::mutex channels_mutex;
    std::unordered_map<std::string, Channel, StringHash, std::equal_to<>> channels;
};

namespace {

/// Removes the keys of `shard` expired at `now`, kPurgeBatch per hold of its
/// lock, yielding to the runtime between batches (a GET of another key may
/// run in between; one of a key not yet removed sees it expired, as reads
/// check the deadline). The earliest deadline left; it stops early, with
/// std::nullopt, on `shutdown`.
corio::Task<std::optional<Instant>> purge_shard(Shard& shard, Instant now, const std::atomic<bool>& shutdown) {
    for (;;) {
        {
            std::lock_guard lock(shard.mutex);
            if (shard.purge(now, kPurgeBatch)) co_return shard.next_deadline();
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
    while (!shared->shutdown.load()) {
        shared->purge_deadline.store(kPurging);
        Instant now = Instant::now();
        std::optional<Instant> next;
        for (Shard& shard : shared->shards) {
            std::optional<Instant> earliest = co_await purge_shard(shard, now, shared->shutdown);
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

std::optional<std::string> Db::get(std::string_view key) const {
    const Shard& shard = shared_->shard(key);
    std::lock_guard lock(shard.mutex);
    const Entry* entry = shard.live(key);
    if (entry == nullptr) return std::nullopt;
    return entry->value;
}

bool Db::set(std::string_view key, std::string value, std::optional<Instant> expires_at, SetCondition condition) {
    Shard& shard = shared_->shard(key);
    {
        std::lock_guard lock(shard.mutex);
        if (condition != SetCondition::Always) {
            bool present = shard.live(key) != nullptr;
            if (present != (condition == SetCondition::IfPresent)) return false;
        }
        auto it = shard.entries.find(key);
        if (it == shard.entries.end()) it = shard.entries.try_emplace(std::string(key)).first;
        it->second.value = std::move(value);
        shard.set_deadline(it->first, it->second, expires_at);
    }
    if (expires_at) shared_->deadline_added(*expires_at);
    return true;
}

bool Db::del(std::string_view key) {
    Shard& shard = shared_->shard(key);
    std::lock_guard lock(shard.mutex);
    bool was_live = shard.live(key) != nullptr;
    shard.erase(key);
    return was_live;
}

bool Db::exists(std::string_view key) const {
    const Shard& shard = shared_->shard(key);
    std::lock_guard lock(shard.mutex);
    return shard.live(key) != nullptr;
}

std::expected<std::int64_t, IncrError> Db::incr(std::string_view key) {
    Shard& shard = shared_->shard(key);
    std::lock_guard lock(shard.mutex);
    Entry* entry = shard.live(key);
    std::int64_t value = 0;
    if (entry != nullptr && !parse_int64(entry->value, value)) return std::unexpected(IncrError::NotAnInteger);
    if (value == std::numeric_limits<std::int64_t>::max()) return std::unexpected(IncrError::Overflow);
    ++value;
    if (entry == nullptr) {
        shard.erase(key);  // an expired entry may still be there
        entry = &shard.entries.try_emplace(std::string(key)).first->second;
    }
    entry->value = std::to_string(value);
    return value;
}

bool Db::expire(std::string_view key, Instant at) {
    Shard& shard = shared_->shard(key);
    Instant now = Instant::now();
    {
        std::lock_guard lock(shard.mutex);
        if (shard.live(key, now) == nullptr) return false;
        if (at <= now) {
            shard.erase(key);
            return true;
        }
        auto it = shard.entries.find(key);
        shard.set_deadline(it->first, it->second, at);
    }
    shared_->deadline_added(at);
    return true;
}

std::int64_t Db::ttl_millis(std::string_view key) const {
    const Shard& shard = shared_->shard(key);
    Instant now = Instant::now();
    std::lock_guard lock(shard.mutex);
    const Entry* entry = shard.live(key, now);
    if (entry == nullptr) return -2;
    if (!entry->expires_at) return -1;
    auto left = *entry->expires_at - now;
    return std::chrono::ceil<std::chrono::milliseconds>(left).count();
}

std::size_t Db::publish(std::string_view channel, Payload message) {
    std::lock_guard lock(shared_->channels_mutex);
    auto it = shared_->channels.find(channel);
    if (it == shared_->channels.end()) return 0;
    std::size_t reached = 0;
    for (const auto& outbox : it->second.subscribers) reached += outbox->push(it->second.name, message) ? 1 : 0;
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

std::size_t Db::channel_count() const {
    std::lock_guard lock(shared_->channels_mutex);
    return shared_->channels.size();
}

std::size_t Db::key_count() const {
    std::size_t n = 0;
    for (const Shard& shard : shared_->shards) {
        std::lock_guard lock(shard.mutex);
        n += shard.entries.size();
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
