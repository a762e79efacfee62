// task::Id, task::Builder and Handle::dump().
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "corio/diag.hpp"
#include "corio/runtime.hpp"
#include "corio/stream.hpp"
#include "corio/sync/notify.hpp"
#include "corio/task.hpp"
#include "corio/task/builder.hpp"
#include "corio/task/id.hpp"
#include "corio/task/join_set.hpp"
#include "corio/task/local_set.hpp"
#include "corio/time.hpp"

namespace {

using namespace std::chrono_literals;
using corio::Task;

const corio::diag::TaskInfo* find(const corio::diag::Dump& d, corio::task::Id id) {
    for (const auto& t : d.tasks) {
        if (t.id == id) return &t;
    }
    return nullptr;
}

corio::Runtime make_runtime(bool multi) {
    if (multi) return corio::Builder::new_multi_thread().worker_threads(2).build();
    return corio::Builder::new_current_thread().build();
}

// ---- task::Id -------------------------------------------------------------------------

TEST(TaskId, OutsideATaskIdThrowsAndTryIdIsEmpty) {
    EXPECT_THROW(corio::task::id(), std::logic_error);
    EXPECT_FALSE(corio::task::try_id().has_value());
    // block_on's own future is not a task either, as in Tokio.
    auto rt = make_runtime(false);
    bool threw = rt.block_on([]() -> Task<bool> {
        try {
            corio::task::id();
        } catch (const std::logic_error&) {
            co_return true;
        }
        co_return false;
    }());
    EXPECT_TRUE(threw);
}

TEST(TaskId, TheTaskSeesTheIdItsHandlesReport) {
    for (bool multi : {false, true}) {
        auto rt = make_runtime(multi);
        rt.block_on([]() -> Task<void> {
            auto handle = corio::spawn([]() -> Task<corio::task::Id> { co_return corio::task::id(); }());
            corio::task::Id expected = handle.id();
            EXPECT_EQ(handle.abort_handle().id(), expected);
            EXPECT_EQ(corio::task::to_string(expected), "task " + std::to_string(expected.value()));
            EXPECT_EQ(co_await handle, expected);
        }());
    }
}

TEST(TaskId, IdsAreUniqueAcrossThreadsAndNeverReused) {
    auto rt = make_runtime(true);
    std::unordered_set<corio::task::Id> seen;
    rt.block_on([&]() -> Task<void> {
        for (int round = 0; round < 4; ++round) {
            std::vector<corio::JoinHandle<corio::task::Id>> handles;
            for (int i = 0; i < 500; ++i) {
                handles.push_back(corio::spawn([]() -> Task<corio::task::Id> { co_return corio::task::id(); }()));
            }
            for (auto& h : handles) seen.insert(co_await h);
        }
    }());
    EXPECT_EQ(seen.size(), 2000u);
}

TEST(TaskId, EmptyHandlesThrowOnId) {
    corio::JoinHandle<void> empty;
    EXPECT_THROW((void)empty.id(), std::logic_error);
}

// ---- Dump -----------------------------------------------------------------------------------

// Written by the task on a worker, read by the test's root: atomics, so TSan sees the order.
std::atomic<int> g_child_line{0};
std::atomic<int> g_parent_line{0};

Task<void> wait_on(corio::sync::Notify& n) {
    g_child_line.store(__LINE__ + 1);
    co_await n.notified();
}

Task<void> parent(corio::sync::Notify& n) {
    g_parent_line.store(__LINE__ + 1);
    co_await wait_on(n);
}

class DumpBoth : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(Flavours, DumpBoth, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "multi_thread" : "current_thread"; });

TEST_P(DumpBoth, ShowsNameSpawnSiteAndTheAwaitChainRootFirst) {
    auto rt = make_runtime(GetParam());
    corio::sync::Notify gate;
    int spawn_line = 0;
    corio::task::Id id{0};
    rt.block_on([&]() -> Task<void> {
        spawn_line = __LINE__ + 1;
        auto h = corio::task::Builder().name("conn 10.0.0.1:5123").spawn(parent(gate));
        id = h.id();
        // Dump until the child has suspended on the Notify (bounded: 5 s at most).
        corio::diag::Dump d;
        const corio::diag::TaskInfo* t = nullptr;
        for (int i = 0; i < 5000; ++i) {
            d = corio::Handle::current().dump();
            t = find(d, id);
            if (t != nullptr && t->state == corio::diag::TaskState::Idle && t->awaiting.size() == 2) break;
            co_await corio::time::sleep(1ms);
        }
        EXPECT_NE(t, nullptr);
        if (t != nullptr) {
            EXPECT_EQ(t->name, "conn 10.0.0.1:5123");
            EXPECT_EQ(t->spawned_at.line(), static_cast<unsigned>(spawn_line));
            EXPECT_EQ(t->state, corio::diag::TaskState::Idle);
            EXPECT_GE(t->polls, 1u);
            EXPECT_EQ(t->awaiting.size(), 2u);
            if (t->awaiting.size() == 2) {
                EXPECT_EQ(t->awaiting[0].where.line(), static_cast<unsigned>(g_parent_line.load()));
                EXPECT_EQ(t->awaiting[1].where.line(), static_cast<unsigned>(g_child_line.load()));
                EXPECT_NE(t->awaiting[1].what.find("Notif"), std::string::npos) << t->awaiting[1].what;
            }
        }
        std::string text = d.to_string();
        EXPECT_NE(text.find("\"conn 10.0.0.1:5123\" Idle"), std::string::npos) << text;
        EXPECT_NE(text.find("dump_test.cpp:" + std::to_string(g_child_line.load())), std::string::npos) << text;
        // The task calling dump() is itself in the dump, running.
        const corio::diag::TaskInfo* self = nullptr;
        for (const auto& info : d.tasks) {
            if (info.state == corio::diag::TaskState::Running) self = &info;
        }
        EXPECT_EQ(self, nullptr) << "block_on's root is not a task";
        gate.notify_one();
        co_await h;
    }());
}

// Dumps until task `id` is idle (at most 5 s), then returns what the dump says of it.
Task<std::optional<corio::diag::TaskInfo>> dump_when_idle(corio::task::Id id) {
    for (int i = 0; i < 5000; ++i) {
        corio::diag::Dump d = corio::Handle::current().dump();
        if (const corio::diag::TaskInfo* t = find(d, id); t != nullptr && t->state == corio::diag::TaskState::Idle) {
            co_return *t;
        }
        co_await corio::time::sleep(1ms);
    }
    co_return std::nullopt;
}

std::atomic<int> g_generator_line{0};
std::atomic<int> g_consumer_line{0};

corio::AsyncGenerator<int> notified_items(corio::sync::Notify& n) {
    g_generator_line.store(__LINE__ + 1);
    co_await n.notified();
    co_yield 1;
}

Task<void> consume_notified(corio::sync::Notify& n) {
    auto gen = notified_items(n);
    g_consumer_line.store(__LINE__ + 1);
    auto item = co_await corio::stream::next(gen);
    EXPECT_EQ(item, 1);
}

// co_await stream::next lends the generator's frame to the task: the dump
// shows it as one more level of the task's await chain.
TEST_P(DumpBoth, AGeneratorResumedByStreamNextIsPartOfTheAwaitChain) {
    auto rt = make_runtime(GetParam());
    corio::sync::Notify gate;
    rt.block_on([&]() -> Task<void> {
        auto h = corio::spawn(consume_notified(gate));
        auto info = co_await dump_when_idle(h.id());
        EXPECT_TRUE(info.has_value());
        if (info) {
            EXPECT_EQ(info->awaiting.size(), 2u);
            if (info->awaiting.size() == 2) {
                EXPECT_EQ(info->awaiting[0].where.line(), static_cast<unsigned>(g_consumer_line.load()));
                EXPECT_EQ(info->awaiting[1].where.line(), static_cast<unsigned>(g_generator_line.load()));
                EXPECT_NE(info->awaiting[1].what.find("Notif"), std::string::npos) << info->awaiting[1].what;
            }
        }
        gate.notify_one();
        co_await h;
    }());
}

TEST_P(DumpBoth, CountsWakesAndYieldsAndTellsHowLongATaskHasBeenIdle) {
    auto rt = make_runtime(GetParam());
    corio::sync::Notify gate;
    rt.block_on([&]() -> Task<void> {
        auto h = corio::spawn([](corio::sync::Notify& n) -> Task<void> {
            for (int i = 0; i < 3; ++i) co_await corio::task::yield_now();  // three wakes of its own
            co_await n.notified();                                          // one from the root
            co_await n.notified();
        }(gate));
        std::optional<corio::diag::TaskInfo> t = co_await dump_when_idle(h.id());
        EXPECT_TRUE(t.has_value());
        if (t) {
            EXPECT_EQ(t->polls, 4u);
            EXPECT_EQ(t->wakes, 3u);
            EXPECT_EQ(t->self_wakes, 3u);
            EXPECT_FALSE(t->busy.has_value()) << "polls are timed only with enable_metrics_histograms";
        }
        gate.notify_one();
        // Idle again, on its second notified(), for at least 60 ms.
        for (int i = 0; i < 5000; ++i) {
            t = co_await dump_when_idle(h.id());
            if (!t || t->polls == 5) break;
            co_await corio::time::sleep(1ms);
        }
        co_await corio::time::sleep(60ms);
        corio::diag::Dump d = corio::Handle::current().dump();
        const corio::diag::TaskInfo* idle = find(d, h.id());
        EXPECT_NE(idle, nullptr);
        if (idle != nullptr) {
            EXPECT_EQ(idle->polls, 5u);
            EXPECT_EQ(idle->wakes, 4u);
            EXPECT_EQ(idle->self_wakes, 3u);
            // The coarse clock it is read on moves in steps of a few ms.
            EXPECT_GE(idle->idle_for, 50ms);
            EXPECT_LT(idle->idle_for, 60s);
            std::string text = d.to_string();
            EXPECT_NE(text.find("5 polls, 4 wakes (3 its own)"), std::string::npos) << text;
            EXPECT_NE(text.find(", idle "), std::string::npos) << text;
            std::string json = d.to_json();
            EXPECT_NE(json.find("\"wakes\":4,\"self_wakes\":3,\"busy_us\":null"), std::string::npos) << json;
        }
        gate.notify_one();
        co_await h;
    }());
}

TEST_P(DumpBoth, WithPollTimingATaskShowsItsBusyTime) {
    auto builder =
        GetParam() ? corio::Builder::new_multi_thread().worker_threads(2) : corio::Builder::new_current_thread();
    auto rt = builder.enable_metrics_histograms(true).stall_threshold(0ns).build();
    corio::sync::Notify gate;
    rt.block_on([&]() -> Task<void> {
        auto h = corio::spawn([](corio::sync::Notify& n) -> Task<void> {
            auto until = std::chrono::steady_clock::now() + 20ms;
            while (std::chrono::steady_clock::now() < until) {
            }  // one poll of 20 ms
            co_await n.notified();
        }(gate));
        std::optional<corio::diag::TaskInfo> t = co_await dump_when_idle(h.id());
        EXPECT_TRUE(t.has_value());
        if (t) {
            EXPECT_TRUE(t->busy.has_value());
            if (t->busy) {
                EXPECT_GE(*t->busy, 20ms);
                EXPECT_LT(*t->busy, 60s);
            }
        }
        std::string text = corio::Handle::current().dump().to_string();
        EXPECT_NE(text.find(", busy "), std::string::npos) << text;
        gate.notify_one();
        co_await h;
    }());
}

TEST_P(DumpBoth, ATaskDumpingItselfShowsRunningOnItsWorker) {
    auto rt = make_runtime(GetParam());
    rt.block_on([]() -> Task<void> {
        auto h = corio::spawn([]() -> Task<void> {
            corio::diag::Dump d = corio::Handle::current().dump();
            const corio::diag::TaskInfo* me = find(d, corio::task::id());
            EXPECT_NE(me, nullptr);
            if (me != nullptr) {
                EXPECT_EQ(me->state, corio::diag::TaskState::Running);
                EXPECT_TRUE(me->worker.has_value());
                EXPECT_TRUE(me->awaiting.empty());
            }
            co_return;
        }());
        co_await h;
    }());
}

TEST_P(DumpBoth, FromAForeignThreadWhileTasksComeAndGo) {
    auto rt = make_runtime(GetParam());
    corio::Handle handle = rt.handle();
    std::atomic<bool> done{false};
    std::atomic<int> dumps{0};
    std::thread dumper([&] {
        while (!done.load()) {
            corio::diag::Dump d = handle.dump();
            for (const auto& t : d.tasks) EXPECT_NE(t.id.value(), 0u);
            dumps.fetch_add(1);
        }
    });
    rt.block_on([]() -> Task<void> {
        for (int round = 0; round < 50; ++round) {
            corio::task::JoinSet<int> set;
            for (int i = 0; i < 20; ++i) {
                set.spawn([](int v) -> Task<int> {
                    co_await corio::time::sleep(std::chrono::microseconds(100 * (v % 3)));
                    co_return v;
                }(i));
            }
            while (auto r = co_await set.join_next()) (void)r;
        }
    }());
    done = true;
    dumper.join();
    EXPECT_GT(dumps.load(), 0);
}

TEST(Dump, JsonEscapesQuotesNewlinesAndBadUtf8) {
    auto rt = make_runtime(false);
    corio::sync::Notify gate;
    rt.block_on([&]() -> Task<void> {
        std::string name = "a \"quoted\"\nname \xff\xfe end";
        auto h = corio::task::Builder().name(name).spawn(parent(gate));
        co_await corio::task::yield_now();
        std::string json = corio::Handle::current().dump().to_json();
        EXPECT_NE(json.find(R"("name":"a \"quoted\"\nname \ufffd\ufffd end")"), std::string::npos) << json;
        std::string text = corio::Handle::current().dump().to_string();
        EXPECT_NE(text.find("a \"quoted\"\\x0aname"), std::string::npos) << text;
        gate.notify_one();
        co_await h;
    }());
}

Task<void> recurse(int depth, corio::sync::Notify& n) {
    if (depth == 0) {
        co_await n.notified();
    } else {
        co_await recurse(depth - 1, n);
    }
}

TEST(Dump, AVeryDeepChainKeepsBothEndsAndCountsTheRest) {
    auto rt = make_runtime(false);
    corio::sync::Notify gate;
    rt.block_on([&]() -> Task<void> {
        auto h = corio::spawn(recurse(40, gate));
        co_await corio::task::yield_now();
        corio::diag::Dump d = corio::Handle::current().dump();
        const corio::diag::TaskInfo* t = find(d, h.id());
        EXPECT_NE(t, nullptr);
        if (t != nullptr) {
            EXPECT_EQ(t->awaiting.size(), 32u);
            EXPECT_EQ(t->awaiting_skipped, 41u - 32u);
            EXPECT_NE(t->awaiting.back().what.find("Notif"), std::string::npos);
        }
        gate.notify_one();
        co_await h;
    }());
}

TEST(Dump, AfterShutdownIsEmptyAndSaysSo) {
    auto rt = make_runtime(true);
    corio::Handle handle = rt.handle();
    rt.shutdown_timeout(1s);
    corio::diag::Dump d = handle.dump();
    EXPECT_TRUE(d.tasks.empty());
    EXPECT_FALSE(d.incomplete.empty());
}

TEST(Dump, CurrentThreadStuckInAPollGivesAnIncompleteDumpWithoutWaitingForIt) {
    auto rt = corio::Builder::new_current_thread().stall_threshold(0ns).build();
    corio::Handle handle = rt.handle();
    std::atomic<bool> release{false};
    std::atomic<bool> stuck{false};
    std::thread driver([&] {
        rt.block_on([&]() -> Task<void> {
            auto h = corio::spawn([](std::atomic<bool>* stuck, std::atomic<bool>* release) -> Task<void> {
                stuck->store(true);
                while (!release->load()) std::this_thread::sleep_for(1ms);
                co_return;
            }(&stuck, &release));
            co_await h;
        }());
    });
    while (!stuck.load()) std::this_thread::sleep_for(1ms);
    auto t0 = std::chrono::steady_clock::now();
    corio::diag::Dump d = handle.dump();
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 1s);
    EXPECT_FALSE(d.incomplete.empty());
    release = true;
    driver.join();
}

TEST(Dump, AFinishedTaskWhoseOutputWasNotTakenShowsDone) {
    auto rt = make_runtime(false);
    rt.block_on([]() -> Task<void> {
        auto h = corio::spawn([]() -> Task<int> { co_return 7; }());
        co_await corio::task::yield_now();
        co_await corio::task::yield_now();
        corio::diag::Dump d = corio::Handle::current().dump();
        const corio::diag::TaskInfo* t = find(d, h.id());
        // Finished tasks leave the runtime's list: gone, or Done, never half-read.
        if (t != nullptr) {
            EXPECT_EQ(t->state, corio::diag::TaskState::Done);
        }
        EXPECT_EQ(co_await h, 7);
    }());
}

Task<void> local_waiter(corio::sync::Notify& n) { co_await n.notified(); }

TEST_P(DumpBoth, ListsALocalSetsTasksFromInsideAndOutsideTheSet) {
    auto rt = make_runtime(GetParam());
    corio::sync::Notify gate;
    corio::task::LocalSet set;
    rt.block_on(set.run_until([&]() -> Task<void> {
        auto local = corio::task::spawn_local(local_waiter(gate));
        // From inside the set (its driver is polling us): the local task is read directly.
        std::optional<corio::diag::TaskInfo> t = co_await dump_when_idle(local.id());
        EXPECT_TRUE(t.has_value());
        if (t) {
            EXPECT_TRUE(t->local);
            EXPECT_EQ(t->awaiting.size(), 1u);  // local_waiter suspended on the Notify
        }
        // From a task of the runtime: on a multi-thread runtime it runs on a
        // worker while this thread drives the set, so the set may be busy
        // for a moment; it is read once it is not.
        auto outside = corio::spawn([](corio::task::Id id) -> Task<bool> {
            for (int i = 0; i < 5000; ++i) {
                corio::diag::Dump d = corio::Handle::current().dump();
                if (const corio::diag::TaskInfo* info = find(d, id); info != nullptr && info->local) {
                    EXPECT_NE(d.to_string().find("(LocalSet)"), std::string::npos) << d.to_string();
                    EXPECT_NE(d.to_json().find("\"local\":true"), std::string::npos);
                    co_return true;
                }
                co_await corio::time::sleep(1ms);
            }
            co_return false;
        }(local.id()));
        EXPECT_TRUE(co_await outside);
        gate.notify_one();
        co_await local;
    }()));
    // The set's tasks are gone with it.
    for (const auto& info : rt.handle().dump().tasks) EXPECT_FALSE(info.local);
}

TEST(Dump, ALocalSetNeverDumpsIntoAnotherRuntime) {
    auto a = corio::Builder::new_current_thread().build();
    auto b = corio::Builder::new_current_thread().build();
    corio::sync::Notify gate;
    corio::task::LocalSet set;
    a.block_on(set.run_until([&]() -> Task<void> {
        auto local = corio::task::spawn_local(local_waiter(gate));
        co_await corio::task::yield_now();
        std::size_t locals = 0;
        for (const auto& info : b.handle().dump().tasks) locals += info.local ? 1 : 0;
        EXPECT_EQ(locals, 0u);
        for (const auto& info : corio::Handle::current().dump().tasks) locals += info.local ? 1 : 0;
        EXPECT_EQ(locals, 1u);
        gate.notify_one();
        co_await local;
    }()));
}

TEST(Dump, ListsBlockingTasksRunningAndQueuedWithTheirSpawnSites) {
    auto rt = corio::Builder::new_current_thread().max_blocking_threads(1).stall_threshold(0ns).build();
    rt.block_on([]() -> Task<void> {
        std::atomic<bool> release{false};
        std::atomic<bool> started{false};
        int line = __LINE__ + 1;
        auto running = corio::task::spawn_blocking([&] {
            started = true;
            while (!release.load()) std::this_thread::sleep_for(1ms);
        });
        auto queued = corio::task::spawn_blocking([] { return 7; });
        while (!started.load()) co_await corio::time::sleep(1ms);
        corio::diag::Dump d = corio::Handle::current().dump();
        const corio::diag::TaskInfo* r = find(d, running.id());
        const corio::diag::TaskInfo* q = find(d, queued.id());
        EXPECT_NE(r, nullptr);
        EXPECT_NE(q, nullptr);
        if (r != nullptr && q != nullptr) {
            EXPECT_TRUE(r->blocking);
            EXPECT_EQ(r->state, corio::diag::TaskState::Running);
            EXPECT_EQ(r->spawned_at.line(), static_cast<unsigned>(line));
            EXPECT_EQ(q->state, corio::diag::TaskState::Scheduled);
        }
        EXPECT_NE(d.to_string().find("Running on a blocking thread"), std::string::npos) << d.to_string();
        release = true;
        co_await running;
        EXPECT_EQ(co_await queued, 7);
    }());
}

}  // namespace
