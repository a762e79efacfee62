// The shard's hash table (see keyspace.hpp).
#include "keyspace.hpp"

#include <cstring>
#include <functional>
#include <new>

namespace mini_redis {

namespace {

using corio::time::Instant;

Instant instant_of(std::int64_t ticks) noexcept {
    return Instant(Instant::Clock::time_point(Instant::Clock::duration(ticks)));
}

std::uint16_t tag_of(std::size_t hash) noexcept { return static_cast<std::uint16_t>(hash >> 48); }

}  // namespace

static_assert(sizeof(Entry) == 40, "an Entry and a 16-byte key fill a 64-byte malloc chunk");

Entry::Entry(std::string_view key, std::size_t hash) noexcept
    : key_size_(static_cast<std::uint32_t>(key.size())), hash_tag_(tag_of(hash)), str_() {
    std::memcpy(reinterpret_cast<char*>(this + 1), key.data(), key.size());
}

Entry::~Entry() { destroy_value(); }

void Entry::destroy_value() noexcept {
    switch (type_) {
        case ValueType::String:
            str_.~Str();
            break;
        case ValueType::List:
            delete list_;
            break;
        case ValueType::Hash:
            delete hash_;
            break;
    }
}

void Entry::set_string(Str value) {
    if (type_ == ValueType::String) {
        str_ = std::move(value);
        return;
    }
    destroy_value();
    new (&str_) Str(std::move(value));
    type_ = ValueType::String;
}

List& Entry::make_list() {
    auto* list = new List();
    destroy_value();
    list_ = list;
    type_ = ValueType::List;
    return *list;
}

Hash& Entry::make_hash() {
    auto* hash = new Hash();
    destroy_value();
    hash_ = hash;
    type_ = ValueType::Hash;
    return *hash;
}

std::optional<Instant> Entry::deadline() const noexcept {
    if (deadline_ == kNoDeadline) return std::nullopt;
    return instant_of(deadline_);
}

KeyTable::~KeyTable() {
    for (Entry* head : buckets_) {
        while (head != nullptr) {
            Entry* next = head->next_;
            head->~Entry();
            ::operator delete(head);
            head = next;
        }
    }
}

std::size_t KeyTable::hash_of(std::string_view key) noexcept { return std::hash<std::string_view>{}(key); }

Entry* KeyTable::find(std::string_view key) const noexcept {
    if (size_ == 0) return nullptr;
    std::size_t hash = hash_of(key);
    std::uint16_t tag = tag_of(hash);
    for (Entry* e = buckets_[bucket_of(hash)]; e != nullptr; e = e->next_) {
        if (e->hash_tag_ == tag && e->key() == key) return e;
    }
    return nullptr;
}

Entry& KeyTable::find_or_insert(std::string_view key) {
    if (Entry* e = find(key)) return *e;
    if (size_ >= buckets_.size()) grow();
    std::size_t hash = hash_of(key);
    void* memory = ::operator new(sizeof(Entry) + key.size());
    auto* e = new (memory) Entry(key, hash);
    Entry*& head = buckets_[bucket_of(hash)];
    e->next_ = head;
    head = e;
    ++size_;
    return *e;
}

void KeyTable::erase(Entry& entry) noexcept {
    if (entry.deadline_ != Entry::kNoDeadline) deadlines_.erase({entry.deadline_, &entry});
    Entry** link = &buckets_[bucket_of(hash_of(entry.key()))];
    while (*link != &entry) link = &(*link)->next_;
    *link = entry.next_;
    --size_;
    entry.~Entry();
    ::operator delete(&entry);
}

void KeyTable::set_deadline(Entry& entry, std::optional<Instant> at) {
    std::int64_t ticks = at ? ticks_of(*at) : Entry::kNoDeadline;
    if (ticks == entry.deadline_) return;
    if (entry.deadline_ != Entry::kNoDeadline) deadlines_.erase({entry.deadline_, &entry});
    entry.deadline_ = ticks;
    if (ticks != Entry::kNoDeadline) deadlines_.emplace(ticks, &entry);
}

bool KeyTable::expired(const Entry& entry, Instant now) noexcept {
    return entry.deadline_ != Entry::kNoDeadline && entry.deadline_ <= ticks_of(now);
}

std::optional<Instant> KeyTable::next_deadline() const noexcept {
    if (deadlines_.empty()) return std::nullopt;
    return instant_of(deadlines_.begin()->first);
}

void KeyTable::grow() {
    std::vector<Entry*> old = std::move(buckets_);
    buckets_.assign(old.empty() ? 8 : old.size() * 2, nullptr);
    for (Entry* head : old) {
        while (head != nullptr) {
            Entry* next = head->next_;
            Entry*& slot = buckets_[bucket_of(hash_of(head->key()))];
            head->next_ = slot;
            slot = head;
            head = next;
        }
    }
}

}  // namespace mini_redis
