// The cooperative budget: each task poll may make 128 units of progress on
// corio resources; once spent, a resource returns Pending (after waking its
// task) so one busy task cannot starve the others on its thread.
#pragma once

#include <cstdint>

#include "corio/future.hpp"

namespace corio::detail {

inline constexpr std::uint32_t kTaskBudget = 128;

/// Tells the current runtime's metrics that the budget forced a yield.
void count_forced_yield() noexcept;

struct Budget {
    std::uint32_t remaining = 0;
    bool constrained = false;  // false outside task polls: unlimited
    std::uint64_t forced_yields = 0;
};

inline thread_local Budget current_budget;

/// Gives the current poll a fresh budget; restores the previous one after.
class BudgetScope {
public:
    BudgetScope() noexcept
        : saved_remaining_(current_budget.remaining), saved_constrained_(current_budget.constrained) {
        current_budget.remaining = kTaskBudget;
        current_budget.constrained = true;
    }
    BudgetScope(const BudgetScope&) = delete;
    BudgetScope& operator=(const BudgetScope&) = delete;
    ~BudgetScope() {
        current_budget.remaining = saved_remaining_;
        current_budget.constrained = saved_constrained_;
    }

private:
    std::uint32_t saved_remaining_;
    bool saved_constrained_;
};

/// Spends one unit. When none is left, wakes the task (so it is polled again
/// after the others) and returns false: the caller returns Pending.
inline bool poll_proceed(Context& cx) {
    Budget& b = current_budget;
    if (!b.constrained) return true;
    if (b.remaining == 0) {
        ++b.forced_yields;
        count_forced_yield();
        cx.waker().wake_by_ref();
        return false;
    }
    --b.remaining;
    return true;
}

}  // namespace corio::detail
