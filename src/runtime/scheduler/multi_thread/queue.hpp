// A worker's run queue: a fixed ring of 256 entries, pushed and popped by
// its owner, stolen from (half at a time) by other workers.
//
// Invariants (single producer, multiple stealers):
// - `tail_` is written only by the owner. `head_` packs two 32-bit indices:
//   `real` (the next entry to pop) and `steal` (the first entry a stealer is
//   still copying out). When no steal is in progress they are equal.
// - Slots in [steal, tail) are owned by the queue; the owner writes a slot
//   only when tail - steal < capacity, so a stealer's copy is never
//   overwritten. One stealer at a time: a steal starts only when steal == real.
// - Indices wrap at 2^32; differences are taken modulo 2^32.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "corio/detail/sync.hpp"
#include "corio/detail/task_ref.hpp"

namespace corio::detail::mt {

class RunQueue {
public:
    static constexpr std::uint32_t kCapacity = 256;
    static constexpr std::uint32_t kMask = kCapacity - 1;

    /// Owner: pushes `e`. When the ring is full, moves half of it plus `e`
    /// into `overflow` (for the inject queue) instead.
    void push_back_or_overflow(Notified e, std::vector<Notified>& overflow) {
        for (;;) {
            // acquire: pairs with finish_steal's release, so the slots a
            // stealer copied out are done being read before we reuse them.
            std::uint64_t head = head_.load(std::memory_order_acquire);
            std::uint32_t steal = steal_part(head);
            std::uint32_t real = real_part(head);
            std::uint32_t tail = tail_.load(std::memory_order_relaxed);  // relaxed: only we write it
            if (tail - steal < kCapacity) {
                // relaxed: published by the release store of tail_ below.
                slots_[tail & kMask].store(std::move(e).into_bits(), std::memory_order_relaxed);
                // release: a stealer that acquires tail sees the slot.
                tail_.store(tail + 1, std::memory_order_release);
                return;
            }
            if (steal != real) {
                // A stealer is draining us; it will free room. Overflow just this entry.
                overflow.push_back(std::move(e));
                return;
            }
            if (move_half_to(overflow, real, tail)) {
                overflow.push_back(std::move(e));
                return;
            }
            // Lost a race with a stealer: retry.
        }
    }

    /// Owner: pops the oldest entry.
    Notified pop() {
        // acquire: pairs with the stealers' release CAS on head_.
        std::uint64_t head = head_.load(std::memory_order_acquire);
        for (;;) {
            std::uint32_t steal = steal_part(head);
            std::uint32_t real = real_part(head);
            std::uint32_t tail = tail_.load(std::memory_order_relaxed);  // relaxed: only we write it
            if (real == tail) return Notified();
            std::uint32_t next_real = real + 1;
            std::uint64_t next = steal == real ? pack(next_real, next_real) : pack(steal, next_real);
            // acq_rel: claim the slot against stealers; acquire on failure
            // reloads the head a stealer released.
            if (head_.compare_exchange_weak(head, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
                // relaxed: we wrote this slot ourselves.
                return Notified::from_bits(slots_[real & kMask].load(std::memory_order_relaxed));
            }
        }
    }

    /// Stealer: moves about half of this queue into `dst` (which must be
    /// owned by the caller), returning one stolen entry to run now.
    Notified steal_into(RunQueue& dst) {
        std::uint32_t dst_tail = dst.tail_.load(std::memory_order_relaxed);  // relaxed: dst is ours
        // acquire: dst's own stealers are done with the slots we may fill.
        std::uint32_t dst_steal = steal_part(dst.head_.load(std::memory_order_acquire));
        if (dst_tail - dst_steal > kCapacity / 2) return Notified();  // no room to take half

        std::uint32_t n = claim_half();
        if (n == 0) return Notified();
        std::uint64_t head = head_.load(std::memory_order_acquire);  // acquire: as in claim_half
        std::uint32_t first = steal_part(head);
        for (std::uint32_t i = 0; i < n; ++i) {
            // relaxed: claim_half acquired tail_, which the owner released
            // after writing these slots; the copies are published by the
            // release store of dst.tail_ below.
            std::uintptr_t bits = slots_[(first + i) & kMask].load(std::memory_order_relaxed);
            dst.slots_[(dst_tail + i) & kMask].store(bits, std::memory_order_relaxed);
        }
        finish_steal(first + n);
        // Keep the last one to run; publish the rest in dst.
        // relaxed: we just wrote that slot.
        Notified last = Notified::from_bits(dst.slots_[(dst_tail + n - 1) & kMask].load(std::memory_order_relaxed));
        // release: a stealer of dst that acquires its tail sees the copies.
        if (n > 1) dst.tail_.store(dst_tail + n - 1, std::memory_order_release);
        return last;
    }

    /// Entries queued (approximate when read by another thread).
    std::uint32_t len() const noexcept {
        // acquire (both): a reader that sees entries also sees their slots;
        // the count itself is only an estimate off the owner's thread.
        std::uint64_t head = head_.load(std::memory_order_acquire);
        return tail_.load(std::memory_order_acquire) - real_part(head);
    }
    bool is_empty() const noexcept { return len() == 0; }

private:
    static std::uint32_t steal_part(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h >> 32); }
    static std::uint32_t real_part(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h); }
    static std::uint64_t pack(std::uint32_t steal, std::uint32_t real) noexcept {
        return (static_cast<std::uint64_t>(steal) << 32) | real;
    }

    // Owner, ring full and no steal in progress: claims the oldest half and
    // appends it to `out`. False if a stealer got in first.
    bool move_half_to(std::vector<Notified>& out, std::uint32_t real, std::uint32_t tail) {
        (void)tail;
        constexpr std::uint32_t half = kCapacity / 2;
        std::uint64_t expected = pack(real, real);
        // acq_rel: claims the oldest half against stealers, as pop does.
        if (!head_.compare_exchange_strong(expected, pack(real + half, real + half), std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
            return false;
        }
        for (std::uint32_t i = 0; i < half; ++i) {  // relaxed loads: we wrote these slots
            out.push_back(Notified::from_bits(slots_[(real + i) & kMask].load(std::memory_order_relaxed)));
        }
        return true;
    }

    // Claims half of the entries for a steal by moving `real` forward while
    // `steal` stays put. Returns how many (0 if empty or another steal runs).
    std::uint32_t claim_half() {
        // acquire: pairs with the owner's and other stealers' release CAS on head_.
        std::uint64_t head = head_.load(std::memory_order_acquire);
        for (;;) {
            std::uint32_t steal = steal_part(head);
            std::uint32_t real = real_part(head);
            if (steal != real) return 0;  // another stealer
            // acquire: pairs with the owner's release store of tail_, so
            // the slots below it hold the entries it pushed.
            std::uint32_t tail = tail_.load(std::memory_order_acquire);
            std::uint32_t n = tail - real;
            n -= n / 2;
            if (n == 0) return 0;
            if (n > kCapacity / 2) n = kCapacity / 2;
            // acq_rel: claims [real, real + n) against the owner and other
            // stealers; acquire on failure reloads their head.
            if (head_.compare_exchange_weak(head, pack(steal, real + n), std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return n;
            }
        }
    }

    // Ends a steal: `steal` catches up with `real` (which the owner may have moved on).
    void finish_steal(std::uint32_t stolen_end) {
        std::uint64_t head = head_.load(std::memory_order_acquire);  // acquire: the owner's latest real
        for (;;) {
            std::uint32_t real = real_part(head);
            (void)stolen_end;
            // release: our slot reads happen before the owner may reuse them.
            if (head_.compare_exchange_weak(head, pack(real, real), std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return;
            }
        }
    }

    alignas(64) Atomic<std::uint64_t> head_{0};
    alignas(64) Atomic<std::uint32_t> tail_{0};
    std::array<Atomic<std::uintptr_t>, kCapacity> slots_{};
};

}  // namespace corio::detail::mt
