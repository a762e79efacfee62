// The stall detector (Builder::stall_threshold / on_stall) and dump_on_signal.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "corio/diag.hpp"
#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/task/builder.hpp"
#include "corio/time.hpp"

namespace {

using namespace std::chrono_literals;
using corio::Task;

/// Reports received, and a pipe a stalled task blocks on until the first
/// report arrives (so the report provably came while the poll still ran).
struct Reports {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<corio::diag::StallReport> list;
    int fds[2] = {-1, -1};

    Reports() {
        if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    }
    ~Reports() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    std::function<void(const corio::diag::StallReport&)> handler() {
        return [this](const corio::diag::StallReport& r) {
            {
                std::lock_guard lock(mutex);
                list.push_back(r);
            }
            cv.notify_all();
            char b = 1;
            ASSERT_EQ(::write(fds[1], &b, 1), 1);
        };
    }
    /// Blocks the calling thread in the kernel until a report comes (or 5 s).
    void block_until_reported() const {
        pollfd p{fds[0], POLLIN, 0};
        ::poll(&p, 1, 5000);
        char b;
        (void)::read(fds[0], &b, 1);
    }
    std::size_t count() {
        std::lock_guard lock(mutex);
        return list.size();
    }
};

Task<void> blocker(const Reports* reports) {
    reports->block_until_reported();
    co_return;
}

TEST(Stall, ABlockedPollIsReportedWhileItRunsAsOffCpu) {
    Reports reports;
    auto rt =
        corio::Builder::new_multi_thread().worker_threads(2).stall_threshold(50ms).on_stall(reports.handler()).build();
    int spawn_line = 0;
    rt.block_on([&]() -> Task<void> {
        spawn_line = __LINE__ + 1;
        co_await corio::task::Builder().name("blocker").spawn(blocker(&reports));
    }());
    ASSERT_EQ(reports.count(), 1u);
    const corio::diag::StallReport& r = reports.list[0];
    EXPECT_EQ(r.task.name, "blocker");
    EXPECT_EQ(r.task.spawned_at.line(), static_cast<unsigned>(spawn_line));
    EXPECT_EQ(r.task.state, corio::diag::TaskState::Running);
    EXPECT_NE(r.task.id.value(), 0u);
    EXPECT_LT(r.worker, 2u);
    EXPECT_GE(r.in_poll, 50ms);
    EXPECT_FALSE(r.on_cpu);
    EXPECT_FALSE(r.backtrace.empty());
    std::string text = r.to_string();
    EXPECT_NE(text.find("corio: stall: worker"), std::string::npos) << text;
    EXPECT_NE(text.find("blocked in the kernel"), std::string::npos) << text;
}

TEST(Stall, ASpinningPollIsReportedAsOnCpu) {
    Reports reports;
    auto rt =
        corio::Builder::new_multi_thread().worker_threads(2).stall_threshold(50ms).on_stall(reports.handler()).build();
    rt.block_on([&]() -> Task<void> {
        co_await corio::spawn([](Reports* reports) -> Task<void> {
            auto until = std::chrono::steady_clock::now() + 5s;
            while (reports->count() == 0 && std::chrono::steady_clock::now() < until) {
            }
            co_return;
        }(&reports));
    }());
    ASSERT_EQ(reports.count(), 1u);
    EXPECT_TRUE(reports.list[0].on_cpu);
}

/// A hand-written future whose second poll blocks: a stall inside a leaf
/// polled after a wake, where the task's await chain stands still and is
/// reported. (A stall in a leaf's first poll is reported without a chain.)
struct BlockingLeaf {
    using Output = void;
    const Reports* reports;
    bool woken = false;
    corio::Poll<void> poll(corio::Context& cx) {
        if (!woken) {
            woken = true;
            cx.waker().wake_by_ref();
            return corio::Pending;
        }
        reports->block_until_reported();
        return corio::Ready();
    }
};

int g_leaf_line = 0;
Task<void> awaits_blocking_leaf(const Reports* reports) {
    g_leaf_line = __LINE__ + 1;
    co_await BlockingLeaf{reports};
}

TEST(Stall, AStallInsideALeafFutureCarriesTheAwaitChain) {
    for (bool multi : {false, true}) {
        Reports reports;
        auto builder =
            multi ? corio::Builder::new_multi_thread().worker_threads(2) : corio::Builder::new_current_thread();
        auto rt = builder.stall_threshold(50ms).on_stall(reports.handler()).build();
        rt.block_on([&]() -> Task<void> { co_await corio::spawn(awaits_blocking_leaf(&reports)); }());
        ASSERT_EQ(reports.count(), 1u) << (multi ? "multi_thread" : "current_thread");
        const auto& awaiting = reports.list[0].task.awaiting;
        ASSERT_EQ(awaiting.size(), 1u);
        EXPECT_EQ(awaiting[0].where.line(), static_cast<unsigned>(g_leaf_line));
        EXPECT_NE(awaiting[0].what.find("BlockingLeaf"), std::string::npos) << awaiting[0].what;
    }
}

TEST(Stall, ZeroThresholdTurnsTheDetectorOff) {
    std::atomic<int> calls{0};
    auto rt = corio::Builder::new_current_thread()
                  .stall_threshold(0ns)
                  .on_stall([&](const corio::diag::StallReport&) { calls.fetch_add(1); })
                  .build();
    rt.block_on([]() -> Task<void> {
        co_await corio::spawn([]() -> Task<void> {
            std::this_thread::sleep_for(150ms);
            co_return;
        }());
    }());
    EXPECT_EQ(calls.load(), 0);
}

TEST(Stall, AHandlerThatThrowsStopsNeitherTheMonitorNorTheRuntime) {
    std::atomic<int> calls{0};
    auto rt = corio::Builder::new_current_thread()
                  .stall_threshold(20ms)
                  .on_stall([&](const corio::diag::StallReport&) {
                      calls.fetch_add(1);
                      throw std::runtime_error("handler failed");
                  })
                  .build();
    rt.block_on([&]() -> Task<void> {
        for (int i = 0; i < 2; ++i) {
            co_await corio::spawn([](std::atomic<int>* calls, int want) -> Task<void> {
                auto until = std::chrono::steady_clock::now() + 5s;
                while (calls->load() < want && std::chrono::steady_clock::now() < until) {
                    std::this_thread::sleep_for(1ms);
                }
                co_return;
            }(&calls, i + 1));
        }
    }());
    EXPECT_EQ(calls.load(), 2);
}

TEST(Stall, AOneMillisecondThresholdKeepsItsRateLimit) {
    std::atomic<int> calls{0};
    auto rt = corio::Builder::new_current_thread()
                  .stall_threshold(1ms)
                  .on_stall([&](const corio::diag::StallReport&) { calls.fetch_add(1); })
                  .build();
    rt.block_on([]() -> Task<void> {
        for (int i = 0; i < 40; ++i) {
            co_await corio::spawn([]() -> Task<void> {
                std::this_thread::sleep_for(8ms);
                co_return;
            }());
        }
    }());
    EXPECT_GE(calls.load(), 1);
    EXPECT_LE(calls.load(), 5);
}

TEST(Stall, AHandlerThatBlocksDoesNotHoldUpTheRuntimeOrItsShutdown) {
    // Shared with the reporter thread, which outlives the runtime here.
    struct Gate {
        std::mutex m;
        std::condition_variable cv;
        bool release = false;
        bool left = false;
        std::atomic<int> calls{0};
    };
    auto gate = std::make_shared<Gate>();
    {
        auto rt = corio::Builder::new_current_thread()
                      .stall_threshold(20ms)
                      .on_stall([gate](const corio::diag::StallReport&) {
                          gate->calls.fetch_add(1);
                          std::unique_lock lock(gate->m);
                          gate->cv.wait(lock, [&] { return gate->release; });
                          gate->left = true;
                          gate->cv.notify_all();
                      })
                      .build();
        rt.block_on([](std::atomic<int>* calls) -> Task<void> {
            co_await corio::spawn([](std::atomic<int>* calls) -> Task<void> {
                auto until = std::chrono::steady_clock::now() + 5s;
                while (calls->load() == 0 && std::chrono::steady_clock::now() < until) {
                    std::this_thread::sleep_for(1ms);
                }
                co_return;
            }(calls));
            // The runtime goes on while the handler is stuck.
            co_await corio::time::sleep(10ms);
        }(&gate->calls));
    }  // shutdown with the handler still blocked
    EXPECT_EQ(gate->calls.load(), 1);
    std::unique_lock lock(gate->m);
    gate->release = true;
    gate->cv.notify_all();
    EXPECT_TRUE(gate->cv.wait_for(lock, 5s, [&] { return gate->left; }));
}

TEST(Stall, TheStallHandlerCanDumpTheRuntime) {
    Reports reports;
    std::optional<corio::Handle> handle;
    std::string dump;
    auto rt = corio::Builder::new_multi_thread()
                  .worker_threads(2)
                  .stall_threshold(30ms)
                  .on_stall([&](const corio::diag::StallReport& r) {
                      dump = handle->dump().to_string();
                      reports.handler()(r);
                  })
                  .build();
    handle = rt.handle();
    rt.block_on([&]() -> Task<void> { co_await corio::task::Builder().name("stuck one").spawn(blocker(&reports)); }());
    EXPECT_NE(dump.find("\"stuck one\" Running on worker"), std::string::npos) << dump;
}

TEST(Stall, BuilderRejectsBadSettings) {
    EXPECT_THROW(corio::Builder::new_current_thread().stall_threshold(-1ms).build(), std::invalid_argument);
    EXPECT_THROW(corio::Builder::new_current_thread().dump_on_signal(SIGKILL).build(), std::invalid_argument);
    EXPECT_THROW(corio::Builder::new_current_thread().dump_on_signal(-3).build(), std::invalid_argument);
}

TEST(DumpOnSignal, TheSignalWritesADumpToStderr) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    int saved = ::dup(2);
    ::dup2(fds[1], 2);
    std::string out;
    {
        auto rt = corio::Builder::new_multi_thread().worker_threads(1).dump_on_signal(SIGUSR1).build();
        rt.block_on([&]() -> Task<void> {
            auto h = corio::task::Builder().name("sleeper").spawn(corio::time::sleep(10s));
            co_await corio::time::sleep(5ms);
            std::raise(SIGUSR1);
            char buf[4096];
            for (int i = 0; i < 200 && out.find("sleeper") == std::string::npos; ++i) {
                pollfd p{fds[0], POLLIN, 0};
                if (::poll(&p, 1, 0) == 1) {
                    ssize_t n = ::read(fds[0], buf, sizeof buf);
                    if (n > 0) out.append(buf, static_cast<std::size_t>(n));
                } else {
                    co_await corio::time::sleep(5ms);
                }
            }
            h.abort();
        }());
    }
    ::dup2(saved, 2);
    ::close(saved);
    ::close(fds[0]);
    ::close(fds[1]);
    EXPECT_NE(out.find("corio task dump"), std::string::npos) << out;
    EXPECT_NE(out.find("\"sleeper\" Idle"), std::string::npos) << out;
    EXPECT_NE(out.find("time::sleep"), std::string::npos) << out;
}

}  // namespace
