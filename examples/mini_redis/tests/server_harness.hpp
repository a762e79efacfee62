// What the in-process server tests share: a server on an ephemeral loopback
// port for the length of a test body, on either runtime flavour and bounded
// in time, and Raw, a connection that sends RESP bytes and reads replies.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <corio/cancel.hpp>
#include <corio/net.hpp>
#include <corio/runtime.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connection.hpp"
#include "server.hpp"
#include "support/co_assert.hpp"

namespace mini_redis::test {

/// The runtime a server test runs on.
enum class Flavor { CurrentThread, MultiThread };

/// A test body, given the server's address.
using Body = corio::Task<void> (*)(corio::net::SocketAddr);

/// Serves with `options` on an ephemeral loopback port while `body` runs,
/// then shuts the server down and waits for it.
inline corio::Task<void> with_server(ServerOptions options, Body body) {
    corio::io::Result<corio::net::TcpListener> listener = corio::net::TcpListener::bind("127.0.0.1:0");
    CO_ASSERT_TRUE(listener.has_value());
    corio::net::SocketAddr addr = *listener->local_addr();
    corio::CancellationToken shutdown;
    corio::JoinHandle<void> server = corio::spawn(run(std::move(*listener), shutdown, std::move(options)));
    co_await body(addr);
    shutdown.cancel();
    co_await server;
}

/// A runtime of `flavor` (two workers for MultiThread).
inline corio::Runtime make_runtime(Flavor flavor) {
    return flavor == Flavor::CurrentThread ? corio::Builder::new_current_thread().build()
                                           : corio::Builder::new_multi_thread().worker_threads(2).build();
}

/// with_server() on a runtime of `flavor`, failing the test when it runs
/// past 30 s.
inline void run_bounded(Flavor flavor, Body body, ServerOptions options = {}) {
    corio::Runtime rt = make_runtime(flavor);
    auto finished = rt.block_on(corio::time::timeout(std::chrono::seconds(30), with_server(std::move(options), body)));
    EXPECT_TRUE(finished.has_value()) << "the test timed out";
}

/// The RESP request of `words`.
inline std::string command(std::vector<std::string> words) {
    std::string out;
    encode(Frame::command(std::move(words)), out);
    return out;
}

/// The RESP request of the words of `line` (separated by single spaces).
inline std::string command_line(std::string_view line) {
    std::vector<std::string> words;
    for (std::size_t at = 0; at <= line.size();) {
        std::size_t space = std::min(line.find(' ', at), line.size());
        words.emplace_back(line.substr(at, space - at));
        at = space + 1;
    }
    return command(std::move(words));
}

/// A connection that sends raw bytes and reads reply frames.
class Raw {
public:
    static corio::Task<std::optional<Raw>> connect(corio::net::SocketAddr addr) {
        corio::io::Result<corio::net::TcpStream> stream = co_await corio::net::TcpStream::connect(addr);
        if (!stream) {
            ADD_FAILURE() << "connect: " << stream.error().message();
            co_return std::nullopt;
        }
        co_return Raw(std::move(*stream));
    }

    corio::Task<bool> send(std::string bytes) {
        conn_.output().append(bytes);
        corio::io::Result<void> sent = co_await conn_.flush();
        co_return sent.has_value();
    }

    /// The next reply, or an Error frame saying what went wrong instead
    /// ("(closed)" at end of stream).
    corio::Task<Frame> reply() {
        Result<std::optional<Frame>> f = co_await conn_.read_frame();
        if (!f) co_return Frame::error("(failed) " + f.error().message);
        if (!*f) co_return Frame::error("(closed)");
        co_return std::move(**f);
    }

    /// Sends the command of `line` (see command_line()) and reads its reply.
    corio::Task<Frame> call(std::string line) {
        co_await send(command_line(line));
        co_return co_await reply();
    }

    /// True when the server closes the connection (after any replies).
    corio::Task<bool> closed_by_server() {
        for (;;) {
            Result<std::optional<Frame>> f = co_await conn_.read_frame();
            if (!f) co_return f.error().kind == Error::Kind::Io || f.error().kind == Error::Kind::Closed;
            if (!*f) co_return true;
        }
    }

    Connection& connection() { return conn_; }

private:
    explicit Raw(corio::net::TcpStream stream) : conn_(std::move(stream)) {}
    Connection conn_;
};

}  // namespace mini_redis::test
