// The string commands: GET, SET (with every option of Redis 7.0), SETNX,
// SETEX, PSETEX, GETDEL, MGET, MSET, MSETNX, INCR, INCRBY, DECR, DECRBY,
// APPEND and STRLEN, with Redis's replies and error texts.
#include <limits>
#include <string>
#include <vector>

#include "command_support.hpp"
#include "session.hpp"

namespace mini_redis {

namespace {

/// SET's options, as Redis 7.0 parses them (a later EX replaces an earlier
/// one; EX with PX, or KEEPTTL with either, is a syntax error).
struct SetOptions {
    enum Flag : unsigned { kNx = 1, kXx = 2, kGet = 4, kKeepTtl = 8, kEx = 16, kPx = 32, kExAt = 64, kPxAt = 128 };
    unsigned flags = 0;
    std::string_view expiry;  // the argument of the expiry option
    static constexpr unsigned kExpiry = kEx | kPx | kExAt | kPxAt;
};

bool parse_set_options(Session::Args args, SetOptions& out) {
    for (std::size_t i = 3; i < args.size(); ++i) {
        std::string name = lower(args[i]);
        bool has_next = i + 1 < args.size();
        auto expiry = [&](unsigned flag) {
            if ((out.flags & SetOptions::kKeepTtl) || (out.flags & SetOptions::kExpiry & ~flag) || !has_next)
                return false;
            out.flags |= flag;
            out.expiry = args[++i];
            return true;
        };
        bool ok = false;
        if (name == "nx") {
            ok = !(out.flags & SetOptions::kXx);
            out.flags |= SetOptions::kNx;
        } else if (name == "xx") {
            ok = !(out.flags & SetOptions::kNx);
            out.flags |= SetOptions::kXx;
        } else if (name == "get") {
            ok = true;
            out.flags |= SetOptions::kGet;
        } else if (name == "keepttl") {
            ok = !(out.flags & SetOptions::kExpiry);
            out.flags |= SetOptions::kKeepTtl;
        } else if (name == "ex") {
            ok = expiry(SetOptions::kEx);
        } else if (name == "px") {
            ok = expiry(SetOptions::kPx);
        } else if (name == "exat") {
            ok = expiry(SetOptions::kExAt);
        } else if (name == "pxat") {
            ok = expiry(SetOptions::kPxAt);
        }
        if (!ok) return false;
    }
    return true;
}

}  // namespace

void Session::get(Args args) {
    auto value = state_->db.get(args[1]);
    if (!value) {
        reply(resp::Error{kWrongType});
    } else if (*value) {
        reply_value(**value);
    } else {
        reply(resp::NullBulk{});
    }
}

void Session::set(Args args) {
    SetOptions options;
    if (!parse_set_options(args, options)) {
        reply(resp::Error{kSyntaxError});
        return;
    }
    std::optional<std::int64_t> deadline_ms;
    if (options.flags & SetOptions::kExpiry) {
        bool seconds = options.flags & (SetOptions::kEx | SetOptions::kExAt);
        bool absolute = options.flags & (SetOptions::kExAt | SetOptions::kPxAt);
        std::int64_t unix_ms = 0;
        switch (parse_expiry(options.expiry, seconds ? 1000 : 1, absolute, true, unix_ms)) {
            case ExpiryError::None:
                deadline_ms = unix_ms;
                break;
            case ExpiryError::NotAnInteger:
                reply(resp::Error{kNotAnInteger});
                return;
            case ExpiryError::Invalid:
                reply(resp::Error{"ERR invalid expire time in 'set' command"});
                return;
        }
    }
    store_string(args[1], args[2], deadline_ms, options.flags & SetOptions::kKeepTtl,
                 options.flags & SetOptions::kNx   ? SetIf::Absent
                 : options.flags & SetOptions::kXx ? SetIf::Present
                                                   : SetIf::Always,
                 options.flags & SetOptions::kGet);
}

void Session::store_string(std::string_view key, std::string_view bytes, std::optional<std::int64_t> deadline_ms,
                           bool keep_ttl, SetIf condition, bool reply_old) {
    Str value(bytes);  // copied before the lock is taken
    Db::Access access = state_->db.lock(key);
    Entry* entry = access.find(key);
    if (reply_old) {  // SET ... GET: the old value first, and only over a string
        if (entry != nullptr && entry->string() == nullptr) {
            reply(resp::Error{kWrongType});
            return;
        }
        if (entry != nullptr) {
            reply(resp::Bulk{entry->string()->view()});
        } else {
            reply(resp::NullBulk{});
        }
    }
    if ((condition == SetIf::Absent && entry != nullptr) || (condition == SetIf::Present && entry == nullptr)) {
        if (!reply_old) reply(resp::NullBulk{});
        return;
    }
    if (entry == nullptr) entry = access.find_or_create(key).first;
    entry->set_string(std::move(value));
    if (deadline_ms) {
        access.set_deadline(*entry, instant_of_unix_millis(*deadline_ms, access.now()));
    } else if (!keep_ttl) {
        access.set_deadline(*entry, std::nullopt);
    }
    if (!reply_old) reply(resp::Simple{"OK"});
}

void Session::setnx(Args args) {
    Str value(args[2]);
    Db::Access access = state_->db.lock(args[1]);
    auto [entry, created] = access.find_or_create(args[1]);
    if (created) entry->set_string(std::move(value));
    reply(resp::Integer{created ? 1 : 0});
}

void Session::setex(Args args) {
    bool seconds = equals_ignore_case(args[0], "setex");
    std::int64_t unix_ms = 0;
    switch (parse_expiry(args[2], seconds ? 1000 : 1, false, true, unix_ms)) {
        case ExpiryError::None:
            store_string(args[1], args[3], unix_ms, false, SetIf::Always, false);
            return;
        case ExpiryError::NotAnInteger:
            reply(resp::Error{kNotAnInteger});
            return;
        case ExpiryError::Invalid:
            reply(resp::Error{"ERR invalid expire time in '" + lower(args[0]) + "' command"});
            return;
    }
}

void Session::getdel(Args args) {
    Db::Access access = state_->db.lock(args[1]);
    Entry* entry = access.find(args[1]);
    if (entry == nullptr) {
        reply(resp::NullBulk{});
    } else if (const Str* value = entry->string()) {
        reply(resp::Bulk{value->view()});
        access.erase(*entry);
    } else {
        reply(resp::Error{kWrongType});
    }
}

void Session::mget(Args args) {
    Args keys = args.subspan(1);
    Db::Access access = state_->db.lock(keys);
    reply(resp::ArrayHeader{keys.size()});
    for (std::string_view key : keys) {
        const Entry* entry = access.find(key);
        const Str* value = entry != nullptr ? entry->string() : nullptr;
        if (value != nullptr) {
            reply(resp::Bulk{value->view()});
        } else {
            reply(resp::NullBulk{});
        }
    }
}

void Session::mset(Args args) {
    if (args.size() % 2 == 0) {
        reply(resp::Error{"ERR wrong number of arguments for '" + lower(args[0]) + "' command"});
        return;
    }
    bool only_new = equals_ignore_case(args[0], "msetnx");
    std::vector<std::string_view> keys;
    std::vector<Str> values;
    for (std::size_t i = 1; i < args.size(); i += 2) {
        keys.push_back(args[i]);
        values.emplace_back(args[i + 1]);
    }
    Db::Access access = state_->db.lock(keys);  // atomic: no client sees half of it
    if (only_new) {
        for (std::string_view key : keys) {
            if (access.find(key) != nullptr) {
                reply(resp::Integer{0});
                return;
            }
        }
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
        Entry* entry = access.find_or_create(keys[i]).first;
        entry->set_string(std::move(values[i]));
        access.set_deadline(*entry, std::nullopt);
    }
    if (only_new) {
        reply(resp::Integer{1});
    } else {
        reply(resp::Simple{"OK"});
    }
}

void Session::incr(Args args) {
    // INCR, DECR (no argument) and INCRBY, DECRBY (the amount).
    bool down = equals_ignore_case(args[0].substr(0, 4), "decr");
    std::int64_t amount = 1;
    if (args.size() == 3 && !parse_int64(args[2], amount)) {
        reply(resp::Error{kNotAnInteger});
        return;
    }
    if (down) {
        if (amount == std::numeric_limits<std::int64_t>::min()) {
            reply(resp::Error{"ERR decrement would overflow"});
            return;
        }
        amount = -amount;
    }
    Db::Access access = state_->db.lock(args[1]);
    Entry* entry = access.find(args[1]);
    std::int64_t value = 0;
    if (entry != nullptr) {
        const Str* text = entry->string();
        if (text == nullptr) {
            reply(resp::Error{kWrongType});
            return;
        }
        if (!parse_int64(text->view(), value)) {
            reply(resp::Error{kNotAnInteger});
            return;
        }
    }
    if ((amount > 0 && value > std::numeric_limits<std::int64_t>::max() - amount) ||
        (amount < 0 && value < std::numeric_limits<std::int64_t>::min() - amount)) {
        reply(resp::Error{"ERR increment or decrement would overflow"});
        return;
    }
    value += amount;
    if (entry == nullptr) entry = access.find_or_create(args[1]).first;
    entry->set_string(Str(std::to_string(value)));  // the deadline stays
    reply(resp::Integer{value});
}

void Session::append(Args args) {
    Db::Access access = state_->db.lock(args[1]);
    auto [entry, created] = access.find_or_create(args[1]);
    const Str* old = entry->string();
    if (old == nullptr) {
        reply(resp::Error{kWrongType});
        return;
    }
    // A Str is immutable (GETs may be sending it): build the new value.
    std::string joined;
    joined.reserve(old->size() + args[2].size());
    joined.append(old->view()).append(args[2]);
    entry->set_string(Str(joined));
    reply(resp::Integer{static_cast<std::int64_t>(joined.size())});
}

void Session::strlen(Args args) {
    Db::Access access = state_->db.lock(args[1]);
    const Entry* entry = access.find(args[1]);
    if (entry == nullptr) {
        reply(resp::Integer{0});
    } else if (const Str* value = entry->string()) {
        reply(resp::Integer{static_cast<std::int64_t>(value->size())});
    } else {
        reply(resp::Error{kWrongType});
    }
}

}  // namespace mini_redis
