// line_protocol: a small key-value server speaking a line-based protocol,
// built on codec::Framed<TcpStream, LinesCodec> (Tokio's "Framing" chapter).
//
//   SET key value   ->  OK
//   GET key         ->  VALUE value  |  NIL
//   DEL key         ->  1 (it existed) | 0
//   anything else   ->  ERR unknown command
// A line longer than 256 bytes gets "ERR line too long" and the connection
// is closed (the codec never buffers more than the limit plus one read).
//
// Each connection reads frames with stream::next and answers with
// start_send; replies to a pipelined batch of requests are flushed together
// once no complete request is left in the read buffer, so they go out in
// one write.
//
// Run: ./line_protocol [--port P]     serve on 127.0.0.1:P (default 6380)
//      ./line_protocol --selftest     serve on an ephemeral port and check
//                                     a client session against it
#include <chrono>
#include <corio/codec.hpp>
#include <corio/net.hpp>
#include <corio/runtime.hpp>
#include <corio/sink.hpp>
#include <corio/stream.hpp>
#include <corio/time.hpp>
#include <cstdio>
#include <cstdlib>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Connection = corio::codec::Framed<corio::net::TcpStream, corio::codec::LinesCodec>;

constexpr std::size_t kMaxLine = 256;

/// The store, shared by every connection. The lock is never held across a
/// co_await, so a plain std::mutex is right (as Tokio's tutorial advises).
class Db {
public:
    std::string apply(std::string_view line) {
        auto [cmd, rest] = split(line);
        auto [key, value] = split(rest);
        std::lock_guard lock(mutex_);
        if (cmd == "SET" && !key.empty()) {
            map_[std::string(key)] = std::string(value);
            return "OK";
        }
        if (cmd == "GET" && !key.empty()) {
            auto it = map_.find(std::string(key));
            return it == map_.end() ? "NIL" : "VALUE " + it->second;
        }
        if (cmd == "DEL" && !key.empty()) return map_.erase(std::string(key)) ? "1" : "0";
        return "ERR unknown command";
    }

private:
    static std::pair<std::string_view, std::string_view> split(std::string_view s) {
        auto space = s.find(' ');
        if (space == std::string_view::npos) return {s, {}};
        return {s.substr(0, space), s.substr(space + 1)};
    }

    std::mutex mutex_;
    std::unordered_map<std::string, std::string> map_;
};

/// Serves one connection until the client closes it or sends a bad line.
corio::Task<void> serve(corio::net::TcpStream socket, std::shared_ptr<Db> db) {
    Connection conn(std::move(socket), corio::codec::LinesCodec(kMaxLine));
    while (auto frame = co_await corio::stream::next(conn)) {
        if (!*frame) {  // an over-long line or an I/O error: say so, then close
            (void)conn.start_send(std::string("ERR ") + frame->error().message());
            break;
        }
        if (auto queued = conn.start_send(db->apply(**frame)); !queued) break;
        // More complete requests already buffered? Answer them before flushing.
        if (conn.read_buffer().view().find('\n') != std::string_view::npos) continue;
        auto flushed = co_await corio::sink::flush(conn);
        if (!flushed) co_return;
    }
    (void)co_await corio::sink::close(conn);
}

/// Accepts connections forever, one task each.
corio::Task<void> run_server(corio::net::TcpListener listener) {
    auto db = std::make_shared<Db>();
    auto incoming = listener.incoming();
    while (auto conn = co_await corio::stream::next(incoming)) {
        if (!*conn) {
            std::fprintf(stderr, "accept: %s\n", conn->error().message().c_str());
            co_await corio::time::sleep(10ms);  // EMFILE and friends: back off
            continue;
        }
        corio::spawn(serve(std::move(**conn), db));
    }
}

// --- --selftest ---------------------------------------------------------------

/// Sends `requests` in one batch (pipelined) and prints each reply.
corio::Task<bool> round_trip(Connection& client, const std::vector<std::string>& requests) {
    auto sent = co_await corio::sink::send_all(client, corio::stream::iter(requests));
    if (!sent) co_return false;
    for (const auto& request : requests) {
        auto reply = co_await corio::stream::next(client);
        if (!reply || !*reply) co_return false;
        std::printf("> %s\n< %s\n", request.c_str(), (*reply)->c_str());
    }
    co_return true;
}

corio::Task<int> selftest() {
    auto listener = corio::net::TcpListener::bind("127.0.0.1:0");
    if (!listener) co_return 1;
    auto addr = listener->local_addr();
    if (!addr) co_return 1;
    auto server = corio::spawn(run_server(std::move(*listener)));
    auto socket = co_await corio::net::TcpStream::connect(*addr);
    if (!socket) co_return 1;
    Connection client(std::move(*socket), corio::codec::LinesCodec(kMaxLine));
    std::vector<std::string> first{"SET language C++23", "GET language", "GET missing"};
    std::vector<std::string> second{"DEL language", "GET language", "FLY away"};
    // One co_await per statement, its result tested after (GCC 12 mishandles
    // co_await inside conditions, ||, && and ?:).
    bool ok = co_await round_trip(client, first);
    if (!ok) co_return 1;
    ok = co_await round_trip(client, second);
    if (!ok) co_return 1;
    // An over-long line: an error reply, then the server closes the connection.
    std::vector<std::string> bad{"SET big " + std::string(kMaxLine, 'x')};
    auto bad_sent = co_await corio::sink::send_all(client, corio::stream::iter(bad));
    if (!bad_sent) co_return 1;
    auto reply = co_await corio::stream::next(client);
    if (!reply || !*reply) co_return 1;
    std::printf("> SET big xxx...(%zu bytes)\n< %s\n", kMaxLine, (*reply)->c_str());
    auto end = co_await corio::stream::next(client);
    std::printf("server closed the connection: %s\n", end ? "no" : "yes");
    server.abort();
    std::puts("line_protocol selftest ok");
    co_return 0;
}

corio::Task<int> selftest_with_deadline() {
    auto rc = co_await corio::time::timeout(10s, selftest());
    if (!rc) std::puts("error: selftest timed out");
    co_return rc.value_or(1);
}

}  // namespace

int main(int argc, char** argv) {
    std::string_view mode = argc > 1 ? argv[1] : "";
    corio::Runtime rt = corio::Builder::new_current_thread().build();
    if (mode == "--selftest") return rt.block_on(selftest_with_deadline());
    int port = 6380;
    if (mode == "--port" && argc > 2) port = std::atoi(argv[2]);
    auto listener = corio::net::TcpListener::bind("127.0.0.1:" + std::to_string(port));
    if (!listener) {
        std::fprintf(stderr, "error: bind: %s\n", listener.error().message().c_str());
        return 1;
    }
    std::printf("line_protocol listening on 127.0.0.1:%d\n", port);
    rt.block_on(run_server(std::move(*listener)));
    return 0;
}
