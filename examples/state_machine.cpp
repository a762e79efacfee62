// state_machine: what a coroutine that awaits a future turns into, written
// out by hand.
//
// The coroutine
//
//     corio::Task<void> async_main() {
//         MyFuture future{Clock::now() + 100ms};
//         std::string_view out = co_await future;
//         assert(out == "done");
//     }
//
// is, underneath, a future whose state records how far the body has got:
// "not started", "suspended at the co_await, holding the awaited future",
// and "finished". MainFuture below is that future spelled out: each poll
// runs the body from where it stopped to the next point where it has to
// wait, and polling the outer future polls the inner one.
//
// Run: ./state_machine       (prints "Hello world", then "main future done")
#include <chrono>
#include <corio/corio.hpp>
#include <cstdio>
#include <stdexcept>
#include <string_view>
#include <variant>

namespace {

using Clock = std::chrono::steady_clock;

/// The leaf future of examples/hello_future.cpp: ready at `when`, yields "done".
struct MyFuture {
    using Output = std::string_view;

    Clock::time_point when;

    corio::Poll<Output> poll(corio::Context& cx) {
        if (Clock::now() >= when) {
            std::puts("Hello world");
            return corio::Ready(std::string_view("done"));
        }
        cx.waker().wake_by_ref();  // busy re-poll; a real leaf would register a timer
        return corio::Pending;
    }
};

/// The hand-written equivalent of the coroutine in the header comment.
class MainFuture {
public:
    using Output = void;

    corio::Poll<void> poll(corio::Context& cx) {
        // Advance as far as possible in one poll: keep stepping through the
        // states until one of them has to wait (Pending) or the body ends.
        for (;;) {
            if (std::holds_alternative<State0>(state_)) {
                // Start of the body, up to the co_await: build the future.
                // It lives inside our state from now on, so it stays at one
                // address while it is polled (MainFuture itself is never
                // moved after its first poll either).
                state_.emplace<State1>(State1{MyFuture{Clock::now() + std::chrono::milliseconds(100)}});
                continue;
            }
            if (auto* waiting = std::get_if<State1>(&state_)) {
                // Suspended at the co_await: poll the inner future with *our*
                // context, so its waker wakes whoever is polling us.
                corio::Poll<std::string_view> out = waiting->my_future.poll(cx);
                if (out.is_pending()) return corio::Pending;  // suspend; the state remembers where
                // Resume after the co_await: the rest of the body.
                if (*out != "done") throw std::runtime_error("MyFuture produced an unexpected value");
                state_.emplace<Terminated>();  // destroys MyFuture, as leaving its scope would
                return corio::Ready();
            }
            // A finished future has nothing left to run.
            throw std::logic_error("MainFuture polled after it completed");
        }
    }

private:
    struct State0 {};  // created, never polled
    struct State1 {    // waiting at the co_await
        MyFuture my_future;
    };
    struct Terminated {};  // the body returned

    std::variant<State0, State1, Terminated> state_;
};

static_assert(corio::Future<MainFuture>);

}  // namespace

int main() {
    // 1. Give the outermost future to an executor. block_on polls it, and
    //    polls it again each time its waker is woken, until it is Ready.
    std::puts("[1] block_on(MainFuture{})");
    corio::Runtime rt = corio::Builder::new_current_thread().build();
    rt.block_on(MainFuture{});
    std::puts("main future done");

    // 2. The simplest executor there is: a loop that polls until Ready,
    //    with a waker that does nothing. It spins instead of sleeping until
    //    woken, which is exactly what a real executor avoids.
    std::puts("[2] driving a MainFuture by hand, then polling it once too often");
    MainFuture by_hand;
    corio::Waker noop = corio::Waker::noop();
    corio::Context cx(noop);
    while (by_hand.poll(cx).is_pending()) {
    }
    try {
        (void)by_hand.poll(cx);
        std::puts("error: polling a finished future did not throw");
        return 1;
    } catch (const std::logic_error& e) {
        std::printf("polling it again threw std::logic_error (%s)\n", e.what());
    }
    return 0;
}
