// AsyncGenerator<T>: a coroutine that co_yields values and co_awaits any
// future; a lazy Stream<T>.
//
// It drives its body exactly as an outermost Task does (task.hpp): while the
// body, or a child Task it awaits, waits on a leaf future, `leaf_` points at
// that awaiter and a poll re-polls it directly; a co_yield suspends the
// generator's own frame with `current_` pointing at the yielded value, which
// lives in the frame until the next resume. So an item costs one resume and
// one move, and allocates nothing.
#pragma once

#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "corio/future.hpp"
#include "corio/stream/core.hpp"
#include "corio/task.hpp"

namespace corio {

template <class T>
class AsyncGenerator;

namespace detail {

template <class T>
struct GeneratorPromise : TaskTransform<void> {
    static_assert(std::is_object_v<T> && !std::is_const_v<T>,
                  "AsyncGenerator<T> yields values: T must be a non-const object type");

    T* current_ = nullptr;  // the yielded value, alive while suspended at its co_yield

    AsyncGenerator<T> get_return_object() noexcept;

    /// `co_yield rvalue`: the value is moved out by the consumer.
    std::suspend_always yield_value(T&& value) noexcept {
        current_ = std::addressof(value);
        return {};
    }

    /// `co_yield lvalue`: a copy lives in the awaiter until the next resume.
    struct CopyAwaiter {
        T value;
        GeneratorPromise* promise;
        bool await_ready() const noexcept { return false; }
        template <class P>
        void await_suspend(std::coroutine_handle<P>) noexcept {
            promise->current_ = std::addressof(value);
        }
        void await_resume() const noexcept {}
    };
    CopyAwaiter yield_value(const T& value) { return CopyAwaiter{value, this}; }

    void return_void() noexcept {}
};

}  // namespace detail

/// A lazy asynchronous generator: a coroutine whose body may `co_yield`
/// values of type T and `co_await` any corio future or Task. A Stream<T>.
///
/// Nothing runs until the first poll_next (or stream::next). Each poll runs
/// the body up to its next co_yield (Ready(item)), its end (Ready(nullopt)),
/// or a future it awaits that is pending (Pending; that future stored the
/// waker). An exception escaping the body is rethrown by the poll that
/// reached it, and the generator is finished from then on (nullopt).
/// Destroying the generator destroys its frame and everything it awaits,
/// running destructors: that is cancellation. Cancellation-safe between
/// items: stream::next on it can be dropped and called again without losing
/// an item (the body resumes where it was). Movable at any time (the frame
/// does not move). One allocation per generator (the recycled frame), none
/// per item.
template <class T>
class [[nodiscard]] AsyncGenerator {
public:
    using Item = T;
    using promise_type = detail::GeneratorPromise<T>;
    using Handle = std::coroutine_handle<promise_type>;

    /// A finished generator (as after a move).
    AsyncGenerator() noexcept = default;
    explicit AsyncGenerator(Handle h) noexcept : h_(h) {}
    AsyncGenerator(AsyncGenerator&& other) noexcept
        : h_(std::exchange(other.h_, nullptr)), leaf_(std::exchange(other.leaf_, nullptr)) {}
    AsyncGenerator& operator=(AsyncGenerator&& other) noexcept {
        if (this != &other) {
            destroy();
            h_ = std::exchange(other.h_, nullptr);
            leaf_ = std::exchange(other.leaf_, nullptr);
        }
        return *this;
    }
    ~AsyncGenerator() { destroy(); }

    /// True until the body has finished (or thrown) and been destroyed.
    bool valid() const noexcept { return static_cast<bool>(h_); }

    /// Runs the body to its next co_yield, end, or pending await. Rethrows
    /// the body's exception (once; afterwards Ready(nullopt)).
    Poll<std::optional<T>> poll_next(Context& cx) {
        if (!h_) return stream::detail::ready_end<T>();
        if (!detail::resume_chain(leaf_, h_, cx)) return Pending;
        if (T* value = std::exchange(h_.promise().current_, nullptr)) {
            return stream::detail::ready_item<T>(std::move(*value));
        }
        if (!h_.done()) return Pending;
        return finish();
    }

private:
    // The body ended: free the frame, then rethrow its exception if any.
    Poll<std::optional<T>> finish() {
        std::exception_ptr failure = std::exchange(h_.promise().exception_, nullptr);
        std::exchange(h_, nullptr).destroy();
        if (failure) std::rethrow_exception(failure);
        return stream::detail::ready_end<T>();
    }

    // Destroys the chain innermost-first (as Task does), so any await depth
    // needs constant stack.
    void destroy() noexcept {
        if (h_) detail::destroy_chain(std::exchange(leaf_, nullptr), std::exchange(h_, nullptr));
    }

    Handle h_;
    detail::LeafAwaiter* leaf_ = nullptr;
};

static_assert(Stream<AsyncGenerator<int>>);

namespace detail {
template <class T>
AsyncGenerator<T> GeneratorPromise<T>::get_return_object() noexcept {
    return AsyncGenerator<T>(PromiseBase::handle_of(*this));
}
}  // namespace detail

}  // namespace corio
