// Leaf futures with a fixed behaviour, for tests of combinators polled by
// hand: AlwaysReady (ready with its value on every poll), NeverReady (never
// ready, counts its polls), Tracked (wraps a future with a DropCounter, to see
// exactly when a combinator destroys it) and Throwing (throws when polled).
#pragma once

#include <stdexcept>
#include <utility>

#include "corio/future.hpp"
#include "support/drop_counter.hpp"

namespace corio::test {

/// Ready with its value on every poll.
template <class T>
struct AlwaysReady {
    using Output = T;
    T value;
    Poll<T> poll(Context&) { return Ready(value); }
};

/// Never ready; counts its polls (it stores no waker: poll it by hand only).
template <class T>
struct NeverReady {
    using Output = T;
    int polls = 0;
    Poll<T> poll(Context&) {
        ++polls;
        return Pending;
    }
};

/// Wraps a future with a DropCounter, to see exactly when the wrapper is destroyed.
template <Future F>
class Tracked {
public:
    using Output = output_of<F>;
    Tracked(F inner, DropCounts& counts) : inner_(std::move(inner)), guard_(counts) {}
    Poll<Output> poll(Context& cx) { return inner_.poll(cx); }

private:
    F inner_;
    DropCounter guard_;
};

/// Throws std::runtime_error from its first poll.
struct Throwing {
    using Output = int;
    Poll<int> poll(Context&) { throw std::runtime_error("branch failed"); }
};

}  // namespace corio::test
