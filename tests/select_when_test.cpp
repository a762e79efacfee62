// Tests of the select branch adaptors of <corio/select.hpp>: when() (a branch
// switched off by a condition) and on() with select_with / select_biased_with
// (each winner's output handed to its own handler), and corio::overloaded.
//
// Most properties are checked by polling a select by hand (what is polled,
// what wins, when branches and handlers run); the last tests run a server
// loop on both schedulers that races a TCP accept, a JoinSet's join_next
// (disabled while the set is empty) and ctrl_c(), bounded with
// time::timeout. That test raises SIGINT only after ctrl_c() has installed
// corio's handler, so the signal never reaches the default action.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "corio/net/tcp.hpp"
#include "corio/runtime.hpp"
#include "corio/select.hpp"
#include "corio/signal.hpp"
#include "corio/task.hpp"
#include "corio/task/join_set.hpp"
#include "corio/time.hpp"
#include "support/counting_waker.hpp"
#include "support/drop_counter.hpp"
#include "support/fixed_futures.hpp"
#include "support/manual_future.hpp"
#include "support/poll.hpp"
#include "support/runtime_flavors.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using test::AlwaysReady;
using test::DropCounts;
using test::make_counting_waker;
using test::ManualFuture;
using test::ManualState;
using test::NeverReady;
using test::poll_with;
using test::Tracked;
using test::WakeCounts;

constexpr auto kBound = 10s;  // only reached when a wake-up is lost

/// A future that must never be polled: like a finished Task or a drained
/// stream, polling it is a contract violation, so it fails the test.
struct MustNotPoll {
    using Output = int;
    Poll<int> poll(Context&) {
        ADD_FAILURE() << "a disabled branch was polled";
        throw std::logic_error("polled a future that must not be polled");
    }
};

// ---- static properties -------------------------------------------------------------

// A when() branch is not a future (it cannot be awaited on its own); it keeps
// the output of its future, so the select's variant has the same shape.
static_assert(!Future<When<NeverReady<int>>>);
static_assert(std::is_same_v<When<NeverReady<int>>::Output, int>);
static_assert(
    std::is_same_v<output_of<Select<false, When<NeverReady<int>>, When<NeverReady<void>&>, AlwaysReady<char>>>,
                   std::variant<int, std::monostate, char>>);
static_assert(std::is_same_v<decltype(when(true, std::declval<NeverReady<int>&>())), When<NeverReady<int>&>>);
static_assert(std::is_same_v<decltype(when(true, NeverReady<int>{})), When<NeverReady<int>>>);
// Handlers' results meet in their common type; all void makes a void select.
static_assert(std::is_same_v<output_of<decltype(select_with(on(NeverReady<int>{}, [](int v) { return v; }),
                                                            on(NeverReady<void>{}, [] { return 1.5; })))>,
                             double>);
static_assert(
    std::is_void_v<
        output_of<decltype(select_biased_with(on(NeverReady<int>{}, [](int) {}), on(NeverReady<void>{}, [] {})))>>);
// A borrowed branch in a when() is still a pointer (and its switch).
static_assert(sizeof(Select<false, When<NeverReady<int>&>, NeverReady<int>&>) <= 4 * sizeof(void*));

// ---- when ----------------------------------------------------------------------------

TEST(When, ADisabledBranchIsNeverPolledOwnedOrBorrowed) {
    auto owned = std::make_shared<ManualState<int>>();
    auto borrowed_state = std::make_shared<ManualState<int>>();
    ManualFuture<int> borrowed(borrowed_state);
    NeverReady<int> other;
    Waker waker = Waker::noop();
    {
        auto s = select(when(false, ManualFuture<int>(owned)), when(false, borrowed), other);
        for (int i = 0; i < 5; ++i) EXPECT_TRUE(poll_with(s, waker).is_pending());
    }
    EXPECT_EQ(owned->polls, 0);
    EXPECT_EQ(borrowed_state->polls, 0);
    EXPECT_EQ(other.polls, 5);
}

TEST(When, ADisabledBranchNeverWinsEvenWhenItsFutureIsReady) {
    auto state = std::make_shared<ManualState<int>>();
    Waker waker = Waker::noop();
    auto s = select_biased(when(false, AlwaysReady<int>{1}), ManualFuture<int>(state));
    EXPECT_TRUE(poll_with(s, waker).is_pending());
    state->complete(2);
    auto p = poll_with(s, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->index(), 1u);
    EXPECT_EQ(std::get<1>(*p), 2);

    for (int i = 0; i < 1000; ++i) {
        auto fair = select(when(false, AlwaysReady<int>{1}), AlwaysReady<int>{2}, when(false, AlwaysReady<int>{3}));
        auto q = poll_with(fair, waker);
        ASSERT_TRUE(q.is_ready());
        ASSERT_EQ(q->index(), 1u);
    }
}

TEST(When, ADisabledBranchMayHoldAFutureThatMustNotBePolled) {
    MustNotPoll finished;
    Waker waker = Waker::noop();
    auto s = select(when(false, finished), when(false, MustNotPoll{}), AlwaysReady<int>{7});
    auto p = poll_with(s, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->index(), 2u);
}

TEST(When, AnEnabledBranchIsPolledAndWinsLikeAPlainOne) {
    WakeCounts counts;  // outlives the waker clone `state` keeps
    auto state = std::make_shared<ManualState<std::string>>();
    Waker waker = make_counting_waker(counts);
    auto s = select(when(true, ManualFuture<std::string>(state)), NeverReady<int>{});
    EXPECT_TRUE(poll_with(s, waker).is_pending());
    EXPECT_TRUE(state->waker.will_wake(waker));
    state->complete("won");
    EXPECT_EQ(counts.total_wakes(), 1);
    auto p = poll_with(s, waker);
    ASSERT_TRUE(p.is_ready());
    ASSERT_EQ(p->index(), 0u);
    EXPECT_EQ(std::get<0>(*p), "won");
}

TEST(When, ADisabledOwnedFutureIsDestroyedUnpolledWithTheLosers) {
    DropCounts counts;
    Waker waker = Waker::noop();
    auto s = select(when(false, Tracked(NeverReady<int>{}, counts)), AlwaysReady<int>{1});
    EXPECT_EQ(counts.alive(), 1);
    ASSERT_TRUE(poll_with(s, waker).is_ready());
    EXPECT_EQ(counts.alive(), 0);  // before the select itself is destroyed
}

TEST(When, ANamedWhenBorrowsItsFuture) {
    DropCounts counts;
    auto state = std::make_shared<ManualState<int>>();
    auto branch = when(true, Tracked(ManualFuture<int>(state), counts));
    Waker waker = Waker::noop();
    {
        auto s = select(branch, AlwaysReady<int>{1});
        ASSERT_TRUE(poll_with(s, waker).is_ready());
    }
    EXPECT_EQ(counts.alive(), 1);  // still inside `branch`
    state->complete(5);
    auto s = select(branch, NeverReady<int>{});
    auto p = poll_with(s, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(std::get<0>(*p), 5);
}

TEST(When, TogglesOnEveryTurnOfALoop) {
    auto state = std::make_shared<ManualState<int>>();
    ManualFuture<int> borrowed(state);
    Waker waker = Waker::noop();
    for (int turn = 0; turn < 10; ++turn) {
        auto s = select_biased(when(turn % 2 == 0, borrowed), AlwaysReady<int>{turn});
        auto p = poll_with(s, waker);
        ASSERT_TRUE(p.is_ready());
        EXPECT_EQ(p->index(), 1u);
    }
    EXPECT_EQ(state->polls, 5);  // the even turns only
    state->complete(42);
    auto off = select_biased(when(false, borrowed), AlwaysReady<int>{-1});
    auto p = poll_with(off, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(p->index(), 1u);  // ready, but switched off
    auto on_turn = select_biased(when(true, borrowed), AlwaysReady<int>{-1});
    auto q = poll_with(on_turn, waker);
    ASSERT_TRUE(q.is_ready());
    ASSERT_EQ(q->index(), 0u);
    EXPECT_EQ(std::get<0>(*q), 42);
}

TEST(When, AFairSelectSharesItsWinsEvenlyAmongTheEnabledBranches) {
    constexpr int kRounds = 10'000;
    Waker waker = Waker::noop();
    int wins[3] = {0, 0, 0};
    for (int i = 0; i < kRounds; ++i) {
        auto s = select(AlwaysReady<int>{0}, when(false, AlwaysReady<int>{1}), AlwaysReady<int>{2});
        auto p = poll_with(s, waker);
        ASSERT_TRUE(p.is_ready());
        ++wins[p->index()];
    }
    EXPECT_EQ(wins[1], 0);
    // Skipping the disabled branch must not hand its share to the next one.
    EXPECT_GT(wins[0], kRounds * 4 / 10);
    EXPECT_GT(wins[2], kRounds * 4 / 10);
}

/// Expects `fut`'s first poll to throw the every-branch-disabled logic_error.
template <class F>
void expect_every_branch_disabled_error(F fut) {
    Waker waker = Waker::noop();
    try {
        (void)poll_with(fut, waker);
        ADD_FAILURE() << "no exception";
    } catch (const std::logic_error& e) {
        EXPECT_STREQ(e.what(), "corio::select: every branch is disabled");
    }
}

TEST(Select, WithEveryBranchDisabledThrowsLogicErrorInsteadOfWaitingForEver) {
    NeverReady<int> borrowed;
    expect_every_branch_disabled_error(select(when(false, NeverReady<int>{}), when(false, borrowed)));
    expect_every_branch_disabled_error(select_biased(when(false, AlwaysReady<int>{1})));
    expect_every_branch_disabled_error(select_with(on(when(false, AlwaysReady<int>{1}), [](int v) { return v; })));
    EXPECT_EQ(borrowed.polls, 0);

    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    EXPECT_THROW(rt.block_on([]() -> Task<void> {
        auto r = co_await select(when(false, time::sleep(1ms)), when(false, time::sleep(2ms)));
        (void)r;
    }()),
                 std::logic_error);
}

// ---- select_with -------------------------------------------------------------------------

TEST(SelectWith, PassesTheWinnersOutputToItsOwnHandler) {
    auto a = std::make_shared<ManualState<int>>();
    auto b = std::make_shared<ManualState<std::string>>();
    int a_calls = 0;
    Waker waker = Waker::noop();
    auto s = select_with(on(ManualFuture<int>(a),
                            [&](int v) {
                                ++a_calls;
                                return "a:" + std::to_string(v);
                            }),
                         on(ManualFuture<std::string>(b), [](std::string v) { return "b:" + v; }));
    EXPECT_TRUE(poll_with(s, waker).is_pending());
    b->complete("x");
    auto p = poll_with(s, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, "b:x");
    EXPECT_EQ(a_calls, 0);
    EXPECT_THROW((void)poll_with(s, waker), std::logic_error);
}

TEST(SelectWith, ReorderingTheBranchesKeepsEachHandlerWithItsFuture) {
    Waker waker = Waker::noop();
    auto times_ten = [](int v) { return v * 10; };
    auto plus_one = [](int v) { return v + 1; };
    auto forward = select_biased_with(on(AlwaysReady<int>{4}, times_ten), on(NeverReady<int>{}, plus_one));
    auto backward = select_biased_with(on(NeverReady<int>{}, plus_one), on(AlwaysReady<int>{4}, times_ten));
    auto p = poll_with(forward, waker);
    auto q = poll_with(backward, waker);
    ASSERT_TRUE(p.is_ready());
    ASSERT_TRUE(q.is_ready());
    EXPECT_EQ(*p, 40);
    EXPECT_EQ(*q, 40);
}

TEST(SelectWith, ReturnsTheHandlersResultsInTheirCommonType) {
    Waker waker = Waker::noop();
    auto s = select_biased_with(on(NeverReady<int>{}, [](int v) { return v; }),
                                on(AlwaysReady<long>{1L << 40}, [](long v) { return v + 1; }));
    auto p = poll_with(s, waker);
    ASSERT_TRUE(p.is_ready());
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(*p)>, long>);
    EXPECT_EQ(*p, (1L << 40) + 1);
}

TEST(SelectWith, AVoidBranchsHandlerTakesNoArgumentAndVoidHandlersMakeAVoidSelect) {
    std::string ran;
    Waker waker = Waker::noop();
    auto s = select_biased_with(on(NeverReady<void>{}, [&] { ran += "never"; }),
                                on(AlwaysReady<std::monostate>{}, [&](std::monostate) { ran += "monostate"; }));
    Poll<void> p = poll_with(s, waker);
    EXPECT_TRUE(p.is_ready());
    EXPECT_EQ(ran, "monostate");

    Runtime rt = Builder::new_current_thread().start_paused(true).build();
    std::string which = rt.block_on([]() -> Task<std::string> {
        auto r = co_await select_with(on(time::sleep(5ms), [] { return std::string("sleep"); }),
                                      on(NeverReady<int>{}, [](int) { return std::string("never"); }));
        co_return r;
    }());
    EXPECT_EQ(which, "sleep");
}

TEST(SelectWith, ComposesWithWhen) {
    auto state = std::make_shared<ManualState<int>>();
    ManualFuture<int> borrowed(state);
    int disabled_calls = 0;
    Waker waker = Waker::noop();
    for (int turn = 0; turn < 4; ++turn) {
        const bool odd = turn % 2 == 1;
        auto s = select_with(on(when(false, AlwaysReady<int>{-1}),
                                [&](int v) {
                                    ++disabled_calls;
                                    return v;
                                }),
                             on(when(odd, borrowed), [](int v) { return v; }),
                             on(when(!odd, AlwaysReady<int>{turn}), [](int v) { return 100 + v; }));
        auto p = poll_with(s, waker);
        if (odd) {
            EXPECT_TRUE(p.is_pending());
            state->complete(turn);
            p = poll_with(s, waker);
            ASSERT_TRUE(p.is_ready());
            EXPECT_EQ(*p, turn);
            state->value.reset();  // taken: pending again on the next odd turn
        } else {
            ASSERT_TRUE(p.is_ready());
            EXPECT_EQ(*p, 100 + turn);
        }
    }
    EXPECT_EQ(disabled_calls, 0);
    EXPECT_EQ(state->polls, 4);  // twice on each odd turn
}

TEST(SelectWith, RunsTheHandlerAfterTheLosersWereDestroyedAndOnlyInTheWinningPoll) {
    DropCounts counts;
    auto state = std::make_shared<ManualState<int>>();
    int alive_in_handler = -1;
    int calls = 0;
    Waker waker = Waker::noop();
    auto s = select_with(on(Tracked(NeverReady<int>{}, counts), [](int v) { return v; }),
                         on(ManualFuture<int>(state), [&](int v) {
                             ++calls;
                             alive_in_handler = counts.alive();
                             return v;
                         }));
    EXPECT_TRUE(poll_with(s, waker).is_pending());
    EXPECT_TRUE(poll_with(s, waker).is_pending());
    EXPECT_EQ(calls, 0);
    state->complete(3);
    auto p = poll_with(s, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 3);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(alive_in_handler, 0);
}

TEST(SelectWith, AHandlersExceptionPropagatesAndTheSelectIsFinished) {
    Waker waker = Waker::noop();
    auto s = select_with(on(AlwaysReady<int>{1}, [](int) -> int { throw std::runtime_error("handler failed"); }));
    EXPECT_THROW((void)poll_with(s, waker), std::runtime_error);
    EXPECT_THROW((void)poll_with(s, waker), std::logic_error);
}

TEST(SelectWith, AMutableHandlerKeepsItsStateInsideTheSelect) {
    Waker waker = Waker::noop();
    auto s = select_with(on(AlwaysReady<int>{2}, [count = 40](int v) mutable {
        count += v;
        return count;
    }));
    auto p = poll_with(s, waker);
    ASSERT_TRUE(p.is_ready());
    EXPECT_EQ(*p, 42);
}

// ---- overloaded --------------------------------------------------------------------------

TEST(Overloaded, VisitsASelectsVariantByAlternativeType) {
    Waker waker = Waker::noop();
    auto s = select_biased(NeverReady<int>{}, AlwaysReady<std::string>{"text"}, NeverReady<void>{});
    auto p = poll_with(s, waker);
    ASSERT_TRUE(p.is_ready());
    std::string seen = std::visit(
        overloaded{[](int v) { return "int " + std::to_string(v); }, [](const std::string& v) { return "string " + v; },
                   [](std::monostate) { return std::string("void"); }},
        *p);
    EXPECT_EQ(seen, "string text");
}

// ---- a server loop on both schedulers -------------------------------------------------------

/// Reads one byte, echoes it and returns its value (-1 on an error).
Task<int> echo_one_byte(net::TcpStream stream) {
    std::byte b{};
    auto read = co_await stream.read_exact(std::span(&b, 1));
    if (!read) co_return -1;
    auto written = co_await stream.write_all(std::span<const std::byte>(&b, 1));
    if (!written) co_return -1;
    co_return static_cast<int>(b);
}

/// Connects `n` times, sending byte i + 1 on connection i and awaiting its
/// echo; then raises SIGINT. How many echoes came back.
Task<int> clients_then_ctrl_c(net::SocketAddr addr, int n) {
    int echoed = 0;
    for (int i = 0; i < n; ++i) {
        auto stream = co_await net::TcpStream::connect(addr);
        if (!stream) break;
        std::byte b{static_cast<unsigned char>(i + 1)};
        auto written = co_await stream->write_all(std::span<const std::byte>(&b, 1));
        if (!written) break;
        auto read = co_await stream->read_exact(std::span(&b, 1));
        if (!read || b != std::byte{static_cast<unsigned char>(i + 1)}) break;
        ++echoed;
    }
    ::raise(SIGINT);  // ctrl_c() was created before this task was spawned
    co_return echoed;
}

struct ServerReport {
    int accepted = 0;
    int joined_in_loop = 0;
    int joined_after = 0;
    int sum = 0;
    int echoed = 0;
    bool ctrl_c = false;
};

/// Accepts connections into a JoinSet of echo tasks and joins them as they
/// finish until ctrl_c(), then drains the set: one select_with loop whose
/// join_next branch is switched off while the set is empty (an empty set's
/// join_next would be ready at once with nullopt, spinning the loop).
Task<ServerReport> serve_until_ctrl_c(int clients) {
    ServerReport report;
    auto ctrl_c = signal::ctrl_c();  // installs the handler before anyone raises SIGINT
    auto listener = net::TcpListener::bind("127.0.0.1:0");
    if (!listener) throw std::system_error(listener.error());
    auto addr = listener->local_addr();
    if (!addr) throw std::system_error(addr.error());
    JoinHandle<int> client = spawn(clients_then_ctrl_c(*addr, clients));
    task::JoinSet<int> connections;
    auto on_accept = [&](io::Result<std::pair<net::TcpStream, net::SocketAddr>> accepted) {
        if (!accepted) throw std::system_error(accepted.error());
        ++report.accepted;
        connections.spawn(echo_one_byte(std::move(accepted->first)));
        return false;
    };
    auto on_joined = [&](std::optional<task::JoinResult<int>> joined) {
        ++report.joined_in_loop;
        report.sum += joined.value().value();
        return false;
    };
    auto on_ctrl_c = [&](io::Result<void> received) {
        report.ctrl_c = received.has_value();
        return true;
    };
    for (;;) {
        const bool stop = co_await select_with(on(listener->accept(), on_accept),
                                               on(when(!connections.is_empty(), connections.join_next()), on_joined),
                                               on(ctrl_c, on_ctrl_c));
        if (stop) break;
    }
    while (!connections.is_empty()) {
        auto joined = co_await connections.join_next();
        ++report.joined_after;
        report.sum += joined.value().value();
    }
    report.echoed = co_await client;
    co_return report;
}

class SelectWithOnRuntime : public test::RuntimeFlavorTest {};

TEST_P(SelectWithOnRuntime, AServerLoopRacesAcceptJoinNextWhenNotEmptyAndCtrlC) {
    constexpr int kClients = 5;
    Runtime rt = build();
    auto result = rt.block_on(time::timeout(kBound, serve_until_ctrl_c(kClients)));
    ASSERT_TRUE(result.has_value()) << "the server loop did not stop within the bound";
    const ServerReport& report = *result;
    EXPECT_TRUE(report.ctrl_c);
    EXPECT_EQ(report.echoed, kClients);
    EXPECT_EQ(report.accepted, kClients);
    EXPECT_EQ(report.joined_in_loop + report.joined_after, kClients);
    EXPECT_EQ(report.sum, kClients * (kClients + 1) / 2);
}

INSTANTIATE_TEST_SUITE_P(Schedulers, SelectWithOnRuntime, test::all_flavors(), test::flavor_name);

}  // namespace
}  // namespace corio
