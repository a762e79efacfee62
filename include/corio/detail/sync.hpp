// The concurrency primitives corio is built on, in one place.
//
// Every atomic, mutex and condition variable of the library is spelled
// through these aliases, never std:: directly, so that a model-checking or
// instrumented build (Tokio's `loom` indirection) can swap them all by
// changing this header alone. Today they are the standard types: the aliases
// cost nothing. The memory orders stay std::memory_order_*; each use weaker
// than seq_cst says beside it why it is enough (STYLE.md).
//
// Threads are started only by the runtime's sources (src/), which spell
// them `std::thread`; a checker would replace those in one place too
// (src/runtime/scheduler/multi_thread and src/runtime/blocking).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

namespace corio::detail {

template <class T>
using Atomic = std::atomic<T>;
using Mutex = std::mutex;
using SharedMutex = std::shared_mutex;
using CondVar = std::condition_variable;

}  // namespace corio::detail
