// Tests of <corio/task/task_local.hpp>: get/try_get/with/try_with inside and
// outside a scope, nested scopes, tasks interleaving on one thread, a value
// that follows its task across the workers of a multi-thread runtime, the
// value's lifetime (it lives in the scope future), sync_scope, and scopes
// whose inner future throws.
//
// Every test that runs a runtime is bounded by time::timeout.
#include "corio/task/task_local.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/drop_counter.hpp"
#include "support/manual_future.hpp"
#include "support/poll.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using task::task_local;
using test::bounded;
using test::DropCounter;
using test::DropCounts;
using test::ManualFuture;
using test::ManualState;
using test::poll_once;

constexpr auto kBound = 10s;

static task_local<int> REQUEST_ID;
static task_local<int> OTHER_ID;
static task_local<std::string> NAME;
static task_local<DropCounter> GUARD;

Task<int> read_request_id() { co_return REQUEST_ID.get(); }

Task<int> read_after_yields(int yields) {
    for (int i = 0; i < yields; ++i) co_await task::yield_now();
    co_return REQUEST_ID.get();
}

Task<std::vector<int>> read_across_nested_scopes() {
    std::vector<int> seen;
    seen.push_back(REQUEST_ID.get());
    int inner = co_await REQUEST_ID.scope(2, read_after_yields(2));
    seen.push_back(inner);
    co_await task::yield_now();
    seen.push_back(REQUEST_ID.get());  // the outer value is back
    seen.push_back(OTHER_ID.try_get().value_or(-1));
    co_return seen;
}

TEST(TaskLocal, GetInsideAScopeReturnsItsValueAcrossAwaits) {
    Runtime rt = Builder::new_current_thread().build();
    auto v = rt.block_on(bounded(REQUEST_ID.scope(7, read_after_yields(3)), kBound));
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, 7);
}

TEST(TaskLocal, GetOutsideAnyScopeThrowsLogicError) {
    EXPECT_THROW(static_cast<void>(REQUEST_ID.get()), std::logic_error);
    EXPECT_FALSE(REQUEST_ID.try_get().has_value());
    EXPECT_FALSE(REQUEST_ID.is_set());
    EXPECT_THROW(static_cast<void>(REQUEST_ID.with([](const int& v) { return v; })), std::logic_error);
    bool called = false;
    auto r = REQUEST_ID.try_with([&called](const int&) { called = true; });
    EXPECT_FALSE(r.has_value());
    EXPECT_FALSE(called);
}

TEST(TaskLocal, ATaskWithoutAScopeThrowsFromGet) {
    Runtime rt = Builder::new_current_thread().build();
    EXPECT_THROW(static_cast<void>(rt.block_on(read_request_id())), std::logic_error);
}

TEST(TaskLocal, NestedScopesShadowTheOuterValueAndRestoreIt) {
    Runtime rt = Builder::new_current_thread().build();
    auto seen = rt.block_on(bounded(REQUEST_ID.scope(1, read_across_nested_scopes()), kBound));
    ASSERT_TRUE(seen.has_value());
    EXPECT_EQ(*seen, (std::vector<int>{1, 2, 1, -1}));
    EXPECT_FALSE(REQUEST_ID.is_set());
}

Task<std::vector<std::string>> two_keys_at_once() {
    std::vector<std::string> seen;
    seen.push_back(NAME.get());
    seen.push_back(std::to_string(REQUEST_ID.get()));
    co_await task::yield_now();
    std::string joined = REQUEST_ID.with([](const int& id) { return NAME.get() + "#" + std::to_string(id); });
    seen.push_back(joined);
    co_return seen;
}

TEST(TaskLocal, DifferentKeysAreIndependent) {
    Runtime rt = Builder::new_current_thread().build();
    auto seen = rt.block_on(bounded(NAME.scope("alice", REQUEST_ID.scope(5, two_keys_at_once())), kBound));
    ASSERT_TRUE(seen.has_value());
    EXPECT_EQ(*seen, (std::vector<std::string>{"alice", "5", "alice#5"}));
}

/// Checks its value after each of `rounds` yields; the number of mismatches.
Task<int> check_value_while_yielding(int expected, int rounds) {
    int wrong = 0;
    for (int i = 0; i < rounds; ++i) {
        if (REQUEST_ID.get() != expected) ++wrong;
        co_await task::yield_now();
    }
    if (REQUEST_ID.get() != expected) ++wrong;
    co_return wrong;
}

Task<int> interleave_two_tasks() {
    JoinHandle<int> a = spawn(REQUEST_ID.scope(100, check_value_while_yielding(100, 50)));
    JoinHandle<int> b = spawn(REQUEST_ID.scope(200, check_value_while_yielding(200, 50)));
    int wrong = 0;
    for (int i = 0; i < 20; ++i) {
        if (REQUEST_ID.is_set()) ++wrong;  // the root task has no scope
        co_await task::yield_now();
    }
    wrong += co_await a;
    wrong += co_await b;
    co_return wrong;
}

TEST(TaskLocal, TasksInterleavingOnOneThreadEachSeeTheirOwnValue) {
    Runtime rt = Builder::new_current_thread().build();
    auto wrong = rt.block_on(bounded(interleave_two_tasks(), kBound));
    ASSERT_TRUE(wrong.has_value());
    EXPECT_EQ(*wrong, 0);
}

struct Travel {
    int wrong = 0;
    std::set<std::thread::id> threads;
};

Task<Travel> travel_across_workers(int expected) {
    Travel travel;
    for (int i = 0; i < 200; ++i) {
        if (REQUEST_ID.get() != expected) ++travel.wrong;
        travel.threads.insert(std::this_thread::get_id());
        co_await task::yield_now();
        if (i % 16 == 0) co_await time::sleep(1ms);
    }
    co_return travel;
}

Task<int> many_travellers() {
    std::vector<JoinHandle<Travel>> handles;
    for (int k = 0; k < 8; ++k) handles.push_back(spawn(REQUEST_ID.scope(k, travel_across_workers(k))));
    int wrong = 0;
    for (auto& h : handles) {
        Travel t = co_await h;
        wrong += t.wrong;
    }
    co_return wrong;
}

TEST(TaskLocal, TheValueFollowsItsTaskAcrossWorkerThreads) {
    Runtime rt = Builder::new_multi_thread().worker_threads(4).build();
    auto wrong = rt.block_on(bounded(many_travellers(), kBound));
    ASSERT_TRUE(wrong.has_value());
    EXPECT_EQ(*wrong, 0);
}

Task<int> await_manual(std::shared_ptr<ManualState<int>> state) {
    int v = co_await ManualFuture<int>(std::move(state));
    co_return v;
}

TEST(TaskLocal, TheValueLivesInTheScopeFutureAndDiesWithIt) {
    DropCounts counts;
    {
        auto unpolled = GUARD.scope(DropCounter(counts, 1), await_manual(std::make_shared<ManualState<int>>()));
        EXPECT_EQ(counts.alive(), 1);
    }
    EXPECT_EQ(counts.alive(), 0);

    auto state = std::make_shared<ManualState<int>>();
    {
        auto fut = GUARD.scope(DropCounter(counts, 2), await_manual(state));
        EXPECT_TRUE(poll_once(fut).is_pending());
        EXPECT_FALSE(GUARD.is_set());  // restored after the poll
        EXPECT_EQ(counts.alive(), 1);
        state->complete(3);
        auto done = poll_once(fut);
        ASSERT_TRUE(done.is_ready());
        EXPECT_EQ(*done, 3);
        EXPECT_EQ(counts.alive(), 1);  // still owned by the finished scope future
        EXPECT_EQ(fut.value().value(), 2);
    }
    EXPECT_EQ(counts.alive(), 0);
}

/// Records, from its destructor, the task-local value it sees.
struct ReportsOnDrop {
    using Output = int;
    std::shared_ptr<int> seen;
    explicit ReportsOnDrop(std::shared_ptr<int> s) : seen(std::move(s)) {}
    ReportsOnDrop(ReportsOnDrop&&) = default;
    ~ReportsOnDrop() {
        if (seen) *seen = REQUEST_ID.try_get().value_or(-1);
    }
    Poll<int> poll(Context&) { return Pending; }
};

TEST(TaskLocal, TheInnerFutureIsDestroyedInsideTheScope) {
    auto seen = std::make_shared<int>(0);
    {
        auto fut = REQUEST_ID.scope(9, ReportsOnDrop(seen));
        EXPECT_TRUE(poll_once(fut).is_pending());
    }
    EXPECT_EQ(*seen, 9);
    EXPECT_FALSE(REQUEST_ID.is_set());
}

Task<int> throw_with_value() {
    co_await task::yield_now();
    throw std::runtime_error("id " + std::to_string(REQUEST_ID.get()));
}

Task<std::string> catch_from_scope() {
    std::string message;
    try {
        static_cast<void>(co_await REQUEST_ID.scope(4, throw_with_value()));
    } catch (const std::runtime_error& e) {
        message = e.what();
    }
    message += REQUEST_ID.is_set() ? " set" : " unset";
    co_return message;
}

TEST(TaskLocal, AnExceptionFromTheInnerFutureLeavesTheScopeRestored) {
    Runtime rt = Builder::new_current_thread().build();
    auto message = rt.block_on(bounded(catch_from_scope(), kBound));
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(*message, "id 4 unset");
}

TEST(TaskLocal, SyncScopeRunsAFunctionWithTheValueSet) {
    int seen = REQUEST_ID.sync_scope(11, [] { return REQUEST_ID.get(); });
    EXPECT_EQ(seen, 11);
    EXPECT_FALSE(REQUEST_ID.is_set());

    int nested = REQUEST_ID.sync_scope(1, [] {
        int inner = REQUEST_ID.sync_scope(2, [] { return REQUEST_ID.get(); });
        return inner * 10 + REQUEST_ID.get();
    });
    EXPECT_EQ(nested, 21);

    EXPECT_THROW(REQUEST_ID.sync_scope(3, []() -> void { throw std::runtime_error("x"); }), std::runtime_error);
    EXPECT_FALSE(REQUEST_ID.is_set());

    DropCounts counts;
    GUARD.sync_scope(DropCounter(counts, 5), [&counts] { EXPECT_EQ(counts.alive(), 1); });
    EXPECT_EQ(counts.alive(), 0);
}

TEST(TaskLocal, WithAndTryWithPassTheCurrentValue) {
    REQUEST_ID.sync_scope(6, [] {
        EXPECT_EQ(REQUEST_ID.with([](const int& v) { return v + 1; }), 7);
        auto r = REQUEST_ID.try_with([](const int& v) { return v * 2; });
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(*r, 12);
        int seen = 0;
        auto v = REQUEST_ID.try_with([&seen](const int& x) { seen = x; });
        EXPECT_TRUE(v.has_value());
        EXPECT_EQ(seen, 6);
        EXPECT_EQ(REQUEST_ID.try_get(), std::optional<int>(6));
    });
}

TEST(TaskLocal, PollingACompletedScopeFutureThrows) {
    auto fut = REQUEST_ID.scope(1, read_request_id());
    auto first = poll_once(fut);
    ASSERT_TRUE(first.is_ready());
    EXPECT_EQ(*first, 1);
    EXPECT_THROW(static_cast<void>(poll_once(fut)), std::logic_error);
}

}  // namespace
}  // namespace corio
