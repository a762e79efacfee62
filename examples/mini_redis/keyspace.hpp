// One shard of the key space: a hash table of Entries, each one allocation
// holding the key's bytes, its value and its deadline, and the shard's
// deadlines in order. Not thread-safe: the Db holds the shard's lock around
// every call.
//
// Memory per key is what a server with millions of small keys is about: an
// Entry is 40 bytes plus the key's bytes (with a 16-byte key and a value of
// up to 15 bytes, one 64-byte malloc chunk), plus one or two 8-byte bucket
// pointers. A std::unordered_map<std::string, {std::string, deadline}> took a
// node, a key string and a value string: 141 bytes per key.
#pragma once

#include <corio/time.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "value.hpp"

namespace mini_redis {

/// A key and its value (a string, a list or a hash) and deadline.
class Entry {
public:
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

    std::string_view key() const noexcept { return {reinterpret_cast<const char*>(this + 1), key_size_}; }
    ValueType type() const noexcept { return type_; }

    /// The value when it is of that type, else null.
    const Str* string() const noexcept { return type_ == ValueType::String ? &str_ : nullptr; }
    List* list() noexcept { return type_ == ValueType::List ? list_ : nullptr; }
    const List* list() const noexcept { return type_ == ValueType::List ? list_ : nullptr; }
    Hash* hash() noexcept { return type_ == ValueType::Hash ? hash_ : nullptr; }
    const Hash* hash() const noexcept { return type_ == ValueType::Hash ? hash_ : nullptr; }

    /// Replaces the value (of whatever type) with a string, an empty list
    /// or an empty hash. The deadline stays.
    void set_string(Str value);
    List& make_list();
    Hash& make_hash();

    /// The deadline, if any.
    std::optional<corio::time::Instant> deadline() const noexcept;

private:
    friend class KeyTable;
    static constexpr std::int64_t kNoDeadline = std::numeric_limits<std::int64_t>::max();

    Entry(std::string_view key, std::size_t hash) noexcept;
    ~Entry();
    void destroy_value() noexcept;

    Entry* next_ = nullptr;  // in its bucket's chain
    std::int64_t deadline_ = kNoDeadline;
    std::uint32_t key_size_;
    ValueType type_ = ValueType::String;
    std::uint16_t hash_tag_;  // 16 bits of the key's hash: skips most key compares in a chain
    union {
        Str str_;
        List* list_;
        Hash* hash_;
    };
    // The key's bytes follow.
};

/// The entries of one shard, by key, and their deadlines in order.
class KeyTable {
public:
    KeyTable() = default;
    KeyTable(const KeyTable&) = delete;
    KeyTable& operator=(const KeyTable&) = delete;
    ~KeyTable();
    /// Exchanges the contents (entries and deadlines) of two tables.
    void swap(KeyTable& other) noexcept {
        buckets_.swap(other.buckets_);
        std::swap(size_, other.size_);
        deadlines_.swap(other.deadlines_);
    }

    /// The entry of `key` (expired or not), or null.
    Entry* find(std::string_view key) const noexcept;
    /// The entry of `key`, added with an empty string value when absent.
    Entry& find_or_insert(std::string_view key);
    /// Removes and frees `entry`.
    void erase(Entry& entry) noexcept;
    /// Sets or clears the deadline of `entry`.
    void set_deadline(Entry& entry, std::optional<corio::time::Instant> at);

    /// Whether `entry` has expired at `now`.
    static bool expired(const Entry& entry, corio::time::Instant now) noexcept;

    std::size_t size() const noexcept { return size_; }
    /// How many entries have a deadline.
    std::size_t expiring() const noexcept { return deadlines_.size(); }

    /// Removes at most `limit` entries expired at `now`, earliest first,
    /// calling `removed(key)` for each; true when none expired at `now` is left.
    template <class Removed>
    bool purge(corio::time::Instant now, std::size_t limit, Removed&& removed) {
        std::int64_t now_ticks = ticks_of(now);
        for (; limit > 0 && !deadlines_.empty() && deadlines_.begin()->first <= now_ticks; --limit) {
            Entry& entry = *deadlines_.begin()->second;
            removed(entry.key());
            erase(entry);
        }
        return deadlines_.empty() || deadlines_.begin()->first > now_ticks;
    }
    /// The earliest deadline, if any.
    std::optional<corio::time::Instant> next_deadline() const noexcept;

    /// SCAN's walk: calls `visit(entry)` for the entries of the buckets from
    /// `cursor` on, until at least `count` were visited; the cursor to go on
    /// from, 0 when the walk is over. Reverse-binary order (Redis's): every
    /// entry present throughout a walk is visited at least once even when
    /// the table grows between two calls.
    template <class Visit>
    std::uint64_t scan(std::uint64_t cursor, std::size_t count, Visit&& visit) const;

    /// Calls `visit(entry)` for every entry.
    template <class Visit>
    void for_each(Visit&& visit) const {
        for (Entry* head : buckets_) {
            for (Entry* e = head; e != nullptr; e = e->next_) visit(*e);
        }
    }

private:
    static std::int64_t ticks_of(corio::time::Instant t) noexcept { return t.into_std().time_since_epoch().count(); }
    static std::size_t hash_of(std::string_view key) noexcept;
    std::size_t bucket_of(std::size_t hash) const noexcept { return hash & (buckets_.size() - 1); }
    void grow();

    std::vector<Entry*> buckets_;  // a power of two in size, or empty
    std::size_t size_ = 0;
    std::set<std::pair<std::int64_t, Entry*>> deadlines_;  // (deadline ticks, entry)
};

/// The reverse-binary increment of `cursor` under `mask` (Redis's SCAN).
inline std::uint64_t next_scan_cursor(std::uint64_t cursor, std::uint64_t mask) noexcept {
    cursor |= ~mask;
    // Increment the reversed cursor.
    std::uint64_t reversed = 0;
    for (int i = 0; i < 64; ++i) reversed |= ((cursor >> i) & 1U) << (63 - i);
    ++reversed;
    cursor = 0;
    for (int i = 0; i < 64; ++i) cursor |= ((reversed >> i) & 1U) << (63 - i);
    return cursor;
}

template <class Visit>
std::uint64_t KeyTable::scan(std::uint64_t cursor, std::size_t count, Visit&& visit) const {
    if (buckets_.empty()) return 0;
    std::uint64_t mask = buckets_.size() - 1;
    std::size_t visited = 0;
    do {
        for (Entry* e = buckets_[cursor & mask]; e != nullptr; e = e->next_, ++visited) visit(*e);
        cursor = next_scan_cursor(cursor, mask);
    } while (cursor != 0 && visited < count);
    return cursor;
}

}  // namespace mini_redis
