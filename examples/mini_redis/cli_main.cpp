// mini-redis-cli: a command-line client built on mini_redis::Client.
//
//   mini-redis-cli [--host H] [--port P] ping [MESSAGE]
//   mini-redis-cli [--host H] [--port P] get KEY
//   mini-redis-cli [--host H] [--port P] set KEY VALUE [--ex SECONDS]
//   mini-redis-cli [--host H] [--port P] del KEY...
//   mini-redis-cli [--host H] [--port P] publish CHANNEL MESSAGE
//   mini-redis-cli [--host H] [--port P] subscribe CHANNEL...
//
// Defaults: 127.0.0.1, port 6379. Prints the reply the way redis-cli does
// when its output is not a terminal: OK, the value, "(nil)", an integer.
// subscribe prints "CHANNEL: MESSAGE" per message until Ctrl-C or until the
// server closes the connection. Exit status 1 on any error.
#include <charconv>
#include <chrono>
#include <corio/corio.hpp>
#include <corio/select.hpp>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client.hpp"

namespace {

using mini_redis::Client;
using mini_redis::Result;

struct Invocation {
    std::string host = "127.0.0.1";
    std::string port = "6379";
    std::vector<std::string> words;              // the command and its arguments
    std::optional<std::chrono::seconds> expire;  // set --ex
};

int fail(const mini_redis::Error& error) {
    std::fprintf(stderr, "error: %s\n", error.message.c_str());
    return 1;
}

/// Prints messages until Ctrl-C or the end of the connection.
corio::Task<int> subscribe(Client client, std::vector<std::string> channels) {
    corio::signal::CtrlC interrupt = corio::signal::ctrl_c();
    Result<mini_redis::Subscriber> subscriber = co_await std::move(client).subscribe(std::move(channels));
    if (!subscriber) co_return fail(subscriber.error());
    for (const std::string& channel : subscriber->subscribed_channels()) {
        std::printf("subscribed to %s\n", channel.c_str());
    }
    std::fflush(stdout);
    for (;;) {
        auto next = subscriber->next_message();
        auto event = co_await corio::select(interrupt, next);
        if (event.index() == 0) co_return 0;
        Result<std::optional<mini_redis::Message>>& message = std::get<1>(event);
        if (!message) co_return fail(message.error());
        if (!*message) co_return 0;
        std::printf("%s: %s\n", (*message)->channel.c_str(), (*message)->content.c_str());
        std::fflush(stdout);
    }
}

corio::Task<int> run(Invocation inv) {
    Result<Client> client = co_await Client::connect(inv.host + ":" + inv.port);
    if (!client) co_return fail(client.error());
    const std::string& name = inv.words[0];
    std::vector<std::string> args(inv.words.begin() + 1, inv.words.end());

    if (name == "ping" && args.size() <= 1) {
        std::optional<std::string> message;
        if (!args.empty()) message = args[0];
        Result<std::string> pong = co_await client->ping(std::move(message));
        if (!pong) co_return fail(pong.error());
        std::printf("%s\n", pong->c_str());
    } else if (name == "get" && args.size() == 1) {
        Result<std::optional<std::string>> value = co_await client->get(args[0]);
        if (!value) co_return fail(value.error());
        std::printf("%s\n", *value ? (*value)->c_str() : "(nil)");
    } else if (name == "set" && args.size() == 2) {
        Result<void> done;
        if (inv.expire) {
            done = co_await client->set(args[0], args[1], *inv.expire);
        } else {
            done = co_await client->set(args[0], args[1]);
        }
        if (!done) co_return fail(done.error());
        std::printf("OK\n");
    } else if ((name == "del" && !args.empty()) || (name == "publish" && args.size() == 2)) {
        Result<std::int64_t> n;
        if (name == "del") {
            n = co_await client->del(args);
        } else {
            n = co_await client->publish(args[0], args[1]);
        }
        if (!n) co_return fail(n.error());
        std::printf("%lld\n", static_cast<long long>(*n));
    } else if (name == "subscribe" && !args.empty()) {
        co_return co_await subscribe(std::move(*client), std::move(args));
    } else {
        std::fprintf(stderr, "error: bad arguments for %s\n", name.c_str());
        co_return 2;
    }
    co_return 0;
}

void usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s [--host H] [--port P] ping [MESSAGE] | get KEY | set KEY VALUE [--ex SECONDS] |\n"
                 "       del KEY... | publish CHANNEL MESSAGE | subscribe CHANNEL...\n",
                 argv0);
}

}  // namespace

int main(int argc, char** argv) {
    Invocation inv;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--host" && i + 1 < argc) {
            inv.host = argv[++i];
        } else if (arg == "--port" && i + 1 < argc) {
            inv.port = argv[++i];
        } else if (arg == "--ex" && i + 1 < argc) {
            long seconds = 0;
            const char* text = argv[++i];
            auto [ptr, ec] = std::from_chars(text, text + std::strlen(text), seconds);
            if (ec != std::errc() || *ptr != '\0' || seconds <= 0) {
                usage(argv[0]);
                return 2;
            }
            inv.expire = std::chrono::seconds(seconds);
        } else {
            inv.words.emplace_back(arg);
        }
    }
    if (inv.words.empty()) {
        usage(argv[0]);
        return 2;
    }
    for (char& c : inv.words[0]) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    corio::Runtime rt = corio::Builder::new_current_thread().build();
    int rc = rt.block_on(run(std::move(inv)));
    std::fflush(stdout);
    return rc;
}
