// Tests of <corio/io/async_fd.hpp>: io::AsyncFd over pipes, eventfds and
// socketpairs: readiness waits with try_io and clear_ready, several tasks
// waiting on one descriptor, a wait dropped midway, a peer that closed, and
// into_inner handing the descriptor back open. Runs in corio_io_tests, so
// on both I/O backends.
#include "corio/io/async_fd.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/select.hpp"
#include "corio/task.hpp"
#include "corio/task/join_set.hpp"
#include "corio/time.hpp"
#include "support/co_assert.hpp"
#include "support/poll.hpp"
#include "support/run_bounded.hpp"

namespace corio::io {
namespace {

using namespace std::chrono_literals;

constexpr test::RunBounded run_bounded{5s};
constexpr auto run_multi = test::RunBounded::multi_thread(10s, 2);

/// An owned descriptor, closed on destruction (what a C library hands out).
class OwnedFd {
public:
    explicit OwnedFd(int fd) noexcept : fd_(fd) {}
    OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    OwnedFd& operator=(OwnedFd&& other) noexcept {
        std::swap(fd_, other.fd_);
        return *this;
    }
    ~OwnedFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int native_handle() const noexcept { return fd_; }

private:
    int fd_;
};

std::pair<OwnedFd, OwnedFd> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {OwnedFd(-1), OwnedFd(-1)};
    return {OwnedFd(fds[0]), OwnedFd(fds[1])};
}

std::pair<OwnedFd, OwnedFd> make_socketpair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
        return {OwnedFd(-1), OwnedFd(-1)};
    }
    return {OwnedFd(fds[0]), OwnedFd(fds[1])};
}

void write_byte(int fd, char c) { ASSERT_EQ(::write(fd, &c, 1), 1); }

Task<void> readable_wakes_when_a_byte_arrives_in_a_pipe() {
    auto [r, w] = make_pipe();
    auto fd = AsyncFd<OwnedFd>::create(std::move(r));
    CO_ASSERT_OK(fd);
    int wfd = w.native_handle();
    auto writer = spawn([](int wfd) -> Task<void> {
        co_await time::sleep(5ms);
        write_byte(wfd, 'x');
    }(wfd));
    for (;;) {
        auto guard = co_await fd->readable();
        CO_ASSERT_OK(guard);
        EXPECT_TRUE(guard->ready().is_readable());
        char c = 0;
        auto n = guard->try_io([&](OwnedFd& f) { return ::read(f.native_handle(), &c, 1); });
        if (!n && n.error() == std::errc::resource_unavailable_try_again) continue;
        CO_ASSERT_OK(n);
        EXPECT_EQ(*n, 1);
        EXPECT_EQ(c, 'x');
        break;
    }
    co_await std::move(writer);
}
TEST(AsyncFd, ReadableWakesWhenAByteArrivesInAPipe) { run_bounded(readable_wakes_when_a_byte_arrives_in_a_pipe()); }

Task<void> try_io_clears_readiness_so_the_next_wait_waits() {
    auto [r, w] = make_pipe();
    auto fd = AsyncFd<int>::create(r.native_handle());
    CO_ASSERT_OK(fd);
    write_byte(w.native_handle(), 'a');
    auto guard = co_await fd->readable();
    CO_ASSERT_OK(guard);
    std::array<char, 8> buf{};
    auto n = guard->try_io([&](int f) { return ::read(f, buf.data(), buf.size()); });
    CO_ASSERT_OK(n);
    EXPECT_EQ(*n, 1);
    auto again = guard->try_io([&](int f) { return ::read(f, buf.data(), buf.size()); });
    CO_ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error(), std::errc::resource_unavailable_try_again);
    // Cleared: a new wait is pending until the next byte.
    auto wait = fd->readable();
    EXPECT_TRUE(test::poll_once(wait).is_pending());
    write_byte(w.native_handle(), 'b');
    auto next = co_await std::move(wait);
    CO_ASSERT_OK(next);
}
TEST(AsyncFd, TryIoClearsReadinessSoTheNextWaitWaits) { run_bounded(try_io_clears_readiness_so_the_next_wait_waits()); }

Task<void> a_dropped_guard_keeps_readiness_and_clear_ready_forgets_it() {
    int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    auto fd = AsyncFd<OwnedFd>::create(OwnedFd(efd));
    CO_ASSERT_OK(fd);
    auto first = co_await fd->writable();
    CO_ASSERT_OK(first);
    EXPECT_TRUE(first->ready().is_writable());
    auto second = co_await fd->writable();  // kept: ready again at once
    CO_ASSERT_OK(second);
    second->clear_ready();
    auto third = fd->writable();
    EXPECT_TRUE(test::poll_once(third).is_pending());
}
TEST(AsyncFd, ADroppedGuardKeepsReadinessAndClearReadyForgetsIt) {
    run_bounded(a_dropped_guard_keeps_readiness_and_clear_ready_forgets_it());
}

Task<void> wait_readable(AsyncFd<OwnedFd>& fd, int& woken) {
    auto guard = co_await fd.readable();
    if (guard) ++woken;
}

Task<void> several_tasks_waiting_on_one_eventfd_all_wake() {
    int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    auto fd = AsyncFd<OwnedFd>::create(OwnedFd(efd));
    CO_ASSERT_OK(fd);
    int woken = 0;
    std::vector<JoinHandle<void>> waiters;
    for (int i = 0; i < 4; ++i) waiters.push_back(spawn(wait_readable(*fd, woken)));
    co_await task::yield_now();  // every waiter is parked in the wait list now
    EXPECT_EQ(woken, 0);
    std::uint64_t one = 1;
    CO_ASSERT_TRUE(::write(efd, &one, sizeof one) == sizeof one);
    for (auto& h : waiters) co_await std::move(h);
    EXPECT_EQ(woken, 4);
}
TEST(AsyncFd, SeveralTasksWaitingOnOneEventfdAllWake) { run_bounded(several_tasks_waiting_on_one_eventfd_all_wake()); }

Task<void> several_waiters_on_another_thread_all_wake() {
    int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    auto fd = AsyncFd<OwnedFd>::create(OwnedFd(efd));
    CO_ASSERT_OK(fd);
    std::atomic<int> woken{0};
    task::JoinSet<void> set;
    for (int i = 0; i < 8; ++i) {
        set.spawn([](AsyncFd<OwnedFd>& fd, std::atomic<int>& woken) -> Task<void> {
            auto guard = co_await fd.readable();
            if (guard) woken.fetch_add(1);
        }(*fd, woken));
    }
    co_await time::sleep(10ms);  // not needed for correctness: waiters that come late see the readiness
    std::uint64_t one = 1;
    CO_ASSERT_TRUE(::write(efd, &one, sizeof one) == sizeof one);
    for (;;) {
        auto joined = co_await set.join_next();
        if (!joined) break;
    }
    EXPECT_EQ(woken.load(), 8);
}
TEST(AsyncFd, SeveralWaitersOnWorkerThreadsAllWake) { run_multi(several_waiters_on_another_thread_all_wake()); }

Task<void> a_wait_dropped_midway_leaves_the_others_working() {
    auto [r, w] = make_pipe();
    auto fd = AsyncFd<OwnedFd>::create(std::move(r));
    CO_ASSERT_OK(fd);
    {
        auto timed = co_await time::timeout(5ms, fd->readable());
        EXPECT_FALSE(timed.has_value());  // dropped while parked in the wait list
    }
    {
        auto abandoned = fd->readable();
        EXPECT_TRUE(test::poll_once(abandoned).is_pending());
    }
    int woken = 0;
    auto waiter = spawn([](AsyncFd<OwnedFd>& fd, int& woken) -> Task<void> {
        auto guard = co_await fd.readable();
        if (guard) ++woken;
    }(*fd, woken));
    co_await task::yield_now();
    write_byte(w.native_handle(), 'z');
    co_await std::move(waiter);
    EXPECT_EQ(woken, 1);
}
TEST(AsyncFd, AWaitDroppedMidwayLeavesTheOthersWorking) {
    run_bounded(a_wait_dropped_midway_leaves_the_others_working());
}

Task<void> a_peer_that_closes_makes_the_reader_see_end_of_stream() {
    auto [r, w] = make_pipe();
    auto fd = AsyncFd<OwnedFd>::create(std::move(r));
    CO_ASSERT_OK(fd);
    auto closer = spawn([](OwnedFd w) -> Task<void> {
        co_await time::sleep(2ms);
        OwnedFd gone = std::move(w);  // closed here
    }(std::move(w)));
    for (;;) {
        auto guard = co_await fd->readable();
        CO_ASSERT_OK(guard);
        char c;
        auto n = guard->try_io([&](OwnedFd& f) { return ::read(f.native_handle(), &c, 1); });
        if (!n && n.error() == std::errc::resource_unavailable_try_again) continue;
        CO_ASSERT_OK(n);
        EXPECT_EQ(*n, 0);
        break;
    }
    co_await std::move(closer);
    // End of stream stays: another wait completes at once.
    auto again = co_await fd->readable();
    CO_ASSERT_OK(again);
}
TEST(AsyncFd, APeerThatClosesMakesTheReaderSeeEndOfStream) {
    run_bounded(a_peer_that_closes_makes_the_reader_see_end_of_stream());
}

Task<void> writable_waits_for_room_in_a_full_socketpair() {
    auto [a, b] = make_socketpair();
    auto fd = AsyncFd<OwnedFd>::create(std::move(a));
    CO_ASSERT_OK(fd);
    std::vector<char> chunk(64 * 1024, 'q');
    std::size_t written = 0;
    for (;;) {  // fill the buffers
        auto guard = co_await fd->writable();
        CO_ASSERT_OK(guard);
        auto n = guard->try_io([&](OwnedFd& f) { return ::write(f.native_handle(), chunk.data(), chunk.size()); });
        if (!n) {
            CO_ASSERT_TRUE(n.error() == std::errc::resource_unavailable_try_again);
            break;
        }
        written += static_cast<std::size_t>(*n);
    }
    auto wait = fd->writable();
    EXPECT_TRUE(test::poll_once(wait).is_pending());
    std::size_t drained = 0;
    while (drained < written) {
        ssize_t n = ::read(b.native_handle(), chunk.data(), chunk.size());
        if (n <= 0) break;
        drained += static_cast<std::size_t>(n);
    }
    EXPECT_EQ(drained, written);
    auto room = co_await std::move(wait);
    CO_ASSERT_OK(room);
    EXPECT_TRUE(room->ready().is_writable());
}
TEST(AsyncFd, WritableWaitsForRoomInAFullSocketpair) { run_bounded(writable_waits_for_room_in_a_full_socketpair()); }

Task<void> into_inner_returns_the_descriptor_open() {
    auto [r, w] = make_pipe();
    int raw = r.native_handle();
    auto fd = AsyncFd<OwnedFd>::create(std::move(r));
    CO_ASSERT_OK(fd);
    EXPECT_EQ(fd->get_ref().native_handle(), raw);
    EXPECT_EQ(fd->as_raw_fd(), raw);
    OwnedFd back = std::move(*fd).into_inner();
    EXPECT_EQ(back.native_handle(), raw);
    EXPECT_GE(::fcntl(raw, F_GETFD), 0);
    write_byte(w.native_handle(), 'k');
    char c = 0;
    EXPECT_EQ(::read(raw, &c, 1), 1);
    EXPECT_EQ(c, 'k');
    // And it can be registered again.
    auto again = AsyncFd<OwnedFd>::create(std::move(back));
    CO_ASSERT_OK(again);
    co_return;
}
TEST(AsyncFd, IntoInnerReturnsTheDescriptorOpen) { run_bounded(into_inner_returns_the_descriptor_open()); }

Task<void> a_bad_descriptor_is_an_error() {
    auto fd = AsyncFd<int>::create(-1);
    CO_ASSERT_FALSE(fd.has_value());
    EXPECT_EQ(fd.error(), std::errc::bad_file_descriptor);
    co_return;
}
TEST(AsyncFd, ABadDescriptorIsAnError) { run_bounded(a_bad_descriptor_is_an_error()); }

TEST(AsyncFd, ReadyFutureIsAFuture) { static_assert(Future<AsyncFd<int>::ReadyFuture>); }

}  // namespace
}  // namespace corio::io
