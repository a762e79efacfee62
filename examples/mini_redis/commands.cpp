// The commands a session executes, with Redis's arity rules, option parsing
// and error messages. Each appends exactly one reply (SUBSCRIBE and
// UNSUBSCRIBE one per channel) to the session's write buffer.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <corio/runtime.hpp>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "command_support.hpp"
#include "session.hpp"

namespace mini_redis {

namespace {

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

/// The server's memory: bytes allocated (malloc's count) and resident.
struct MemoryUse {
    std::size_t allocated = 0;
    std::size_t rss = 0;
};

MemoryUse memory_use() {
    MemoryUse use;
    struct mallinfo2 info = ::mallinfo2();
    use.allocated = info.uordblks + info.hblkhd;
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0;
    std::size_t resident = 0;
    if (statm >> pages >> resident) use.rss = resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    // A sanitizer's allocator replaces malloc's and mallinfo2 then counts
    // nothing: report the resident size instead.
    if (use.allocated == 0) use.allocated = use.rss;
    return use;
}

/// Redis's "1.50M" style.
std::string human_bytes(std::size_t bytes) {
    const char* units = "BKMGT";
    auto value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, "%.2f%c", value, units[unit]);
    return text;
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
    {"bgrewriteaof", 1, 0, &Session::bgrewriteaof, nullptr},
    {"dbsize", 1, 0, &Session::dbsize, nullptr},
    {"flushdb", -1, kWrite, &Session::flushdb, nullptr},
    // Strings
    {"get", 2, 0, &Session::get, nullptr},
    {"set", -3, kWrite, &Session::set, nullptr},
    {"setnx", 3, kWrite, &Session::setnx, nullptr},
    {"setex", 4, kWrite, &Session::setex, nullptr},
    {"psetex", 4, kWrite, &Session::setex, nullptr},
    {"getdel", 2, kWrite, &Session::getdel, nullptr},
    {"mget", -2, 0, &Session::mget, nullptr},
    {"mset", -3, kWrite, &Session::mset, nullptr},
    {"msetnx", -3, kWrite, &Session::mset, nullptr},
    {"incr", 2, kWrite, &Session::incr, nullptr},
    {"incrby", 3, kWrite, &Session::incr, nullptr},
    {"decr", 2, kWrite, &Session::incr, nullptr},
    {"decrby", 3, kWrite, &Session::incr, nullptr},
    {"append", 3, kWrite, &Session::append, nullptr},
    {"strlen", 2, 0, &Session::strlen, nullptr},
    // Keys of any type
    {"del", -2, kWrite, &Session::del, nullptr},
    {"exists", -2, 0, &Session::exists, nullptr},
    {"expire", -3, kWrite, &Session::expire, nullptr},
    {"pexpire", -3, kWrite, &Session::expire, nullptr},
    {"expireat", -3, kWrite, &Session::expire, nullptr},
    {"pexpireat", -3, kWrite, &Session::expire, nullptr},
    {"ttl", 2, 0, &Session::ttl, nullptr},
    {"pttl", 2, 0, &Session::ttl, nullptr},
    {"persist", 2, kWrite, &Session::persist, nullptr},
    {"type", 2, 0, &Session::type, nullptr},
    {"rename", 3, kWrite, &Session::rename, nullptr},
    {"renamenx", 3, kWrite, &Session::rename, nullptr},
    {"keys", 2, 0, nullptr, &Session::keys},
    {"scan", -2, 0, &Session::scan, nullptr},
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
    // A single writer: a relaxed load and store, not a locked increment.
    info_.commands.store(info_.commands.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    info_.last_command.store(static_cast<std::int32_t>(command - kCommandTable), std::memory_order_relaxed);
    if (!arity_ok(command->arity, args.size())) {
        reply(resp::Error{"ERR wrong number of arguments for '" + std::string(command->name) + "' command"});
        return;
    }
    if (command->run_async != nullptr) {
        awaiting_ = AwaitedCommand{command->run_async, args};  // respond() runs it
        return;
    }
    if (state_->aof && (command->flags & kWrite)) {
        execute_logged(*command, args);
        return;
    }
    (this->*command->run)(args);
}

void Session::execute_logged(const Command& command, Args args) {
    AppendOnlyFile& aof = *state_->aof;
    if (std::optional<std::string> failure = aof.failure()) {
        reply(resp::Error{"MISCONF Errors writing to the AOF file: " + *failure});
        return;
    }
    std::unique_lock order = aof.order();
    std::size_t reply_at = conn_.write_buffer().size();
    (this->*command.run)(args);
    bool failed = conn_.write_buffer().size() > reply_at && conn_.write_buffer()[reply_at] == std::byte{'-'};
    if (failed) return;
    aof_offset_ = aof.append_command(args);
    aof_committed_ = false;
}

void Session::replay(Args args) {
    execute(args);
    conn_.write_buffer().clear();
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

void Session::publish(Args args) {
    auto message = std::make_shared<const std::string>(args[2]);
    reply(resp::Integer{static_cast<std::int64_t>(state_->db.publish(args[1], std::move(message)))});
}

void Session::subscribe(Args args) {
    for (std::string_view channel : args.subspan(1)) {
        add_subscription(channel);
        confirm("subscribe", channel);
    }
}

void Session::unsubscribe(Args args) {
    std::vector<std::string> channels = to_leave(args, channels_);
    if (channels.empty()) confirm("unsubscribe", std::nullopt);  // no argument and no subscription
    for (const std::string& channel : channels) {
        remove_subscription(channel);
        confirm("unsubscribe", channel);
    }
}

std::vector<std::string> Session::to_leave(Args args, const Subscriptions& subscribed) {
    std::vector<std::string> names;
    if (args.size() > 1) {
        for (std::string_view name : args.subspan(1)) names.emplace_back(name);
        return names;
    }
    std::vector<std::pair<std::uint64_t, std::string>> ordered;
    for (const auto& [name, order] : subscribed) ordered.emplace_back(order, name);
    std::sort(ordered.begin(), ordered.end());
    for (auto& [order, name] : ordered) names.push_back(std::move(name));
    return names;
}

void Session::confirm(std::string_view kind, std::optional<std::string_view> name) {
    reply(resp::ArrayHeader{3});
    reply(resp::Bulk{kind});
    if (name) {
        reply(resp::Bulk{*name});
    } else {
        reply(resp::NullBulk{});
    }
    reply(resp::Integer{static_cast<std::int64_t>(subscription_count())});
}

void Session::config(Args args) {
    std::string sub = lower(args[1]);
    if (sub == "get" && args.size() >= 3) {
        // What redis-benchmark and redis-cli ask for, with fixed answers.
        std::string maxclients = std::to_string(state_->options.max_connections);
        const std::array<std::pair<std::string_view, std::string_view>, 4> known{
            {{"save", ""}, {"appendonly", state_->aof ? "yes" : "no"}, {"databases", "1"}, {"maxclients", maxclients}}};
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
        if (args[2].find_first_of(" \n\r") != std::string_view::npos) {
            reply(resp::Error{"ERR Client names cannot contain spaces, newlines or special characters."});
            return;
        }
        std::lock_guard lock(state_->clients_mutex);
        info_.name = args[2];
        reply(resp::Simple{"OK"});
    } else if (sub == "getname" && args.size() == 2) {
        std::lock_guard lock(state_->clients_mutex);
        if (info_.name.empty()) {
            reply(resp::NullBulk{});
        } else {
            reply(resp::Bulk{info_.name});
        }
    } else if (sub == "id" && args.size() == 2) {
        reply(resp::Integer{info_.id});
    } else if (sub == "setinfo" && args.size() == 4) {
        reply(resp::Simple{"OK"});
    } else if (sub == "info" && args.size() == 2) {
        std::lock_guard lock(state_->clients_mutex);
        reply(resp::Bulk{client_line(info_)});
    } else if (sub == "list" && args.size() == 2) {
        std::string text;
        std::lock_guard lock(state_->clients_mutex);
        for (const auto& [id, client] : state_->clients) text += client_line(*client);
        reply(resp::Bulk{text});
    } else {
        reply(resp::Error{"ERR unknown subcommand or wrong number of arguments for '" + std::string(args[1]) +
                          "'. Try CLIENT HELP."});
    }
}

std::string Session::client_line(const ClientInfo& client) const {
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    corio::time::Instant now = corio::time::Instant::now();
    corio::time::Instant last{corio::time::Instant::Clock::time_point(
        corio::time::Instant::Clock::duration(client.last_batch_ticks.load(std::memory_order_relaxed)))};
    std::int32_t last_command = client.last_command.load(std::memory_order_relaxed);
    std::uint32_t channels = client.channels.load(std::memory_order_relaxed);
    std::uint32_t patterns = client.patterns.load(std::memory_order_relaxed);
    return "id=" + std::to_string(client.id) + " addr=" + client.addr + " laddr=" + client.laddr +
           " name=" + client.name +
           " age=" + std::to_string(duration_cast<seconds>(now.duration_since(client.created)).count()) +
           " idle=" + std::to_string(duration_cast<seconds>(now.duration_since(last)).count()) +
           " flags=" + (channels + patterns > 0 ? "P" : "N") + " db=0 sub=" + std::to_string(channels) +
           " psub=" + std::to_string(patterns) +
           " cmd=" + (last_command < 0 ? std::string("NULL") : std::string(kCommandTable[last_command].name)) + "\n";
}

void Session::info(Args args) {
    // INFO [section ...]: default, all and everything give every section.
    std::vector<std::string> wanted;
    for (std::string_view section : args.subspan(1)) wanted.push_back(lower(section));
    auto shows = [&](std::string_view section) {
        if (wanted.empty()) return true;
        for (const std::string& w : wanted) {
            if (w == section || w == "all" || w == "default" || w == "everything") return true;
        }
        return false;
    };
    std::string text;
    auto line = [&](std::string_view name, const std::string& value) {
        text.append(name).append(":").append(value).append("\r\n");
    };
    auto header = [&](std::string_view title) {
        if (!text.empty()) text += "\r\n";
        text.append("# ").append(title).append("\r\n");
    };
    if (shows("server")) {
        header("Server");
        line("redis_version", "7.0.0");
        line("redis_mode", "standalone");
        line("server_name", "mini-redis");
        line("process_id", std::to_string(::getpid()));
        line("tcp_port", std::to_string(state_->port));
        auto uptime = std::chrono::duration_cast<std::chrono::seconds>(state_->started.elapsed()).count();
        line("uptime_in_seconds", std::to_string(uptime));
    }
    if (shows("clients")) {
        std::size_t connected = 0;
        {
            std::lock_guard lock(state_->clients_mutex);
            connected = state_->clients.size();
        }
        header("Clients");
        line("connected_clients", std::to_string(connected));
        line("maxclients", std::to_string(state_->options.max_connections));
        line("blocked_clients", std::to_string(state_->db.blocked_clients()));
    }
    if (shows("memory")) {
        MemoryUse memory = memory_use();
        header("Memory");
        line("used_memory", std::to_string(memory.allocated));
        line("used_memory_human", human_bytes(memory.allocated));
        line("used_memory_rss", std::to_string(memory.rss));
        line("used_memory_rss_human", human_bytes(memory.rss));
        line("maxmemory", "0");
    }
    if (shows("persistence")) {
        header("Persistence");
        line("loading", "0");
        line("aof_enabled", state_->aof ? "1" : "0");
        line("aof_rewrite_in_progress", state_->aof && state_->aof->rewriting() ? "1" : "0");
        std::optional<std::string> failure = state_->aof ? state_->aof->failure() : std::nullopt;
        line("aof_last_write_status", failure ? "err" : "ok");
    }
    if (shows("stats")) {
        std::uint64_t commands = state_->retired_commands.load(std::memory_order_relaxed);
        {
            std::lock_guard lock(state_->clients_mutex);
            for (const auto& [id, client] : state_->clients)
                commands += client->commands.load(std::memory_order_relaxed);
        }
        header("Stats");
        line("total_connections_received", std::to_string(state_->total_connections.load(std::memory_order_relaxed)));
        line("total_commands_processed", std::to_string(commands));
        line("pubsub_channels", std::to_string(state_->db.channel_count()));
    }
    if (shows("keyspace")) {
        header("Keyspace");
        std::size_t keys = state_->db.key_count();
        if (keys > 0) {
            line("db0", "keys=" + std::to_string(keys) + ",expires=" + std::to_string(state_->db.expiring_count()) +
                            ",avg_ttl=0");
        }
    }
    reply(resp::Bulk{text});
}

void Session::bgrewriteaof(Args) {
    if (!state_->aof) {
        reply(resp::Error{"ERR the append-only file is off (start mini-redis-server with --appendonly yes)"});
        return;
    }
    if (state_->aof->rewriting()) {
        reply(resp::Error{"ERR Background append only file rewriting already in progress"});
        return;
    }
    // The rewrite runs in a task of its own; the reply does not wait for it.
    corio::spawn([](std::shared_ptr<ServerState> state) -> corio::Task<void> {
        auto done = co_await state->aof->rewrite(state->db);
        if (!done) std::fprintf(stderr, "mini-redis: BGREWRITEAOF failed: %s\n", done.error().c_str());
    }(state_));
    reply(resp::Simple{"Background append only file rewriting started"});
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
