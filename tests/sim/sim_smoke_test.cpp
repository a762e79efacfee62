#include <gtest/gtest.h>

#include <corio/net.hpp>
#include <corio/sim.hpp>
#include <corio/time.hpp>
#include <string>

using namespace std::chrono_literals;

namespace corio {
namespace {

Task<void> echo_server() {
    auto listener = net::TcpListener::bind("0.0.0.0:7000");
    if (!listener) throw std::runtime_error("bind: " + listener.error().message());
    for (;;) {
        auto conn = co_await listener->accept();
        if (!conn) continue;
        spawn([](net::TcpStream s) -> Task<void> {
            std::byte buf[256];
            for (;;) {
                auto n = co_await s.read(buf);
                if (!n || *n == 0) co_return;
                auto w = co_await s.write_all(std::span(buf, *n));
                if (!w) co_return;
            }
        }(std::move(conn->first)));
    }
}

Task<void> echo_client(std::string* out) {
    auto addrs = co_await net::lookup_host("server:7000");
    if (!addrs) throw std::runtime_error("lookup: " + addrs.error().message());
    auto s = co_await net::TcpStream::connect(addrs->front());
    if (!s) throw std::runtime_error("connect: " + s.error().message());
    co_await time::sleep(5ms);
    auto w = co_await s->write_all(std::string_view("hello"));
    if (!w) throw std::runtime_error("write");
    char buf[5];
    auto r = co_await s->read_exact(std::as_writable_bytes(std::span(buf)));
    if (!r) throw std::runtime_error("read: " + r.error().message());
    *out = std::string(buf, 5);
}

TEST(SimSmoke, EchoThroughTheSimulatedNetwork) {
    std::string got;
    auto sim = sim::Builder().seed(1).latency(1ms, 50ms).build();
    sim.host("server", echo_server);
    sim.client("client", echo_client(&got));
    sim.run();
    EXPECT_EQ(got, "hello");
    EXPECT_GT(sim.elapsed(), 5ms);
}

TEST(SimSmoke, SameSeedSameTrace) {
    auto once = [](std::uint64_t seed) {
        std::string got;
        auto sim = sim::Builder().seed(seed).latency(1ms, 50ms).build();
        sim.host("server", echo_server);
        sim.client("c1", echo_client(&got));
        sim.client("c2", echo_client(&got));
        sim.run();
        return std::pair{sim.trace_hash(), sim.elapsed()};
    };
    EXPECT_EQ(once(7), once(7));
    EXPECT_NE(once(7).first, once(8).first);
}

}  // namespace
}  // namespace corio
