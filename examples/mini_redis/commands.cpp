// The commands a session executes, with Redis's arity rules, option parsing
// and error messages. Each appends exactly one reply (SUBSCRIBE and
// UNSUBSCRIBE one per channel) to the session's write buffer.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <limits>
#include <string>

#include "session.hpp"

namespace mini_redis {

namespace {

using corio::time::Instant;

/// What SET requires of the key before it writes.
enum class SetCondition {
    Always,
    IfAbsent,   ///< NX
    IfPresent,  ///< XX
};

constexpr std::string_view kNotAnInteger = "ERR value is not an integer or out of range";
constexpr std::string_view kSyntaxError = "ERR syntax error";

std::string lower(std::string_view s) {
    std::string l(s);
    for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return l;
}

bool equals_ignore_case(std::string_view a, std::string_view lower_b) {
    return a.size() == lower_b.size() && std::equal(a.begin(), a.end(), lower_b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == y;
           });
}

bool arity_ok(int arity, std::size_t words) {
    auto n = static_cast<int>(std::min<std::size_t>(words, std::numeric_limits<int>::max()));
    return arity >= 0 ? n == arity : n >= -arity;
}

/// Redis's "unknown command" error, quoting the first arguments.
std::string unknown_command(std::span<const std::string_view> args) {
    std::string message =
        "ERR unknown command '" + std::string(args[0].substr(0, 128)) + "', with args beginning with: ";
    std::size_t budget = 128;
    for (std::size_t i = 1; i < args.size() && budget > 0; ++i) {
        std::string quoted = "'" + std::string(args[i].substr(0, budget)) + "' ";
        budget -= std::min(budget, args[i].size());
        message += quoted;
    }
    // An error reply is one line: keep line breaks out of it.
    std::replace_if(message.begin(), message.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
    return message;
}

/// Milliseconds from an EX (seconds) or PX argument; false when not a
/// positive integer that fits (`unit` is 1000 for seconds).
enum class ExpiryParse { Ok, NotAnInteger, Invalid };
ExpiryParse parse_expiry(std::string_view text, std::int64_t unit, std::int64_t& millis) {
    std::int64_t v = 0;
    if (!parse_int64(text, v)) return ExpiryParse::NotAnInteger;
    if (v <= 0 || v > std::numeric_limits<std::int64_t>::max() / unit) return ExpiryParse::Invalid;
    millis = v * unit;
    return ExpiryParse::Ok;
}

}  // namespace

// The commands, by name. Arity and flags as Redis's COMMAND INFO gives them.
const Session::Command Session::kCommandTable[] = {
    // Connection and server
    {"ping", -1, kSubscribeMode, &Session::ping, nullptr},
    {"echo", 2, 0, &Session::echo, nullptr},
    {"quit", -1, kSubscribeMode, &Session::quit, nullptr},
    {"select", 2, 0, &Session::select, nullptr},
    {"config", -2, 0, &Session::config, nullptr},
    {"command", -1, 0, &Session::command, nullptr},
    {"client", -2, 0, &Session::client, nullptr},
    {"info", -1, 0, &Session::info, nullptr},
    // Strings and keys
    {"get", 2, 0, &Session::get, nullptr},
    {"set", -3, kWrite, &Session::set, nullptr},
    {"del", -2, kWrite, &Session::del, nullptr},
    {"exists", -2, 0, &Session::exists, nullptr},
    {"incr", 2, kWrite, &Session::incr, nullptr},
    {"expire", -3, kWrite, &Session::expire, nullptr},
    {"ttl", 2, 0, &Session::ttl, nullptr},
    // Pub/sub
    {"publish", 3, 0, &Session::publish, nullptr},
    {"subscribe", -2, kSubscribeMode, &Session::subscribe, nullptr},
    {"unsubscribe", -1, kSubscribeMode, &Session::unsubscribe, nullptr},
    // Lists and hashes (commands_list.cpp, commands_hash.cpp)
    {"lpush", -3, kWrite, &Session::lpush, nullptr},
    {"rpush", -3, kWrite, &Session::rpush, nullptr},
    {"lpop", -2, kWrite, &Session::lpop, nullptr},
    {"rpop", -2, kWrite, &Session::rpop, nullptr},
    {"lrange", 4, 0, &Session::lrange, nullptr},
    {"llen", 2, 0, &Session::llen, nullptr},
    {"psubscribe", -2, kSubscribeMode, &Session::psubscribe, nullptr},
    {"punsubscribe", -1, kSubscribeMode, &Session::punsubscribe, nullptr},
    {"blpop", -3, kWrite, nullptr, &Session::blpop},
    {"brpop", -3, kWrite, nullptr, &Session::brpop},
    {"hset", -4, kWrite, &Session::hset, nullptr},
    {"hget", 3, 0, &Session::hget, nullptr},
    {"hdel", -3, kWrite, &Session::hdel, nullptr},
    {"hgetall", 2, 0, &Session::hgetall, nullptr},
    {"hlen", 2, 0, &Session::hlen, nullptr},
};

const Session::Command* Session::find_command(std::string_view name) {
    for (const Command& command : kCommandTable) {
        if (equals_ignore_case(name, command.name)) return &command;
    }
    return nullptr;
}

void Session::execute(Args args) {
    const Command* command = find_command(args[0]);
    if (command == nullptr) {
        reply(resp::Error{unknown_command(args)});
        return;
    }
    if (subscribed() && !(command->flags & kSubscribeMode)) {
        reply(resp::Error{"ERR Can't execute '" + std::string(command->name) +
                          "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this "
                          "context"});
        return;
    }
    if (!arity_ok(command->arity, args.size())) {
        reply(resp::Error{"ERR wrong number of arguments for '" + std::string(command->name) + "' command"});
        return;
    }
    if (command->run_async != nullptr) {
        awaiting_ = AwaitedCommand{command->run_async, args};  // respond() runs it
        return;
    }
    (this->*command->run)(args);
}

void Session::ping(Args args) {
    if (args.size() > 2) {
        reply(resp::Error{"ERR wrong number of arguments for 'ping' command"});
        return;
    }
    if (subscribed()) {  // in subscribe mode a PING is answered as a message
        reply(resp::ArrayHeader{2});
        reply(resp::Bulk{"pong"});
        reply(resp::Bulk{args.size() == 2 ? args[1] : std::string_view()});
        return;
    }
    if (args.size() == 2) {
        reply(resp::Bulk{args[1]});
    } else {
        reply(resp::Simple{"PONG"});
    }
}

void Session::echo(Args args) { reply(resp::Bulk{args[1]}); }

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
    std::optional<std::int64_t> expire_ms;
    SetCondition condition = SetCondition::Always;
    for (std::size_t i = 3; i < args.size(); ++i) {
        std::string_view option = args[i];
        bool ex = equals_ignore_case(option, "ex");
        if ((ex || equals_ignore_case(option, "px")) && !expire_ms && i + 1 < args.size()) {
            std::int64_t ms = 0;
            switch (parse_expiry(args[++i], ex ? 1000 : 1, ms)) {
                case ExpiryParse::Ok:
                    break;
                case ExpiryParse::NotAnInteger:
                    reply(resp::Error{kNotAnInteger});
                    return;
                case ExpiryParse::Invalid:
                    reply(resp::Error{"ERR invalid expire time in 'set' command"});
                    return;
            }
            expire_ms = ms;
        } else if (equals_ignore_case(option, "nx") && condition == SetCondition::Always) {
            condition = SetCondition::IfAbsent;
        } else if (equals_ignore_case(option, "xx") && condition == SetCondition::Always) {
            condition = SetCondition::IfPresent;
        } else {
            reply(resp::Error{kSyntaxError});
            return;
        }
    }
    Str value(args[2]);  // copied before the lock is taken
    Db::Access access = state_->db.lock(args[1]);
    Entry* entry = access.find(args[1]);
    if (condition != SetCondition::Always && (entry != nullptr) != (condition == SetCondition::IfPresent)) {
        reply(resp::NullBulk{});
        return;
    }
    if (entry == nullptr) entry = access.find_or_create(args[1]).first;
    entry->set_string(std::move(value));
    std::optional<Instant> deadline;
    if (expire_ms) deadline = access.now() + std::chrono::milliseconds(*expire_ms);
    access.set_deadline(*entry, deadline);
    reply(resp::Simple{"OK"});
}

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

void Session::incr(Args args) {
    Db::Access access = state_->db.lock(args[1]);
    auto [entry, created] = access.find_or_create(args[1]);
    const Str* text = entry->string();
    if (text == nullptr) {
        reply(resp::Error{kWrongType});
        return;
    }
    std::int64_t value = 0;
    if (!created && !parse_int64(text->view(), value)) {
        reply(resp::Error{kNotAnInteger});
        return;
    }
    if (value == std::numeric_limits<std::int64_t>::max()) {
        if (created) access.erase(*entry);
        reply(resp::Error{"ERR increment or decrement would overflow"});
        return;
    }
    ++value;
    entry->set_string(Str(std::to_string(value)));
    reply(resp::Integer{value});
}

void Session::expire(Args args) {
    if (args.size() > 3) {
        reply(resp::Error{"ERR Unsupported option " + std::string(args[3])});
        return;
    }
    std::int64_t seconds = 0;
    if (!parse_int64(args[2], seconds)) {
        reply(resp::Error{kNotAnInteger});
        return;
    }
    constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1000;
    if (seconds > kMaxSeconds || seconds < -kMaxSeconds) {
        reply(resp::Error{"ERR invalid expire time in 'expire' command"});
        return;
    }
    Db::Access access = state_->db.lock(args[1]);
    Entry* entry = access.find(args[1]);
    if (entry == nullptr) {
        reply(resp::Integer{0});
        return;
    }
    if (seconds <= 0) {  // not in the future: delete now
        access.erase(*entry);
    } else {
        access.set_deadline(*entry, access.now() + std::chrono::seconds(seconds));
    }
    reply(resp::Integer{1});
}

void Session::ttl(Args args) {
    Db::Access access = state_->db.lock(args[1]);
    const Entry* entry = access.find(args[1]);
    if (entry == nullptr) {
        reply(resp::Integer{-2});
        return;
    }
    std::optional<Instant> deadline = entry->deadline();
    if (!deadline) {
        reply(resp::Integer{-1});
        return;
    }
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(*deadline - access.now()).count();
    reply(resp::Integer{(ms + 500) / 1000});
}

void Session::publish(Args args) {
    auto message = std::make_shared<const std::string>(args[2]);
    reply(resp::Integer{static_cast<std::int64_t>(state_->db.publish(args[1], std::move(message)))});
}

void Session::subscribe(Args args) {
    for (std::string_view channel : args.subspan(1)) {
        add_subscription(channel);
        reply(resp::ArrayHeader{3});
        reply(resp::Bulk{"subscribe"});
        reply(resp::Bulk{channel});
        reply(resp::Integer{static_cast<std::int64_t>(subscription_count())});
    }
}

void Session::unsubscribe(Args args) {
    std::vector<std::string> channels;
    if (args.size() > 1) {
        for (std::string_view channel : args.subspan(1)) channels.emplace_back(channel);
    } else {
        std::vector<std::pair<std::uint64_t, std::string>> ordered;
        for (const auto& [channel, order] : channels_) ordered.emplace_back(order, channel);
        std::sort(ordered.begin(), ordered.end());
        for (auto& [order, channel] : ordered) channels.push_back(std::move(channel));
    }
    if (channels.empty()) {  // UNSUBSCRIBE with no argument and no subscription
        reply(resp::ArrayHeader{3});
        reply(resp::Bulk{"unsubscribe"});
        reply(resp::NullBulk{});
        reply(resp::Integer{static_cast<std::int64_t>(subscription_count())});
        return;
    }
    for (const std::string& channel : channels) {
        remove_subscription(channel);
        reply(resp::ArrayHeader{3});
        reply(resp::Bulk{"unsubscribe"});
        reply(resp::Bulk{channel});
        reply(resp::Integer{static_cast<std::int64_t>(subscription_count())});
    }
}

void Session::config(Args args) {
    std::string sub = lower(args[1]);
    if (sub == "get" && args.size() >= 3) {
        // What redis-benchmark and redis-cli ask for, with fixed answers.
        std::string maxclients = std::to_string(state_->options.max_connections);
        const std::array<std::pair<std::string_view, std::string_view>, 4> known{
            {{"save", ""}, {"appendonly", "no"}, {"databases", "1"}, {"maxclients", maxclients}}};
        std::vector<std::pair<std::string_view, std::string_view>> found;
        for (std::string_view pattern : args.subspan(2)) {
            std::string p = lower(pattern);
            for (const auto& entry : known) {
                if (p == "*" || p == entry.first) found.push_back(entry);
            }
        }
        reply(resp::ArrayHeader{found.size() * 2});
        for (const auto& [name, value] : found) {
            reply(resp::Bulk{name});
            reply(resp::Bulk{value});
        }
    } else if (sub == "get") {
        reply(resp::Error{"ERR wrong number of arguments for 'config|get' command"});
    } else if (sub == "resetstat") {
        reply(resp::Simple{"OK"});
    } else {
        reply(resp::Error{"ERR unknown subcommand or wrong number of arguments for '" + std::string(args[1]) +
                          "'. Try CONFIG HELP."});
    }
}

void Session::command(Args args) {
    std::string sub = args.size() > 1 ? lower(args[1]) : std::string();
    if (sub.empty() || sub == "docs") {
        reply(resp::ArrayHeader{0});  // no documentation to offer; clients do without
    } else if (sub == "count") {
        reply(resp::Integer{static_cast<std::int64_t>(std::size(kCommandTable))});
    } else if (sub == "info") {
        reply(resp::ArrayHeader{args.size() - 2});
        for (std::size_t i = 2; i < args.size(); ++i) reply(resp::NullArray{});
    } else {
        reply(resp::Error{"ERR unknown subcommand '" + std::string(args[1]) + "'. Try COMMAND HELP."});
    }
}

void Session::client(Args args) {
    std::string sub = lower(args[1]);
    if (sub == "setname" && args.size() == 3) {
        client_name_ = args[2];
        reply(resp::Simple{"OK"});
    } else if (sub == "getname" && args.size() == 2) {
        if (client_name_.empty()) {
            reply(resp::NullBulk{});
        } else {
            reply(resp::Bulk{client_name_});
        }
    } else if (sub == "id" && args.size() == 2) {
        reply(resp::Integer{client_id_});
    } else if (sub == "setinfo" && args.size() == 4) {
        reply(resp::Simple{"OK"});
    } else if (sub == "info" && args.size() == 2) {
        reply(resp::Bulk{"id=" + std::to_string(client_id_) + " name=" + client_name_ + " db=0\n"});
    } else {
        reply(resp::Error{"ERR unknown subcommand or wrong number of arguments for '" + std::string(args[1]) +
                          "'. Try CLIENT HELP."});
    }
}

void Session::info(Args) {
    std::string text =
        "# Server\r\n"
        "redis_version:7.0.0\r\n"
        "redis_mode:standalone\r\n"
        "server_name:mini-redis\r\n"
        "process_id:" +
        std::to_string(::getpid()) +
        "\r\n"
        "\r\n# Clients\r\n"
        "blocked_clients:" +
        std::to_string(state_->db.blocked_clients()) +
        "\r\n"
        "\r\n# Keyspace\r\n"
        "db0:keys=" +
        std::to_string(state_->db.key_count()) + ",expires=" + std::to_string(state_->db.expiring_count()) +
        ",avg_ttl=0\r\n";
    reply(resp::Bulk{text});
}

void Session::select(Args args) {
    std::int64_t index = 0;
    if (!parse_int64(args[1], index)) {
        reply(resp::Error{kNotAnInteger});
    } else if (index != 0) {
        reply(resp::Error{"ERR DB index is out of range"});
    } else {
        reply(resp::Simple{"OK"});
    }
}

void Session::quit(Args) {
    reply(resp::Simple{"OK"});
    quit_ = true;
}

}  // namespace mini_redis
