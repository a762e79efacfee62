// Tests of the append-only file (aof.hpp): what a command is logged as,
// replay (a cut-short last command repaired, other damage refused), a
// server restarted on its file finding its keys (expired ones as well as
// live ones as they were), BGREWRITEAOF compacting while writes go on, and a
// full disk (/dev/full): writes refused with MISCONF, reads served, and under
// `always` no write acknowledged. tests/aof_kill_test.py kills a real server
// with SIGKILL under load.
#include "aof.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <corio/cancel.hpp>
#include <corio/net.hpp>
#include <corio/runtime.hpp>
#include <corio/time.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "client.hpp"
#include "command_support.hpp"
#include "server.hpp"
#include "server_harness.hpp"
#include "support/co_assert.hpp"

namespace mini_redis {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// A fresh directory, removed at the end of the test.
class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "mini-redis-aof-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() { fs::remove_all(path_); }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
}

std::string request(std::vector<std::string_view> words) {
    std::string out;
    resp::array_header(out, words.size());
    for (std::string_view w : words) resp::bulk(out, w);
    return out;
}

TEST(Aof, RelativeTimesAreLoggedAsAbsoluteOnesAndGetIsDropped) {
    TempDir dir;
    AofOptions options{true, dir.path() / "a.aof", AppendFsync::No};
    auto aof = AppendOnlyFile::open(options);
    ASSERT_TRUE(aof.has_value()) << aof.error();
    std::vector<std::vector<std::string_view>> commands{
        {"set", "k", "v", "EX", "100", "GET"},
        {"SETEX", "k", "100", "v"},
        {"expire", "k", "100", "NX"},
        {"PEXPIREAT", "k", "5"},
        {"INCR", "n"},
    };
    std::uint64_t end = 0;
    for (const auto& c : commands) end = (*aof)->append_command(c);
    // Written by the runtime's blocking pool.
    bool written = corio::Builder::new_current_thread().build().block_on((*aof)->commit(end));
    ASSERT_TRUE(written);
    std::string file = read_file(options.path);
    std::int64_t later = unix_millis_now() + 100'000;
    // Each deadline is within a second of 100 s from now.
    auto deadline_after = [&](std::string_view prefix) {
        std::size_t at = file.find(prefix);
        EXPECT_NE(at, std::string::npos) << prefix << " in " << file;
        if (at == std::string::npos) return std::int64_t{0};
        return static_cast<std::int64_t>(std::stoll(file.substr(at + prefix.size(), 13)));
    };
    EXPECT_NEAR(deadline_after("$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n$4\r\nPXAT\r\n$13\r\n"), later, 1000);
    EXPECT_NEAR(deadline_after("$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$4\r\nPXAT\r\n$13\r\n"), later, 1000);
    EXPECT_NEAR(deadline_after("$9\r\nPEXPIREAT\r\n$1\r\nk\r\n$13\r\n"), later, 1000);
    EXPECT_NE(file.find("$2\r\nNX\r\n"), std::string::npos) << "EXPIRE's condition stays";
    EXPECT_EQ(file.find("GET"), std::string::npos) << "SET's GET only shapes the reply";
    EXPECT_NE(file.find(request({"PEXPIREAT", "k", "5"})), std::string::npos);
    EXPECT_TRUE(file.ends_with(request({"INCR", "n"})));
}

TEST(Aof, ReplayCutsOffALastCommandCutShortAndRefusesOtherDamage) {
    TempDir dir;
    fs::path path = dir.path() / "a.aof";
    std::string whole = request({"SET", "a", "1"}) + request({"SET", "b", "2"});
    write_file(path, whole + "*3\r\n$3\r\nSET\r\n$1\r\nc");  // a crash mid-write
    std::vector<std::string> seen;
    auto replayed = replay_aof(path, [&](std::span<const std::string_view> words) { seen.emplace_back(words[1]); });
    ASSERT_TRUE(replayed.has_value()) << replayed.error();
    EXPECT_EQ(*replayed, 2u);
    EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(read_file(path), whole) << "the partial command is cut off the file";

    write_file(path, whole + "*2\r\n$x\r\n" + request({"SET", "c", "3"}));  // not RESP
    auto damaged = replay_aof(path, [](std::span<const std::string_view>) {});
    ASSERT_FALSE(damaged.has_value());
    EXPECT_NE(damaged.error().find("at offset " + std::to_string(whole.size())), std::string::npos) << damaged.error();

    auto missing = replay_aof(dir.path() / "none.aof", [](std::span<const std::string_view>) {});
    ASSERT_TRUE(missing.has_value());
    EXPECT_EQ(*missing, 0u);
}

/// Runs `body` against a server with `options` on a multi-thread runtime.
void with_server(const ServerOptions& options, test::Body body) {
    test::run_bounded(test::Flavor::MultiThread, body, options);
}

ServerOptions with_aof(const fs::path& path, AppendFsync fsync) {
    ServerOptions options;
    options.aof = AofOptions{true, path, fsync};
    options.shutdown_grace = 1s;
    return options;
}

/// The reply to the command `words...` (an Error frame saying why, when
/// there was none). Variadic rather than a braced list: GCC 12 miscompiles
/// an initializer list in a co_await expression.
template <class... Words>
corio::Task<Frame> ask(Client& client, Words... words) {
    std::vector<std::string> command{std::string(words)...};
    Result<Frame> reply = co_await client.command(std::move(command));
    if (!reply) co_return Frame::error("(failed) " + reply.error().message);
    co_return std::move(*reply);
}

/// Expects the reply to `words...` to be `want`.
template <class... Words>
corio::Task<void> expect(Client& client, Frame want, Words... words) {
    Frame got = co_await ask(client, words...);
    EXPECT_EQ(got, want) << "got " << got.to_debug_string() << ", want " << want.to_debug_string();
}

corio::Task<void> write_some(corio::net::SocketAddr addr) {
    Result<Client> client = co_await Client::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    co_await expect(*client, Frame::simple("OK"), "SET", "plain", "1");
    co_await expect(*client, Frame::integer_of(2), "INCR", "plain");
    co_await expect(*client, Frame::simple("OK"), "SET", "lasting", "v", "EX", "1000");
    co_await expect(*client, Frame::simple("OK"), "SET", "brief", "v", "PX", "1");
    co_await expect(*client, Frame::simple("OK"), "SET", "gone", "v");
    co_await expect(*client, Frame::integer_of(1), "DEL", "gone");
    Frame failed = co_await ask(*client, "INCR", "plain", "extra");
    EXPECT_TRUE(failed.is_error());
    co_await corio::time::sleep(20ms);
    co_await expect(*client, Frame::null_bulk(), "GET", "brief");  // expired: logged as DEL
}

corio::Task<void> read_back(corio::net::SocketAddr addr) {
    Result<Client> client = co_await Client::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    co_await expect(*client, Frame::bulk("2"), "GET", "plain");
    Frame ttl = co_await ask(*client, "TTL", "lasting");
    EXPECT_TRUE(ttl.integer > 990 && ttl.integer <= 1000) << ttl.to_debug_string();
    co_await expect(*client, Frame::integer_of(0), "EXISTS", "brief", "gone");
    co_await expect(*client, Frame::integer_of(2), "DBSIZE");
}

TEST(Aof, AServerRestartedOnItsFileHasItsKeysAsTheyWere) {
    for (AppendFsync fsync : {AppendFsync::Always, AppendFsync::EverySec, AppendFsync::No}) {
        TempDir dir;
        ServerOptions options = with_aof(dir.path() / "appendonly.aof", fsync);
        with_server(options, write_some);
        std::string file = read_file(options.aof.path);
        EXPECT_NE(file.find(request({"DEL", "brief"})), std::string::npos) << "the expired key is logged as DEL";
        EXPECT_EQ(file.find("extra"), std::string::npos) << "a command that failed is not logged";
        with_server(options, read_back);
    }
}

corio::Task<void> rewrite_under_writes(corio::net::SocketAddr addr) {
    Result<Client> client = co_await Client::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    for (int i = 0; i < 2000; ++i) {
        Frame n = co_await ask(*client, "INCR", "counter");
        CO_ASSERT_TRUE(n == Frame::integer_of(i + 1));
    }
    co_await expect(*client, Frame::simple("Background append only file rewriting started"), "BGREWRITEAOF");
    // Writes go on while it runs; they must end up in the new file too.
    for (int i = 2000; i < 3000; ++i) {
        Frame n = co_await ask(*client, "INCR", "counter");
        CO_ASSERT_TRUE(n == Frame::integer_of(i + 1));
    }
    for (int wait = 0; wait < 500; ++wait) {
        Frame info = co_await ask(*client, "INFO", "persistence");
        if (info.text.find("aof_rewrite_in_progress:0") != std::string::npos) break;
        co_await corio::time::sleep(10ms);
    }
    co_await expect(*client, Frame::integer_of(3001), "INCR", "counter");
}

corio::Task<void> counter_is_3001(corio::net::SocketAddr addr) {
    Result<Client> client = co_await Client::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    co_await expect(*client, Frame::bulk("3001"), "GET", "counter");
}

TEST(Aof, BgRewriteAofCompactsTheFileWhileWritesGoOn) {
    TempDir dir;
    ServerOptions options = with_aof(dir.path() / "appendonly.aof", AppendFsync::EverySec);
    with_server(options, rewrite_under_writes);
    std::string file = read_file(options.aof.path);
    // 3,001 INCRs of 28 bytes each before; a SET and whatever INCRs came
    // after the snapshot now.
    EXPECT_LT(file.size(), 3001u * 28 / 2) << "the file was compacted";
    EXPECT_TRUE(file.starts_with("*3\r\n$3\r\nSET\r\n$7\r\ncounter\r\n")) << file.substr(0, 40);
    EXPECT_FALSE(fs::exists(options.aof.path.string() + ".rewrite"));
    with_server(options, counter_is_3001);
}

corio::Task<void> blocking_pops(corio::net::SocketAddr addr) {
    Result<Client> a = co_await Client::connect(addr);
    Result<Client> b = co_await Client::connect(addr);
    CO_ASSERT_TRUE(a.has_value() && b.has_value());
    // A blocks; B's push serves it (the file must say so: RPUSH, then LPOP).
    corio::JoinHandle<Frame> blocked = corio::spawn(ask(*a, "BLPOP", "q", "0"));
    for (int wait = 0; wait < 500; ++wait) {
        Frame info = co_await ask(*b, "INFO", "clients");
        if (info.text.find("blocked_clients:1") != std::string::npos) break;
        co_await corio::time::sleep(5ms);
    }
    co_await expect(*b, Frame::integer_of(3), "RPUSH", "q", "a", "b", "c");
    Frame served = co_await blocked;
    const Frame q_a = Frame::array({Frame::bulk("q"), Frame::bulk("a")});
    const Frame q_b = Frame::array({Frame::bulk("q"), Frame::bulk("b")});
    const Frame just_c = Frame::array({Frame::bulk("c")});
    EXPECT_EQ(served, q_a);
    // A BLPOP that pops at once is an LPOP. (Frames built before the
    // co_await: GCC 12 miscompiles a braced list inside one.)
    co_await expect(*b, q_b, "BLPOP", "q", "0");
    co_await expect(*b, just_c, "LRANGE", "q", "0", "-1");
}

corio::Task<void> only_c_is_left(corio::net::SocketAddr addr) {
    Result<Client> client = co_await Client::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    const Frame just_c = Frame::array({Frame::bulk("c")});
    co_await expect(*client, just_c, "LRANGE", "q", "0", "-1");
}

TEST(Aof, PopsOfBlockedClientsAreLoggedAfterThePushThatServedThem) {
    TempDir dir;
    ServerOptions options = with_aof(dir.path() / "appendonly.aof", AppendFsync::EverySec);
    with_server(options, blocking_pops);
    std::string file = read_file(options.aof.path);
    std::string push = request({"RPUSH", "q", "a", "b", "c"});
    EXPECT_NE(file.find(push + request({"LPOP", "q"}) + request({"LPOP", "q"})), std::string::npos) << file;
    with_server(options, only_c_is_left);
}

corio::Task<void> full_disk_everysec(corio::net::SocketAddr addr) {
    Result<Client> client = co_await Client::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    // The first write fails in the file; its reply was already due (Redis
    // does the same under everysec). From then on writes are refused.
    (void)co_await ask(*client, "SET", "k", "v");
    Frame refused = co_await ask(*client, "SET", "k", "w");
    EXPECT_EQ(refused, Frame::error("MISCONF Errors writing to the AOF file: No space left on device"));
    co_await expect(*client, Frame::bulk("v"), "GET", "k");
    co_await expect(*client, Frame::simple("PONG"), "PING");
    Frame info = co_await ask(*client, "INFO", "persistence");
    EXPECT_NE(info.text.find("aof_last_write_status:err"), std::string::npos) << info.text;
}

TEST(Aof, OnAFullDiskWritesAreRefusedAndReadsServed) {
    if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
    with_server(with_aof("/dev/full", AppendFsync::EverySec), full_disk_everysec);
}

corio::Task<void> full_disk_always(corio::net::SocketAddr addr) {
    Result<Client> client = co_await Client::connect(addr);
    CO_ASSERT_TRUE(client.has_value());
    // Under `always` a write that could not be stored is never acknowledged:
    // the connection closes instead of answering OK.
    std::vector<std::string> set{"SET", "k", "v"};
    Result<Frame> reply = co_await client->command(std::move(set));
    EXPECT_FALSE(reply.has_value() && *reply == Frame::simple("OK"));
    Result<Client> other = co_await Client::connect(addr);
    CO_ASSERT_TRUE(other.has_value());
    co_await expect(*other, Frame::error("MISCONF Errors writing to the AOF file: No space left on device"), "SET", "k",
                    "w");
    co_await expect(*other, Frame::bulk("v"), "GET", "k");
}

TEST(Aof, UnderAlwaysAWriteThatCouldNotBeStoredIsNotAcknowledged) {
    if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
    with_server(with_aof("/dev/full", AppendFsync::Always), full_disk_always);
}

TEST(Aof, ADamagedFileStopsTheServerBeforeItServes) {
    TempDir dir;
    ServerOptions options = with_aof(dir.path() / "appendonly.aof", AppendFsync::EverySec);
    write_file(options.aof.path, "*2\r\n$x\r\n");  // not RESP
    corio::Runtime rt = corio::Builder::new_current_thread().build();
    auto attempt = [&]() -> corio::Task<std::string> {
        corio::io::Result<corio::net::TcpListener> listener = corio::net::TcpListener::bind("127.0.0.1:0");
        if (!listener) co_return "bind failed";
        try {
            co_await run(std::move(*listener), corio::CancellationToken(), options);
        } catch (const AofError& e) {
            co_return e.what();
        }
        co_return "run() returned";
    };
    auto bounded = rt.block_on(corio::time::timeout(10s, attempt()));  // a server that serves would never return
    std::string outcome = bounded ? *bounded : "still serving after 10 s";
    EXPECT_NE(outcome.find("bad file format"), std::string::npos) << outcome;
}

}  // namespace
}  // namespace mini_redis
