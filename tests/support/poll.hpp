// Driving a future from a test: poll_with / poll_once poll it once by hand,
// outside any task, with the waker the test chooses (a counting waker shows
// every clone and wake); bounded() wraps the root future of a runtime test in
// time::timeout, so a lost wake-up fails the test instead of hanging it.
#pragma once

#include <chrono>
#include <expected>
#include <utility>

#include "corio/future.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"

namespace corio::test {

/// How long bounded() lets a test's root future run unless told otherwise:
/// far beyond any passing run, so only reached when a wake-up is lost.
inline constexpr time::Duration kDefaultBound = std::chrono::seconds(20);

/// Polls `fut` once with `waker` (the context lives for this call only); what the poll returned.
template <Future F>
Poll<output_of<F>> poll_with(F& fut, const Waker& waker) {
    Context cx(waker);
    return fut.poll(cx);
}

/// Polls `fut` once with a no-op waker; what the poll returned.
template <Future F>
Poll<output_of<F>> poll_once(F& fut) {
    return poll_with(fut, Waker::noop());
}

/// `fut` run for at most `limit` (on the runtime's clock): its output, or
/// `std::unexpected(Elapsed{})` once `limit` has passed, dropping `fut` then.
/// Cancellation-safe exactly when `fut` is; dropping it mid-way drops `fut`.
template <Future F>
Task<std::expected<output_of<F>, time::Elapsed>> bounded(F fut, time::Duration limit = kDefaultBound) {
    auto result = co_await time::timeout(limit, std::move(fut));
    co_return std::move(result);
}

}  // namespace corio::test
