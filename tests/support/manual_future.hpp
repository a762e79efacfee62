// A leaf future the test completes by hand: it stores the most recent waker
// on every Pending poll, as the Future contract requires.
#pragma once

#include <memory>
#include <optional>

#include "corio/future.hpp"

namespace corio::test {

template <class T>
struct ManualState {
    std::optional<T> value;
    Waker waker;
    int polls = 0;
    void complete(T v) {
        value = std::move(v);
        waker.wake_by_ref();
    }
};

/// Pending until the shared state is completed; then ready with its value.
template <class T>
class ManualFuture {
public:
    using Output = T;
    explicit ManualFuture(std::shared_ptr<ManualState<T>> state) : state_(std::move(state)) {}
    Poll<T> poll(Context& cx) {
        ++state_->polls;
        if (state_->value) return Ready(std::move(*state_->value));
        state_->waker.clone_from(cx.waker());
        return Pending;
    }

private:
    std::shared_ptr<ManualState<T>> state_;
};

}  // namespace corio::test
