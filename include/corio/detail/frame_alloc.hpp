// Recycling allocator for coroutine frames (and task cells).
//
// Per-thread free lists by 16-byte size class: a freed block goes to the free
// list of the thread that frees it and is reused by the next allocation of
// the same class there, so steady-state spawn/await allocates nothing from
// the system allocator. Blocks larger than the biggest class go to
// ::operator new. Blocks are never returned to the system (they stay
// reachable, so leak checkers stay quiet); a thread's lists are handed to a
// global pool when it exits.
#pragma once

#include <cstddef>

namespace corio::detail {

/// Allocates `size` bytes aligned to 16 (`__STDCPP_DEFAULT_NEW_ALIGNMENT__`).
void* frame_allocate(std::size_t size);

/// Returns a block from `frame_allocate(size)`; `size` must be the same.
void frame_deallocate(void* block, std::size_t size) noexcept;

}  // namespace corio::detail
