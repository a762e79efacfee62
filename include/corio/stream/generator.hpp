// AsyncGenerator<T>: a coroutine that co_yields values and co_awaits any
// future; a lazy Stream<T>.
//
// Two ways to drive it, one frame:
// - `co_await stream::next(gen)` inside a Task or generator lends the frame
//   to the awaiting chain (LendablePromise in task.hpp): the awaiter resumes
//   the generator by symmetric transfer and the generator's co_yield
//   transfers straight back, with `current_` pointing at the yielded value,
//   which lives in the generator's frame until the next resume. A pending
//   await inside the generator is then the awaiting Task's leaf. So an item
//   costs two coroutine switches and one move, and allocates nothing.
// - poll_next (adapters, select, a hand-written future) drives it as an
//   outermost Task is driven (task.hpp): the generator keeps its own leaf
//   (`leaf_` in the promise) and a poll re-polls that leaf directly.
// A lent generator whose borrowing chain is destroyed gets its leaf back
// (destroy_chain) and can go on through either way.
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
class GeneratorNextAwaiter;

template <class T>
struct GeneratorPromise : TaskTransform<LendablePromise> {
    static_assert(std::is_object_v<T> && !std::is_const_v<T>,
                  "AsyncGenerator<T> yields values: T must be a non-const object type");

    // The yielded value, alive while suspended at its co_yield. (Left stale
    // by a lent frame's consumer, which tells a co_yield from the end by
    // done(); poll_next clears it, with the parent link, when it finds them.)
    T* current_ = nullptr;

    AsyncGenerator<T> get_return_object() noexcept;

    /// `co_yield rvalue`: the value is moved out by the consumer. The frame
    /// suspends back to the borrowing frame when lent, else out of the poll
    /// that resumed it (continuation()).
    ToParent yield_value(T&& value) noexcept {
        current_ = std::addressof(value);
        return {};
    }

    /// `co_yield lvalue`: a copy lives in the awaiter until the next resume.
    struct CopyAwaiter {
        T value;
        GeneratorPromise* promise;
        bool await_ready() const noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> self) noexcept {
            promise->current_ = std::addressof(value);
            return self.promise().continuation();
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
    AsyncGenerator(AsyncGenerator&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
    AsyncGenerator& operator=(AsyncGenerator&& other) noexcept {
        if (this != &other) {
            destroy();
            h_ = std::exchange(other.h_, nullptr);
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
        auto& promise = h_.promise();
        if (promise.parent_word_ != 0) [[unlikely]] {  // last driven by lending: clear what that left
            promise.set_parent(nullptr);               // a co_yield now returns from this poll
            promise.current_ = nullptr;
        }
        if (!detail::resume_chain(promise.leaf_, h_, cx)) return Pending;
        if (T* value = std::exchange(promise.current_, nullptr)) {
            return stream::detail::ready_item<T>(std::move(*value));
        }
        if (!h_.done()) return Pending;
        finish();
        return stream::detail::ready_end<T>();
    }

private:
    friend class detail::GeneratorNextAwaiter<T>;

    // Whether `co_await stream::next` can resume the frame in place: it is
    // at a co_yield or not started (not waiting on a leaf of its own).
    bool lendable() const noexcept { return h_ && h_.promise().leaf_ == nullptr; }

    // Lends the frame to `borrower` and returns it to resume.
    std::coroutine_handle<> lend(detail::PromiseBase& borrower, detail::LeafAwaiter& awaiter) noexcept {
        h_.promise().lend_to(&borrower);
        h_.promise().borrower_ = &awaiter;
        return h_;
    }

    // The lent frame came back, at a co_yield or at its end. (Its parent
    // link and current_ are left stale: lend() overwrites the link, and
    // poll_next clears both when it finds the link set.)
    [[gnu::always_inline]] std::optional<T> take_returned() {
        if (!h_.done()) [[likely]]
            return std::optional<T>(std::move(*h_.promise().current_));
        return take_end();
    }
    [[gnu::noinline]] std::optional<T> take_end() {
        finish();
        return std::nullopt;
    }

    // The body ended: free the frame, then rethrow its exception if any.
    void finish() {
        std::exception_ptr failure = std::exchange(h_.promise().exception_, nullptr);
        std::exchange(h_, nullptr).destroy();
        if (failure) std::rethrow_exception(failure);
    }

    // Destroys the chain innermost-first (as Task does), so any await depth
    // needs constant stack.
    void destroy() noexcept {
        if (!h_) return;
        detail::LeafAwaiter* leaf = std::exchange(h_.promise().leaf_, nullptr);
        detail::destroy_chain(leaf, std::exchange(h_, nullptr));
    }

    Handle h_;
};

static_assert(Stream<AsyncGenerator<int>>);

namespace stream {
/// stream::next on a generator: a future like any Next, with its own
/// awaiter inside corio coroutines (GeneratorNextAwaiter).
template <class T>
class CORIO_NODISCARD_FUTURE Next<AsyncGenerator<T>> {
public:
    using Output = std::optional<T>;
    using Awaiter = corio::detail::GeneratorNextAwaiter<T>;
    explicit Next(AsyncGenerator<T>& gen) noexcept : gen_(&gen) {}
    Poll<Output> poll(Context& cx) { return gen_->poll_next(cx); }
    AsyncGenerator<T>& generator() const noexcept { return *gen_; }

private:
    AsyncGenerator<T>* gen_;
};
}  // namespace stream

namespace detail {
template <class T>
AsyncGenerator<T> GeneratorPromise<T>::get_return_object() noexcept {
    return AsyncGenerator<T>(PromiseBase::handle_of(*this));
}

/// `co_await stream::next(gen)` inside a corio coroutine. A generator at a
/// co_yield (or not started) is lent to the awaiting frame and resumed by
/// symmetric transfer. One waiting on a leaf of its own (it was last driven
/// by poll_next) is polled as a future instead, and this awaiter is the
/// chain's leaf; so is it after destroy_chain hands a lent generator back.
template <class T>
class GeneratorNextAwaiter : public LeafAwaiter {
public:
    explicit GeneratorNextAwaiter(const stream::Next<AsyncGenerator<T>>& next) noexcept : gen_(next.generator()) {
        ops = &kOps;
    }
    GeneratorNextAwaiter(const GeneratorNextAwaiter&) = delete;
    GeneratorNextAwaiter& operator=(const GeneratorNextAwaiter&) = delete;

    // Always suspends: await_suspend decides between lending the frame and
    // polling the generator, so the hot path tests lendable() once.
    bool await_ready() const noexcept { return false; }

    template <class P>
    [[gnu::always_inline]] std::coroutine_handle<> await_suspend(std::coroutine_handle<P> self) noexcept {
        if (gen_.lendable()) [[likely]]
            return gen_.lend(self.promise(), *this);
        return poll_first(self.promise());
    }

    [[gnu::always_inline]] std::optional<T> await_resume() {
        if (owner == nullptr) [[likely]]
            return gen_.take_returned();  // the lent frame came back
        owner->rethrow_if_failed();       // a poll of the generator threw
        std::optional<T> out = std::move(result_);
        result_.~optional();
        return out;
    }
    // result_ is built by poll_once only when the poll is ready, and the
    // frame is then resumed at once, so await_resume always ends it.
    ~GeneratorNextAwaiter() {}

private:
    // Not lendable: poll the generator as a future; ready, or this awaiter
    // becomes the chain's leaf.
    [[gnu::noinline]] std::coroutine_handle<> poll_first(PromiseBase& self) noexcept {
        owner = &self;  // from here on the result comes from polling
        try {
            if (poll_once(*current_poll_scope->cx)) return self.frame();
        } catch (...) {
            owner->exception_ = std::current_exception();  // rethrown by await_resume
            return self.frame();
        }
        *current_poll_scope->leaf_slot = this;
        return std::noop_coroutine();
    }

    bool poll_once(Context& cx) {
        Poll<std::optional<T>> p = gen_.poll_next(cx);
        if (p.is_pending()) return false;
        std::construct_at(&result_, std::move(p).take());
        return true;
    }
    static bool poll_thunk(LeafAwaiter* self, Context& cx) {
        return static_cast<GeneratorNextAwaiter*>(self)->poll_once(cx);
    }
    static void describe_thunk(const LeafAwaiter*, DescribeSink& out) noexcept {
        out << "stream::next(AsyncGenerator) (polled as a future)";
    }
    static constexpr LeafOps kOps{&poll_thunk, &describe_thunk};

    AsyncGenerator<T>& gen_;
    union {  // the item of a poll_once that was ready; no store on the lent path
        std::optional<T> result_;
    };
};
}  // namespace detail

}  // namespace corio
