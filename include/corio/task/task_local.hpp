// task_local: a value that a future (and everything it awaits) sees as its
// own, whatever thread polls it. Tokio's task_local!.
//
// A scope future owns the value; for the span of each poll of the future it
// wraps, it pushes a frame {key, &value} onto a thread-local stack of frames
// (the frame lives on the C++ stack of that poll), and pops it when the poll
// returns. task_local::get() walks that stack from the top for the first
// frame of its key. Polls nest strictly, so the stack is always restored to
// what the outer poll saw: nested scopes shadow outer ones, two tasks
// interleaving on one thread each see only their own frames, and a task that
// moves to another worker finds its value there on its next poll.
// Nothing is allocated, ever; a lookup costs one step per enclosing scope.
#pragma once

#include <concepts>
#include <expected>
#include <functional>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "corio/future.hpp"

namespace corio {
namespace detail {

/// One active task-local scope on this thread.
struct TaskLocalFrame {
    const void* key;    // the task_local object
    const void* value;  // its value for this scope
    const TaskLocalFrame* outer;
};

/// The innermost active scope on this thread (null outside any).
inline thread_local const TaskLocalFrame* task_local_top = nullptr;

/// Makes `value` current for `key` from construction to destruction.
class TaskLocalEnter {
public:
    TaskLocalEnter(const void* key, const void* value) noexcept : frame_{key, value, task_local_top} {
        task_local_top = &frame_;
    }
    TaskLocalEnter(const TaskLocalEnter&) = delete;
    TaskLocalEnter& operator=(const TaskLocalEnter&) = delete;
    ~TaskLocalEnter() { task_local_top = frame_.outer; }

private:
    TaskLocalFrame frame_;
};

/// The value current for `key` on this thread, or null.
inline const void* task_local_find(const void* key) noexcept {
    for (const TaskLocalFrame* f = task_local_top; f != nullptr; f = f->outer) {
        if (f->key == key) return f->value;
    }
    return nullptr;
}

}  // namespace detail

namespace task {

template <class T>
class task_local;

/// The error of task_local::try_with: no value of that task_local is in
/// scope here.
struct AccessError {
    /// A short description, for logs.
    static constexpr const char* what() noexcept { return "corio: task_local value not set in this scope"; }
};

/// The future of task_local::scope(value, fut): `fut`'s output, with the
/// value current for the task_local during every poll of `fut`.
///
/// Owns the value; it is destroyed with this future (after `fut`, whose
/// destructor still sees it). `fut` itself is destroyed as soon as it
/// completes, inside the scope. Cancellation-safe exactly when `fut` is:
/// dropping this future drops `fut` and the value. Movable until its first
/// poll, like any future; polling it after it completed throws
/// std::logic_error.
template <class T, Future F>
class CORIO_NODISCARD_FUTURE TaskLocalFuture {
public:
    using Output = output_of<F>;

    TaskLocalFuture(const task_local<T>& key, T value, F fut)
        : key_(&key), value_(std::move(value)), fut_(std::in_place, std::move(fut)) {}
    TaskLocalFuture(TaskLocalFuture&&) = default;
    TaskLocalFuture& operator=(TaskLocalFuture&&) = delete;
    TaskLocalFuture(const TaskLocalFuture&) = delete;
    TaskLocalFuture& operator=(const TaskLocalFuture&) = delete;

    ~TaskLocalFuture() {
        if (!fut_) return;
        detail::TaskLocalEnter enter(key_, &value_);
        fut_.reset();
    }

    Poll<Output> poll(Context& cx) {
        if (!fut_) throw std::logic_error("corio: task_local scope future polled after it completed");
        detail::TaskLocalEnter enter(key_, &value_);
        Poll<Output> result = fut_->poll(cx);
        if (result.is_ready()) fut_.reset();
        return result;
    }

    /// The value this scope makes current.
    const T& value() const noexcept { return value_; }

private:
    const task_local<T>* key_;
    T value_;
    std::optional<F> fut_;
};

/// A key for a task-local value: declare one as a global or static, then
/// give futures their own value with scope():
///
///     static corio::task::task_local<int> REQUEST_ID;
///     co_await REQUEST_ID.scope(42, handle_request());   // inside: REQUEST_ID.get() == 42
///
/// The value is visible through get()/with() to everything polled inside
/// the scope future (the coroutines it awaits, however deep), on whichever
/// thread polls it, and nowhere else: not to other tasks sharing the thread,
/// not to tasks spawned from inside the scope (give them a scope of their
/// own). Scopes nest: an inner scope of the same key shadows the outer one
/// for its duration.
///
/// The object itself holds nothing but its identity (its address is the
/// key): constant-initialised, usable from any thread, not copyable.
template <class T>
class task_local {
public:
    constexpr task_local() noexcept = default;
    task_local(const task_local&) = delete;
    task_local& operator=(const task_local&) = delete;

    /// A future that runs `fut` with `value` current for this key; see
    /// TaskLocalFuture.
    template <Future F>
    TaskLocalFuture<T, F> scope(T value, F fut) const {
        return TaskLocalFuture<T, F>(*this, std::move(value), std::move(fut));
    }

    /// Calls `f()` with `value` current for this key, and returns its result
    /// (or lets its exception through). `value` is destroyed before returning.
    template <class F>
        requires std::invocable<F>
    std::invoke_result_t<F> sync_scope(T value, F&& f) const {
        detail::TaskLocalEnter enter(this, &value);
        return std::invoke(std::forward<F>(f));
    }

    /// A copy of the current value. Throws std::logic_error outside any
    /// scope of this key.
    T get() const
        requires std::copy_constructible<T>
    {
        const T* v = find();
        if (v == nullptr) throw std::logic_error(AccessError::what());
        return *v;
    }

    /// A copy of the current value, or std::nullopt outside any scope.
    std::optional<T> try_get() const
        requires std::copy_constructible<T>
    {
        const T* v = find();
        if (v == nullptr) return std::nullopt;
        return *v;
    }

    /// Calls `f(value)` with the current value and returns its result.
    /// Throws std::logic_error outside any scope of this key.
    template <class F>
        requires std::invocable<F, const T&>
    std::invoke_result_t<F, const T&> with(F&& f) const {
        const T* v = find();
        if (v == nullptr) throw std::logic_error(AccessError::what());
        return std::invoke(std::forward<F>(f), *v);
    }

    /// Calls `f(value)` with the current value; AccessError (and `f` not
    /// called) outside any scope of this key.
    template <class F>
        requires std::invocable<F, const T&>
    std::expected<std::invoke_result_t<F, const T&>, AccessError> try_with(F&& f) const {
        using R = std::invoke_result_t<F, const T&>;
        const T* v = find();
        if (v == nullptr) return std::unexpected(AccessError{});
        if constexpr (std::is_void_v<R>) {
            std::invoke(std::forward<F>(f), *v);
            return {};
        } else {
            return std::invoke(std::forward<F>(f), *v);
        }
    }

    /// True when a value of this key is current here.
    bool is_set() const noexcept { return find() != nullptr; }

private:
    const T* find() const noexcept { return static_cast<const T*>(detail::task_local_find(this)); }
};

}  // namespace task
}  // namespace corio
