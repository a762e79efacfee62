// A future wrapper that counts its polls, so a test can tell that a task is
// really parked on the inner future (polled at least once, returned
// Pending) before it acts on the object that future waits on.
#pragma once

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

}  // namespace corio::test
