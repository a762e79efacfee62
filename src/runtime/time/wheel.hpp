// Hierarchical timer wheel: 6 levels x 64 slots, 1 tick = 1 ms.
//
// A slot of level L spans 64^L ticks. An entry is linked into the slot of the
// lowest level whose slot boundaries separate its deadline from elapsed(); the
// top level is used as a ring for deadlines beyond the wheel's 64^6-tick range.
//
// Invariants:
// - every linked entry with deadline_tick > elapsed() lies in a slot whose
//   start tick is > elapsed() and <= its deadline (a level-0 slot's start is
//   exactly the deadline); so the earliest occupied slot bounds every deadline
//   from below, and the lowest occupied level holds the earliest slot;
// - entries with deadline_tick <= elapsed() are in the due list, which the next
//   advance() fires first.
// No allocation, no locking: the caller serialises every call.
#pragma once

#include <array>
#include <concepts>
#include <corio/detail/timer_entry.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

namespace corio::detail {

/// Hierarchical timer wheel of intrusive `TimerEntry` nodes (see the file comment).
class Wheel {
public:
    /// Number of levels.
    static constexpr unsigned kLevels = 6;
    /// Slots per level (one bit of a level's occupancy bitmap each).
    static constexpr unsigned kSlots = 64;
    /// Ticks the wheel spans: a deadline further than this from elapsed() is
    /// parked in the top level and re-linked when its slot comes up.
    static constexpr std::uint64_t kRange = std::uint64_t{1} << (6 * kLevels);

    Wheel() noexcept = default;
    Wheel(const Wheel&) = delete;
    Wheel& operator=(const Wheel&) = delete;

    /// The tick the wheel has processed up to.
    std::uint64_t elapsed() const noexcept { return elapsed_; }

    /// Whether no entry is linked.
    bool empty() const noexcept { return size_ == 0; }

    /// Number of linked entries.
    std::size_t size() const noexcept { return size_; }

    /// Links `e` to fire at `deadline_tick` (stored in `e->deadline_tick`).
    /// Precondition: !e->linked. A deadline <= elapsed() is accepted and
    /// treated as due: the entry fires at the start of the next advance() (or
    /// later in the current one when called from its fire callback). Deadlines
    /// beyond the wheel's range (kRange ticks ahead) are linked at the largest
    /// one it can hold and re-linked when that slot comes up, so they still
    /// fire at their exact tick. O(1).
    void insert(TimerEntry* e, std::uint64_t deadline_tick) noexcept;

    /// Unlinks `e`; no-op if !e->linked. O(1).
    void remove(TimerEntry* e) noexcept;

    /// The earliest tick at which advance() could fire something, or nullopt
    /// when empty. It may be earlier than the earliest deadline when that entry
    /// sits in a higher level: advance() at that tick then only cascades it
    /// down. It is elapsed() when due entries are waiting.
    std::optional<std::uint64_t> next_expiration() const noexcept;

    /// Fires every entry whose deadline_tick <= now_tick: unlinks it, then
    /// calls fire(TimerEntry*) exactly once for it, in nondecreasing deadline
    /// order (entries with the same tick in any order). fire may insert or
    /// remove any entries; an entry it inserts with deadline <= now_tick fires
    /// in this same call (one inserted with deadline <= elapsed() fires right
    /// after the current tick's entries, out of deadline order if it was in the
    /// past). fire must not call advance() or drain(). If fire throws, the
    /// exception propagates with the wheel consistent: the entry it was given
    /// is unlinked, the rest are still linked. Afterwards
    /// elapsed() == max(elapsed(), now_tick).
    template <std::invocable<TimerEntry*> Fire>
    void advance(std::uint64_t now_tick, Fire&& fire) {
        for (;;) {
            if (TimerEntry* e = pop_due()) {
                std::invoke(fire, e);
                continue;
            }
            if (!expire_next_slot(now_tick)) {
                break;
            }
        }
        if (now_tick > elapsed_) {
            elapsed_ = now_tick;
        }
    }

    /// Unlinks every entry (marking linked=false) and calls f(entry) for each,
    /// in no particular order; used at shutdown. f may remove other entries
    /// but must not insert any.
    template <std::invocable<TimerEntry*> F>
    void drain(F&& f) {
        while (TimerEntry* e = pop_any()) {
            std::invoke(f, e);
        }
    }

private:
    /// The entries of a slot, or the due list.
    using List = IntrusiveList<TimerEntry>;

    struct Level {
        std::uint64_t occupied = 0;  // bit s set <=> slots[s] is non-empty
        std::array<List, kSlots> slots;
    };

    /// A slot and the tick it starts at.
    struct SlotRef {
        unsigned level;
        unsigned slot;
        std::uint64_t start_tick;
    };

    /// `TimerEntry::level` of an entry in the due list.
    static constexpr std::uint8_t kDueLevel = kLevels;

    /// Links `e` (counted in size_ already) according to its deadline.
    void link(TimerEntry* e) noexcept;
    /// Unlinks `e` from its list without touching size_.
    void unlink(TimerEntry* e) noexcept;
    /// The occupied slot that starts first, or nullopt when no slot is occupied.
    std::optional<SlotRef> earliest_slot() const noexcept;
    /// Unlinks and returns the first due entry, or nullptr.
    TimerEntry* pop_due() noexcept;
    /// Unlinks and returns any entry, or nullptr.
    TimerEntry* pop_any() noexcept;
    /// If the earliest occupied slot starts at or before `now_tick`, moves
    /// elapsed_ to its start, moves its expired entries to the due list and
    /// re-links the others in lower levels, and returns true.
    bool expire_next_slot(std::uint64_t now_tick) noexcept;

    std::array<Level, kLevels> levels_{};
    List due_;
    std::uint64_t elapsed_ = 0;
    std::size_t size_ = 0;
};

}  // namespace corio::detail
