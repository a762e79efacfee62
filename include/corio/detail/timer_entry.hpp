// Intrusive node of the timer wheel (src/runtime/time/wheel.hpp).
//
// Invariant: while is_linked() the entry sits in exactly one list of one
// wheel (a slot, or the wheel's list of due entries), so it must not move or be
// destroyed until the wheel unlinks it (remove, advance or drain). Every field
// but `deadline_tick` belongs to the wheel.
#pragma once

#include <cstdint>

#include "corio/detail/intrusive_list.hpp"

namespace corio::detail {

/// Intrusive node of the timer wheel; lives inside a Sleep future (never moves while linked).
/// is_linked(): whether the entry is in a wheel.
struct TimerEntry : ListHook<TimerEntry> {
    /// Absolute tick (ms since the wheel's origin) at which the entry fires.
    std::uint64_t deadline_tick = 0;
    /// Where the entry is linked (valid while linked); level 6 is the due list.
    std::uint8_t level = 0;
    std::uint8_t slot = 0;
};

}  // namespace corio::detail
