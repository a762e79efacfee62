// The echo_server mode of the workload contract: a TCP echo on
// 127.0.0.1:PORT, one task per connection, TCP_NODELAY on accepted sockets,
// until the process is killed.
#include <chrono>
#include <corio/net.hpp>
#include <corio/time.hpp>
#include <cstdio>
#include <string>

#include "workloads.hpp"

namespace corio_bench {
namespace {

corio::Task<void> echo_connection(corio::net::TcpStream stream) {
    std::byte buf[16 * 1024];
    for (;;) {
        auto n = co_await stream.read(buf);
        if (!n || *n == 0) co_return;
        auto written = co_await stream.write_all(std::span<const std::byte>(buf, *n));
        if (!written) co_return;
    }
}

corio::Task<int> serve(std::uint16_t port) {
    auto listener = corio::net::TcpListener::bind("127.0.0.1:" + std::to_string(port));
    if (!listener) {
        std::fprintf(stderr, "corio_workloads: bind 127.0.0.1:%u: %s\n", port, listener.error().message().c_str());
        co_return 1;
    }
    for (;;) {
        auto accepted = co_await listener->accept();
        if (!accepted) {
            // e.g. EMFILE: keep serving the others, and back off instead of
            // retrying the same error hot.
            co_await corio::time::sleep(std::chrono::milliseconds(10));
            continue;
        }
        (void)accepted->first.set_nodelay(true);
        corio::spawn(echo_connection(std::move(accepted->first)));
    }
}

}  // namespace

int echo_server(corio::Runtime& rt, std::uint16_t port) { return rt.block_on(serve(port)); }

}  // namespace corio_bench
