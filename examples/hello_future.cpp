// hello_future: a future written by hand, then awaited from a coroutine.
//
// A corio future is any type with an `Output` type and a
// `Poll<Output> poll(Context&)` member. It is not a handle to work running
// somewhere else: it *is* the work, and it advances only while someone polls
// it. Here the work is "wait until an instant 100 ms from now, then print a
// greeting and produce a string".
//
// Run: ./hello_future        (prints "Hello world")
#include <chrono>
#include <corio/corio.hpp>
#include <cstdio>
#include <string_view>

namespace {

using Clock = std::chrono::steady_clock;

/// Ready once the clock reaches `when`; then prints a line and yields "done".
struct MyFuture {
    using Output = std::string_view;

    Clock::time_point when;

    corio::Poll<Output> poll(corio::Context& cx) {
        if (Clock::now() >= when) {
            std::puts("Hello world");
            return corio::Ready(std::string_view("done"));
        }
        // Not ready yet. Returning Pending is a promise: "someone will wake
        // the waker in `cx` when it is worth polling me again". We keep the
        // promise the lazy way, by waking it right now, so the runtime polls
        // us again at once: a busy loop that burns a CPU core for 100 ms.
        //
        // A real leaf future would instead hand a copy of the waker to
        // whatever completes it (a timer, a socket, another thread) and wake
        // nothing here. corio::time::sleep does exactly that with the
        // runtime's timer wheel, and examples/mini_executor.cpp shows a
        // thread-based version.
        cx.waker().wake_by_ref();
        return corio::Pending;
    }
};

static_assert(corio::Future<MyFuture>);

corio::Task<int> async_main() {
    MyFuture future{Clock::now() + std::chrono::milliseconds(100)};
    // Nothing has been printed yet: creating a future runs nothing.

    // co_await polls the future with this task's Context, and suspends the
    // task for as long as the future answers Pending.
    std::string_view out = co_await future;
    if (out != "done") {
        std::fprintf(stderr, "error: MyFuture produced %.*s, not \"done\"\n", static_cast<int>(out.size()), out.data());
        co_return 1;
    }
    co_return 0;
}

}  // namespace

int main() {
    // corio::run builds a runtime, drives async_main to completion on this
    // thread and returns its value.
    return corio::run(async_main());
}
