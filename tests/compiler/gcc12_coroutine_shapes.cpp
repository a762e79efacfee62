// The coroutine shapes that GCC 12.2 miscompiles, each run once and checked.
// (corio-lint: skip-file, since it shows the shapes on purpose.)
//
// This program uses no corio code: a minimal eager-to-resume Task and an
// always-ready awaiter are enough, which is what makes it a reproducer to
// attach to a compiler bug report. Each shape is a coroutine that counts how
// many times its awaiter was created and how far its body got; the table it
// prints says "ok" or "MISCOMPILED" per shape.
//
// Exit status: 0 when every shape behaves as this compiler is known to
// behave, i.e. all "ok" on Clang and on GCC 13 or newer, and exactly the
// shapes marked `gcc12_breaks` miscompiled on GCC 12. So the test fails if a
// new shape breaks *or* if a shape we list stops breaking (the list in the
// README and guide section 11 would then be out of date).
//
// Two families, both reported against GCC:
// - A co_await in the condition of if/while/for/do-while/switch, in a
//   coroutine whose body declares no variable at its outermost block: GCC
//   transforms the condition into a frame variable without a scope to hold
//   it, and the resumed coroutine jumps to the wrong place (the body never
//   runs, or a garbage `this` is dereferenced). GCC bug 106188, whose test
//   case (g++.dg/coroutines/pr106188.C) is the `if (co_await x, false)` form.
//   A declaration condition (`while (auto r = co_await x)`) and any
//   variable declared at the body's outermost block avoid it.
// - A co_await on the right of && or ||: GCC evaluates it even when the left
//   operand already decided the result (no short-circuit).
// - A temporary with a destructor built inside the co_await operand, as a
//   lambda's captures (`co_await run([p] {...})`) or a member of a braced
//   aggregate (`co_await Op{1, Counted(2)}`): GCC destroys it twice.
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

namespace {

struct Task {
    struct promise_type {
        Task get_return_object() { return Task{std::coroutine_handle<promise_type>::from_promise(*this)}; }
        std::suspend_always initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_void() {}
        void unhandled_exception() { std::abort(); }
    };
    std::coroutine_handle<promise_type> handle;
};

int awaiters_made = 0;  // how many times an awaiter was created

template <class T>
struct Ready {
    T value;
    explicit Ready(T v) : value(v) { ++awaiters_made; }
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    T await_resume() const noexcept { return value; }
};

using Opt = std::optional<int>;
int n = 0;         // loop counter each shape drives to 3
bool flag = true;  // the left operand of && and ||
int out = 0;

Opt more() {
    if (n < 3) return Opt(n);
    return Opt();
}

int objects_alive = 0;  // Counted objects constructed minus destroyed

struct Counted {
    int value;
    explicit Counted(int v) : value(v) { ++objects_alive; }
    Counted(const Counted& other) : value(other.value) { ++objects_alive; }
    ~Counted() { --objects_alive; }
};

// An awaiter that really suspends and resumes at once, then calls `fn`.
template <class Fn>
struct CallOnResume {
    Fn fn;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const { h.resume(); }
    int await_resume() { return fn(); }
};
template <class Fn>
CallOnResume<Fn> call_on_resume(Fn fn) {
    return CallOnResume<Fn>{std::move(fn)};
}

struct Op {
    int n;
    Counted extra;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const { h.resume(); }
    int await_resume() const noexcept { return n + extra.value; }
};

// ---- Family 1: co_await in a condition, no variable at the outermost block.
Task while_optional() {
    for (n = 0; false;) {
    }
    while (co_await Ready<Opt>(more())) ++n;
}
Task while_bool() {
    for (n = 0; false;) {
    }
    while (co_await Ready<bool>(n < 3)) ++n;
}
Task for_condition() {
    for (n = 0; co_await Ready<bool>(n < 3);) ++n;
}
Task do_while() {
    for (n = 0; false;) {
    }
    do ++n;
    while (co_await Ready<bool>(n < 3));
}
Task if_condition() {
    for (n = 0; false;) {
    }
    if (co_await Ready<bool>(true)) n = 3;
}
Task if_comma_false() {
    for (n = 3; false;) {
    }
    if (co_await Ready<bool>(true), false) n = 0;
}
Task switch_condition() {
    for (n = 0; false;) {
    }
    switch (co_await Ready<int>(3)) {
        case 3:
            n = 3;
            break;
        default:
            break;
    }
}
Task while_negated() {
    for (n = 0; false;) {
    }
    while (!(co_await Ready<bool>(n >= 3))) ++n;
}
Task while_compared() {
    for (n = 0; false;) {
    }
    while ((co_await Ready<int>(n)) < 3) ++n;
}

// ---- The same conditions, made safe.
Task while_declaration() {
    for (n = 0; false;) {
    }
    while (auto r = co_await Ready<Opt>(more())) ++n;
}
Task while_with_local() {
    int guard = 0;  // any declaration at the outermost block gives GCC a scope
    for (n = 0; false;) {
    }
    while (co_await Ready<bool>(n < 3)) ++n;
    (void)guard;
}
Task await_then_branch() {
    for (n = 0;; ++n) {
        bool go = co_await Ready<bool>(n < 3);
        if (!go) break;
    }
}

// ---- Family 2: co_await on the right of && or || (flag is true).
Task or_short_circuit() {
    int guard = 0;
    out = flag || co_await Ready<bool>(false);
    n = (awaiters_made == 0) ? 3 : 0;
    (void)guard;
}
Task and_short_circuit() {
    int guard = 0;
    out = !flag && co_await Ready<bool>(true);
    n = (awaiters_made == 0) ? 3 : 0;
    (void)guard;
}

// ---- Family 3: a temporary with a destructor inside the co_await operand.
Task lambda_captures() {
    Counted p(2);
    out = co_await call_on_resume([p] { return p.value + 1; });
    n = (out == 3) ? 3 : 0;
}
Task braced_aggregate() {
    int guard = 0;
    out = co_await Op{1, Counted(2)};
    n = (out == 3) ? 3 : 0;
    (void)guard;
}
Task named_first() {
    Counted p(2);
    auto job = [p] { return p.value + 1; };
    auto op = Op{0, Counted(3)};
    int a = co_await call_on_resume(std::move(job));
    int b = co_await std::move(op);
    n = (a == 3 && b == 3) ? 3 : 0;
}

struct Shape {
    const char* code;
    Task (*run)();
    bool gcc12_breaks;
};

constexpr Shape shapes[] = {
    {"while (co_await optional) ...", while_optional, true},
    {"while (co_await bool) ...", while_bool, true},
    {"for (...; co_await bool;) ...", for_condition, true},
    {"do ... while (co_await bool);", do_while, true},
    {"if (co_await bool) ...", if_condition, true},
    {"if (co_await x, false) ...  [PR 106188]", if_comma_false, true},
    {"switch (co_await int) ...", switch_condition, true},
    {"while (!(co_await bool)) ...", while_negated, true},
    {"while ((co_await int) < 3) ...", while_compared, true},
    {"while (auto r = co_await optional) ...", while_declaration, false},
    {"int guard; while (co_await bool) ...", while_with_local, false},
    {"bool go = co_await ...; if (!go) break;", await_then_branch, false},
    {"x = flag || co_await ...", or_short_circuit, true},
    {"x = !flag && co_await ...", and_short_circuit, true},
    {"co_await f([p] { ... })", lambda_captures, true},
    {"co_await Op{1, Counted(2)}", braced_aggregate, true},
    {"auto job = [p] {...}; co_await f(job)", named_first, false},
};

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
constexpr bool known_broken_compiler = true;
#else
constexpr bool known_broken_compiler = false;
#endif

}  // namespace

int main() {
    int surprises = 0;
    std::printf("%-46s %s\n", "shape (in a coroutine)", "result");
    for (const Shape& shape : shapes) {
        awaiters_made = 0;
        objects_alive = 0;
        n = -1;
        Task task = shape.run();
        task.handle.resume();
        const bool finished = task.handle.done() && n == 3;
        task.handle.destroy();
        const bool ok = finished && objects_alive == 0;  // each object destroyed exactly once
        const bool expected_ok = !(known_broken_compiler && shape.gcc12_breaks);
        if (ok != expected_ok) ++surprises;
        std::printf("%-46s %s%s\n", shape.code, ok ? "ok" : "MISCOMPILED",
                    ok == expected_ok ? "" : "   <- not what this compiler is known to do");
    }
    std::printf("%s: %d shape(s) behaved unlike the known list\n", known_broken_compiler ? "GCC 12" : "compiler",
                surprises);
    return surprises == 0 ? 0 : 1;
}
