// Tests of <corio/signal.hpp>: raise()/kill() reaching signal::signal(...)
// listeners and ctrl_c(), through the reactor (the listener waits first, the
// signal comes after); every listener of a signal woken, in one runtime and
// across two; arrivals coalescing; arrivals before a listener existed not
// delivered; uncatchable signals reported as errors.
//
// SIGUSR1, SIGUSR2 and SIGINT get corio's handler for the rest of the test
// process (that is what listening does); each test first creates its
// listeners, so no signal is ever raised without a handler installed.
// Roots on a real clock are bounded with time::timeout; on a paused clock a
// wait that must not complete ends by auto-advance, deterministically.
#include "corio/signal.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <expected>
#include <system_error>
#include <thread>
#include <utility>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;

constexpr auto kBound = 10s;

/// `root` under time::timeout(kBound).
template <class T>
Task<std::expected<T, time::Elapsed>> bounded(Task<T> root) {
    auto result = co_await time::timeout(kBound, std::move(root));
    co_return std::move(result);
}

Runtime real_runtime() { return Builder::new_current_thread().build(); }
Runtime paused_runtime() { return Builder::new_current_thread().start_paused(true).build(); }

/// Polls `inner`, setting `*waiting` once it has returned Pending (so the
/// test knows the listener waits before it sends the signal).
template <Future F>
class NoteWaiting {
public:
    using Output = output_of<F>;
    NoteWaiting(F inner, std::atomic<bool>* waiting) : inner_(std::move(inner)), waiting_(waiting) {}
    Poll<Output> poll(Context& cx) {
        Poll<Output> r = inner_.poll(cx);
        if (r.is_pending()) waiting_->store(true, std::memory_order_release);
        return r;
    }

private:
    F inner_;
    std::atomic<bool>* waiting_;
};

/// Spins until every flag is set or kBound passed.
bool wait_for_flags(std::initializer_list<const std::atomic<bool>*> flags) {
    auto deadline = std::chrono::steady_clock::now() + kBound;
    for (const std::atomic<bool>* f : flags) {
        while (!f->load(std::memory_order_acquire)) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::sleep_for(100us);
        }
    }
    return true;
}

/// Raises `signum` in this thread once the task is polled (after the root parked on its listener).
Task<void> raise_later(int signum) {
    co_await task::yield_now();
    ::raise(signum);
}

/// True when one recv() on `sig` succeeds.
Task<bool> receive_once(signal::Signal sig) {
    auto r = co_await sig.recv();
    co_return r.has_value();
}

TEST(Signal, ARaisedSignalReachesAWaitingListener) {
    Runtime rt = real_runtime();
    auto result = rt.block_on(bounded([]() -> Task<io::Result<void>> {
        auto sig = signal::signal(SIGUSR1);
        auto raiser = spawn(raise_later(SIGUSR1));
        auto r = co_await sig.recv();
        co_await std::move(raiser);
        co_return r;
    }()));
    ASSERT_TRUE(result.has_value()) << "the listener was never woken";
    EXPECT_TRUE(result->has_value()) << result->error().message();
}

TEST(Signal, CtrlCCompletesAtASigintSentToTheProcessFromAnotherThread) {
    Runtime rt = real_runtime();
    std::atomic<bool> waiting{false};
    auto ctrl_c = signal::ctrl_c();  // installed from here on: SIGINT no longer ends the process
    std::thread sender([&] {
        if (wait_for_flags({&waiting})) ::kill(::getpid(), SIGINT);
    });
    auto result = rt.block_on(time::timeout(kBound, NoteWaiting(std::move(ctrl_c), &waiting)));
    sender.join();
    ASSERT_TRUE(result.has_value()) << "ctrl_c() was never woken";
    EXPECT_TRUE(result->has_value()) << result->error().message();
}

TEST(Signal, EachArrivalAfterCreationCompletesOneRecv) {
    Runtime rt = real_runtime();
    auto result = rt.block_on(bounded([]() -> Task<int> {
        auto sig = signal::signal(SIGUSR1);
        int received = 0;
        for (int i = 0; i < 3; ++i) {
            auto raiser = spawn(raise_later(SIGUSR1));
            auto got = co_await sig.recv();
            if (got.has_value()) ++received;
            co_await std::move(raiser);
        }
        co_return received;
    }()));
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(*result, 3);
}

TEST(Signal, TwoListenersInOneRuntimeAreBothWoken) {
    Runtime rt = real_runtime();
    auto result = rt.block_on(bounded([]() -> Task<int> {
        auto first = spawn(receive_once(signal::signal(SIGUSR2)));
        auto second = spawn(receive_once(signal::signal(SIGUSR2)));
        co_await task::yield_now();  // both tasks run and wait on their listeners
        ::raise(SIGUSR2);
        bool first_woken = co_await std::move(first);
        bool second_woken = co_await std::move(second);
        co_return int(first_woken) + int(second_woken);
    }()));
    ASSERT_TRUE(result.has_value()) << "a listener was never woken";
    EXPECT_EQ(*result, 2);
}

TEST(Signal, ListenersInTwoRuntimesAreBothWokenByOneArrival) {
    auto here = signal::signal(SIGUSR2);
    auto there = signal::signal(SIGUSR2);
    std::atomic<bool> here_waiting{false};
    std::atomic<bool> there_waiting{false};
    std::expected<io::Result<void>, time::Elapsed> there_result = std::unexpected(time::Elapsed{});
    std::thread other([&] {
        Runtime rt = real_runtime();
        there_result = rt.block_on(time::timeout(kBound, NoteWaiting(there.recv(), &there_waiting)));
    });
    std::thread sender([&] {
        if (wait_for_flags({&here_waiting, &there_waiting})) ::kill(::getpid(), SIGUSR2);
    });
    Runtime rt = real_runtime();
    auto here_result = rt.block_on(time::timeout(kBound, NoteWaiting(here.recv(), &here_waiting)));
    sender.join();
    other.join();
    ASSERT_TRUE(here_result.has_value());
    EXPECT_TRUE(here_result->has_value());
    ASSERT_TRUE(there_result.has_value());
    EXPECT_TRUE(there_result->has_value());
}

TEST(Signal, ArrivalsBeforeTheListenerExistedAreNotDelivered) {
    Runtime rt = paused_runtime();
    auto result = rt.block_on([]() -> Task<bool> {
        auto earlier = signal::signal(SIGUSR1);  // installs the handler
        ::raise(SIGUSR1);
        EXPECT_TRUE(co_await earlier.recv());
        auto later = signal::signal(SIGUSR1);
        auto r = co_await time::timeout(50ms, later.recv());
        co_return r.has_value();
    }());
    EXPECT_FALSE(result) << "an arrival from before the listener was delivered";
}

TEST(Signal, ArrivalsBetweenTwoRecvsCoalesceIntoOne) {
    Runtime rt = paused_runtime();
    auto result = rt.block_on([]() -> Task<int> {
        auto sig = signal::signal(SIGUSR1);
        ::raise(SIGUSR1);
        ::raise(SIGUSR1);
        ::raise(SIGUSR1);
        int received = 0;
        for (int i = 0; i < 3; ++i) {
            auto r = co_await time::timeout(50ms, sig.recv());
            if (r.has_value()) ++received;
        }
        co_return received;
    }());
    EXPECT_EQ(result, 1);
}

TEST(Signal, AnUncatchableSignalIsReportedAsInvalidArgument) {
    Runtime rt = real_runtime();
    for (int signum : {SIGKILL, SIGSTOP, 0, 1000}) {
        auto result = rt.block_on([](int s) -> Task<io::Result<void>> {
            auto sig = signal::signal(s);
            co_return co_await sig.recv();
        }(signum));
        ASSERT_FALSE(result.has_value()) << signum;
        EXPECT_EQ(result.error(), std::errc::invalid_argument) << signum;
    }
}

}  // namespace
}  // namespace corio
