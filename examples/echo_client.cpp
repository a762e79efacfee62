// echo_client: sends lines to an echo server and checks each comes back.
//
//   echo_client <host:port> [messages]
//
// Connects to host:port (a name such as localhost:7000 is resolved first),
// sends `messages` lines (default 10) one at a time, reads each echo back
// and compares it with what was sent, then closes its side and waits for
// the server to close too. Prints "echoed N messages" and exits with 0, or
// prints "error: ..." and exits with 1.
//
// Try it against examples/echo_server.cpp: ./echo_client 127.0.0.1:7000 5
#include <charconv>
#include <corio/corio.hpp>
#include <corio/net.hpp>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace {

namespace io = corio::io;
namespace net = corio::net;

int fail(const std::string& what) {
    std::fprintf(stderr, "error: %s\n", what.c_str());
    return 1;
}

corio::Task<int> echo_client(std::string target, int messages) {
    // net::connect resolves the name (on the blocking pool, so no worker
    // thread blocks in getaddrinfo) and tries each address in turn.
    io::Result<net::TcpStream> connected = co_await net::connect(target);
    if (!connected) co_return fail("cannot connect to " + target + ": " + connected.error().message());
    (void)connected->set_nodelay(true);  // send each small line at once

    // BufReader reads the socket in large chunks and hands out lines; writes
    // to it go straight through to the socket underneath.
    io::BufReader reader(std::move(*connected));
    std::string echoed;
    for (int i = 1; i <= messages; ++i) {
        std::string message = "message " + std::to_string(i) + " of " + std::to_string(messages) + "\n";
        io::Result<void> sent = co_await io::write_all(reader, message);
        if (!sent) co_return fail("send failed: " + sent.error().message());

        echoed.clear();
        io::Result<std::size_t> n = co_await reader.read_line(echoed);
        if (!n) co_return fail("receive failed: " + n.error().message());
        if (*n == 0) co_return fail("the server closed the connection after " + std::to_string(i - 1) + " echoes");
        if (echoed != message) co_return fail("sent \"" + message + "\" but got back \"" + echoed + "\"");
    }

    // Close our writing side; the server sees end of stream, closes its
    // side, and we read end of stream (0 bytes) in turn.
    io::Result<void> closed = co_await io::shutdown(reader);
    if (!closed) co_return fail("shutdown failed: " + closed.error().message());
    echoed.clear();
    io::Result<std::size_t> rest = co_await reader.read_line(echoed);
    if (!rest) co_return fail("waiting for the server to close failed: " + rest.error().message());
    if (*rest != 0) co_return fail("unexpected bytes after the last echo: \"" + echoed + "\"");

    std::printf("echoed %d messages\n", messages);
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int messages = 10;
    if (argc == 3) {
        const char* end = argv[2] + std::strlen(argv[2]);
        auto [ptr, ec] = std::from_chars(argv[2], end, messages);
        if (ec != std::errc() || ptr != end || messages < 0) argc = 0;  // falls into the usage message
    }
    if (argc != 2 && argc != 3) {
        std::fprintf(stderr, "usage: %s <host:port> [messages]\n", argv[0]);
        return 2;
    }
    return corio::run(echo_client(argv[1], messages));
}
