// The counting operator new behind test::AllocationScope (see the header).
#include "support/allocation_counter.hpp"

#include <cstdlib>
#include <new>

namespace {
thread_local bool counting_allocations = false;
thread_local long counted_allocations = 0;
}  // namespace

__attribute__((weak)) void* operator new(std::size_t size) {
    if (counting_allocations) ++counted_allocations;
    if (size == 0) size = 1;
    if (void* p = std::malloc(size)) return p;
    throw std::bad_alloc();
}

namespace corio::test {

AllocationScope::AllocationScope() noexcept {
    counted_allocations = 0;
    counting_allocations = true;
}

AllocationScope::~AllocationScope() { counting_allocations = false; }

long AllocationScope::count() const noexcept { return counted_allocations; }

bool counting_is_active() {
    AllocationScope probe;
    // A direct call, not a new-expression: Clang may elide `delete new int`.
    ::operator delete(::operator new(sizeof(int)));
    return probe.count() == 1;
}

}  // namespace corio::test
