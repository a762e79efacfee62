// The hash commands: HSET, HGET, HDEL, HGETALL, HLEN, with Redis 7.0's
// replies and errors. A hash left without fields is deleted, as in Redis.
#include <cstdint>
#include <utility>
#include <vector>

#include "session.hpp"

namespace mini_redis {

void Session::hset(Args args) {
    if (args.size() % 2 != 0) {  // the table's arity allows any count of 4 or more
        reply(resp::Error{"ERR wrong number of arguments for 'hset' command"});
        return;
    }
    // Copied before the lock is taken: the shard is held only to insert.
    std::vector<std::pair<std::string_view, Str>> pairs;
    pairs.reserve((args.size() - 2) / 2);
    for (std::size_t i = 2; i < args.size(); i += 2) pairs.emplace_back(args[i], Str(args[i + 1]));
    Db::Access access = state_->db.lock(args[1]);
    auto [entry, created] = access.find_or_create(args[1]);
    Hash* hash = created ? &entry->make_hash() : entry->hash();
    if (hash == nullptr) {
        reply(resp::Error{kWrongType});
        return;
    }
    std::int64_t added = 0;
    for (auto& [field, value] : pairs) added += hash->set(field, std::move(value)) ? 1 : 0;
    reply(resp::Integer{added});
}

void Session::hget(Args args) {
    Str value;
    {
        Db::Access access = state_->db.lock(args[1]);
        const Entry* entry = access.find(args[1]);
        if (entry == nullptr) {
            reply(resp::NullBulk{});
            return;
        }
        const Hash* hash = entry->hash();
        if (hash == nullptr) {
            reply(resp::Error{kWrongType});
            return;
        }
        const Str* found = hash->find(args[2]);
        if (found == nullptr) {
            reply(resp::NullBulk{});
            return;
        }
        value = *found;  // shared, not copied: encoded after the lock is released
    }
    reply_value(value);
}

void Session::hdel(Args args) {
    Db::Access access = state_->db.lock(args[1]);
    Entry* entry = access.find(args[1]);
    if (entry == nullptr) {
        reply(resp::Integer{0});
        return;
    }
    Hash* hash = entry->hash();
    if (hash == nullptr) {
        reply(resp::Error{kWrongType});
        return;
    }
    std::int64_t removed = 0;
    for (std::string_view field : args.subspan(2)) removed += hash->erase(field) ? 1 : 0;
    if (hash->empty()) access.erase(*entry);
    reply(resp::Integer{removed});
}

void Session::hgetall(Args args) {
    std::vector<std::pair<Str, Str>> fields;  // shared copies: encoded after the lock is released
    {
        Db::Access access = state_->db.lock(args[1]);
        const Entry* entry = access.find(args[1]);
        if (entry != nullptr) {
            const Hash* hash = entry->hash();
            if (hash == nullptr) {
                reply(resp::Error{kWrongType});
                return;
            }
            fields = hash->fields();
        }
    }
    reply(resp::ArrayHeader{fields.size() * 2});
    for (const auto& [field, value] : fields) {
        reply(resp::Bulk{field.view()});
        reply(resp::Bulk{value.view()});
    }
}

void Session::hlen(Args args) {
    Db::Access access = state_->db.lock(args[1]);
    const Entry* entry = access.find(args[1]);
    if (entry == nullptr) {
        reply(resp::Integer{0});
        return;
    }
    const Hash* hash = entry->hash();
    if (hash == nullptr) {
        reply(resp::Error{kWrongType});
        return;
    }
    reply(resp::Integer{static_cast<std::int64_t>(hash->size())});
}

}  // namespace mini_redis
