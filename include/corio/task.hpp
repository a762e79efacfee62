// Task<T>: the lazy coroutine type, itself a Future<T>.
//
// How a chain of awaiting coroutines is driven (the invariant that makes a
// wake O(1) at any await depth):
// - Only the outermost Task of a chain is polled as a future. While any frame
//   of the chain is suspended, the chain is suspended on exactly one leaf
//   awaiter (a non-Task future that returned Pending), and the outermost Task
//   keeps a pointer to it (`leaf_`).
// - A wake re-polls that leaf directly; only when it is ready is its
//   coroutine resumed. Intermediate frames run no code.
// - Awaiting a child Task starts it by symmetric transfer and records the
//   parent; the child's final_suspend transfers back. Stack use is constant
//   at any depth (build with -foptimize-sibling-calls).
// - Destroying a suspended chain destroys its frames from the innermost
//   outwards (each frame's parent is recorded in its promise), so it also
//   needs constant stack.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "corio/detail/describe.hpp"
#include "corio/detail/frame_alloc.hpp"
#include "corio/detail/sync.hpp"
#include "corio/future.hpp"

namespace corio {

template <class T = void>
class Task;

namespace detail {

struct PromiseBase;

struct LeafAwaiter;

/// What a leaf awaiter can do, one static table per awaiter type.
struct LeafOps {
    /// Polls the awaited future once; true when it became ready (its output stored).
    bool (*poll)(LeafAwaiter* self, Context& cx);
    /// Says what the awaited future waits for (dumps, stall reports).
    void (*describe)(const LeafAwaiter* self, DescribeSink& out) noexcept;
};

/// The awaiter a chain is suspended on: a non-Task future that returned Pending.
struct LeafAwaiter {
    const LeafOps* ops = nullptr;
    PromiseBase* owner = nullptr;  // the promise of the innermost frame, suspended here
};

/// What the Task being polled on this thread exposes to the awaiters inside it.
struct PollScope {
    LeafAwaiter** leaf_slot;  // where a suspending leaf records itself
    Context* cx;
};

inline thread_local PollScope* current_poll_scope = nullptr;

/// The leaf being polled on this thread right now, if any: what the stall
/// monitor's signal handler reads to tell what a stuck task waits in.
/// (Atomic, relaxed: a plain store the handler on this thread always sees.)
inline thread_local Atomic<const LeafAwaiter*> polling_leaf{nullptr};

/// Sets polling_leaf for the scope of one leaf poll.
class PollingLeaf {
public:
    explicit PollingLeaf(const LeafAwaiter* leaf) noexcept : saved_(polling_leaf.load(std::memory_order_relaxed)) {
        polling_leaf.store(leaf, std::memory_order_relaxed);
    }
    PollingLeaf(const PollingLeaf&) = delete;
    PollingLeaf& operator=(const PollingLeaf&) = delete;
    ~PollingLeaf() { polling_leaf.store(saved_, std::memory_order_relaxed); }

private:
    const LeafAwaiter* saved_;
};

struct PromiseBase {
    /// The awaiting frame's promise; null for the outermost frame.
    PromiseBase* parent() const noexcept { return reinterpret_cast<PromiseBase*>(parent_word_ & ~kLentBit); }
    /// True when this frame is lent to the chain above it rather than owned
    /// by it: an AsyncGenerator's frame resumed in place by
    /// `co_await stream::next(gen)` (see LendablePromise).
    bool lent() const noexcept { return (parent_word_ & kLentBit) != 0; }
    void set_parent(PromiseBase* parent) noexcept { parent_word_ = reinterpret_cast<std::uintptr_t>(parent); }
    void lend_to(PromiseBase* borrower) noexcept {
        parent_word_ = reinterpret_cast<std::uintptr_t>(borrower) | kLentBit;
    }

    // The parent's address with kLentBit set for a lent frame (promises are
    // aligned to at least 8, so bit 0 of the address is free).
    static constexpr std::uintptr_t kLentBit = 1;
    std::uintptr_t parent_word_ = 0;
    std::exception_ptr exception_;  // the body's exception, or a leaf poll's while suspended
    std::source_location site_;     // the co_await this frame last suspended at (task dumps)

    /// The most a corio promise may be aligned to (a Task's output included).
    static constexpr std::size_t kMaxAlign = 16;

    /// This frame, computed rather than stored (8 bytes less per frame): a
    /// promise aligned to at most 16 sits right after the frame's resume and
    /// destroy pointers, and the builtin that from_promise uses finds the
    /// frame from it, on GCC and Clang alike. PromiseBase is the first base
    /// of every corio promise, so `this` is the promise's address.
    std::coroutine_handle<> frame() noexcept {
        return std::coroutine_handle<>::from_address(__builtin_coro_promise(this, kMaxAlign, true));
    }

    /// The handle for a new frame of promise type P, checking what frame() relies on.
    template <class P>
    static std::coroutine_handle<P> handle_of(P& promise) noexcept {
        static_assert(alignof(P) <= kMaxAlign, "corio coroutines do not support over-aligned outputs");
        static_assert(std::is_base_of_v<PromiseBase, P>);
        auto h = std::coroutine_handle<P>::from_promise(promise);
        assert(static_cast<PromiseBase&>(promise).frame().address() == h.address());
        return h;
    }

    static void* operator new(std::size_t size) { return frame_allocate(size); }
    static void operator delete(void* block, std::size_t size) noexcept { frame_deallocate(block, size); }

    std::suspend_always initial_suspend() noexcept { return {}; }

    /// Where the frame goes when it suspends for its parent (at its end, or
    /// a generator's co_yield): the parent's frame, or out of the poll.
    std::coroutine_handle<> continuation() const noexcept {
        PromiseBase* to = parent();
        return to != nullptr ? to->frame() : std::noop_coroutine();
    }

    /// Suspends and transfers to continuation().
    struct ToParent {
        bool await_ready() const noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> self) noexcept {
            return self.promise().continuation();
        }
        void await_resume() const noexcept {}
    };
    ToParent final_suspend() noexcept { return {}; }

    void unhandled_exception() noexcept { exception_ = std::current_exception(); }

    void rethrow_if_failed() {
        if (exception_) std::rethrow_exception(std::exchange(exception_, nullptr));
    }
};

struct NoResult {};

/// Awaits any Future inside a Task: polled at once in await_ready; on Pending
/// it becomes the chain's leaf. The future is awaited in place, by reference:
/// a temporary operand of co_await lives in the frame until the co_await
/// expression completes, so nothing is moved and the awaiter stays small.
template <class F>
class FutureAwaiter : public LeafAwaiter {
    using Out = output_of<F>;
    // An optional, not a Poll assigned on every poll: emplace needs only a
    // move-constructible output (not a move-assignable one).
    using Result = std::conditional_t<std::is_void_v<Out>, NoResult, std::optional<Out>>;

public:
    explicit FutureAwaiter(F& fut) noexcept : fut_(fut) { ops = &kOps; }
    FutureAwaiter(const FutureAwaiter&) = delete;
    FutureAwaiter& operator=(const FutureAwaiter&) = delete;

    // The first poll is not marked as the polling leaf (PollingLeaf): it
    // would cost every ready co_await two more stores. A stall inside it
    // is reported without an await chain; one inside a later poll, after a
    // wake, carries it.
    bool await_ready() { return poll_once(*current_poll_scope->cx); }

    template <class P>
    void await_suspend(std::coroutine_handle<P> self) noexcept {
        owner = &self.promise();
        *current_poll_scope->leaf_slot = this;
    }

    Out await_resume() {
        if (owner != nullptr) owner->rethrow_if_failed();
        if constexpr (!std::is_void_v<Out>) return std::move(*result_);
    }

private:
    bool poll_once(Context& cx) {
        if constexpr (std::is_void_v<Out>) {
            return fut_.poll(cx).is_ready();
        } else {
            Poll<Out> p = fut_.poll(cx);
            if (p.is_pending()) return false;
            result_.emplace(std::move(p).take());
            return true;
        }
    }
    static bool poll_thunk(LeafAwaiter* self, Context& cx) { return static_cast<FutureAwaiter*>(self)->poll_once(cx); }
    static void describe_thunk(const LeafAwaiter* self, DescribeSink& out) noexcept {
        describe_future(static_cast<const FutureAwaiter*>(self)->fut_, out);
    }
    static constexpr LeafOps kOps{&poll_thunk, &describe_thunk};

    F& fut_;
    [[no_unique_address]] Result result_ = Result();
};

/// Writes the chain of frames suspended on `leaf` into `out`, root first.
inline void describe_leaf_chain(const LeafAwaiter* leaf, ChainBuffer& out) noexcept {
    constexpr std::size_t kMaxWalk = 256;
    const PromiseBase* frames[kMaxWalk];
    std::size_t n = 0;
    std::size_t deeper = 0;
    for (const PromiseBase* p = leaf->owner; p != nullptr; p = p->parent()) {
        if (n < kMaxWalk) {
            frames[n++] = p;  // innermost first
        } else {
            ++deeper;
        }
    }
    // frames[n - 1] is the outermost we reached; print root side first. A
    // chain deeper than the buffer keeps its outer and inner ends.
    constexpr std::size_t kHalf = ChainBuffer::kMaxLevels / 2;
    std::size_t keep = n;
    out.skipped = deeper;
    if (n > ChainBuffer::kMaxLevels) {
        out.skipped += n - ChainBuffer::kMaxLevels;
        keep = ChainBuffer::kMaxLevels;
    }
    for (std::size_t k = 0; k < keep; ++k) {
        std::size_t i = (keep == n || k < kHalf) ? n - 1 - k : keep - 1 - k;
        ChainLevel* level = out.add();
        if (level == nullptr) return;
        level->where = frames[i]->site_;
        if (i == 0) {
            DescribeSink sink(level->what, sizeof level->what);
            leaf->ops->describe(leaf, sink);
            level->what_len = static_cast<std::uint16_t>(sink.size());
        }
    }
}

/// Drives a chain whose outermost frame is `outer`: re-polls its leaf when it
/// has one (false when that is still Pending) and resumes the leaf's frame,
/// or starts `outer`. Task and AsyncGenerator poll through this.
// Always inlined: it is the body of every Task and generator poll, and a
// call of its own cost a yield about a tenth more instructions.
[[gnu::always_inline]] inline bool resume_chain(LeafAwaiter*& leaf_slot, std::coroutine_handle<> outer, Context& cx) {
    struct ScopeGuard {
        explicit ScopeGuard(PollScope* scope) noexcept : saved(std::exchange(current_poll_scope, scope)) {}
        ScopeGuard(const ScopeGuard&) = delete;
        ScopeGuard& operator=(const ScopeGuard&) = delete;
        ~ScopeGuard() { current_poll_scope = saved; }
        PollScope* saved;
    };
    PollScope scope{&leaf_slot, &cx};
    ScopeGuard guard(&scope);
    if (LeafAwaiter* leaf = leaf_slot) {
        try {
            PollingLeaf polling(leaf);
            if (!leaf->ops->poll(leaf, cx)) return false;
        } catch (...) {
            leaf->owner->exception_ = std::current_exception();  // rethrown by the leaf's await_resume
        }
        leaf_slot = nullptr;
        leaf->owner->frame().resume();
    } else {
        outer.resume();
    }
    return true;
}

/// The promise of a frame that a chain can borrow rather than own: an
/// AsyncGenerator's. `co_await stream::next(gen)` in a Task resumes the
/// generator's frame by symmetric transfer, lent to the awaiting frame
/// (lend_to), and the generator's co_yield transfers straight back. While lent
/// and waiting, the generator's leaf is the borrowing chain's leaf. If that
/// chain is destroyed meanwhile, destroy_chain gives the generator its leaf
/// back (`leaf_`) and its borrower's awaiter becomes the leaf of the frames
/// above: the generator lives on, owned by its AsyncGenerator.
struct LendablePromise : PromiseBase {
    LeafAwaiter* leaf_ = nullptr;      // the leaf of the generator's own chain, while not lent
    LeafAwaiter* borrower_ = nullptr;  // while lent: the awaiter in the parent frame, a LeafAwaiter
                                       // that can poll the generator as a future instead
};

/// Destroys a chain innermost-first (constant stack at any depth): every
/// frame suspended below `outer` on `leaf` (if any), then `outer`. Lent
/// frames in the chain (LendablePromise), and the frames below each that it
/// owns, are handed back to their generators instead, not destroyed.
inline void destroy_chain(LeafAwaiter* leaf, std::coroutine_handle<> outer) noexcept {
    if (leaf != nullptr) {
        // First give every lent generator its part of the chain back, so no
        // destructor below runs while a generator still points into it.
        PromiseBase* owned = leaf->owner;  // the innermost frame this chain owns
        for (PromiseBase* p = leaf->owner; p != nullptr;) {
            PromiseBase* parent = p->parent();
            if (p->lent()) {  // a lent frame always has a parent: its borrower
                auto* generator = static_cast<LendablePromise*>(p);
                generator->leaf_ = leaf;
                generator->set_parent(nullptr);
                leaf = std::exchange(generator->borrower_, nullptr);
                leaf->owner = parent;  // the frames above now wait by polling the generator
                owned = parent;
            }
            p = parent;
        }
        for (PromiseBase* promise = owned; PromiseBase* parent = promise->parent();) {
            promise->frame().destroy();  // frees `promise`; its parent was read first
            promise = parent;
        }
    }
    outer.destroy();
}

template <class T>
struct TaskPromise;

/// Awaits a child Task. A fresh child is started by symmetric transfer and
/// becomes part of this chain; a child that was already polled elsewhere (it
/// has its own leaf) is polled as an ordinary future instead.
template <class T>
class TaskAwaiter : public LeafAwaiter {
    using Result = std::conditional_t<std::is_void_v<T>, NoResult, std::optional<T>>;

public:
    explicit TaskAwaiter(Task<T>& task) noexcept : task_(task) { ops = &kOps; }
    TaskAwaiter(const TaskAwaiter&) = delete;
    TaskAwaiter& operator=(const TaskAwaiter&) = delete;

    bool await_ready() {
        if (!task_.valid()) throw std::logic_error("corio: co_await on an empty Task (moved from or already awaited)");
        if (!task_.started()) return false;
        return poll_once(*current_poll_scope->cx);
    }

    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
        if (task_.started()) {  // suspend on it as on any leaf future
            owner = &parent.promise();
            *current_poll_scope->leaf_slot = this;
            return std::noop_coroutine();
        }
        child_ = task_.release();
        child_.promise().set_parent(&parent.promise());
        return child_;
    }

    T await_resume() {
        if (!child_) {
            if (owner != nullptr) owner->rethrow_if_failed();
            if constexpr (std::is_void_v<T>) {
                return;
            } else {
                return std::move(*result_);
            }
        }
        // The child is at its final suspend point: take its result, free its frame.
        auto child = std::exchange(child_, nullptr);
        struct Destroy {
            std::coroutine_handle<> h;
            ~Destroy() { h.destroy(); }
        } destroy{child};
        child.promise().rethrow_if_failed();
        if constexpr (!std::is_void_v<T>) return std::move(*child.promise().value_);
    }

    // No destructor work: a child still suspended when its parent is destroyed
    // was destroyed first by the outermost Task (innermost-first teardown).

private:
    bool poll_once(Context& cx) {
        if constexpr (std::is_void_v<T>) {
            return task_.poll(cx).is_ready();
        } else {
            Poll<T> p = task_.poll(cx);
            if (p.is_pending()) return false;
            result_.emplace(std::move(p).take());
            return true;
        }
    }
    static bool poll_thunk(LeafAwaiter* self, Context& cx) { return static_cast<TaskAwaiter*>(self)->poll_once(cx); }
    static void describe_thunk(const LeafAwaiter*, DescribeSink& out) noexcept {
        out << "Task (started elsewhere, polled as a future)";
    }
    static constexpr LeafOps kOps{&poll_thunk, &describe_thunk};

    Task<T>& task_;
    std::coroutine_handle<TaskPromise<T>> child_;
    [[no_unique_address]] Result result_ = Result();
};

/// A future that names its own awaiter for use inside a corio coroutine
/// (`using Awaiter = ...`, constructible from the future by reference), as
/// stream::next on an AsyncGenerator does to resume it in place.
template <class F>
concept HasOwnAwaiter = Future<F> && requires { typename F::Awaiter; };

// Each await_transform records where the frame suspends (the default
// argument is evaluated at the co_await expression): one 8-byte store.
// `Base` is PromiseBase, or LendablePromise for a generator.
template <class Base = PromiseBase>
struct TaskTransform : Base {
    template <class U>
    TaskAwaiter<U> await_transform(Task<U>&& task,
                                   std::source_location site = std::source_location::current()) noexcept {
        this->site_ = site;
        return TaskAwaiter<U>(task);
    }
    template <class U>
    TaskAwaiter<U> await_transform(Task<U>& task,
                                   std::source_location site = std::source_location::current()) noexcept {
        this->site_ = site;
        return TaskAwaiter<U>(task);
    }
    template <class F>
        requires Future<std::remove_cvref_t<F>> && (!HasOwnAwaiter<std::remove_cvref_t<F>>)
    FutureAwaiter<std::remove_reference_t<F>> await_transform(
        F&& fut, std::source_location site = std::source_location::current()) noexcept {
        this->site_ = site;
        return FutureAwaiter<std::remove_reference_t<F>>(fut);
    }
    template <class F>
        requires HasOwnAwaiter<std::remove_cvref_t<F>>
    typename std::remove_cvref_t<F>::Awaiter await_transform(
        F&& fut, std::source_location site = std::source_location::current()) noexcept {
        this->site_ = site;
        return typename std::remove_cvref_t<F>::Awaiter(fut);
    }
    template <class A>
    A&& await_transform(A&& other, std::source_location = std::source_location::current()) {
        static_assert(Future<std::remove_cvref_t<A>>,
                      "co_await inside a corio::Task needs a corio::Future (a type with "
                      "`using Output` and `Poll<Output> poll(Context&)`) or a corio::Task");
        return std::forward<A>(other);
    }
};

template <class T>
struct TaskPromise : TaskTransform<> {
    static_assert(!std::is_reference_v<T>, "Task<T&> is not supported: return a pointer or std::reference_wrapper");
    std::optional<T> value_;

    Task<T> get_return_object() noexcept;
    template <class U = T>
        requires std::constructible_from<T, U&&>
    void return_value(U&& value) {
        value_.emplace(std::forward<U>(value));
    }
};

template <>
struct TaskPromise<void> : TaskTransform<> {
    Task<void> get_return_object() noexcept;
    void return_void() noexcept {}
};

}  // namespace detail

/// A lazy coroutine producing a `T`; a Future<T>.
///
/// Calling a coroutine that returns Task runs nothing: the body starts when
/// the Task is first polled (awaited with `co_await`, spawned, or given to
/// `block_on`). Inside, `co_await` accepts any corio::Future and any Task.
/// An exception escaping the body is rethrown to whoever awaits the Task.
/// Destroying a Task destroys its frame and every frame and future it is
/// awaiting, running their destructors: that is cancellation.
template <class T>
class CORIO_NODISCARD_FUTURE Task {
public:
    using Output = T;
    using promise_type = detail::TaskPromise<T>;
    using Handle = std::coroutine_handle<promise_type>;

    /// An empty Task (as after a move); polling or awaiting it throws std::logic_error.
    Task() noexcept = default;
    explicit Task(Handle h) noexcept : h_(h) {}
    Task(Task&& other) noexcept : h_(std::exchange(other.h_, nullptr)), leaf_(std::exchange(other.leaf_, nullptr)) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            destroy();
            h_ = std::exchange(other.h_, nullptr);
            leaf_ = std::exchange(other.leaf_, nullptr);
        }
        return *this;
    }
    ~Task() { destroy(); }

    /// True while the Task holds a coroutine (not moved from, not completed).
    bool valid() const noexcept { return static_cast<bool>(h_); }
    explicit operator bool() const noexcept { return valid(); }

    /// Drives the coroutine. Throws std::logic_error when the Task is empty;
    /// rethrows the body's exception when it failed.
    Poll<T> poll(Context& cx) {
        if (!h_) throw std::logic_error("corio: polled an empty Task (moved from, or already completed)");
        if (!detail::resume_chain(leaf_, h_, cx)) return Pending;
        if (!h_.done()) return Pending;
        return take_result();
    }

    /// True once polled and suspended (it has a leaf); false while fresh.
    bool started() const noexcept { return leaf_ != nullptr; }

    /// Gives up the coroutine handle without destroying it (for awaiting as a child).
    Handle release() noexcept { return std::exchange(h_, nullptr); }

    /// The await chain this Task is suspended on, root first (task dumps).
    /// Only while it is not being polled on another thread.
    void describe_chain(detail::ChainBuffer& out) const noexcept {
        if (!h_) return;
        if (leaf_ == nullptr) {
            out.started = false;
            return;
        }
        detail::describe_leaf_chain(leaf_, out);
    }

private:
    Poll<T> take_result() {
        Handle h = std::exchange(h_, nullptr);
        struct Destroy {
            Handle h;
            ~Destroy() { h.destroy(); }
        } destroy{h};
        h.promise().rethrow_if_failed();
        if constexpr (std::is_void_v<T>) {
            return Ready();
        } else {
            return Poll<T>(std::in_place, std::move(*h.promise().value_));
        }
    }

    // Destroys the chain innermost-first, so any depth needs constant stack.
    void destroy() noexcept {
        if (h_) detail::destroy_chain(std::exchange(leaf_, nullptr), std::exchange(h_, nullptr));
    }

    Handle h_;
    detail::LeafAwaiter* leaf_ = nullptr;
};

static_assert(Future<Task<int>>);
static_assert(Future<Task<void>>);

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
    return Task<T>(PromiseBase::handle_of(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept { return Task<void>(PromiseBase::handle_of(*this)); }
}  // namespace detail

namespace task {

/// The future of `yield_now()`: pending once (after waking its task), then ready.
class CORIO_NODISCARD_FUTURE YieldNow {
public:
    using Output = void;
    Poll<void> poll(Context& cx) {
        if (yielded_) return Ready();
        yielded_ = true;
        cx.waker().wake_by_ref();
        return Pending;
    }

private:
    bool yielded_ = false;
};

/// Gives the scheduler a chance to run other tasks: the awaiting task is
/// re-queued at the back of the run queue (on the current_thread runtime,
/// after the next poll of the I/O driver and timers). Cancellation-safe.
inline YieldNow yield_now() noexcept { return {}; }

}  // namespace task

}  // namespace corio
