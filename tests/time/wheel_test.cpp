// Tests of the hierarchical timer wheel (src/runtime/time/wheel.hpp): every
// entry fires exactly once, at the first advance() that reaches its deadline,
// never earlier, in deadline order.
#include "runtime/time/wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <utility>
#include <vector>

namespace corio::detail {
namespace {

constexpr std::uint64_t kLevel1 = 64;
constexpr std::uint64_t kLevel2 = 64 * kLevel1;
constexpr std::uint64_t kLevel3 = 64 * kLevel2;
constexpr std::uint64_t kLevel4 = 64 * kLevel3;
constexpr std::uint64_t kLevel5 = 64 * kLevel4;
constexpr std::uint64_t kMaxTick = std::numeric_limits<std::uint64_t>::max();

static_assert(Wheel::kRange == 64 * kLevel5);

/// A pool of entries, each known by its index, and a record of what fired.
class Timers {
public:
    explicit Timers(std::size_t count) : entries_(count) {}

    TimerEntry* operator[](std::size_t id) { return &entries_[id]; }
    std::size_t id_of(const TimerEntry* e) const { return static_cast<std::size_t>(e - entries_.data()); }

    /// A fire callback that records the entry and the tick it fired at.
    auto recorder(std::uint64_t now_tick) {
        return [this, now_tick](TimerEntry* e) { record(e, now_tick); };
    }

    void record(TimerEntry* e, std::uint64_t now_tick) {
        EXPECT_FALSE(e->is_linked());
        fired_.push_back(Fired{id_of(e), e->deadline_tick, now_tick});
    }

    struct Fired {
        std::size_t id;
        std::uint64_t deadline;
        std::uint64_t now_tick;
    };
    const std::vector<Fired>& fired() const { return fired_; }
    void clear_fired() { fired_.clear(); }

private:
    std::vector<TimerEntry> entries_;
    std::vector<Fired> fired_;
};

TEST(Wheel, StartsEmptyWithNoExpiration) {
    Wheel wheel;
    EXPECT_TRUE(wheel.empty());
    EXPECT_EQ(wheel.size(), 0u);
    EXPECT_EQ(wheel.elapsed(), 0u);
    EXPECT_EQ(wheel.next_expiration(), std::nullopt);
}

TEST(Wheel, AdvancingAnEmptyWheelMovesElapsedForwardOnly) {
    Wheel wheel;
    int calls = 0;
    wheel.advance(1000, [&](TimerEntry*) { ++calls; });
    EXPECT_EQ(wheel.elapsed(), 1000u);
    wheel.advance(10, [&](TimerEntry*) { ++calls; });
    EXPECT_EQ(wheel.elapsed(), 1000u);
    EXPECT_EQ(calls, 0);
}

TEST(Wheel, FiresEntriesInDeadlineOrderAtExactTickWhenAdvancedTickByTick) {
    const std::vector<std::uint64_t> deadlines = {262145, 1,    2,    63,   64,     65,     127,
                                                  128,    4095, 4096, 4097, 262143, 262144, 64};
    for (const std::uint64_t origin : {std::uint64_t{0}, std::uint64_t{1000003}, kLevel3 - 70}) {
        SCOPED_TRACE(origin);
        Wheel wheel;
        wheel.advance(origin, [](TimerEntry*) { FAIL(); });
        Timers timers(deadlines.size());
        for (std::size_t i = 0; i < deadlines.size(); ++i) {
            wheel.insert(timers[i], origin + deadlines[i]);
        }
        EXPECT_EQ(wheel.size(), deadlines.size());
        const std::uint64_t last = origin + *std::ranges::max_element(deadlines);
        for (std::uint64_t tick = origin + 1; tick <= last + 10; ++tick) {
            wheel.advance(tick, timers.recorder(tick));
        }
        ASSERT_EQ(timers.fired().size(), deadlines.size());
        for (std::size_t i = 0; i < timers.fired().size(); ++i) {
            const auto& fired = timers.fired()[i];
            EXPECT_EQ(fired.now_tick, fired.deadline) << "entry " << fired.id;
            EXPECT_EQ(fired.deadline, origin + deadlines[fired.id]);
            if (i > 0) {
                EXPECT_LE(timers.fired()[i - 1].deadline, fired.deadline);
            }
        }
        EXPECT_TRUE(wheel.empty());
    }
}

TEST(Wheel, LinksEachDeadlineInTheLevelOfItsDistanceAndFiresItNeitherEarlyNorLate) {
    struct Case {
        std::uint64_t deadline;
        unsigned level;
    };
    const std::vector<Case> cases = {
        {1, 0},
        {63, 0},
        {64, 1},
        {65, 1},
        {4095, 1},
        {4096, 2},
        {262143, 2},
        {262144, 3},
        {kLevel4 - 1, 3},
        {kLevel4, 4},
        {kLevel5 - 1, 4},
        {kLevel5 + 7, 5},
        {Wheel::kRange - 1, 5},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.deadline);
        Wheel wheel;
        Timers timers(1);
        wheel.insert(timers[0], c.deadline);
        EXPECT_TRUE(timers[0]->is_linked());
        EXPECT_EQ(timers[0]->level, c.level);
        EXPECT_EQ(timers[0]->deadline_tick, c.deadline);
        wheel.advance(c.deadline - 1, timers.recorder(c.deadline - 1));
        EXPECT_TRUE(timers.fired().empty());
        EXPECT_EQ(wheel.size(), 1u);
        wheel.advance(c.deadline, timers.recorder(c.deadline));
        ASSERT_EQ(timers.fired().size(), 1u);
        EXPECT_EQ(timers.fired()[0].deadline, c.deadline);
        EXPECT_TRUE(wheel.empty());
        EXPECT_EQ(wheel.elapsed(), c.deadline);
    }
}

TEST(Wheel, ParksDeadlinesBeyondItsRangeInTheTopLevelAndStillFiresThemAtTheirTick) {
    for (const std::uint64_t deadline : {Wheel::kRange, Wheel::kRange + 5, 10 * Wheel::kRange + 3}) {
        SCOPED_TRACE(deadline);
        Wheel wheel;
        Timers timers(1);
        wheel.insert(timers[0], deadline);
        EXPECT_EQ(timers[0]->level, Wheel::kLevels - 1);
        EXPECT_EQ(timers[0]->deadline_tick, deadline);
        // Hop from expiration to expiration: the entry cascades but fires only
        // when elapsed reaches its deadline.
        std::size_t hops = 0;
        while (std::optional<std::uint64_t> next = wheel.next_expiration()) {
            ASSERT_GT(*next, wheel.elapsed());
            ASSERT_LE(*next, deadline);
            wheel.advance(*next, timers.recorder(*next));
            ASSERT_LT(++hops, 2000u);
        }
        ASSERT_EQ(timers.fired().size(), 1u);
        EXPECT_EQ(timers.fired()[0].now_tick, deadline);
    }
}

TEST(Wheel, KeepsAnEntryAtTheLargestTickLinkedWithoutFiringIt) {
    Wheel wheel;
    Timers timers(1);
    wheel.insert(timers[0], kMaxTick);
    for (std::uint64_t now = 1; now < 5 * Wheel::kRange; now += Wheel::kRange / 3) {
        wheel.advance(now, timers.recorder(now));
    }
    EXPECT_TRUE(timers.fired().empty());
    EXPECT_TRUE(timers[0]->is_linked());
    ASSERT_TRUE(wheel.next_expiration().has_value());
    EXPECT_GT(*wheel.next_expiration(), wheel.elapsed());
    wheel.remove(timers[0]);
    EXPECT_TRUE(wheel.empty());
}

TEST(Wheel, FiresDeadlinesAtTheEndOfTheTickRange) {
    Wheel wheel;
    Timers timers(3);
    wheel.advance(kMaxTick - 100, [](TimerEntry*) { FAIL(); });
    wheel.insert(timers[0], kMaxTick);
    wheel.insert(timers[1], kMaxTick - 1);
    wheel.insert(timers[2], kMaxTick - 99);
    wheel.advance(kMaxTick - 2, timers.recorder(kMaxTick - 2));
    ASSERT_EQ(timers.fired().size(), 1u);
    wheel.advance(kMaxTick, timers.recorder(kMaxTick));
    ASSERT_EQ(timers.fired().size(), 3u);
    EXPECT_EQ(timers.fired()[1].id, 1u);
    EXPECT_EQ(timers.fired()[2].id, 0u);
    EXPECT_EQ(wheel.elapsed(), kMaxTick);
}

TEST(Wheel, FiresEverythingDueWhenAdvancedFarPastManyDeadlinesInDeadlineOrder) {
    Wheel wheel;
    const std::vector<std::uint64_t> deadlines = {kLevel5 + 7, 3, kLevel2 + 1, 64, 3, kLevel3 * 5, 1};
    Timers timers(deadlines.size());
    for (std::size_t i = 0; i < deadlines.size(); ++i) {
        wheel.insert(timers[i], deadlines[i]);
    }
    wheel.advance(Wheel::kRange, timers.recorder(Wheel::kRange));
    ASSERT_EQ(timers.fired().size(), deadlines.size());
    EXPECT_TRUE(std::ranges::is_sorted(timers.fired(), {}, &Timers::Fired::deadline));
    EXPECT_EQ(wheel.elapsed(), Wheel::kRange);
}

TEST(Wheel, RemovedEntryNeverFires) {
    Wheel wheel;
    Timers timers(3);
    wheel.insert(timers[0], 5);
    wheel.insert(timers[1], 5);
    wheel.insert(timers[2], 6);
    wheel.remove(timers[1]);
    EXPECT_FALSE(timers[1]->is_linked());
    EXPECT_EQ(wheel.size(), 2u);
    wheel.remove(timers[1]);  // no-op once unlinked
    EXPECT_EQ(wheel.size(), 2u);
    wheel.advance(100, timers.recorder(100));
    ASSERT_EQ(timers.fired().size(), 2u);
    EXPECT_EQ(timers.fired()[0].id, 0u);
    EXPECT_EQ(timers.fired()[1].id, 2u);
}

TEST(Wheel, RemovesAnEntryLinkedInAHigherLevelBeforeAndAfterItCascades) {
    Wheel wheel;
    Timers timers(4);
    const std::uint64_t base = kLevel3 + 10;
    for (std::size_t i = 0; i < 4; ++i) {
        wheel.insert(timers[i], base + i);
    }
    EXPECT_EQ(timers[0]->level, 3u);
    wheel.remove(timers[0]);
    wheel.remove(timers[3]);  // the tail of the slot's list
    // Cascade the rest down to level 0 without firing them, then remove one.
    wheel.advance(base - 1, timers.recorder(base - 1));
    EXPECT_TRUE(timers.fired().empty());
    EXPECT_EQ(timers[1]->level, 0u);
    wheel.remove(timers[1]);
    EXPECT_EQ(wheel.next_expiration(), base + 2);
    wheel.advance(base + 100, timers.recorder(base + 100));
    ASSERT_EQ(timers.fired().size(), 1u);
    EXPECT_EQ(timers.fired()[0].id, 2u);
    EXPECT_TRUE(wheel.empty());
    EXPECT_EQ(wheel.next_expiration(), std::nullopt);
}

TEST(Wheel, ReinsertsAnEntryAfterItWasRemoved) {
    Wheel wheel;
    Timers timers(1);
    wheel.insert(timers[0], kLevel2 + 3);
    wheel.remove(timers[0]);
    wheel.insert(timers[0], 7);
    wheel.advance(kLevel2 + 3, timers.recorder(kLevel2 + 3));
    ASSERT_EQ(timers.fired().size(), 1u);
    EXPECT_EQ(timers.fired()[0].deadline, 7u);
}

TEST(Wheel, NextExpirationIsTheDeadlineOfALevelZeroEntry) {
    Wheel wheel;
    Timers timers(2);
    wheel.insert(timers[0], 40);
    wheel.insert(timers[1], 17);
    EXPECT_EQ(wheel.next_expiration(), 17u);
}

TEST(Wheel, AdvancingToNextExpirationRepeatedlyNeverSkipsADeadline) {
    std::mt19937_64 rng(7);
    Wheel wheel;
    constexpr std::size_t kCount = 2000;
    Timers timers(kCount);
    std::multimap<std::uint64_t, std::size_t> pending;
    for (std::size_t i = 0; i < kCount; ++i) {
        const unsigned bits = 1 + static_cast<unsigned>(rng() % 38);  // every level and beyond
        const std::uint64_t deadline = 1 + rng() % (std::uint64_t{1} << bits);
        wheel.insert(timers[i], deadline);
        pending.emplace(deadline, i);
    }
    std::size_t hops = 0;
    while (std::optional<std::uint64_t> next = wheel.next_expiration()) {
        ASSERT_FALSE(pending.empty());
        ASSERT_GT(*next, wheel.elapsed());
        ASSERT_LE(*next, pending.begin()->first) << "would skip a deadline";
        wheel.advance(*next, [&](TimerEntry* e) {
            ASSERT_EQ(e->deadline_tick, *next);
            const auto [first, last] = pending.equal_range(e->deadline_tick);
            const auto it = std::find_if(first, last, [&](const auto& p) { return p.second == timers.id_of(e); });
            ASSERT_NE(it, last);
            pending.erase(it);
        });
        if (!pending.empty()) {
            ASSERT_GT(pending.begin()->first, *next);
        }
        ASSERT_LT(++hops, 100 * kCount);
    }
    EXPECT_TRUE(pending.empty());
    EXPECT_TRUE(wheel.empty());
}

TEST(Wheel, FireCallbackMayInsertEntriesThatFireInTheSameAdvance) {
    Wheel wheel;
    Timers timers(5);
    wheel.insert(timers[0], 10);
    bool inserted = false;
    wheel.advance(100, [&](TimerEntry* e) {
        timers.record(e, 100);
        if (!inserted) {
            inserted = true;
            wheel.insert(timers[1], 10);    // the tick being fired
            wheel.insert(timers[2], 15);    // later, but due
            wheel.insert(timers[3], 100);   // exactly now
            wheel.insert(timers[4], 1000);  // not yet due
        }
    });
    ASSERT_EQ(timers.fired().size(), 4u);
    EXPECT_EQ(timers.fired()[0].id, 0u);
    EXPECT_EQ(timers.fired()[1].id, 1u);
    EXPECT_EQ(timers.fired()[2].id, 2u);
    EXPECT_EQ(timers.fired()[3].id, 3u);
    EXPECT_TRUE(timers[4]->is_linked());
    EXPECT_EQ(wheel.size(), 1u);
    EXPECT_EQ(wheel.elapsed(), 100u);
    // Tick 1000 sits in a level-1 slot, which starts at 960.
    ASSERT_TRUE(wheel.next_expiration().has_value());
    EXPECT_GT(*wheel.next_expiration(), 100u);
    EXPECT_LE(*wheel.next_expiration(), 1000u);
}

TEST(Wheel, FireCallbackMayRemoveEntriesThatHaveNotFiredYet) {
    Wheel wheel;
    Timers timers(4);
    wheel.insert(timers[0], 10);
    wheel.insert(timers[1], 10);
    wheel.insert(timers[2], 20);
    wheel.insert(timers[3], kLevel2 + 1);
    wheel.advance(kLevel2 + 1, [&](TimerEntry* e) {
        timers.record(e, kLevel2 + 1);
        // Whichever of the tick-10 pair fires first cancels the other.
        wheel.remove(timers[0]);
        wheel.remove(timers[1]);
        wheel.remove(timers[2]);
        wheel.remove(timers[3]);
    });
    ASSERT_EQ(timers.fired().size(), 1u);
    EXPECT_EQ(timers.fired()[0].deadline, 10u);
    EXPECT_TRUE(wheel.empty());
}

TEST(Wheel, FiresAnEntryInsertedWithAPastDeadlineAtTheNextAdvance) {
    Wheel wheel;
    Timers timers(2);
    wheel.advance(50, [](TimerEntry*) { FAIL(); });
    wheel.insert(timers[0], 30);
    wheel.insert(timers[1], 51);
    EXPECT_EQ(wheel.next_expiration(), 50u);
    wheel.advance(50, timers.recorder(50));
    ASSERT_EQ(timers.fired().size(), 1u);
    EXPECT_EQ(timers.fired()[0].id, 0u);
    EXPECT_EQ(wheel.next_expiration(), 51u);
}

TEST(Wheel, DrainUnlinksAndHandsOverEveryEntryOnce) {
    Wheel wheel;
    const std::vector<std::uint64_t> deadlines = {1,       63,          64,          4096,
                                                  kLevel3, kLevel4 + 1, kLevel5 + 7, 3 * Wheel::kRange};
    Timers timers(deadlines.size() + 1);
    wheel.advance(1, [](TimerEntry*) { FAIL(); });
    for (std::size_t i = 0; i < deadlines.size(); ++i) {
        wheel.insert(timers[i], 1 + deadlines[i]);
    }
    wheel.insert(timers[deadlines.size()], 1);  // due
    std::vector<int> seen(deadlines.size() + 1, 0);
    wheel.drain([&](TimerEntry* e) {
        EXPECT_FALSE(e->is_linked());
        ++seen[timers.id_of(e)];
    });
    EXPECT_TRUE(std::ranges::all_of(seen, [](int n) { return n == 1; }));
    EXPECT_TRUE(wheel.empty());
    EXPECT_EQ(wheel.next_expiration(), std::nullopt);
    // The wheel stays usable.
    wheel.insert(timers[0], 5);
    wheel.advance(5, timers.recorder(5));
    EXPECT_EQ(timers.fired().size(), 1u);
}

TEST(Wheel, DrainCallbackMayRemoveOtherEntries) {
    Wheel wheel;
    Timers timers(3);
    wheel.insert(timers[0], 5);
    wheel.insert(timers[1], 5);
    wheel.insert(timers[2], kLevel2);
    int calls = 0;
    wheel.drain([&](TimerEntry*) {
        ++calls;
        wheel.remove(timers[1]);
        wheel.remove(timers[2]);
    });
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(wheel.empty());
}

/// Random inserts, removes and advances (some from inside fire) against a
/// multimap of deadlines.
class WheelModel {
public:
    /// `entries` bounds how many timers are linked at once: few leave the
    /// lower levels empty often, so the higher ones are exercised too.
    WheelModel(std::uint64_t seed, std::size_t entries)
        : rng_(seed), entries_(entries), timers_(entries), where_(entries) {}

    void step() {
        const std::uint64_t op = rng_() % 100;
        if (op < 45) {
            insert_random(wheel_.elapsed() + random_distance());
        } else if (op < 65) {
            remove_random();
        } else {
            advance_random();
        }
        check_state();
    }

    void advance_to_end() {
        while (!model_.empty()) {
            advance(model_.rbegin()->first);
        }
        check_state();
    }

    std::size_t fired() const { return fired_; }

private:
    using Model = std::multimap<std::uint64_t, std::size_t>;

    std::uint64_t random_distance() {
        switch (rng_() % 8) {
            case 0:
                return rng_() % 64;  // 0: already due
            case 1:
                return 1 + rng_() % 256;
            case 2:
                return 1 + rng_() % 5000;
            case 3:
                return 1 + rng_() % 300000;
            case 4:
                return 1 + rng_() % (std::uint64_t{1} << 26);
            case 5:
                return 1 + rng_() % (std::uint64_t{1} << 36);
            case 6:
                return 1 + rng_() % (std::uint64_t{1} << 40);  // beyond the range
            default:
                return 1 + rng_() % 16;
        }
    }

    std::optional<std::size_t> random_entry(bool linked) {
        const std::size_t start = rng_() % entries_;
        for (std::size_t i = 0; i < entries_; ++i) {
            const std::size_t id = (start + i) % entries_;
            if (timers_[id]->is_linked() == linked) {
                return id;
            }
        }
        return std::nullopt;
    }

    void insert_random(std::uint64_t deadline) {
        if (const auto id = random_entry(false)) {
            wheel_.insert(timers_[*id], deadline);
            where_[*id] = model_.emplace(deadline, *id);
        }
    }

    void remove_random() {
        if (const auto id = random_entry(true)) {
            wheel_.remove(timers_[*id]);
            model_.erase(where_[*id]);
        }
    }

    void advance_random() {
        const std::uint64_t now = wheel_.elapsed();
        switch (rng_() % 6) {
            case 0:
                advance(now);
                return;
            case 1:
                advance(now + rng_() % 4);
                return;
            case 2:
                advance(now + rng_() % 200);
                return;
            case 3:
                advance(now + rng_() % 20000);
                return;
            case 4:
                advance(now + rng_() % (std::uint64_t{1} << 32));
                return;
            default:
                if (const auto next = wheel_.next_expiration()) {
                    advance(*next);
                }
                return;
        }
    }

    void advance(std::uint64_t now_tick) {
        const std::uint64_t before = wheel_.elapsed();
        std::uint64_t last_deadline = 0;
        wheel_.advance(now_tick, [&](TimerEntry* e) {
            const std::size_t id = timers_.id_of(e);
            ASSERT_FALSE(e->is_linked());
            ASSERT_LE(e->deadline_tick, now_tick) << "fired early";
            ASSERT_GE(e->deadline_tick, last_deadline) << "out of deadline order";
            last_deadline = e->deadline_tick;
            ASSERT_EQ(where_[id]->second, id);
            model_.erase(where_[id]);
            ++fired_;
            on_fire(e->deadline_tick, now_tick);
        });
        // Every entry due by now_tick has fired, and none before its time.
        if (!model_.empty()) {
            ASSERT_GT(model_.begin()->first, now_tick) << "missed a deadline";
        }
        ASSERT_EQ(wheel_.elapsed(), std::max(before, now_tick));
    }

    /// Sometimes inserts entries (due now or later) or removes others.
    void on_fire(std::uint64_t fired_deadline, std::uint64_t now_tick) {
        switch (rng_() % 8) {
            case 0:
                insert_random(fired_deadline);
                return;  // the tick being fired
            case 1:
                insert_random(fired_deadline + 1 + rng_() % (now_tick - fired_deadline + 10));
                return;
            case 2:
                insert_random(now_tick + 1 + rng_() % 100000);
                return;
            case 3:
                remove_random();
                return;
            default:
                return;
        }
    }

    void check_state() {
        ASSERT_EQ(wheel_.size(), model_.size());
        ASSERT_EQ(wheel_.empty(), model_.empty());
        const std::optional<std::uint64_t> next = wheel_.next_expiration();
        ASSERT_EQ(next.has_value(), !model_.empty());
        if (next) {
            ASSERT_LE(*next, model_.begin()->first) << "next_expiration is past a deadline";
            ASSERT_GE(*next, wheel_.elapsed());
        }
    }

    std::mt19937_64 rng_;
    std::size_t entries_;
    Wheel wheel_;
    Timers timers_;
    Model model_;
    std::vector<Model::iterator> where_;
    std::size_t fired_ = 0;
};

TEST(Wheel, MatchesAMultimapModelOverRandomInsertsRemovesAndAdvances) {
    for (const auto& [seed, entries] : {std::pair{1u, 512u}, std::pair{2u, 16u}, std::pair{3u, 4u}}) {
        SCOPED_TRACE(seed);
        WheelModel model(seed, entries);
        for (int i = 0; i < 100000; ++i) {
            model.step();
            ASSERT_FALSE(testing::Test::HasFatalFailure()) << "at step " << i;
        }
        model.advance_to_end();
        EXPECT_GT(model.fired(), 5000u);
    }
}

}  // namespace
}  // namespace corio::detail
