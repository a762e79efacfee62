// JoinError: what awaiting a JoinHandle (or a JoinSet) throws when the task
// was cancelled (Tokio's task::JoinError). <corio/runtime.hpp> includes this
// header.
#pragma once

#include <stdexcept>

namespace corio {

/// Thrown by awaiting a JoinHandle whose task was aborted or dropped by a
/// shutting-down runtime before it finished.
class JoinError : public std::runtime_error {
public:
    JoinError() : std::runtime_error("corio: task was cancelled") {}
    /// Always true: a task's own exceptions are rethrown as they are, so a
    /// JoinError always means cancellation.
    bool is_cancelled() const noexcept { return true; }
};

}  // namespace corio
