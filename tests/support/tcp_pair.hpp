// A connected TCP pair over loopback for the socket tests.
#pragma once

#include <expected>
#include <string>
#include <utility>

#include "corio/net.hpp"
#include "corio/task.hpp"

namespace corio::test {

/// A listener on an ephemeral port, a client connected to it and the
/// server's end of that connection.
struct TcpConnection {
    net::TcpListener listener;
    net::TcpStream client;
    net::TcpStream server;
};

/// Binds `addr` (default 127.0.0.1, an ephemeral port), connects and accepts.
inline Task<io::Result<TcpConnection>> connect_pair(std::string addr = "127.0.0.1:0") {
    TcpConnection c;
    auto listener = net::TcpListener::bind(addr);
    if (!listener) co_return std::unexpected(listener.error());
    c.listener = std::move(*listener);
    auto local = c.listener.local_addr();
    if (!local) co_return std::unexpected(local.error());
    auto client = co_await net::TcpStream::connect(*local);
    if (!client) co_return std::unexpected(client.error());
    c.client = std::move(*client);
    auto accepted = co_await c.listener.accept();
    if (!accepted) co_return std::unexpected(accepted.error());
    c.server = std::move(accepted->first);
    co_return std::move(c);
}

}  // namespace corio::test
