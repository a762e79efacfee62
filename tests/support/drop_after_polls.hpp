// A wrapper that cancels the future it wraps at a chosen point: after the
// inner future has returned Pending a given number of times (so it is
// registered as a waiter), the wrapper drops it and completes empty. Tests
// use it to prove that dropping a waiting future mid-way deregisters it and
// loses no value or wake-up for the others, with the drop racing other
// threads when `self_wake` has it polled again at once.
#pragma once

#include <optional>
#include <utility>

#include "corio/future.hpp"

namespace corio::test {

/// Polls `inner` until it is ready, or drops it (mid-wait, registered) once
/// it has returned Pending `limit` times; with `self_wake`, asks to be polled
/// again at once after a Pending, so the drop races with other threads' sends.
/// Its output is the inner output, or nullopt when the inner future was dropped.
template <Future F>
class DropAfterPolls {
public:
    using Output = std::optional<output_of<F>>;
    DropAfterPolls(F inner, int limit, bool self_wake)
        : inner_(std::move(inner)), limit_(limit), self_wake_(self_wake) {}

    Poll<Output> poll(Context& cx) {
        Poll<output_of<F>> p = inner_->poll(cx);
        if (p.is_ready()) return Ready(Output(std::move(p).take()));
        if (++pendings_ >= limit_) {
            inner_.reset();
            return Ready(Output());
        }
        if (self_wake_) cx.waker().wake_by_ref();
        return Pending;
    }

private:
    std::optional<F> inner_;
    int limit_;
    bool self_wake_;
    int pendings_ = 0;
};

}  // namespace corio::test
