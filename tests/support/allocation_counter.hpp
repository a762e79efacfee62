// Counting calls of the global operator new on this thread, for the tests
// that promise "no allocation per item/poll". The replacement operator new
// (allocation_counter.cpp) is weak, so a sanitizer runtime that replaces
// operator new wins without a link error; counting_is_active() is the
// positive control a test checks first, skipping instead of passing
// vacuously when the counter is not the operator new in use.
#pragma once

namespace corio::test {

/// Counts operator new calls on this thread while alive (scopes do not nest).
class AllocationScope {
public:
    AllocationScope() noexcept;
    AllocationScope(const AllocationScope&) = delete;
    AllocationScope& operator=(const AllocationScope&) = delete;
    ~AllocationScope();
    /// operator new calls on this thread since construction.
    long count() const noexcept;
};

/// True when this binary's operator new is the counting one.
bool counting_is_active();

}  // namespace corio::test
