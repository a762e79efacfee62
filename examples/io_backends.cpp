// The same TCP code on each I/O backend: builds a runtime with epoll, then
// one with io_uring (if the kernel offers it), runs an echo exchange over
// loopback on each, and says which backend Builder's default (Auto) picks.
//
//   $ ./io_backends            (times vary)
//   epoll: 8 connections x 200 round trips of 1024 bytes ok in 41 ms
//   io_uring: 8 connections x 200 round trips of 1024 bytes ok in 35 ms
//   Auto picks io_uring (CORIO_IO_BACKEND=epoll|io_uring overrides it)
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <system_error>
#include <vector>

#include "corio/corio.hpp"

namespace {

using namespace corio;

constexpr int kConnections = 8;
constexpr int kRoundTrips = 200;
constexpr std::size_t kMessage = 1024;

Task<void> echo(net::TcpStream stream) {
    std::array<std::byte, 4096> buf{};
    for (;;) {
        auto n = co_await stream.read(buf);
        if (!n || *n == 0) co_return;
        auto written = co_await stream.write_all(std::span<const std::byte>(buf.data(), *n));
        if (!written) co_return;
    }
}

Task<bool> client(net::SocketAddr addr, int id) {
    auto stream = co_await net::TcpStream::connect(addr);
    if (!stream) co_return false;
    std::array<std::byte, kMessage> out{};
    std::array<std::byte, kMessage> in{};
    for (int round = 0; round < kRoundTrips; ++round) {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>((id + round + i) & 0xff);
        auto written = co_await stream->write_all(out);
        if (!written) co_return false;
        auto read = co_await stream->read_exact(in);
        if (!read || in != out) co_return false;
    }
    co_return true;
}

Task<bool> exchange() {
    auto listener = net::TcpListener::bind("127.0.0.1:0");
    if (!listener) co_return false;
    auto addr = listener->local_addr();
    if (!addr) co_return false;
    std::vector<JoinHandle<bool>> clients;
    for (int id = 0; id < kConnections; ++id) clients.push_back(spawn(client(*addr, id)));
    for (int i = 0; i < kConnections; ++i) {
        auto accepted = co_await listener->accept();
        if (!accepted) co_return false;
        spawn(echo(std::move(accepted->first)));
    }
    bool ok = true;
    for (auto& c : clients) {
        bool done = co_await c;
        ok = ok && done;
    }
    co_return ok;
}

void run_on(IoBackend backend) {
    std::string name(to_string(backend));
    try {
        Runtime rt = Builder::new_multi_thread().worker_threads(2).io_backend(backend).build();
        auto start = std::chrono::steady_clock::now();
        bool ok = rt.block_on(exchange());
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        std::printf("%s: %d connections x %d round trips of %zu bytes %s in %lld ms\n", name.c_str(), kConnections,
                    kRoundTrips, kMessage, ok ? "ok" : "error: FAILED", static_cast<long long>(ms.count()));
    } catch (const std::system_error& e) {
        std::printf("%s: not available here (%s)\n", name.c_str(), e.what());
    }
}

}  // namespace

int main() {
    run_on(IoBackend::Epoll);
    run_on(IoBackend::IoUring);
    Runtime rt = Builder::new_current_thread().build();
    std::printf("Auto picks %s (CORIO_IO_BACKEND=epoll|io_uring overrides it)\n",
                std::string(to_string(rt.handle().io_backend())).c_str());
}
