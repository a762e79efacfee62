// Future wrappers that count polls (Counted) or the first Pending
// (CountParked), so a test can tell that a task is really parked on the
// inner future before it acts on the object that future waits on.
#pragma once

#include <atomic>
#include <utility>

#include "corio/future.hpp"

namespace corio::test {

/// Polls `inner`, adding one to `*polls` each time; its output is the inner one.
template <Future F>
class Counted {
public:
    using Output = output_of<F>;
    Counted(F inner, int* polls) : inner_(std::move(inner)), polls_(polls) {}
    Poll<Output> poll(Context& cx) {
        ++*polls_;
        return inner_.poll(cx);
    }

private:
    F inner_;
    int* polls_;
};

/// Polls `inner` and counts in `*parked`, once, the first time it returns
/// Pending: a task awaiting it is then really waiting (for I/O, its waiter is
/// in the socket's wait list). Atomic, so a test on the multi-thread runtime
/// can wait for tasks parked on other workers.
template <Future F>
class CountParked {
public:
    using Output = output_of<F>;
    CountParked(F inner, std::atomic<int>* parked) : inner_(std::move(inner)), parked_(parked) {}
    Poll<Output> poll(Context& cx) {
        auto r = inner_.poll(cx);
        if (r.is_pending() && !counted_) {
            counted_ = true;
            parked_->fetch_add(1);
        }
        return r;
    }

private:
    F inner_;
    std::atomic<int>* parked_;
    bool counted_ = false;
};

}  // namespace corio::test
