// The commands on keys of any type: DEL, EXISTS, EXPIRE, PEXPIRE, EXPIREAT,
// PEXPIREAT (with NX/XX/GT/LT), TTL, PTTL, PERSIST, TYPE, RENAME, RENAMENX,
// KEYS, SCAN, DBSIZE and FLUSHDB, with Redis's replies and error texts.
#include <corio/task.hpp>
#include <string>
#include <vector>

#include "command_support.hpp"
#include "glob.hpp"
#include "session.hpp"

namespace mini_redis {

void Session::del(Args args) {
    Db::Access access = state_->db.lock(args.subspan(1));
    std::int64_t n = 0;
    for (std::string_view key : args.subspan(1)) {
        if (Entry* entry = access.find(key)) {
            access.erase(*entry);
            ++n;
        }
    }
    reply(resp::Integer{n});
}

void Session::exists(Args args) {
    Db::Access access = state_->db.lock(args.subspan(1));
    std::int64_t n = 0;
    for (std::string_view key : args.subspan(1)) n += access.find(key) != nullptr ? 1 : 0;
    reply(resp::Integer{n});
}

void Session::expire(Args args) {
    // EXPIRE, PEXPIRE (relative) and EXPIREAT, PEXPIREAT (Unix time).
    std::string name = lower(args[0]);
    bool millis = name[0] == 'p';
    bool absolute = name.ends_with("at");
    enum : unsigned { kNx = 1, kXx = 2, kGt = 4, kLt = 8 };
    unsigned flags = 0;
    for (std::string_view option : args.subspan(3)) {
        std::string o = lower(option);
        if (o == "nx") {
            flags |= kNx;
        } else if (o == "xx") {
            flags |= kXx;
        } else if (o == "gt") {
            flags |= kGt;
        } else if (o == "lt") {
            flags |= kLt;
        } else {
            reply(resp::Error{"ERR Unsupported option " + std::string(option)});
            return;
        }
    }
    if ((flags & kNx) && (flags & (kXx | kGt | kLt))) {
        reply(resp::Error{"ERR NX and XX, GT or LT options at the same time are not compatible"});
        return;
    }
    if ((flags & kGt) && (flags & kLt)) {
        reply(resp::Error{"ERR GT and LT options at the same time are not compatible"});
        return;
    }
    std::int64_t unix_ms = 0;
    switch (parse_expiry(args[2], millis ? 1 : 1000, absolute, false, unix_ms)) {
        case ExpiryError::None:
            break;
        case ExpiryError::NotAnInteger:
            reply(resp::Error{kNotAnInteger});
            return;
        case ExpiryError::Invalid:
            reply(resp::Error{"ERR invalid expire time in '" + name + "' command"});
            return;
    }
    Db::Access access = state_->db.lock(args[1]);
    Entry* entry = access.find(args[1]);
    if (entry == nullptr) {
        reply(resp::Integer{0});
        return;
    }
    std::optional<std::int64_t> current;  // the current deadline, Unix ms
    if (entry->deadline()) current = unix_millis_of(*entry->deadline(), access.now());
    bool refused = ((flags & kNx) && current) || ((flags & kXx) && !current) ||
                   ((flags & kGt) && (!current || unix_ms <= *current)) ||
                   ((flags & kLt) && current && unix_ms >= *current);
    if (refused) {
        reply(resp::Integer{0});
        return;
    }
    if (unix_ms <= unix_millis_now()) {  // not in the future: deleted now
        access.erase(*entry);
    } else {
        access.set_deadline(*entry, instant_of_unix_millis(unix_ms, access.now()));
    }
    reply(resp::Integer{1});
}

void Session::ttl(Args args) {
    // TTL (seconds, rounded) and PTTL (milliseconds).
    bool millis = equals_ignore_case(args[0], "pttl");
    Db::Access access = state_->db.lock(args[1]);
    const Entry* entry = access.find(args[1]);
    if (entry == nullptr) {
        reply(resp::Integer{-2});
        return;
    }
    std::optional<corio::time::Instant> deadline = entry->deadline();
    if (!deadline) {
        reply(resp::Integer{-1});
        return;
    }
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline->duration_since(access.now())).count();
    reply(resp::Integer{millis ? ms : (ms + 500) / 1000});
}

void Session::persist(Args args) {
    Db::Access access = state_->db.lock(args[1]);
    Entry* entry = access.find(args[1]);
    if (entry == nullptr || !entry->deadline()) {
        reply(resp::Integer{0});
        return;
    }
    access.set_deadline(*entry, std::nullopt);
    reply(resp::Integer{1});
}

void Session::type(Args args) {
    Db::Access access = state_->db.lock(args[1]);
    const Entry* entry = access.find(args[1]);
    reply(resp::Simple{entry == nullptr ? std::string_view("none") : type_name(entry->type())});
}

void Session::rename(Args args) {
    bool only_new = equals_ignore_case(args[0], "renamenx");
    Db::Access access = state_->db.lock(args.subspan(1, 2));
    Entry* from = access.find(args[1]);
    if (from == nullptr) {
        reply(resp::Error{"ERR no such key"});
        return;
    }
    if (args[1] == args[2]) {  // Redis 7.0: OK, or 0 for RENAMENX
        if (only_new) {
            reply(resp::Integer{0});
        } else {
            reply(resp::Simple{"OK"});
        }
        return;
    }
    Entry* to = access.find(args[2]);
    if (only_new && to != nullptr) {
        reply(resp::Integer{0});
        return;
    }
    if (to != nullptr) access.erase(*to);
    to = access.find_or_create(args[2]).first;
    // The value moves (a Str copy shares its bytes), with the deadline.
    switch (from->type()) {
        case ValueType::String:
            to->set_string(*from->string());
            break;
        case ValueType::List:
            to->make_list() = std::move(*from->list());
            break;
        case ValueType::Hash:
            to->make_hash() = std::move(*from->hash());
            break;
    }
    access.set_deadline(*to, from->deadline());
    access.erase(*from);
    if (only_new) {
        reply(resp::Integer{1});
    } else {
        reply(resp::Simple{"OK"});
    }
}

corio::Task<void> Session::keys(Args args) {
    // Shard by shard, yielding between two (a yield lets the runtime serve
    // other connections first), so that a KEYS over a million keys holds
    // neither the thread nor any shard's lock for all of them. Each shard's
    // matches are encoded as they are found; the reply is then their
    // concatenation behind the array header.
    std::string pattern(args[1]);
    std::vector<std::string> encoded;
    std::size_t found = 0;
    for (std::size_t shard = 0; shard < Db::kShardCount; ++shard) {
        std::string& out = encoded.emplace_back();
        {
            Db::Access access = state_->db.lock_shard(shard);
            access.for_each([&](const Entry& entry) {
                if (!glob_match(pattern, entry.key())) return;
                resp::bulk(out, entry.key());
                ++found;
            });
        }
        co_await corio::task::yield_now();
    }
    reply(resp::ArrayHeader{found});
    for (const std::string& part : encoded) conn_.write_buffer().append(part);
}

void Session::scan(Args args) {
    std::uint64_t cursor = 0;
    std::string_view digits = args[1];
    bool valid = !digits.empty();
    for (char c : digits) {
        valid = valid && c >= '0' && c <= '9';
        if (!valid) break;
        std::uint64_t next = cursor * 10 + static_cast<std::uint64_t>(c - '0');
        valid = next / 10 == cursor;
        cursor = next;
    }
    if (!valid) {
        reply(resp::Error{"ERR invalid cursor"});
        return;
    }
    std::int64_t count = 10;
    std::optional<std::string_view> pattern;
    std::optional<std::string> type;
    for (std::size_t i = 2; i < args.size(); i += 2) {
        std::string option = lower(args[i]);
        if (i + 1 >= args.size()) {
            reply(resp::Error{kSyntaxError});
            return;
        }
        if (option == "count") {
            if (!parse_int64(args[i + 1], count)) {
                reply(resp::Error{kNotAnInteger});
                return;
            }
            if (count < 1) {
                reply(resp::Error{kSyntaxError});
                return;
            }
        } else if (option == "match") {
            pattern = args[i + 1];
        } else if (option == "type") {
            type = lower(args[i + 1]);
        } else {
            reply(resp::Error{kSyntaxError});
            return;
        }
    }
    std::vector<std::string> keys;
    cursor = state_->db.scan(cursor, static_cast<std::size_t>(count), [&](const Entry& entry) {
        if (pattern && !glob_match(*pattern, entry.key())) return;
        if (type && type_name(entry.type()) != *type) return;
        keys.emplace_back(entry.key());
    });
    reply(resp::ArrayHeader{2});
    reply(resp::Bulk{std::to_string(cursor)});
    reply(resp::ArrayHeader{keys.size()});
    for (const std::string& key : keys) reply(resp::Bulk{key});
}

void Session::dbsize(Args) { reply(resp::Integer{static_cast<std::int64_t>(state_->db.key_count())}); }

void Session::flushdb(Args args) {
    if (args.size() > 2 ||
        (args.size() == 2 && !equals_ignore_case(args[1], "sync") && !equals_ignore_case(args[1], "async"))) {
        reply(resp::Error{kSyntaxError});
        return;
    }
    state_->db.flush();
    reply(resp::Simple{"OK"});
}

}  // namespace mini_redis
