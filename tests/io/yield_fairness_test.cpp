// A task that yields (task::yield_now) runs again only after the I/O driver
// was polled, on the current_thread runtime: a socket that became readable
// meanwhile is served between two of its turns, not after a whole batch of
// them (Tokio's defer list). mini-redis's KEYS and its expiry task yield
// between chunks of work and rely on this to keep other clients served.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>

#include "corio/net.hpp"
#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;

/// Yields until `done`, counting its turns in `turns`.
Task<void> yield_until(const std::atomic<bool>* done, std::atomic<int>* turns) {
    while (!done->load() && turns->load() < 100'000) {
        turns->fetch_add(1);
        co_await task::yield_now();
    }
}

/// Waits for one datagram on `socket`; then sets `done` and records how
/// many turns the yielding task had taken by then.
Task<void> receive_one(net::UdpSocket* socket, std::atomic<bool>* done, const std::atomic<int>* turns,
                       int* turns_when_received) {
    std::array<std::byte, 16> buf{};
    io::Result<std::size_t> n = co_await socket->recv(buf);
    EXPECT_TRUE(n.has_value());
    *turns_when_received = turns->load();
    done->store(true);
}

Task<int> turns_before_a_datagram_is_read() {
    io::Result<net::UdpSocket> receiver = net::UdpSocket::bind("127.0.0.1:0");
    io::Result<net::UdpSocket> sender = net::UdpSocket::bind("127.0.0.1:0");
    EXPECT_TRUE(receiver.has_value() && sender.has_value());
    if (!receiver || !sender) co_return -1;
    std::atomic<bool> done{false};
    std::atomic<int> turns{0};
    int turns_when_received = -1;
    JoinHandle<void> reader = spawn(receive_one(&*receiver, &done, &turns, &turns_when_received));
    co_await task::yield_now();  // the reader waits on its socket now
    JoinHandle<void> yielder = spawn(yield_until(&done, &turns));
    std::array<std::byte, 1> byte{std::byte{1}};
    io::Result<std::size_t> sent = co_await sender->send_to(byte, *receiver->local_addr());
    EXPECT_TRUE(sent.has_value());
    co_await reader;
    co_await yielder;
    co_return turns_when_received;
}

TEST(YieldFairness, AYieldingTaskLetsTheDriverServeASocketBetweenTwoOfItsTurns) {
    Runtime rt = Builder::new_current_thread().build();
    auto turns = rt.block_on(time::timeout(10s, turns_before_a_datagram_is_read()));
    ASSERT_TRUE(turns.has_value()) << "timed out";
    EXPECT_GE(*turns, 0);
    // Before, the yielding task took a whole batch of turns (the runtime's
    // event_interval, 61) before the driver was polled again.
    EXPECT_LE(*turns, 3) << "the datagram waited behind " << *turns << " turns of a yielding task";
}

}  // namespace
}  // namespace corio
