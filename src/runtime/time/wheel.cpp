// Hierarchical timer wheel: slot placement, cascading and the due list.
//
// Invariant kept here (see wheel.hpp): every linked entry not in the due list
// lies in a slot whose start tick is in (elapsed_, deadline_tick], so moving
// elapsed_ to the earliest occupied slot's start never passes a deadline.
#include "runtime/time/wheel.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <limits>

namespace corio::detail {

namespace {

constexpr unsigned kBitsPerLevel = 6;
constexpr std::uint64_t kSlotMask = Wheel::kSlots - 1;
constexpr unsigned kTopLevel = Wheel::kLevels - 1;
constexpr unsigned kTopShift = kBitsPerLevel * kTopLevel;

/// Shift that turns a tick into a slot index of `level` (before masking).
constexpr unsigned shift_of(unsigned level) noexcept { return kBitsPerLevel * level; }

/// The largest tick the wheel can link while it has processed up to `elapsed`:
/// the end of the 63rd top-level slot after the current one. Stopping one slot
/// short of a full turn keeps the current top-level slot free, which is what
/// lets the top level work as a ring.
constexpr std::uint64_t horizon(std::uint64_t elapsed) noexcept {
    const std::uint64_t slot_start = elapsed >> kTopShift << kTopShift;
    const std::uint64_t span = Wheel::kRange - 1;
    if (slot_start > std::numeric_limits<std::uint64_t>::max() - span) {
        return std::numeric_limits<std::uint64_t>::max();
    }
    return slot_start + span;
}

/// Level for `tick` (> elapsed): that of the highest bit in which they differ,
/// the low 6 bits always counting so level 0 covers the current 64 ticks.
/// Ticks differing above the wheel's range go to the top level (ring).
constexpr unsigned level_for(std::uint64_t elapsed, std::uint64_t tick) noexcept {
    const std::uint64_t masked = (elapsed ^ tick) | kSlotMask;
    const auto significant = static_cast<unsigned>(std::bit_width(masked) - 1);
    return std::min(significant / kBitsPerLevel, kTopLevel);
}

constexpr unsigned slot_for(std::uint64_t tick, unsigned level) noexcept {
    return static_cast<unsigned>((tick >> shift_of(level)) & kSlotMask);
}

}  // namespace

void Wheel::insert(TimerEntry* e, std::uint64_t deadline_tick) noexcept {
    assert(!e->is_linked());
    e->deadline_tick = deadline_tick;
    ++size_;
    link(e);
}

void Wheel::remove(TimerEntry* e) noexcept {
    if (!e->is_linked()) {
        return;
    }
    unlink(e);
    --size_;
}

std::optional<std::uint64_t> Wheel::next_expiration() const noexcept {
    if (!due_.empty()) {
        return elapsed_;
    }
    const std::optional<SlotRef> slot = earliest_slot();
    if (!slot) {
        return std::nullopt;
    }
    return slot->start_tick;
}

std::optional<Wheel::SlotRef> Wheel::earliest_slot() const noexcept {
    // The lowest occupied level holds the earliest slot: a level-L entry lies
    // within elapsed_'s current level-(L+1) slot, and every level-(L+1) slot
    // in use starts after that one ends.
    for (unsigned level = 0; level < kLevels; ++level) {
        const std::uint64_t occupied = levels_[level].occupied;
        if (occupied == 0) {
            continue;
        }
        const unsigned shift = shift_of(level);
        const std::uint64_t position = elapsed_ >> shift;
        const auto current = static_cast<int>(position & kSlotMask);
        // Distance from the current slot to the first occupied one, wrapping:
        // only the top level ever wraps (it is the ring for far deadlines).
        const auto distance = static_cast<std::uint64_t>(std::countr_zero(std::rotr(occupied, current)));
        const std::uint64_t start_tick = (position + distance) << shift;
        return SlotRef{level, slot_for(start_tick, level), start_tick};
    }
    return std::nullopt;
}

void Wheel::link(TimerEntry* e) noexcept {
    List* list = &due_;
    if (e->deadline_tick <= elapsed_) {
        e->level = kDueLevel;
        e->slot = 0;
    } else {
        // A far deadline is parked at the horizon; when that slot comes up,
        // expire_next_slot re-links it closer, never firing it early.
        const std::uint64_t tick = std::min(e->deadline_tick, horizon(elapsed_));
        const unsigned level = level_for(elapsed_, tick);
        const unsigned slot = slot_for(tick, level);
        e->level = static_cast<std::uint8_t>(level);
        e->slot = static_cast<std::uint8_t>(slot);
        levels_[level].occupied |= std::uint64_t{1} << slot;
        list = &levels_[level].slots[slot];
    }
    // Append, so the due list fires in insertion order.
    list->push_back(*e);
}

void Wheel::unlink(TimerEntry* e) noexcept {
    assert(e->is_linked());
    const bool due = e->level == kDueLevel;
    List& list = due ? due_ : levels_[e->level].slots[e->slot];
    List::remove(*e);
    if (!due && list.empty()) {
        levels_[e->level].occupied &= ~(std::uint64_t{1} << e->slot);
    }
}

TimerEntry* Wheel::pop_due() noexcept {
    TimerEntry* e = due_.front();
    if (e != nullptr) {
        unlink(e);
        --size_;
    }
    return e;
}

TimerEntry* Wheel::pop_any() noexcept {
    TimerEntry* e = due_.front();
    for (unsigned level = 0; e == nullptr && level < kLevels; ++level) {
        const std::uint64_t occupied = levels_[level].occupied;
        if (occupied != 0) {
            e = levels_[level].slots[static_cast<unsigned>(std::countr_zero(occupied))].front();
        }
    }
    if (e != nullptr) {
        unlink(e);
        --size_;
    }
    return e;
}

bool Wheel::expire_next_slot(std::uint64_t now_tick) noexcept {
    assert(due_.empty());
    const std::optional<SlotRef> next = earliest_slot();
    if (!next || next->start_tick > now_tick) {
        return false;
    }
    elapsed_ = next->start_tick;
    List& list = levels_[next->level].slots[next->slot];
    assert(!list.empty());  // the occupancy bit is cleared with the last unlink
    // Each entry either becomes due (deadline == elapsed_, as no deadline in
    // the slot is earlier than its start) or is re-linked relative to the new
    // elapsed_, which puts it in a lower level, or (if it was parked at the
    // horizon) in another top-level slot: never back into this slot, so the
    // loop ends. Firing only from the due list keeps deadline order.
    while (TimerEntry* e = list.front()) {
        unlink(e);
        link(e);
        assert(e->level != next->level || e->slot != next->slot);
    }
    return true;
}

}  // namespace corio::detail
