// Tests of <corio/net/unix.hpp>: UnixListener and UnixStream. Round trips
// through a socket file in a fresh temporary directory, binding over an
// existing path (refused, as in Tokio), socketpairs, half-close, split
// halves, peers that went away, and the abstract namespace.
//
// Every test runs on a fresh current_thread runtime, its root bounded by
// time::timeout.
#include "corio/net/unix.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/byte_streams.hpp"
#include "support/co_assert.hpp"
#include "support/run_bounded.hpp"
#include "support/signal_disposition.hpp"

namespace corio::net {
namespace {

using namespace std::chrono_literals;

using test::bytes_of;
using test::kPatternBytes;
using test::read_pattern;
using test::read_string;
using test::SignalDisposition;
using test::string_of;
using test::write_pattern;

/// Each test's root runs on a fresh current_thread runtime, bounded by 5 s.
constexpr test::RunBounded run_bounded{5s};

/// A fresh directory (mkdtemp) removed with everything in it at the end.
class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "corio-unix-XXXXXX").string();
        if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ignored;
        if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
    }
    bool ok() const noexcept { return !path_.empty(); }
    std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

private:
    std::string path_;
};

// ---- listener and stream ------------------------------------------------------------

Task<void> round_trip(std::string path) {
    auto listener = UnixListener::bind(path);
    CO_ASSERT_OK(listener);
    EXPECT_EQ(listener->local_addr().value_or(""), path);
    struct stat st{};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode)) << "binding created a socket file";

    auto client = co_await UnixStream::connect(path);
    CO_ASSERT_OK(client);
    auto accepted = co_await listener->accept();
    CO_ASSERT_OK(accepted);
    auto& [server, peer_path] = *accepted;
    EXPECT_EQ(peer_path, "") << "a connecting client is unnamed";
    EXPECT_EQ(client->peer_addr().value_or(""), path);
    EXPECT_EQ(client->local_addr().value_or("?"), "");
    EXPECT_EQ(server.local_addr().value_or(""), path);

    auto cred = server.peer_cred();
    CO_ASSERT_OK(cred);
    EXPECT_EQ(cred->pid, ::getpid());
    EXPECT_EQ(cred->uid, ::getuid());

    CO_ASSERT_OK(co_await client->write_all("over a unix socket"));
    EXPECT_EQ(co_await read_string(server, 18), "over a unix socket");
    CO_ASSERT_OK(co_await server.write_all("and back"));
    EXPECT_EQ(co_await read_string(*client, 8), "and back");
}

TEST(UnixStream, RoundTripsThroughASocketFileInATemporaryDirectory) {
    TempDir dir;
    ASSERT_TRUE(dir.ok());
    run_bounded(round_trip(dir.file("sock")));
}

Task<void> bind_existing_path(std::string taken, std::string plain_file) {
    auto first = UnixListener::bind(taken);
    CO_ASSERT_OK(first);
    auto second = UnixListener::bind(taken);
    CO_ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error(), std::errc::address_in_use) << second.error().message();

    // Not only live sockets: any file in the way is refused, and left alone.
    std::FILE* f = std::fopen(plain_file.c_str(), "w");
    CO_ASSERT_TRUE(f != nullptr);
    std::fclose(f);
    auto third = UnixListener::bind(plain_file);
    CO_ASSERT_FALSE(third.has_value());
    EXPECT_EQ(third.error(), std::errc::address_in_use);
    EXPECT_TRUE(std::filesystem::is_regular_file(plain_file));

    // A listener does not remove its file when it goes: binding again still fails.
    *first = UnixListener();
    EXPECT_TRUE(std::filesystem::exists(taken));
    EXPECT_EQ(UnixListener::bind(taken).error(), std::errc::address_in_use);
    std::filesystem::remove(taken);
    EXPECT_TRUE(UnixListener::bind(taken).has_value()) << "free once the file is removed";
}

TEST(UnixListener, BindingToAnExistingPathFailsWithAddressInUse) {
    TempDir dir;
    ASSERT_TRUE(dir.ok());
    run_bounded(bind_existing_path(dir.file("sock"), dir.file("plain")));
}

Task<void> bad_paths(std::string missing_dir) {
    EXPECT_EQ(UnixListener::bind("").error(), std::errc::invalid_argument);
    EXPECT_EQ(UnixListener::bind("/tmp/" + std::string(200, 'x')).error(), std::errc::invalid_argument);
    EXPECT_EQ(UnixListener::bind(std::string_view("a\0b", 3)).error(), std::errc::invalid_argument);
    EXPECT_EQ(UnixListener::bind(missing_dir + "/sock").error(), std::errc::no_such_file_or_directory);
    auto too_long = co_await UnixStream::connect(std::string(200, 'y'));
    CO_ASSERT_FALSE(too_long.has_value());
    EXPECT_EQ(too_long.error(), std::errc::invalid_argument);
}

TEST(UnixListener, BadPathsFailWithoutThrowing) {
    TempDir dir;
    ASSERT_TRUE(dir.ok());
    run_bounded(bad_paths(dir.file("missing")));
}

Task<void> connect_failures(std::string nothing_there, std::string stale) {
    auto missing = co_await UnixStream::connect(nothing_there);
    CO_ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error(), std::errc::no_such_file_or_directory) << missing.error().message();

    // A socket file whose listener is gone refuses connections.
    {
        auto listener = UnixListener::bind(stale);
        CO_ASSERT_OK(listener);
    }
    auto refused = co_await UnixStream::connect(stale);
    CO_ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error(), std::errc::connection_refused) << refused.error().message();
}

TEST(UnixStream, ConnectingWhereNothingListensFails) {
    TempDir dir;
    ASSERT_TRUE(dir.ok());
    run_bounded(connect_failures(dir.file("nothing"), dir.file("stale")));
}

Task<void> accept_waits(std::string path) {
    auto listener = UnixListener::bind(path);
    CO_ASSERT_OK(listener);
    auto connector = [](std::string to) -> Task<bool> {
        co_await time::sleep(20ms);
        auto s = co_await UnixStream::connect(to);
        if (!s) co_return false;
        co_return (co_await s->write_all("hi")).has_value();
    };
    JoinHandle<bool> client = spawn(connector(path));
    auto accepted = co_await listener->accept();  // parks until the client connects
    CO_ASSERT_OK(accepted);
    EXPECT_EQ(co_await read_string(accepted->first, 2), "hi");
    EXPECT_TRUE(co_await client);
}

TEST(UnixListener, AcceptParksUntilAClientConnects) {
    TempDir dir;
    ASSERT_TRUE(dir.ok());
    run_bounded(accept_waits(dir.file("sock")));
}

Task<void> abstract_namespace() {
    std::string name = std::string(1, '\0') + "corio-test-" + std::to_string(::getpid());
    auto listener = UnixListener::bind(name);
    CO_ASSERT_OK(listener);
    EXPECT_EQ(listener->local_addr().value_or(""), name);
    auto client = co_await UnixStream::connect(name);
    CO_ASSERT_OK(client);
    auto accepted = co_await listener->accept();
    CO_ASSERT_OK(accepted);
    CO_ASSERT_OK(co_await client->write_all("abstract"));
    EXPECT_EQ(co_await read_string(accepted->first, 8), "abstract");
}

TEST(UnixListener, BindsAndConnectsInTheAbstractNamespace) { run_bounded(abstract_namespace()); }

// ---- pair, half-close, split, peer gone ------------------------------------------------

Task<void> socketpair_round_trip() {
    auto pair = UnixStream::pair();
    CO_ASSERT_OK(pair);
    auto& [a, b] = *pair;
    EXPECT_EQ(a.local_addr().value_or("?"), "");
    EXPECT_EQ(a.peer_addr().value_or("?"), "");
    CO_ASSERT_OK(co_await a.write_all("left to right"));
    EXPECT_EQ(co_await read_string(b, 13), "left to right");
    CO_ASSERT_OK(co_await b.write_all("right to left"));
    EXPECT_EQ(co_await read_string(a, 13), "right to left");

    std::array<std::byte, 4> buf{};
    CO_ASSERT_OK(co_await a.write_all("peek"));
    auto peeked = co_await b.peek(buf);
    CO_ASSERT_OK(peeked);
    EXPECT_EQ(string_of(std::span(buf).first(*peeked)), "peek");
    EXPECT_EQ(co_await read_string(b, 4), "peek");
}

TEST(UnixStream, PairGivesTwoConnectedStreams) { run_bounded(socketpair_round_trip()); }

Task<void> half_close() {
    auto pair = UnixStream::pair();
    CO_ASSERT_OK(pair);
    auto& [client, server] = *pair;
    CO_ASSERT_OK(co_await client.write_all("request"));
    CO_ASSERT_OK(client.shutdown(SHUT_WR));
    EXPECT_EQ(co_await read_string(server, 100), "request");
    std::array<std::byte, 8> buf{};
    auto eof = co_await server.read(buf);
    CO_ASSERT_OK(eof);
    EXPECT_EQ(*eof, 0u);
    CO_ASSERT_OK(co_await server.write_all("response"));
    CO_ASSERT_OK(server.shutdown(SHUT_WR));
    EXPECT_EQ(co_await read_string(client, 100), "response");
}

TEST(UnixStream, HalfCloseLetsThePeerReadEndOfStreamAndStillReply) { run_bounded(half_close()); }

Task<void> read_after_peer_gone() {
    auto pair = UnixStream::pair();
    CO_ASSERT_OK(pair);
    auto& [a, b] = *pair;
    CO_ASSERT_OK(co_await b.write_all("bye"));
    b = UnixStream();
    EXPECT_EQ(co_await read_string(a, 100), "bye");
    std::array<std::byte, 8> buf{};
    auto eof = co_await a.read(buf);
    CO_ASSERT_OK(eof);
    EXPECT_EQ(*eof, 0u);
    std::array<std::byte, 8> exact{};
    auto r = co_await a.read_exact(exact);
    CO_ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), io::errc::unexpected_eof);
    // Writing to the vanished peer fails with broken_pipe, without SIGPIPE:
    // at once on epoll; on io_uring the stream's send queue takes the bytes
    // and the error comes with the flush (or the next write).
    std::error_code err;
    auto w = co_await a.write(bytes_of("anyone there"));
    if (w.has_value()) {
        auto flushed = co_await io::flush(a);
        CO_ASSERT_FALSE(flushed.has_value());
        err = flushed.error();
    } else {
        err = w.error();
    }
    EXPECT_EQ(err, std::errc::broken_pipe) << err.message();
}

TEST(UnixStream, APeerThatWentAwayReadsAsEndOfStreamAndWritesFailWithBrokenPipe) {
    SignalDisposition sigpipe(SIGPIPE, SIG_DFL);  // a SIGPIPE would kill the process
    run_bounded(read_after_peer_gone());
}

/// Echoes until end of stream, then shuts its writing down.
Task<void> echo(UnixStream s) {
    std::array<std::byte, 4096> buf{};
    for (;;) {
        auto n = co_await s.read(buf);
        if (!n || *n == 0) break;
        auto written = co_await s.write_all(std::span(buf).first(*n));
        if (!written) break;
    }
    (void)s.shutdown(SHUT_WR);
}

Task<void> split_halves() {
    auto pair = UnixStream::pair();
    CO_ASSERT_OK(pair);
    JoinHandle<void> echo_task = spawn(echo(std::move(pair->second)));
    auto [reader, writer] = std::move(pair->first).into_split();
    JoinHandle<std::size_t> read_task = spawn(read_pattern(std::move(reader)));
    JoinHandle<std::size_t> write_task = spawn(write_pattern(std::move(writer)));
    EXPECT_EQ(co_await write_task, kPatternBytes);
    EXPECT_EQ(co_await read_task, kPatternBytes);
    co_await echo_task;
}

TEST(UnixStream, SplitHalvesWorkFromTwoTasksAtOnce) { run_bounded(split_halves()); }

Task<void> cancelled_read_loses_nothing() {
    auto pair = UnixStream::pair();
    CO_ASSERT_OK(pair);
    auto& [a, b] = *pair;
    std::array<std::byte, 16> buf{};
    auto timed_out = co_await time::timeout(20ms, a.read(buf));
    EXPECT_FALSE(timed_out.has_value());
    CO_ASSERT_OK(co_await b.write_all("after"));
    EXPECT_EQ(co_await read_string(a, 5), "after");
}

TEST(UnixStream, AReadCancelledByATimeoutLosesNoBytes) { run_bounded(cancelled_read_loses_nothing()); }

}  // namespace
}  // namespace corio::net
