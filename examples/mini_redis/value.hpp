// The values a mini-redis key holds: a string, a list or a hash.
//
// Str is a string value in 16 bytes: up to 15 bytes are stored inline, a
// longer one in a single shared allocation (a reference count, the size and
// the bytes) that copies of the Str share. A GET takes a copy of the stored
// Str under the shard's lock and encodes the reply from it after releasing
// the lock: a 100 MB value is then sent from the one stored copy (a SET that
// replaces it meanwhile only drops the Db's reference), where copying it out
// of the Db and then into the write buffer cost twice its size per GET.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mini_redis {

/// An immutable string value, cheap to copy: inline up to kInline bytes,
/// else shared by reference count. Copies may be used from any thread.
class Str {
public:
    /// The longest value stored inline.
    static constexpr std::size_t kInline = 15;

    Str() noexcept = default;
    /// A copy of `bytes`: inline when short, else one allocation.
    explicit Str(std::string_view bytes);
    Str(const Str& other) noexcept : data_(other.data_) { retain(); }
    Str(Str&& other) noexcept : data_(other.data_) { other.data_ = {}; }
    Str& operator=(const Str& other) noexcept {
        Str copy(other);
        swap(copy);
        return *this;
    }
    Str& operator=(Str&& other) noexcept {
        Str moved(std::move(other));
        swap(moved);
        return *this;
    }
    ~Str() { release(); }

    /// The bytes; valid while this Str (or a copy sharing them) lives.
    std::string_view view() const noexcept {
        if (is_shared()) return {block()->bytes(), block()->size};
        return {reinterpret_cast<const char*>(data_.data()), data_[kTag]};
    }
    std::size_t size() const noexcept { return is_shared() ? block()->size : data_[kTag]; }
    /// Whether the bytes are in a shared allocation (longer than kInline).
    bool is_shared() const noexcept { return data_[kTag] == kSharedTag; }

    void swap(Str& other) noexcept { std::swap(data_, other.data_); }
    friend bool operator==(const Str& a, std::string_view b) noexcept { return a.view() == b; }

private:
    /// data_[kTag]: the inline size, or kSharedTag when data_ starts with a Block*.
    static constexpr std::size_t kTag = kInline;
    static constexpr unsigned char kSharedTag = 0xff;

    struct Block {
        std::atomic<std::uint32_t> refs;
        std::size_t size;
        char* bytes() noexcept { return reinterpret_cast<char*>(this + 1); }
    };

    Block* block() const noexcept {
        Block* b = nullptr;
        std::memcpy(&b, data_.data(), sizeof b);
        return b;
    }
    void retain() noexcept {
        if (is_shared()) block()->refs.fetch_add(1, std::memory_order_relaxed);
    }
    void release() noexcept;

    alignas(8) std::array<unsigned char, 16> data_{};
};
static_assert(sizeof(Str) == 16);

/// A list value: its elements, head first.
using List = std::deque<Str>;

/// A hash value: field -> value, answered (HGETALL) in insertion order
/// while it is small, as Redis's listpack encoding does.
class Hash {
public:
    /// The value of `field`, or null.
    const Str* find(std::string_view field) const;
    /// Sets `field`; true when it is new.
    bool set(std::string_view field, Str value);
    /// Removes `field`; true when it was there.
    bool erase(std::string_view field);
    std::size_t size() const noexcept { return fields_.size(); }
    bool empty() const noexcept { return fields_.empty(); }
    /// The (field, value) pairs.
    const std::vector<std::pair<Str, Str>>& fields() const noexcept { return fields_; }

private:
    /// Above this many fields lookups go through index_ (and an erase moves
    /// the last field into the hole, so the order is no longer insertion's,
    /// as with Redis's hashtable encoding).
    static constexpr std::size_t kIndexAbove = 64;
    std::size_t position(std::string_view field) const;

    std::vector<std::pair<Str, Str>> fields_;
    std::unordered_map<std::string_view, std::size_t> index_;  // views into fields_[i].first
};

/// The type of a key's value, as TYPE names it.
enum class ValueType : std::uint8_t { String, List, Hash };

/// "string", "list" or "hash".
std::string_view type_name(ValueType type) noexcept;

/// Redis's reply to a command on a key of the wrong type.
inline constexpr std::string_view kWrongType = "WRONGTYPE Operation against a key holding the wrong kind of value";

}  // namespace mini_redis
