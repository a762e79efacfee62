// A typical 100-line corio user program, used to measure how long a user
// waits for the compiler (bench/compile_time/measure.sh). It is an echo
// server with an idle timeout, a connection limit and graceful Ctrl-C: the
// everyday surface of corio in one file.
#include <chrono>
#include <corio/corio.hpp>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <span>
#include <string>

using namespace std::chrono_literals;
namespace io = corio::io;
namespace net = corio::net;

namespace {

struct Stats {
    std::size_t connections = 0;
    std::size_t bytes = 0;
};

corio::Task<void> echo(net::TcpStream stream, std::shared_ptr<Stats> stats, corio::sync::OwnedSemaphorePermit) {
    std::byte buf[4096];
    for (;;) {
        auto n = co_await corio::time::timeout(30s, stream.read(buf));
        if (!n) {
            std::puts("idle connection closed");
            co_return;
        }
        if (!*n || **n == 0) co_return;
        auto written = co_await io::write_all(stream, std::span(buf).first(**n));
        if (!written) co_return;
        stats->bytes += **n;
    }
}

corio::Task<void> accept_loop(net::TcpListener listener, std::shared_ptr<Stats> stats, corio::CancellationToken stop) {
    auto limit = std::make_shared<corio::sync::Semaphore>(256);
    corio::task::JoinSet<void> connections;
    for (;;) {
        auto permit = co_await corio::sync::Semaphore::acquire_owned(limit);
        if (!permit) break;
        auto cancelled = stop.cancelled();
        auto accept = listener.accept();
        auto next = co_await corio::select(std::move(cancelled), std::move(accept));
        if (next.index() == 0) break;
        auto& accepted = std::get<1>(next);
        if (!accepted) continue;
        ++stats->connections;
        connections.spawn(echo(std::move(accepted->first), stats, std::move(*permit)));
    }
    co_await connections.shutdown();
}

corio::Task<void> report(std::shared_ptr<Stats> stats, corio::CancellationToken stop) {
    auto ticks = corio::time::interval(1s);
    for (;;) {
        auto cancelled = stop.cancelled();
        auto tick = ticks.tick();
        auto which = co_await corio::select(std::move(cancelled), std::move(tick));
        if (which.index() == 0) co_return;
        std::printf("%zu connections, %zu bytes\n", stats->connections, stats->bytes);
    }
}

corio::Task<int> async_main() {
    auto listener = net::TcpListener::bind("127.0.0.1:0");
    if (!listener) {
        std::printf("bind failed: %s\n", listener.error().message().c_str());
        co_return 1;
    }
    auto addr = listener->local_addr();
    if (addr) std::printf("listening on %s\n", addr->to_string().c_str());
    auto stats = std::make_shared<Stats>();
    corio::CancellationToken stop;
    auto server = corio::spawn(accept_loop(std::move(*listener), stats, stop.child_token()));
    auto reporter = corio::spawn(report(stats, stop.child_token()));
    auto [tx, rx] = corio::sync::mpsc::channel<std::string>(16);
    corio::spawn([](corio::sync::mpsc::Sender<std::string> out) -> corio::Task<void> {
        auto sent = co_await out.send("started");
        (void)sent;
    }(std::move(tx)));
    auto first = co_await rx.recv();
    if (first) std::printf("%s\n", first->c_str());
    auto signal = co_await corio::signal::ctrl_c();
    (void)signal;
    stop.cancel();
    co_await std::move(server);
    co_await std::move(reporter);
    co_return 0;
}

}  // namespace

int main() { return corio::run(async_main()); }
