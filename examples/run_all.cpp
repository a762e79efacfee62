// run_all: runs shell commands concurrently, each under a timeout, and
// reports how each one ended. With no arguments it runs a fixed demo set
// (one succeeds, one fails, one is killed by a signal, one runs too long).
//
// Each command is `sh -c COMMAND` run by Command::output(): its stdout is
// collected, its exit watched by the runtime (a pidfd in the reactor). A
// command over its time limit is dropped: kill_on_drop kills it, and the
// runtime reaps it, so no zombie is left behind.
//
// Run: ./run_all ['command' ...]
#include <chrono>
#include <corio/corio.hpp>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

constexpr auto kLimit = 500ms;

/// How one command ended, as a line of the report.
corio::Task<std::string> run_one(std::string command) {
    corio::process::Command cmd("sh");
    cmd.arg("-c").arg(command).kill_on_drop(true);
    auto out = co_await corio::time::timeout(kLimit, cmd.output());
    if (!out) co_return "timed out after 500 ms, killed";
    if (!*out) co_return "error: " + out->error().message();
    const corio::process::Output& o = **out;
    std::string line;
    if (auto code = o.status.code()) {
        line = "exit " + std::to_string(*code);
    } else {
        line = "killed by signal " + std::to_string(o.status.signal().value_or(0));
    }
    std::string text = o.stdout_bytes;
    if (!text.empty() && text.back() == '\n') text.pop_back();
    if (!text.empty()) line += ", output \"" + text + "\"";
    co_return line;
}

corio::Task<int> run_all(std::vector<std::string> commands) {
    std::vector<corio::JoinHandle<std::string>> running;
    running.reserve(commands.size());
    for (const auto& c : commands) running.push_back(corio::spawn(run_one(c)));  // all at once
    int succeeded = 0;
    for (std::size_t i = 0; i < commands.size(); ++i) {
        std::string line = co_await std::move(running[i]);
        if (line.starts_with("exit 0")) ++succeeded;
        std::printf("[%zu] %s: %s\n", i, commands[i].c_str(), line.c_str());
    }
    std::printf("run_all: %zu commands, %d succeeded\n", commands.size(), succeeded);
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> commands(argv + 1, argv + argc);
    if (commands.empty()) commands = {"echo hello", "exit 3", "kill -TERM $$", "sleep 10"};
    return corio::run(run_all(std::move(commands)));
}
