// Deterministic simulation, end to end: a counter server and a client that
// asks it five times, each answer awaited for at most 80 ms, over a simulated
// network whose every message takes 1 to 50 ms. A round trip can take 100 ms,
// so some seeds make the client give up: the example finds such a seed in a
// loop, shows its report, and replays that seed alone to the same failure at
// the same virtual instant. Then a partition between the two hosts, healed
// two seconds later, shows TCP waiting for it instead of losing anything.
//
// The server and client are ordinary corio code (TcpListener, TcpStream,
// lookup_host, time::timeout): nothing in them knows it is simulated.
#include <chrono>
#include <cinttypes>
#include <corio/net.hpp>
#include <corio/sim.hpp>
#include <corio/time.hpp>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {

double virtual_seconds(corio::time::Instant start) {
    return std::chrono::duration<double>(corio::time::Instant::now() - start).count();
}

// Answers each byte it receives with the count so far, as one byte.
corio::Task<void> serve(corio::net::TcpStream conn) {
    std::uint8_t count = 0;
    std::byte buf[64];
    for (;;) {
        auto n = co_await conn.read(buf);
        if (!n || *n == 0) co_return;
        for (std::size_t i = 0; i < *n; ++i) {
            std::byte reply{++count};
            auto sent = co_await conn.write_all(std::span(&reply, 1));
            if (!sent) co_return;
        }
    }
}

corio::Task<void> counter_server() {
    auto listener = corio::net::TcpListener::bind("0.0.0.0:7000");
    if (!listener) throw std::runtime_error("bind: " + listener.error().message());
    for (;;) {
        auto conn = co_await listener->accept();
        if (conn) corio::spawn(serve(std::move(conn->first)));
    }
}

// Asks five times; each answer must come within `patience`.
corio::Task<void> client(std::chrono::milliseconds patience, bool verbose) {
    auto start = corio::time::Instant::now();
    auto addrs = co_await corio::net::lookup_host("server:7000");
    if (!addrs) throw std::runtime_error("lookup: " + addrs.error().message());
    auto conn = co_await corio::net::TcpStream::connect(addrs->front());
    if (!conn) throw std::runtime_error("connect: " + conn.error().message());
    for (int i = 1; i <= 5; ++i) {
        std::byte ask{0};
        auto sent = co_await conn->write_all(std::span(&ask, 1));
        if (!sent) throw std::runtime_error("write failed");
        std::byte answer{};
        auto got = co_await corio::time::timeout(patience, conn->read_exact(std::span(&answer, 1)));
        if (!got)
            throw std::runtime_error("answer " + std::to_string(i) + " took more than " +
                                     std::to_string(patience.count()) + " ms");
        if (verbose) std::printf("  [%.3fs] answer %d\n", virtual_seconds(start), static_cast<int>(answer));
    }
}

// The partition scenario: the client asks, loses the server for two seconds
// from t = 1 s, and asks again; its answer waits for the repair.
corio::Task<void> partitioned_client() {
    auto start = corio::time::Instant::now();
    auto conn = co_await corio::net::connect("server:7000");
    if (!conn) throw std::runtime_error("connect: " + conn.error().message());
    co_await corio::time::sleep_until(start + 1s);
    corio::sim::partition("client", "server");
    std::printf("  [%.3fs] partition client <-> server\n", virtual_seconds(start));
    corio::spawn([](corio::time::Instant start) -> corio::Task<void> {
        co_await corio::time::sleep_until(start + 3s);
        corio::sim::repair("client", "server");
        std::printf("  [%.3fs] repaired\n", virtual_seconds(start));
    }(start));
    std::byte ask{0};
    auto sent = co_await conn->write_all(std::span(&ask, 1));
    if (!sent) throw std::runtime_error("write failed");
    std::printf("  [%.3fs] asked\n", virtual_seconds(start));
    std::byte answer{};
    auto got = co_await conn->read_exact(std::span(&answer, 1));
    if (!got) throw std::runtime_error("read failed");
    std::printf("  [%.3fs] answer %d, nothing lost\n", virtual_seconds(start), static_cast<int>(answer));
}

corio::sim::Sim make(std::uint64_t seed, std::chrono::milliseconds patience, bool verbose) {
    auto sim = corio::sim::Builder().seed(seed).latency(1ms, 50ms).time_limit(60s).build();
    sim.host("server", counter_server);
    sim.client("client", client(patience, verbose));
    return sim;
}

}  // namespace

int main() {
    std::printf("1. one run, seed 7, patience 200 ms:\n");
    auto first = make(7, 200ms, true);
    first.run();
    std::printf("  done at %.3fs of virtual time, trace hash %016" PRIx64 "\n",
                std::chrono::duration<double>(first.elapsed()).count(), first.trace_hash());

    std::printf("2. seeds 1-200, patience 80 ms:\n");
    std::optional<std::uint64_t> failing;
    int failures = 0;
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        auto sim = make(seed, 80ms, false);
        try {
            sim.run();
        } catch (const corio::sim::Failure& f) {
            ++failures;
            if (!failing) {
                failing = seed;
                std::printf("  first failure: %s\n", f.what());
            }
        }
    }
    std::printf("  %d of 200 seeds failed\n", failures);
    if (!failing) return 1;

    std::printf("3. replaying seed %" PRIu64 " alone:\n", *failing);
    try {
        make(*failing, 80ms, true).run();
        std::printf("  it passed: the replay differs\n");
        return 1;
    } catch (const corio::sim::Failure& f) {
        std::printf("  %s\n  same failure, same instant\n", f.what());
    }

    std::printf("4. a partition, healed after two seconds:\n");
    auto sim = corio::sim::Builder().seed(3).latency(1ms, 50ms).time_limit(60s).build();
    sim.host("server", counter_server);
    sim.client("client", partitioned_client());
    sim.run();
    std::printf("simulation example done\n");
    return 0;
}
