// What the simulation tests (tests/sim/) share: tasks made of lambdas,
// host software, and name lookup and connect that throw on failure (inside
// a simulation a throw fails the run, naming the seed).
#pragma once

#include <chrono>
#include <corio/net.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>

namespace corio::test {

/// A task that owns `body` (a lambda returning Task<void>) and runs it: the
/// lambda's captures live in this frame as long as the task.
template <class F>
Task<void> task_of(F body) {
    co_await body();
}

/// Host software made of a lambda returning Task<void>: each start runs a
/// fresh copy of it (see task_of).
template <class F>
std::function<Task<void>()> software(F body) {
    return [body] { return task_of(body); };
}

/// Sleeps an hour at a time, for ever.
inline Task<void> sleep_forever() {
    for (;;) co_await time::sleep(std::chrono::hours(1));
}

/// The first address of `host_port` ("name:port"); throws when it does not resolve.
inline Task<net::SocketAddr> resolve(const char* host_port) {
    auto addrs = co_await net::lookup_host(host_port);
    if (!addrs || addrs->empty()) throw std::runtime_error(std::string("lookup_host(") + host_port + ") failed");
    co_return addrs->front();
}

/// A connection to `host_port`; throws when the lookup or the connect fails.
inline Task<net::TcpStream> connect_to(const char* host_port) {
    net::SocketAddr addr = co_await resolve(host_port);
    auto stream = co_await net::TcpStream::connect(addr);
    if (!stream) throw std::runtime_error(std::string("connect to ") + host_port + ": " + stream.error().message());
    co_return std::move(*stream);
}

}  // namespace corio::test
