// What an I/O backend must survive, checked the same way on epoll and on
// io_uring (CI runs this binary under CORIO_IO_BACKEND=epoll and =io_uring):
// ten thousand connections open at once on one worker (more submissions in a
// turn than the ring holds, more completions than fit), the provided receive
// buffers running dry, sockets closed and tasks dropped with a receive and a
// write in flight, a peer that resets while we write, runtime shutdown with
// operations pending, a large write split into many short ones, and many
// tasks waiting on one socket. Each test states the behaviour both backends
// share; the sanitizer runs prove that nothing leaks or is touched after it
// was freed.
//
// Loopback only, ephemeral ports; every test bounded (time::timeout through
// run_bounded, or a watchdog where the runtime itself is what is timed).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "corio/io.hpp"
#include "corio/net/socket_addr.hpp"
#include "corio/net/tcp.hpp"
#include "corio/net/udp.hpp"
#include "corio/runtime.hpp"
#include "corio/sync/notify.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/byte_streams.hpp"
#include "support/co_assert.hpp"
#include "support/counted.hpp"
#include "support/drop_counter.hpp"
#include "support/run_bounded.hpp"
#include "support/runtime_flavors.hpp"
#include "support/signal_disposition.hpp"
#include "support/tcp_pair.hpp"
#include "support/watchdog.hpp"

namespace corio::net {
namespace {

using namespace std::chrono_literals;

using test::bytes_of;
using test::DropCounter;
using test::DropCounts;
using test::Flavor;
using test::string_of;

// ---- shared pieces -----------------------------------------------------------------

/// The byte at offset `i` of the pattern of stream `seed`: a hash of both,
/// with no period, so a lost, repeated or reordered run is caught whatever
/// its length, and so is a byte that belongs to another connection.
std::byte pattern_at(std::uint64_t seed, std::uint64_t i) {
    std::uint64_t x = (seed << 40) ^ i;
    x *= 0x9E3779B97F4A7C15ULL;
    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ULL;
    return static_cast<std::byte>(x >> 56);
}

/// Fills `out` with the pattern of `seed` from offset `offset` on.
void fill_pattern(std::uint64_t seed, std::uint64_t offset, std::span<std::byte> out) {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = pattern_at(seed, offset + i);
}

/// The index in `got` of the first byte that is not the pattern of `seed`
/// from `offset` on, or npos when all are.
std::size_t pattern_mismatch(std::uint64_t seed, std::uint64_t offset, std::span<const std::byte> got) {
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (got[i] != pattern_at(seed, offset + i)) return i;
    }
    return std::string::npos;
}

/// `size` bytes of the pattern of `seed`, shared by a writer and its checks.
std::shared_ptr<const std::vector<std::byte>> pattern_buffer(std::uint64_t seed, std::size_t size) {
    auto data = std::make_shared<std::vector<std::byte>>(size);
    fill_pattern(seed, 0, *data);
    return data;
}

using test::connect_pair;

/// How a stream read to its end ended: the bytes that arrived and the
/// error that ended it (empty at end of stream).
struct ReadToEnd {
    std::size_t received = 0;
    std::error_code error;
};

/// Reads `s` until end of stream or an error, failing the test at the first
/// byte that is not the pattern of `seed` (all that arrived is then a prefix
/// of the pattern).
template <class Stream>
Task<ReadToEnd> read_pattern_until_closed(Stream& s, std::uint64_t seed, std::size_t chunk) {
    std::vector<std::byte> buf(chunk);
    ReadToEnd end;
    for (;;) {
        auto n = co_await s.read(buf);
        if (!n) {
            end.error = n.error();
            co_return end;
        }
        if (*n == 0) co_return end;
        std::size_t bad = pattern_mismatch(seed, end.received, std::span(buf).first(*n));
        if (bad != std::string::npos) {
            ADD_FAILURE() << "stream " << seed << ": byte " << end.received + bad << " is not the pattern's";
            end.error = std::make_error_code(std::errc::illegal_byte_sequence);
            co_return end;
        }
        end.received += *n;
    }
}

/// read_pattern_until_closed, failing the test unless the stream ends with
/// end of stream; how many bytes arrived.
template <class Stream>
Task<std::size_t> read_pattern_to_end(Stream& s, std::uint64_t seed, std::size_t chunk) {
    ReadToEnd end = co_await read_pattern_until_closed(s, seed, chunk);
    EXPECT_FALSE(end.error) << "read after " << end.received << " bytes: " << end.error.message();
    co_return end.received;
}

/// Waits until bytes have arrived on `s`, consuming none (a peek).
Task<io::Result<void>> until_bytes_arrive(TcpStream& s) {
    std::array<std::byte, 1> probe{};
    auto n = co_await s.peek(probe);
    if (!n) co_return std::unexpected(n.error());
    if (*n == 0) co_return io::error(io::errc::unexpected_eof);
    co_return io::Result<void>();
}

/// Peeks at `s` until `want` bytes wait there to be read. Run it as a task
/// of its own: a block_on root that yields in a loop keeps the current_thread
/// runtime from turning its I/O driver (block_on polls a woken root again at
/// once when no task is queued, without polling the driver), so the bytes
/// would never be seen to arrive.
Task<io::Result<void>> until_peekable(TcpStream* s, std::size_t want) {
    std::vector<std::byte> buf(want);
    for (;;) {
        auto n = co_await s->peek(buf);
        if (!n) co_return std::unexpected(n.error());
        if (*n == want) co_return io::Result<void>();
        co_await task::yield_now();
    }
}

/// Awaits `fut` inside a task, counting its polls (on the spawning thread:
/// current_thread runtime only).
template <class Fut>
Task<output_of<Fut>> await_counted(Fut fut, int* polls) {
    auto counted = test::Counted<Fut>(std::move(fut), polls);  // named first (GCC 12)
    co_return co_await counted;
}

/// Whether awaiting `handle` reports the task as aborted (JoinError).
template <class T>
Task<bool> ended_aborted(JoinHandle<T> handle) {
    try {
        (void)co_await handle;
    } catch (const JoinError&) {
        co_return true;
    }
    co_return false;
}

using test::CountParked;

/// Yields until `*count` reaches `want` (bounded by the test's timeout): for
/// counts that spawned tasks bump when first polled, not for I/O to arrive
/// (see until_peekable).
Task<void> until_count(const std::atomic<int>* count, int want) {
    while (count->load() < want) co_await task::yield_now();
}

/// Sets RLIMIT_NOFILE to at least `need` for its lifetime, restoring it
/// after: the soft limit, and the hard one too where the process may raise
/// it (CAP_SYS_RESOURCE).
class RaisedFdLimit {
public:
    explicit RaisedFdLimit(rlim_t need) {
        if (::getrlimit(RLIMIT_NOFILE, &saved_) != 0) return;
        if (saved_.rlim_cur != RLIM_INFINITY && saved_.rlim_cur < need) {
            rlimit raised = saved_;
            raised.rlim_cur = need;
            if (raised.rlim_max != RLIM_INFINITY && raised.rlim_max < need) raised.rlim_max = need;
            changed_ = ::setrlimit(RLIMIT_NOFILE, &raised) == 0;
        }
        rlimit now{};
        ok_ = ::getrlimit(RLIMIT_NOFILE, &now) == 0 && (now.rlim_cur == RLIM_INFINITY || now.rlim_cur >= need);
    }
    RaisedFdLimit(const RaisedFdLimit&) = delete;
    RaisedFdLimit& operator=(const RaisedFdLimit&) = delete;
    ~RaisedFdLimit() {
        if (changed_) ::setrlimit(RLIMIT_NOFILE, &saved_);
    }
    bool ok() const noexcept { return ok_; }
    rlim_t hard() const noexcept { return saved_.rlim_max; }

private:
    rlimit saved_{};
    bool changed_ = false;
    bool ok_ = false;
};

/// Each test of this fixture runs on both schedulers: current_thread, and
/// multi-thread with two workers (tasks on different threads share sockets).
class BackendEdge : public ::testing::TestWithParam<Flavor> {
protected:
    static constexpr std::size_t kWorkers = 2;

    /// Runs `root` on a fresh runtime of the parameter's flavour, bounded.
    void run_bounded(Task<void> root, time::Duration bound = 10s) const {
        auto run = GetParam() == Flavor::CurrentThread ? test::RunBounded(bound)
                                                       : test::RunBounded::multi_thread(bound, kWorkers);
        run(std::move(root));
    }

    Runtime build() const {
        if (GetParam() == Flavor::CurrentThread) return Builder::new_current_thread().build();
        return Builder::new_multi_thread().worker_threads(kWorkers).build();
    }
};

std::string flavor_name(const ::testing::TestParamInfo<Flavor>& info) {
    return info.param == Flavor::CurrentThread ? "CurrentThread" : "MultiThread2Workers";
}

INSTANTIATE_TEST_SUITE_P(Runtimes, BackendEdge, test::all_flavors(), flavor_name);

/// The server side of an echo connection: echoes until end of stream.
Task<void> echo(TcpStream s) {
    std::array<std::byte, 1024> buf{};
    for (;;) {
        auto n = co_await s.read(buf);
        if (!n || *n == 0) co_return;
        auto written = co_await s.write_all(std::span(buf).first(*n));
        if (!written) co_return;
    }
}

// ---- 1. ten thousand connections open at once on one worker -------------------------

constexpr int kManyConnections = 10'000;
constexpr std::size_t kEchoMessage = 48;

Task<bool> accept_into(TcpListener* listener, int count, std::vector<TcpStream>* out) {
    for (int i = 0; i < count; ++i) {
        auto accepted = co_await listener->accept();
        if (!accepted) {
            ADD_FAILURE() << "accept " << i << ": " << accepted.error().message();
            co_return false;
        }
        out->push_back(std::move(accepted->first));
    }
    co_return true;
}

/// The client side, in a child process (plain blocking sockets, nothing of
/// corio's): opens `fds.size()` connections to `port`, then sends each its
/// message, then reads every echo back and checks it byte for byte. Exit
/// status 0 when all came back intact. `fds` is allocated by the parent: the
/// child allocates nothing.
[[noreturn]] void echo_clients_process(std::uint16_t port, std::vector<int>& fds) {
    ::alarm(60);  // a hang ends the child, and the parent sees it
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int& fd : fds) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) ::_exit(2);
    }
    std::array<std::byte, kEchoMessage> out{};
    for (std::size_t id = 0; id < fds.size(); ++id) {
        fill_pattern(id, 0, out);
        if (::send(fds[id], out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) ::_exit(3);
    }
    std::array<std::byte, kEchoMessage> in{};
    for (std::size_t id = 0; id < fds.size(); ++id) {
        fill_pattern(id, 0, out);
        std::size_t got = 0;
        while (got < in.size()) {
            ssize_t n = ::recv(fds[id], in.data() + got, in.size() - got, 0);
            if (n <= 0) ::_exit(4);
            got += static_cast<std::size_t>(n);
        }
        if (in != out) ::_exit(5);
    }
    for (int fd : fds) ::close(fd);
    ::_exit(0);
}

/// The server side, on one worker: accepts every connection, keeps all of
/// them open, then starts every echo in one batch. The clients run in a
/// child process (forked here, while the current_thread runtime has no other
/// thread), so this process needs one descriptor a connection, not two.
Task<void> ten_thousand_connections(pid_t* child) {
    auto listener = TcpListener::bind("127.0.0.1:0", 4096);
    CO_ASSERT_OK(listener);
    auto addr = listener->local_addr();
    CO_ASSERT_OK(addr);
    std::vector<int> client_fds(kManyConnections, -1);  // the child's, allocated before the fork
    std::vector<TcpStream> servers;
    servers.reserve(kManyConnections);
    *child = ::fork();
    CO_ASSERT_TRUE(*child >= 0);
    if (*child == 0) echo_clients_process(addr->port(), client_fds);
    bool accepted_all = co_await accept_into(&*listener, kManyConnections, &servers);
    CO_ASSERT_TRUE(accepted_all);
    // All 10,000 are open now. Every echo starts before the driver's next
    // turn (see kOneBatch): on io_uring each stream's first read submits a
    // cancel of its poll and a receive, 20,000 entries for a 1,024-entry
    // submission queue, and their completions and the sends' then overflow
    // the 16,384-entry completion ring.
    std::vector<JoinHandle<void>> echoes;
    echoes.reserve(kManyConnections);
    for (auto& s : servers) echoes.push_back(spawn(echo(std::move(s))));
    for (auto& e : echoes) co_await e;  // each saw its client's end of stream
}

TEST(BackendStress, TenThousandConnectionsOpenAtOnceOnOneWorkerEchoEveryByte) {
    // One descriptor a connection in each process, the listener and the runtime's own.
    constexpr rlim_t kNeeded = kManyConnections + 256;
    RaisedFdLimit limit(kNeeded);
    if (!limit.ok()) {
        GTEST_SKIP() << "RLIMIT_NOFILE cannot be raised to " << kNeeded << " (hard limit " << limit.hard() << ")";
    }
    auto start = std::chrono::steady_clock::now();
    // One batch of polls holds all 10,000 echo tasks, so the driver takes no
    // turn while they start (with the default 61 it would reap every few
    // hundred submissions, and the ring would never fill).
    constexpr std::uint32_t kOneBatch = 4 * kManyConnections;
    pid_t child = -1;
    {
        Runtime rt = Builder::new_current_thread().event_interval(kOneBatch).build();
        // The bound only catches a hang: a passing run takes a second or two
        // on a 2-core machine, under ASan or TSan too.
        auto result = rt.block_on(time::timeout(60s, ten_thousand_connections(&child)));
        EXPECT_TRUE(result.has_value()) << "the echoes did not finish within 60 s";
    }
    ASSERT_GT(child, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status)) << "the client process was killed (signal " << WTERMSIG(status) << ")";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "2: connect failed, 3: send failed, 4: an echo ended early, "
                                         "5: an echo came back altered";
    auto elapsed = std::chrono::steady_clock::now() - start;
    RecordProperty("elapsed_ms",
                   static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
}

// ---- 2. provided receive buffers running dry ----------------------------------------

// io_uring lends 4,096 buffers of 4 KiB to all streams and lets one hold 32
// before its receive pauses: 200 streams whose clients have all filled their
// sockets before any reading starts want up to 6,400 at once, so receives end
// with ENOBUFS (a few hundred a run, counted with an instrumented backend)
// and must be armed again once buffers come back.
constexpr int kDryConnections = 200;
constexpr std::size_t kDryBytes = 200 * 1024;
constexpr std::size_t kDryWriteChunk = 16 * 1024;
constexpr std::size_t kDryReadChunk = 3000;  // not a multiple of a buffer

/// Opens once `count` clients arrived: the servers wait on it, so every
/// receive starts against a socket its client has already filled.
class StartGate {
public:
    explicit StartGate(int count) noexcept : count_(count) {}

    void arrive() {
        if (arrived_.fetch_add(1) + 1 == count_) notify_.notify_waiters();
    }

    Task<void> opened() {
        for (;;) {
            auto notified = notify_.notified();  // before the check: no wake-up is missed
            if (arrived_.load() >= count_) co_return;
            co_await notified;
        }
    }

private:
    int count_;
    std::atomic<int> arrived_{0};
    sync::Notify notify_;
};

/// A client: writes kDryBytes of the pattern of its own port, arriving at the
/// gate after its first write; shuts its write side, then waits for the
/// server to close. How many bytes it wrote.
Task<std::size_t> dry_client(SocketAddr addr, StartGate* gate) {
    auto s = co_await TcpStream::connect(addr);
    if (!s) {
        ADD_FAILURE() << "connect: " << s.error().message();
        gate->arrive();
        co_return 0;
    }
    std::uint64_t seed = s->local_addr()->port();
    std::vector<std::byte> chunk(kDryWriteChunk);
    std::size_t sent = 0;
    bool arrived = false;
    while (sent < kDryBytes) {
        auto piece = std::span(chunk).first(std::min(chunk.size(), kDryBytes - sent));
        fill_pattern(seed, sent, piece);
        auto n = co_await s->write(piece);
        if (!arrived) {
            arrived = true;
            gate->arrive();
        }
        if (!n) {
            ADD_FAILURE() << "write after " << sent << " bytes: " << n.error().message();
            co_return sent;
        }
        sent += *n;
    }
    auto shut = co_await io::shutdown(*s);
    EXPECT_TRUE(shut.has_value()) << shut.error().message();
    std::array<std::byte, 16> buf{};
    auto end = co_await s->read(buf);
    EXPECT_TRUE(end.has_value() && *end == 0) << "the server closes without sending";
    co_return sent;
}

/// A server stream: waits for the gate, then reads to end of stream in small
/// reads, checking every byte; how many arrived. Closes at the end.
Task<std::size_t> dry_server(TcpStream s, StartGate* gate) {
    std::uint64_t seed = s.peer_addr()->port();
    co_await gate->opened();
    std::size_t received = co_await read_pattern_to_end(s, seed, kDryReadChunk);
    EXPECT_EQ(received, kDryBytes) << "stream " << seed;
    co_return received;
}

Task<std::vector<JoinHandle<std::size_t>>> accept_dry_servers(TcpListener* listener, StartGate* gate) {
    std::vector<JoinHandle<std::size_t>> servers;
    for (int i = 0; i < kDryConnections; ++i) {
        auto accepted = co_await listener->accept();
        if (!accepted) {
            ADD_FAILURE() << "accept " << i << ": " << accepted.error().message();
            co_return servers;
        }
        servers.push_back(spawn(dry_server(std::move(accepted->first), gate)));
    }
    co_return servers;
}

Task<void> buffers_run_dry() {
    auto listener = TcpListener::bind("127.0.0.1:0", 1024);
    CO_ASSERT_OK(listener);
    SocketAddr addr = *listener->local_addr();
    StartGate gate(kDryConnections);
    auto acceptor = spawn(accept_dry_servers(&*listener, &gate));
    std::vector<JoinHandle<std::size_t>> clients;
    for (int i = 0; i < kDryConnections; ++i) clients.push_back(spawn(dry_client(addr, &gate)));
    std::vector<JoinHandle<std::size_t>> servers = co_await acceptor;
    std::size_t sent = 0;
    for (auto& c : clients) sent += co_await c;
    std::size_t received = 0;
    for (auto& s : servers) received += co_await s;
    EXPECT_EQ(sent, kDryConnections * kDryBytes);
    EXPECT_EQ(received, kDryConnections * kDryBytes);
}

TEST_P(BackendEdge, ProvidedReceiveBuffersRunningDryLoseNoByte) { run_bounded(buffers_run_dry(), 60s); }

// ---- 3. closing and dropping with a receive and a write in flight -------------------

constexpr std::size_t kBigWrite = 8 << 20;  // far more than loopback buffers hold unread

/// Writes all of `data` through `w`, which cannot finish: the peer never reads.
Task<void> write_without_end(TcpStream::OwnedWriteHalf w, std::shared_ptr<const std::vector<std::byte>> data,
                             std::atomic<int>* parked) {
    auto writing = CountParked(w.write_all(*data), parked);
    auto r = co_await writing;
    ADD_FAILURE() << "an 8 MiB write to a peer that does not read ended: "
                  << (r ? std::string("complete") : r.error().message());
}

/// Reads through `r` until end of stream or an error: nothing ever comes.
Task<void> read_without_end(TcpStream::OwnedReadHalf r, std::atomic<int>* parked) {
    std::array<std::byte, 4096> buf{};
    for (;;) {
        auto reading = CountParked(r.read(buf), parked);
        auto n = co_await reading;
        if (!n || *n == 0) co_return;
        ADD_FAILURE() << "a read got bytes nobody sent";
    }
}

Task<void> abort_tasks_mid_write() {
    auto c = co_await connect_pair();
    CO_ASSERT_OK(c);
    constexpr std::uint64_t seed = 3;
    auto data = pattern_buffer(seed, kBigWrite);
    auto [reader_half, writer_half] = std::move(c->client).into_split();
    std::atomic<int> parked{0};
    JoinHandle<void> writer = spawn(write_without_end(std::move(writer_half), data, &parked));
    JoinHandle<void> reader = spawn(read_without_end(std::move(reader_half), &parked));
    co_await until_count(&parked, 2);  // a receive and a write wait in the backend
    auto arrived = co_await until_bytes_arrive(c->server);
    CO_ASSERT_OK(arrived);  // bytes of the write reached the peer
    writer.abort();         // drops the write mid-way...
    reader.abort();         // ...and with the read half, the stream
    auto writer_end = ended_aborted(std::move(writer));
    bool writer_aborted = co_await writer_end;
    auto reader_end = ended_aborted(std::move(reader));
    bool reader_aborted = co_await reader_end;
    EXPECT_TRUE(writer_aborted);
    EXPECT_TRUE(reader_aborted);
    // The peer gets a prefix of what was written, then end of stream: the
    // stream was closed (after what it had accepted was sent).
    std::size_t received = co_await read_pattern_to_end(c->server, seed, 65536);
    EXPECT_GT(received, 0u);
    EXPECT_LT(received, kBigWrite);
}

TEST_P(BackendEdge, AbortingTasksMidWriteAndMidReadClosesTheStreamAndLeaksNothing) {
    run_bounded(abort_tasks_mid_write());
}

/// Writes all of `data` to `s`, which it owns, to a peer that never reads.
Task<void> own_and_write_without_end(TcpStream s, std::shared_ptr<const std::vector<std::byte>> data,
                                     std::atomic<int>* parked) {
    auto writing = CountParked(s.write_all(*data), parked);
    auto r = co_await writing;
    ADD_FAILURE() << "an 8 MiB write to a peer that does not read ended: "
                  << (r ? std::string("complete") : r.error().message());
}

/// Sets a socket buffer size option (SO_SNDBUF, SO_RCVBUF) on `fd`.
bool set_buffer(int fd, int option, int bytes) {
    return ::setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes) == 0;
}

Task<void> drop_writer_to_stalled_peer() {
    // Small socket buffers on both ends (the listener's receive buffer is
    // inherited by the accepted socket and sizes the window it advertises):
    // the kernel holds a few KiB of the write, far less than one write hands
    // over, so the write is still under way when the stream goes.
    auto listener = TcpListener::bind("127.0.0.1:0");
    CO_ASSERT_OK(listener);
    CO_ASSERT_TRUE(set_buffer(listener->native_handle(), SO_RCVBUF, 4096));
    auto client = co_await TcpStream::connect(*listener->local_addr());
    CO_ASSERT_OK(client);
    auto accepted = co_await listener->accept();
    CO_ASSERT_OK(accepted);
    TcpStream server = std::move(accepted->first);  // connected, never reads
    CO_ASSERT_TRUE(set_buffer(client->native_handle(), SO_SNDBUF, 4096));
    int fd = client->native_handle();
    std::atomic<int> parked{0};
    JoinHandle<void> writer =
        spawn(own_and_write_without_end(std::move(*client), pattern_buffer(11, kBigWrite), &parked));
    co_await until_count(&parked, 1);
    writer.abort();  // the stream goes with the task, its write unfinished
    auto writer_end = ended_aborted(std::move(writer));
    bool aborted = co_await writer_end;
    EXPECT_TRUE(aborted);
    // As close(2) does, closing frees the descriptor at once (the kernel
    // sends what its buffer holds on its own, or gives up on the peer).
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "descriptor " << fd << " is still open";
    EXPECT_TRUE(server.peer_addr().has_value()) << "the peer is still connected";
}

// A server that drops stalled clients must get their descriptors back at
// once, as close(2) gives them: on io_uring the stream's queued sends go on
// through a fixed-file slot after the descriptor is closed.
TEST_P(BackendEdge, DroppingAStreamWithAWriteToAPeerThatNeverReadsFreesItsDescriptorAtOnce) {
    run_bounded(drop_writer_to_stalled_peer());
}

Task<void> close_under_read_and_write() {
    auto c = co_await connect_pair();
    CO_ASSERT_OK(c);
    constexpr std::uint64_t seed = 4;
    auto data = pattern_buffer(seed, kBigWrite);
    std::array<std::byte, 4096> buf{};
    int read_polls = 0;
    int write_polls = 0;
    auto reader = spawn(await_counted(c->client.read(buf), &read_polls));
    auto writer = spawn(await_counted(c->client.write_all(*data), &write_polls));
    while (std::min(read_polls, write_polls) == 0) co_await task::yield_now();  // both parked
    auto arrived = co_await until_bytes_arrive(c->server);
    CO_ASSERT_OK(arrived);
    c->client = TcpStream();  // closes it under the pending receive and write
    auto r = co_await reader;
    CO_ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), std::errc::bad_file_descriptor) << r.error().message();
    auto w = co_await writer;
    CO_ASSERT_FALSE(w.has_value());
    EXPECT_EQ(w.error(), std::errc::bad_file_descriptor) << w.error().message();
    std::size_t received = co_await read_pattern_to_end(c->server, seed, 65536);
    EXPECT_GT(received, 0u);
    EXPECT_LT(received, kBigWrite);
}

// Replacing a stream another task waits on is safe only when both run on one
// thread (on a multi-thread runtime they would race on the object).
TEST(BackendEdgeOnOneThread, ClosingAStreamUnderAPendingReadAndWriteFailsBothWithBadDescriptor) {
    test::RunBounded(10s)(close_under_read_and_write());
}

Task<void> close_holding_unread_bytes() {
    auto c = co_await connect_pair();
    CO_ASSERT_OK(c);
    constexpr std::uint64_t in_seed = 5;
    constexpr std::uint64_t out_seed = 6;
    constexpr std::size_t kUnread = 48 * 1024;  // fits the loopback buffers unread
    auto incoming = pattern_buffer(in_seed, kUnread);
    auto sent = co_await c->server.write_all(*incoming);
    CO_ASSERT_OK(sent);
    // Once all of it can be peeked, the client holds it (on io_uring: in
    // provided buffers, the peek having armed the receive).
    JoinHandle<io::Result<void>> peeking = spawn(until_peekable(&c->client, kUnread));
    auto peekable = co_await peeking;
    CO_ASSERT_OK(peekable);
    std::array<std::byte, kUnread> peeked{};
    auto n = co_await c->client.peek(peeked);
    CO_ASSERT_OK(n);
    EXPECT_EQ(*n, kUnread);
    EXPECT_EQ(pattern_mismatch(in_seed, 0, peeked), std::string::npos);
    auto data = pattern_buffer(out_seed, kBigWrite);
    int write_polls = 0;
    auto writer = spawn(await_counted(c->client.write_all(*data), &write_polls));
    while (write_polls == 0) co_await task::yield_now();
    auto arrived = co_await until_bytes_arrive(c->server);
    CO_ASSERT_OK(arrived);
    c->client = TcpStream();  // unread bytes held, a write in flight
    auto w = co_await writer;
    EXPECT_FALSE(w.has_value());
    // The peer gets a prefix of the write, then end of stream or a reset
    // (which of the two is the next test's subject).
    ReadToEnd end = co_await read_pattern_until_closed(c->server, out_seed, 65536);
    EXPECT_TRUE(!end.error || end.error == std::errc::connection_reset) << end.error.message();
    EXPECT_LT(end.received, kBigWrite);
}

TEST(BackendEdgeOnOneThread, ClosingAStreamThatHoldsUnreadBytesWithAWriteInFlightLeaksNothing) {
    test::RunBounded(10s)(close_holding_unread_bytes());
}

Task<void> close_with_unread_bytes_resets() {
    auto c = co_await connect_pair();
    CO_ASSERT_OK(c);
    constexpr std::size_t kRequest = 48 * 1024;  // fits the loopback buffers unread
    auto request = pattern_buffer(10, kRequest);
    auto sent = co_await c->server.write_all(*request);
    CO_ASSERT_OK(sent);
    // The client reads part of the request, and the rest has arrived...
    std::array<std::byte, 1024> part{};
    auto read = co_await c->client.read_exact(part);
    CO_ASSERT_OK(read);
    JoinHandle<io::Result<void>> peeking = spawn(until_peekable(&c->client, kRequest - part.size()));
    auto rest = co_await peeking;
    CO_ASSERT_OK(rest);
    // ...when it closes: the kernel answers a close with unread bytes with a
    // reset, so the peer learns that its request was not all consumed.
    c->client = TcpStream();
    std::array<std::byte, 64> buf{};
    auto end = co_await c->server.read(buf);
    CO_ASSERT_FALSE(end.has_value());  // else the peer saw a clean end of stream
    EXPECT_EQ(end.error(), std::errc::connection_reset) << end.error().message();
}

// Closing a socket with received bytes nobody read resets the connection.
// On io_uring the multishot receive has already moved those bytes into the
// provided buffers, so the kernel would see nothing unread and send a FIN;
// the backend resets the connection itself (SO_LINGER {1, 0}) when it holds
// unread bytes.
TEST_P(BackendEdge, ClosingAStreamWithUnreadBytesResetsTheConnectionAsTheKernelDoes) {
    run_bounded(close_with_unread_bytes_resets());
}

// ---- 4. a peer that resets while we write --------------------------------------------

/// Makes `s`'s close send a reset instead of a FIN, then closes it.
bool reset(TcpStream& s) {
    linger hard{1, 0};
    bool ok = ::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0;
    s = TcpStream();
    return ok;
}

bool is_reset_or_broken_pipe(std::error_code e) {
    return e == std::errc::connection_reset || e == std::errc::broken_pipe;
}

Task<io::Result<void>> write_all_of(TcpStream* s, std::shared_ptr<const std::vector<std::byte>> data) {
    co_return co_await s->write_all(*data);
}

Task<void> reset_under_pending_write() {
    auto c = co_await connect_pair();
    CO_ASSERT_OK(c);
    auto data = pattern_buffer(7, kBigWrite);
    JoinHandle<io::Result<void>> writer = spawn(write_all_of(&c->client, data));
    auto arrived = co_await until_bytes_arrive(c->server);
    CO_ASSERT_OK(arrived);  // the write is under way and cannot finish
    CO_ASSERT_TRUE(reset(c->server));
    auto written = co_await writer;
    CO_ASSERT_FALSE(written.has_value());  // else all 8 MiB went to a reset peer
    EXPECT_TRUE(is_reset_or_broken_pipe(written.error())) << written.error().message();
    std::array<std::byte, 64> chunk{};
    auto again = co_await c->client.write(chunk);
    EXPECT_FALSE(again.has_value()) << "a write after the reset succeeded";
}

TEST_P(BackendEdge, APeerThatResetsUnderAPendingWriteFailsItWithResetOrBrokenPipe) {
    test::SignalDisposition sigpipe(SIGPIPE, SIG_DFL);  // a SIGPIPE would kill the process
    run_bounded(reset_under_pending_write());
}

Task<void> reset_then_write_and_flush() {
    auto c = co_await connect_pair();
    CO_ASSERT_OK(c);
    auto hello = co_await c->client.write_all("hello");
    CO_ASSERT_OK(hello);
    auto greeted = co_await test::read_string(c->server, 5);
    CO_ASSERT_TRUE(greeted == "hello");
    CO_ASSERT_TRUE(reset(c->server));
    // io_uring takes a write into the stream's send queue and reports the
    // kernel's error on a later write or flush; epoll on the write itself.
    std::array<std::byte, 16 * 1024> chunk{};
    std::optional<std::error_code> failure;
    for (int i = 0; i < 1000 && !failure; ++i) {
        auto n = co_await c->client.write(chunk);
        if (!n) {
            failure = n.error();
            break;
        }
        auto flushed = co_await io::flush(c->client);
        if (!flushed) failure = flushed.error();
    }
    CO_ASSERT_TRUE(failure.has_value());  // else writes to a reset peer kept succeeding
    EXPECT_TRUE(is_reset_or_broken_pipe(*failure)) << failure->message();
    auto again = co_await c->client.write(chunk);
    EXPECT_FALSE(again.has_value()) << "the stream is dead: later writes fail too";
}

TEST_P(BackendEdge, WritesAndFlushesAfterThePeerResetFailWithResetOrBrokenPipe) {
    test::SignalDisposition sigpipe(SIGPIPE, SIG_DFL);
    run_bounded(reset_then_write_and_flush());
}

// ---- 5. runtime shutdown with operations in flight ---------------------------------

constexpr int kPendingReads = 100;

Task<void> pending_read(TcpStream reading, TcpStream peer, DropCounter drop, std::atomic<int>* parked) {
    std::array<std::byte, 256> buf{};
    auto read = CountParked(reading.read(buf), parked);
    auto n = co_await read;
    ADD_FAILURE() << "a read with nothing sent ended: " << (n ? "data or end of stream" : n.error().message());
    (void)peer;
    (void)drop;
}

Task<void> pending_accept(TcpListener listener, DropCounter drop, std::atomic<int>* parked) {
    auto accept = CountParked(listener.accept(), parked);
    auto accepted = co_await accept;
    ADD_FAILURE() << "an accept with nobody connecting ended: "
                  << (accepted ? "a connection" : accepted.error().message());
    (void)drop;
}

Task<void> pending_write(test::TcpConnection c, std::shared_ptr<const std::vector<std::byte>> data, DropCounter drop,
                         std::atomic<int>* parked) {
    auto write = CountParked(c.client.write_all(*data), parked);
    auto written = co_await write;
    ADD_FAILURE() << "an 8 MiB write to a peer that does not read ended: "
                  << (written ? std::string("complete") : written.error().message());
    (void)drop;
}

/// Starts the pending operations, each in a task holding a DropCounter, and
/// returns once all of them wait: how many tasks it started.
Task<int> start_pending_operations(DropCounts* drops) {
    auto listener = TcpListener::bind("127.0.0.1:0", 1024);
    if (!listener) co_return 0;
    SocketAddr addr = *listener->local_addr();
    std::atomic<int> parked{0};
    int started = 0;
    for (int i = 0; i < kPendingReads; ++i) {
        auto client = co_await TcpStream::connect(addr);
        auto accepted = co_await listener->accept();
        if (!client || !accepted) co_return started;
        spawn(pending_read(std::move(accepted->first), std::move(*client), DropCounter(*drops), &parked));
        ++started;
    }
    spawn(pending_accept(std::move(*listener), DropCounter(*drops), &parked));
    ++started;
    auto c = co_await connect_pair();
    if (!c) co_return started;
    spawn(pending_write(std::move(*c), pattern_buffer(8, kBigWrite), DropCounter(*drops), &parked));
    ++started;
    co_await until_count(&parked, started);
    co_return started;
}

TEST_P(BackendEdge, ShuttingDownWithOperationsInFlightIsPromptAndDropsThem) {
    test::Watchdog watchdog("ShuttingDownWithOperationsInFlightIsPromptAndDropsThem", 60s);
    DropCounts drops;
    std::optional<Runtime> rt(build());
    auto started = rt->block_on(time::timeout(10s, start_pending_operations(&drops)));
    ASSERT_TRUE(started.has_value()) << "the operations did not all start waiting within 10 s";
    ASSERT_EQ(*started, kPendingReads + 2);
    EXPECT_EQ(drops.alive(), kPendingReads + 2) << "every task still waits";
    auto start = std::chrono::steady_clock::now();
    rt.reset();  // pending reads, an accept and an 8 MiB write in flight
    auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_LT(elapsed, 2s) << "shutdown took " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                           << " ms";
    EXPECT_EQ(drops.alive(), 0) << "every pending task was destroyed";
    RecordProperty("shutdown_ms",
                   static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
}

// ---- 6. a large buffer written in many short writes ---------------------------------

// Write sizes around the interesting bounds: a byte, a buffer, io_uring's
// 64 KiB send queue, and more than it takes at once (a short write).
constexpr std::array<std::size_t, 10> kWriteSizes{1, 4095, 4097, 65535, 65536, 65537, 200'000, 7, 1'000'000, 13};

/// Writes `data` through `s` in writes of kWriteSizes, resuming after each
/// short write where it stopped; flushes and shuts the write side down.
/// How many writes were short.
Task<int> write_in_pieces(TcpStream* s, std::shared_ptr<const std::vector<std::byte>> data) {
    std::size_t offset = 0;
    int short_writes = 0;
    for (std::size_t k = 0; offset < data->size(); ++k) {
        std::size_t want = std::min(kWriteSizes[k % kWriteSizes.size()], data->size() - offset);
        auto n = co_await s->write(std::span(*data).subspan(offset, want));
        if (!n) {
            ADD_FAILURE() << "write at " << offset << ": " << n.error().message();
            co_return short_writes;
        }
        EXPECT_GT(*n, 0u);
        if (*n < want) ++short_writes;
        offset += *n;
    }
    auto shut = co_await io::shutdown(*s);
    EXPECT_TRUE(shut.has_value()) << shut.error().message();
    co_return short_writes;
}

Task<void> large_write_in_pieces() {
    auto c = co_await connect_pair();
    CO_ASSERT_OK(c);
    constexpr std::uint64_t seed = 9;
    auto data = pattern_buffer(seed, kBigWrite);
    JoinHandle<int> writer = spawn(write_in_pieces(&c->client, data));
    // The reader takes small pieces of varying size, so the writer keeps
    // finding the send queue and the socket full.
    std::array<std::byte, 1021> buf{};
    std::size_t received = 0;
    for (std::size_t k = 1;; ++k) {
        auto piece = std::span(buf).first(1 + (k * 97) % buf.size());
        auto n = co_await c->server.read(piece);
        CO_ASSERT_OK(n);
        if (*n == 0) break;
        std::size_t bad = pattern_mismatch(seed, received, piece.first(*n));
        CO_ASSERT_TRUE(bad == std::string::npos);  // else a byte was lost, repeated or reordered
        received += *n;
    }
    int short_writes = co_await writer;
    EXPECT_EQ(received, kBigWrite);
    EXPECT_GT(short_writes, 0) << "the reader is slower than the writer: some writes were short";
}

TEST_P(BackendEdge, ALargeBufferWrittenInManyShortWritesArrivesWholeAndInOrder) {
    run_bounded(large_write_in_pieces(), 30s);
}

// ---- 7. many tasks waiting on one socket ---------------------------------------------

constexpr int kUdpReceivers = 8;

Task<std::string> receive_one(UdpSocket* s, std::atomic<int>* parked) {
    std::array<std::byte, 64> buf{};
    auto receive = CountParked(s->recv_from(buf), parked);
    auto got = co_await receive;
    if (!got) {
        ADD_FAILURE() << "recv_from: " << got.error().message();
        co_return std::string();
    }
    co_return string_of(std::span(buf).first(got->first));
}

Task<void> many_receivers_on_one_socket() {
    auto receiver = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(receiver);
    auto sender = UdpSocket::bind("127.0.0.1:0");
    CO_ASSERT_OK(sender);
    SocketAddr target = *receiver->local_addr();
    std::atomic<int> parked{0};
    std::vector<JoinHandle<std::string>> receivers;
    for (int i = 0; i < kUdpReceivers; ++i) receivers.push_back(spawn(receive_one(&*receiver, &parked)));
    co_await until_count(&parked, kUdpReceivers);  // all of them wait on the one socket
    std::multiset<std::string> sent;
    for (int i = 0; i < kUdpReceivers; ++i) {
        std::string message = "datagram " + std::to_string(i);
        auto n = co_await sender->send_to(bytes_of(message), target);
        CO_ASSERT_OK(n);
        sent.insert(message);
    }
    std::multiset<std::string> received;
    for (auto& r : receivers) {
        std::string message = co_await r;
        received.insert(std::move(message));
    }
    EXPECT_EQ(received, sent) << "each waiting task got one of the datagrams";
}

TEST_P(BackendEdge, EveryTaskWaitingToReceiveOnOneUdpSocketGetsADatagram) {
    run_bounded(many_receivers_on_one_socket());
}

}  // namespace
}  // namespace corio::net
