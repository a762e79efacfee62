// task::Builder: spawn with a name (shown in dumps and stall reports).
#pragma once

#include <source_location>
#include <string>
#include <utility>

#include "corio/detail/task_cell.hpp"
#include "corio/future.hpp"
#include "corio/runtime.hpp"
#include "corio/task/join_handle.hpp"
#include "corio/task/local_set.hpp"

namespace corio::task {

/// Spawns with options, as Tokio's task::Builder:
///
///     task::Builder().name("conn 10.0.0.1:5123").spawn(handle(std::move(socket)));
///
/// The name costs one allocation per spawn; an unnamed task costs none.
class Builder {
public:
    /// The task's name in Handle::dump() and stall reports (any bytes; dumps
    /// escape what needs escaping).
    Builder& name(std::string name) {
        name_ = std::move(name);
        return *this;
    }

    /// As corio::spawn: onto the runtime running on this thread.
    template <Future F>
    JoinHandle<output_of<F>> spawn(F fut, std::source_location where = std::source_location::current()) const {
        detail::RuntimeCore& core = detail::current_runtime_or_throw("corio::task::Builder::spawn");
        return detail::spawn_on(core, std::move(fut), origin(where));
    }

    /// As task::spawn_local: onto the LocalSet (or current_thread runtime) of this thread.
    template <Future F>
    JoinHandle<output_of<F>> spawn_local(F fut, std::source_location where = std::source_location::current()) const {
        detail::Scheduler& target = detail::local_spawn_target();
        return detail::spawn_local_on(target, std::move(fut), origin(where));
    }

    /// As Handle::spawn: onto `handle`'s runtime, from any thread.
    template <Future F>
    JoinHandle<output_of<F>> spawn_on(F fut, const Handle& handle,
                                      std::source_location where = std::source_location::current()) const {
        return detail::spawn_on(*handle.core_, std::move(fut), origin(where));
    }

private:
    detail::TaskOrigin origin(std::source_location where) const {
        if (name_.empty()) return detail::TaskOrigin(where);
        return detail::TaskOrigin(name_, where);
    }

    std::string name_;
};

}  // namespace corio::task
