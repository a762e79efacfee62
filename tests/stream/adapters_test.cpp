// stream:: sources (iter, once, empty, repeat, pending), the adapters
// without timers and the consumers: what each yields, where it ends, what it
// borrows or owns, merge's fairness, and no allocation per item.
#include "corio/stream/adapters.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "corio/stream.hpp"
#include "corio/task.hpp"
#include "support/allocation_counter.hpp"
#include "support/co_assert.hpp"
#include "support/counting_waker.hpp"
#include "support/drop_counter.hpp"
#include "support/manual_future.hpp"
#include "support/run_bounded.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using test::ManualFuture;
using test::ManualState;

constexpr test::RunBounded run_bounded{10s};

/// Polls `s` once with a no-op waker.
template <class S>
Poll<std::optional<stream::item_t<S>>> poll_next_once(S& s) {
    Waker waker = Waker::noop();
    Context cx(waker);
    return s.poll_next(cx);
}

/// Drains a stream that never returns Pending, by hand.
template <class S>
std::vector<stream::item_t<S>> drain(S&& s) {
    std::vector<stream::item_t<S>> out;
    for (;;) {
        auto p = poll_next_once(s);
        if (p.is_pending()) throw std::logic_error("drain: the stream returned Pending");
        if (!p->has_value()) return out;
        out.push_back(std::move(**p));
    }
}

/// A stream of items pushed by the test; pending (waker stored) while empty.
struct Script {
    std::vector<int> items;
    bool closed = false;
    Waker waker;
    void push(int v) {
        items.push_back(v);
        waker.wake_by_ref();
    }
};

class ScriptStream {
public:
    using Item = int;
    explicit ScriptStream(Script& script) : script_(&script) {}
    Poll<std::optional<int>> poll_next(Context& cx) {
        if (next_ < script_->items.size()) return Ready(std::optional<int>(script_->items[next_++]));
        if (script_->closed) return Ready(std::optional<int>());
        script_->waker.clone_from(cx.waker());
        return Pending;
    }

private:
    Script* script_;
    std::size_t next_ = 0;
};

static_assert(Stream<stream::Iter<std::vector<int>>>);
static_assert(Stream<stream::Map<stream::Iter<std::vector<int>>, int (*)(int)>>);

using Ints = std::vector<int>;

// ---- sources ------------------------------------------------------------------

TEST(StreamSources, IterYieldsTheElementsOfAnOwnedRange) {
    EXPECT_EQ(drain(stream::iter(Ints{1, 2, 3})), (Ints{1, 2, 3}));
}

TEST(StreamSources, IterCopiesFromABorrowedRangeAndLeavesItIntact) {
    std::vector<std::string> words{"a", "b"};
    EXPECT_EQ(drain(stream::iter(words)), words);
    EXPECT_EQ(words, (std::vector<std::string>{"a", "b"}));
}

TEST(StreamSources, IterMovesElementsOutOfAnOwnedRange) {
    std::vector<std::unique_ptr<int>> v;
    v.push_back(std::make_unique<int>(7));
    auto s = stream::iter(std::move(v));
    auto p = poll_next_once(s);
    ASSERT_TRUE(p.is_ready() && p->has_value());
    EXPECT_EQ(***p, 7);
}

TEST(StreamSources, OnceYieldsOneItemThenEnds) { EXPECT_EQ(drain(stream::once(5)), (Ints{5})); }

TEST(StreamSources, EmptyEndsAtOnceAndStaysEnded) {
    auto s = stream::empty<int>();
    EXPECT_FALSE(poll_next_once(s)->has_value());
    EXPECT_FALSE(poll_next_once(s)->has_value());
}

TEST(StreamSources, RepeatYieldsCopiesForever) {
    EXPECT_EQ(drain(stream::repeat(std::string("x")) | stream::take(3)), (std::vector<std::string>{"x", "x", "x"}));
}

TEST(StreamSources, PendingNeverYieldsAndNeverWakes) {
    test::WakeCounts counts;
    Waker waker = test::make_counting_waker(counts);
    Context cx(waker);
    auto s = stream::pending<int>();
    EXPECT_TRUE(s.poll_next(cx).is_pending());
    EXPECT_EQ(counts.total_wakes(), 0);
    EXPECT_EQ(counts.clones.load(), 0);
}

// ---- adapters -----------------------------------------------------------------

TEST(StreamAdapters, MapTransformsEachItem) {
    auto s = stream::iter(Ints{1, 2, 3}) | stream::map([](int v) { return std::to_string(v * 10); });
    EXPECT_EQ(drain(std::move(s)), (std::vector<std::string>{"10", "20", "30"}));
}

TEST(StreamAdapters, AdaptersComposeWithThePipe) {
    auto s = stream::iter(Ints{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) | stream::filter([](int v) { return v % 2 == 0; }) |
             stream::map([](int v) { return v * v; }) | stream::skip(1) | stream::take(3);
    EXPECT_EQ(drain(std::move(s)), (Ints{16, 36, 64}));
}

TEST(StreamAdapters, AnLvalueStreamIsBorrowedAndGoesOnAfterTheAdapter) {
    auto source = stream::iter(Ints{1, 2, 3, 4});
    EXPECT_EQ(drain(source | stream::take(2)), (Ints{1, 2}));
    EXPECT_EQ(drain(source), (Ints{3, 4}));
}

Task<int> doubled_later(int v, std::shared_ptr<ManualState<int>> gate) {
    int extra = co_await ManualFuture<int>(std::move(gate));
    co_return v * 2 + extra;
}

TEST(StreamAdapters, ThenAwaitsTheFutureOfEachItemInOrder) {
    auto gate = std::make_shared<ManualState<int>>();
    auto s = stream::iter(Ints{1, 2}) | stream::then([gate](int v) { return doubled_later(v, gate); });
    EXPECT_TRUE(poll_next_once(s).is_pending());
    EXPECT_TRUE(poll_next_once(s).is_pending());  // the same item's future, not the next item's
    gate->complete(100);
    EXPECT_EQ(*poll_next_once(s).value(), 102);
    gate->value.reset();
    EXPECT_TRUE(poll_next_once(s).is_pending());
    gate->complete(0);
    EXPECT_EQ(*poll_next_once(s).value(), 4);
    EXPECT_FALSE(poll_next_once(s)->has_value());
}

TEST(StreamAdapters, DroppingThenMidItemCancelsTheItemsFuture) {
    auto gate = std::make_shared<ManualState<int>>();
    {
        auto s = stream::iter(Ints{1}) | stream::then([gate](int v) { return doubled_later(v, gate); });
        EXPECT_TRUE(poll_next_once(s).is_pending());
        EXPECT_EQ(gate.use_count(), 3);  // the lambda's copy and the pending ManualFuture
    }
    EXPECT_EQ(gate.use_count(), 1);
}

TEST(StreamAdapters, FilterMapKeepsTheEngagedResults) {
    auto s = stream::iter(std::vector<std::string>{"1", "x", "3"}) |
             stream::filter_map([](const std::string& w) -> std::optional<int> {
                 if (w == "x") return std::nullopt;
                 return std::stoi(w);
             });
    EXPECT_EQ(drain(std::move(s)), (Ints{1, 3}));
}

TEST(StreamAdapters, TakeDoesNotPollTheUpstreamAfterTheLastItem) {
    Script script;
    script.items = {1, 2};
    auto s = ScriptStream(script) | stream::take(2);
    EXPECT_EQ(drain(std::move(s)), (Ints{1, 2}));  // would be Pending if polled a third time
}

TEST(StreamAdapters, TakeZeroEndsAtOnce) { EXPECT_TRUE(drain(stream::repeat(1) | stream::take(0)).empty()); }

TEST(StreamAdapters, TakeWhileEndsAtTheFirstFailingItemAndStaysEnded) {
    auto s = stream::iter(Ints{1, 2, 5, 1}) | stream::take_while([](int v) { return v < 3; });
    EXPECT_EQ(drain(s), (Ints{1, 2}));
    EXPECT_FALSE(poll_next_once(s)->has_value());
}

TEST(StreamAdapters, SkipWhileDropsTheLeadingItemsOnly) {
    auto s = stream::iter(Ints{1, 2, 5, 1}) | stream::skip_while([](int v) { return v < 3; });
    EXPECT_EQ(drain(std::move(s)), (Ints{5, 1}));
}

TEST(StreamAdapters, SkipMoreThanThereAreYieldsNothing) {
    EXPECT_TRUE(drain(stream::iter(Ints{1, 2}) | stream::skip(5)).empty());
}

TEST(StreamAdapters, ChainYieldsTheSecondAfterTheFirstEnds) {
    auto s = stream::iter(Ints{1, 2}) | stream::chain(stream::once(3));
    EXPECT_EQ(drain(std::move(s)), (Ints{1, 2, 3}));
}

TEST(StreamAdapters, ChainDoesNotPollTheSecondBeforeTheFirstEnds) {
    Script first;
    first.items = {1};
    Script second;
    second.items = {9};
    auto s = ScriptStream(first) | stream::chain(ScriptStream(second));
    EXPECT_EQ(*poll_next_once(s).value(), 1);
    EXPECT_TRUE(poll_next_once(s).is_pending());  // first has not ended
    first.closed = true;
    EXPECT_EQ(*poll_next_once(s).value(), 9);
}

TEST(StreamAdapters, ZipPairsItemsAndEndsWithTheShorter) {
    auto s = stream::iter(Ints{1, 2, 3}) | stream::zip(stream::iter(std::vector<std::string>{"a", "b"}));
    auto out = drain(std::move(s));
    ASSERT_EQ(out.size(), 2U);
    EXPECT_EQ(out[0], std::pair(1, std::string("a")));
    EXPECT_EQ(out[1], std::pair(2, std::string("b")));
}

TEST(StreamAdapters, ZipKeepsAnItemThatWaitsForItsPartner) {
    Script right;
    auto s = stream::iter(Ints{1, 2}) | stream::zip(ScriptStream(right));
    EXPECT_TRUE(poll_next_once(s).is_pending());
    EXPECT_TRUE(poll_next_once(s).is_pending());
    right.push(10);
    auto p = poll_next_once(s);
    ASSERT_TRUE(p.is_ready() && p->has_value());
    EXPECT_EQ(**p, std::pair(1, 10));
}

TEST(StreamAdapters, EnumerateCountsFromZero) {
    auto out = drain(stream::iter(std::vector<char>{'a', 'b'}) | stream::enumerate());
    EXPECT_EQ(out, (std::vector<std::pair<std::size_t, char>>{{0, 'a'}, {1, 'b'}}));
}

TEST(StreamAdapters, ChunksGroupsItemsAndEmitsTheShortLastChunk) {
    auto out = drain(stream::iter(Ints{1, 2, 3, 4, 5}) | stream::chunks(2));
    EXPECT_EQ(out, (std::vector<Ints>{{1, 2}, {3, 4}, {5}}));
}

TEST(StreamAdapters, ChunksWaitsForAFullChunkWhileTheUpstreamIsPending) {
    Script script;
    auto s = ScriptStream(script) | stream::chunks(2);
    script.push(1);
    EXPECT_TRUE(poll_next_once(s).is_pending());
    script.push(2);
    EXPECT_EQ(*poll_next_once(s).value(), (Ints{1, 2}));
}

TEST(StreamAdapters, ChunksOfZeroThrows) {
    EXPECT_THROW((void)(stream::iter(Ints{1}) | stream::chunks(0)), std::invalid_argument);
}

TEST(StreamAdapters, FuseKeepsReturningTheEndWithoutPollingTheUpstream) {
    Script script;
    script.closed = true;
    auto s = ScriptStream(script) | stream::fuse();
    EXPECT_FALSE(poll_next_once(s)->has_value());
    EXPECT_TRUE(s.is_terminated());
    script.closed = false;
    script.items = {1};  // a stream that would "come back" after its end
    EXPECT_FALSE(poll_next_once(s)->has_value());
}

// ---- merge ----------------------------------------------------------------------

TEST(StreamMerge, AlternatesBetweenStreamsThatAreAlwaysReady) {
    auto s = stream::merge(stream::repeat(1), stream::repeat(2), stream::repeat(3)) | stream::take(6);
    EXPECT_EQ(drain(std::move(s)), (Ints{1, 2, 3, 1, 2, 3}));
}

TEST(StreamMerge, AStreamThatNeverYieldsDoesNotStarveTheOthers) {
    auto s = stream::pending<int>() | stream::merge(stream::iter(Ints{1, 2, 3}));
    EXPECT_EQ(*poll_next_once(s).value(), 1);
    EXPECT_EQ(*poll_next_once(s).value(), 2);
    EXPECT_EQ(*poll_next_once(s).value(), 3);
    EXPECT_TRUE(poll_next_once(s).is_pending());  // the pending one has not ended
}

TEST(StreamMerge, EndsOnceEveryStreamHasEnded) {
    auto out = drain(stream::merge(stream::iter(Ints{1, 2, 3}), stream::once(10)));
    EXPECT_EQ(out, (Ints{1, 10, 2, 3}));
}

TEST(StreamMerge, WakesForWhicheverStreamMakesProgress) {
    test::WakeCounts counts;  // first: it outlives the clones of the waker in a and b
    Script a;
    Script b;
    Waker waker = test::make_counting_waker(counts);
    Context cx(waker);
    auto s = stream::merge(ScriptStream(a), ScriptStream(b));
    EXPECT_TRUE(s.poll_next(cx).is_pending());
    b.push(4);
    EXPECT_EQ(counts.total_wakes(), 1);
    EXPECT_EQ(*s.poll_next(cx).value(), 4);
}

// ---- consumers ------------------------------------------------------------------

Task<void> consumers() {
    // Named first: GCC 12 rejects a braced temporary inside a co_await operand.
    Ints unordered{3, 1, 2};
    Ints small{1, 2, 3};
    Ints repeated{3, 1, 3};
    auto all = co_await stream::collect<Ints>(stream::iter(unordered));
    EXPECT_EQ(all, (Ints{3, 1, 2}));
    auto set = co_await stream::collect<std::set<int>>(stream::iter(repeated));
    EXPECT_EQ(set, (std::set<int>{1, 3}));
    auto sum = co_await stream::fold(stream::iter(small), 0, [](int acc, int v) { return acc + v; });
    EXPECT_EQ(sum, 6);
    auto n = co_await stream::count(stream::repeat(0) | stream::take(42));
    EXPECT_EQ(n, 42U);
    int seen = 0;
    co_await stream::for_each(stream::iter(small), [&seen](int v) { seen += v; });
    EXPECT_EQ(seen, 6);
}

TEST(StreamConsumers, CollectFoldCountAndForEachDrainTheStream) { run_bounded(consumers()); }

Task<void> add_later(int v, int* total) {
    co_await task::yield_now();
    *total += v;
}

Task<void> async_for_each() {
    int total = 0;
    Ints small{1, 2, 3};
    co_await stream::for_each(stream::iter(small), [&total](int v) { return add_later(v, &total); });
    EXPECT_EQ(total, 6);
}

TEST(StreamConsumers, ForEachAwaitsAFutureReturnedForEachItem) { run_bounded(async_for_each()); }

Task<void> consume_pushed(Script& script) {
    auto n = co_await stream::count(ScriptStream(script));
    EXPECT_EQ(n, 3U);
}

Task<void> producer_and_consumer() {
    test::WakeCounts counts;  // first: it outlives the clone of the waker in script
    Script script;
    auto consumer = consume_pushed(script);
    // Drive the consumer by hand while "producing" from this task.
    Waker waker = test::make_counting_waker(counts);
    Context cx(waker);
    CO_ASSERT_TRUE(consumer.poll(cx).is_pending());
    script.push(1);
    script.push(2);
    CO_ASSERT_TRUE(consumer.poll(cx).is_pending());
    script.push(3);
    script.closed = true;
    script.waker.wake_by_ref();
    EXPECT_TRUE(consumer.poll(cx).is_ready());
    co_return;
}

TEST(StreamConsumers, CountWaitsForThePendingStreamToEnd) { run_bounded(producer_and_consumer()); }

Task<void> collect_borrowed() {
    auto source = stream::iter(Ints{1, 2, 3, 4});
    auto firsts = co_await stream::collect<Ints>(source | stream::take(1));
    auto rest = co_await stream::collect<Ints>(source);
    EXPECT_EQ(firsts, (Ints{1}));
    EXPECT_EQ(rest, (Ints{2, 3, 4}));
}

TEST(StreamConsumers, ABorrowedStreamCanBeConsumedInParts) { run_bounded(collect_borrowed()); }

// ---- allocation -----------------------------------------------------------------

TEST(StreamAdapters, AllocateNothingPerItem) {
    if (!test::counting_is_active()) GTEST_SKIP() << "operator new is replaced elsewhere in this binary";
    Ints source(1000);
    for (int i = 0; i < 1000; ++i) source[static_cast<std::size_t>(i)] = i;
    auto s = stream::iter(source) | stream::map([](int v) { return v + 1; }) |
             stream::filter([](int v) { return v % 3 != 0; }) |
             stream::filter_map([](int v) -> std::optional<int> { return v; }) | stream::skip(1) |
             stream::skip_while([](int v) { return v < 5; }) | stream::take_while([](int v) { return v < 900; }) |
             stream::enumerate() | stream::zip(stream::repeat(1)) | stream::map([](auto p) { return p.first.second; }) |
             stream::chain(stream::iter(source)) | stream::merge(stream::once(5)) | stream::fuse() | stream::take(2000);
    (void)poll_next_once(s);
    test::AllocationScope scope;
    std::size_t n = 1;
    for (;;) {
        auto p = poll_next_once(s);
        ASSERT_TRUE(p.is_ready());
        if (!p->has_value()) break;
        ++n;
    }
    EXPECT_GT(n, 1000U);
    EXPECT_EQ(scope.count(), 0);
}

}  // namespace
}  // namespace corio
