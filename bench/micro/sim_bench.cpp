// The simulation's speed (issue 12): N hosts, each sending a 64-byte TCP
// message to every other host every 100 ms of virtual time. Wall time per
// run and messages per wall second, for 10, 100 and 300 hosts.
#include <chrono>
#include <corio/net.hpp>
#include <corio/sim.hpp>
#include <corio/time.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "common.hpp"

namespace {

using namespace std::chrono_literals;

struct Counters {
    std::uint64_t received = 0;
};

corio::Task<void> drain(corio::net::TcpStream s, Counters* c) {
    std::byte buf[4096];
    for (;;) {
        auto n = co_await s.read(buf);
        if (!n || *n == 0) co_return;
        c->received += *n;
    }
}

// One connection to `to`: a 64-byte message every 100 ms.
corio::Task<void> send_every_100ms(std::string to) {
    auto addrs = co_await corio::net::lookup_host(to);
    if (!addrs) throw std::runtime_error("lookup failed");
    auto s = co_await corio::net::TcpStream::connect(addrs->front());
    if (!s) throw std::runtime_error("connect failed: " + s.error().message());
    static const std::string message(64, 'm');
    auto tick = corio::time::interval(100ms);
    for (;;) {
        co_await tick.tick();
        auto done = co_await s->write_all(std::string_view(message));
        if (!done) co_return;
    }
}

corio::Task<void> peer(int self, int hosts, Counters* c) {
    auto listener = corio::net::TcpListener::bind("0.0.0.0:9000");
    if (!listener) throw std::runtime_error("bind failed");
    corio::spawn([](corio::net::TcpListener l, Counters* c) -> corio::Task<void> {
        for (;;) {
            auto conn = co_await l.accept();
            if (conn) corio::spawn(drain(std::move(conn->first), c));
        }
    }(std::move(*listener), c));
    for (int i = 0; i < hosts; ++i) {
        if (i != self) corio::spawn(send_every_100ms("h" + std::to_string(i) + ":9000"));
    }
    co_return;
}

void BM_SimAllToAll(benchmark::State& state) {
    const int hosts = static_cast<int>(state.range(0));
    const auto virtual_time = std::chrono::seconds(state.range(1));
    std::uint64_t received = 0;
    for (auto _ : state) {
        Counters c;
        auto sim = corio::sim::Builder().seed(42).latency(1ms, 50ms).time_limit(virtual_time + 10s).build();
        for (int i = 0; i < hosts; ++i) {
            sim.host("h" + std::to_string(i), [i, hosts, &c] { return peer(i, hosts, &c); });
        }
        sim.client("clock",
                   [](std::chrono::seconds d) -> corio::Task<void> { co_await corio::time::sleep(d); }(virtual_time));
        sim.run();
        received += c.received;
    }
    double messages = static_cast<double>(received) / 64.0;
    state.counters["messages"] = benchmark::Counter(messages / static_cast<double>(state.iterations()));
    state.counters["messages_per_s"] = benchmark::Counter(messages, benchmark::Counter::kIsRate);
}

// {hosts, virtual seconds}: 100 hosts for 10 s is the issue's ~1,000,000 messages.
BENCHMARK(BM_SimAllToAll)
    ->Args({10, 10})
    ->Args({100, 10})
    ->Args({300, 1})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace
