// The core model: Poll, Waker, Context and the Future concept.
//
// A future is a value with `poll(Context&)`. Polling either finishes it
// (`Ready(value)`) or returns `Pending` after the future stored the context's
// waker; whoever owns the future polls it again only once that waker was
// woken. Destroying a future cancels it.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

/// Marks a future type: a corio future does nothing until it is awaited
/// (or spawned), so discarding one is almost always a forgotten co_await.
/// Every future type of the library carries it (tests/nodiscard/ checks that
/// dropping each one fails to compile under -Werror=unused-result);
/// JoinHandle does not, since dropping it detaches the task, as in Tokio.
#define CORIO_NODISCARD_FUTURE \
    [[nodiscard("a corio future does nothing unless it is awaited with co_await (or spawned)")]]

namespace corio {

/// Tag type of `Pending`.
struct PendingT {
    explicit constexpr PendingT() = default;
};

/// The value a future's `poll` returns when it cannot finish yet.
inline constexpr PendingT Pending{};

/// The result of polling a future: either ready with a `T`, or pending.
///
/// Deliberately not implicitly constructible from `T` (a `Poll<bool>` built
/// from `false` by accident would be a silent bug): use `Ready(value)`.
template <class T>
class [[nodiscard]] Poll {
public:
    using value_type = T;

    Poll(PendingT) noexcept {}

    template <class... Args>
    explicit Poll(std::in_place_t, Args&&... args) : value_(std::in_place, std::forward<Args>(args)...) {}

    template <class U>
        requires(!std::same_as<U, T> && std::constructible_from<T, U &&>)
    Poll(Poll<U>&& other) {  // NOLINT: lets Ready(x) convert to Poll<T>, as Option<U> -> Option<T>
        if (other.is_ready()) value_.emplace(std::move(other).take());
    }

    bool is_ready() const noexcept { return value_.has_value(); }
    bool is_pending() const noexcept { return !value_.has_value(); }
    explicit operator bool() const noexcept { return is_ready(); }

    /// The ready value. Precondition: is_ready().
    T& value() & { return *value_; }
    const T& value() const& { return *value_; }
    T&& value() && { return std::move(*value_); }
    T& operator*() & { return *value_; }
    const T& operator*() const& { return *value_; }
    T&& operator*() && { return std::move(*value_); }
    T* operator->() { return &*value_; }
    const T* operator->() const { return &*value_; }

    /// Moves the ready value out. Precondition: is_ready().
    T take() && { return std::move(*value_); }

    /// Maps a ready value through `f`; pending stays pending.
    template <class F>
    auto map(F&& f) && -> Poll<std::decay_t<std::invoke_result_t<F, T&&>>> {
        if (!value_) return Pending;
        return Poll<std::decay_t<std::invoke_result_t<F, T&&>>>(std::in_place, std::forward<F>(f)(std::move(*value_)));
    }

private:
    std::optional<T> value_;
};

/// `Poll<void>`: ready (with no value) or pending.
template <>
class [[nodiscard]] Poll<void> {
public:
    using value_type = void;

    Poll(PendingT) noexcept {}
    explicit Poll(std::in_place_t) noexcept : ready_(true) {}

    bool is_ready() const noexcept { return ready_; }
    bool is_pending() const noexcept { return !ready_; }
    explicit operator bool() const noexcept { return ready_; }
    void take() && noexcept {}

private:
    bool ready_ = false;
};

/// A ready poll result holding `value`.
template <class T>
Poll<std::decay_t<T>> Ready(T&& value) {  // NOLINT(readability-identifier-naming): Rust's spelling (DESIGN 1)
    return Poll<std::decay_t<T>>(std::in_place, std::forward<T>(value));
}

/// A ready `Poll<void>`.
inline Poll<void> Ready() noexcept { return Poll<void>(std::in_place); }  // NOLINT(readability-identifier-naming)

struct RawWakerVTable;

/// A type-erased waker: a data pointer and the vtable that knows what it means.
struct RawWaker {
    const void* data = nullptr;
    const RawWakerVTable* vtable = nullptr;
};

/// The four operations of a raw waker, as in Rust's `RawWakerVTable`.
///
/// `clone` returns a new raw waker for the same target (taking a reference);
/// `wake` wakes the target and releases the waker's reference; `wake_by_ref`
/// wakes without releasing; `drop` releases without waking. Plain function
/// pointers, so ordinary functions can fill them.
struct RawWakerVTable {
    RawWaker (*clone)(const void* data);
    void (*wake)(const void* data);
    void (*wake_by_ref)(const void* data);
    void (*drop)(const void* data);
};

/// A handle that tells an executor a task can make progress.
///
/// Copying clones (takes a reference), moving transfers it, destruction drops
/// it. `wake()` consumes the waker; `wake_by_ref()` keeps it. Wakers may be
/// moved to, copied on and woken from any thread.
class Waker {
public:
    /// A waker that does nothing when woken.
    Waker() noexcept : raw_{nullptr, &noop_vtable_} {}

    /// Adopts a raw waker (its reference is now owned by the Waker).
    static Waker from_raw(RawWaker raw) noexcept { return Waker(raw); }

    /// A waker whose wake does nothing.
    static Waker noop() noexcept { return Waker(); }

    Waker(const Waker& other) : raw_(other.raw_.vtable->clone(other.raw_.data)) {}
    Waker(Waker&& other) noexcept : raw_(std::exchange(other.raw_, RawWaker{nullptr, &noop_vtable_})) {}
    Waker& operator=(const Waker& other) {
        if (this != &other) clone_from(other);
        return *this;
    }
    Waker& operator=(Waker&& other) noexcept {
        if (this != &other) {
            raw_.vtable->drop(raw_.data);
            raw_ = std::exchange(other.raw_, RawWaker{nullptr, &noop_vtable_});
        }
        return *this;
    }
    ~Waker() { raw_.vtable->drop(raw_.data); }

    /// Wakes the target and releases this waker (it becomes a no-op waker).
    void wake() && {
        RawWaker raw = std::exchange(raw_, RawWaker{nullptr, &noop_vtable_});
        raw.vtable->wake(raw.data);
    }

    /// Wakes the target; this waker stays valid.
    void wake_by_ref() const { raw_.vtable->wake_by_ref(raw_.data); }

    /// True when waking `other` would wake the same target as waking this.
    bool will_wake(const Waker& other) const noexcept {
        return raw_.data == other.raw_.data && raw_.vtable == other.raw_.vtable;
    }

    /// Makes this waker a clone of `other`, skipping the clone when both
    /// already wake the same target. What a leaf future calls to store the
    /// most recent waker.
    void clone_from(const Waker& other) {
        if (will_wake(other)) return;
        RawWaker fresh = other.raw_.vtable->clone(other.raw_.data);
        raw_.vtable->drop(raw_.data);
        raw_ = fresh;
    }

    /// True for wakers that do nothing (default-constructed, moved-from, noop()).
    bool is_noop() const noexcept { return raw_.vtable == &noop_vtable_; }

    /// The raw parts, still owned by this waker.
    const RawWaker& as_raw() const noexcept { return raw_; }

    /// Gives up ownership of the raw waker without dropping it.
    RawWaker into_raw() && noexcept { return std::exchange(raw_, RawWaker{nullptr, &noop_vtable_}); }

private:
    explicit Waker(RawWaker raw) noexcept : raw_(raw) {}

    static RawWaker noop_clone(const void*) { return RawWaker{nullptr, &noop_vtable_}; }
    static void noop_fn(const void*) {}
    static constexpr RawWakerVTable noop_vtable_{&noop_clone, &noop_fn, &noop_fn, &noop_fn};

    RawWaker raw_;
};

/// What a future's `poll` receives: the waker of the task polling it.
class Context {
public:
    explicit Context(const Waker& waker) noexcept : waker_(&waker) {}
    const Waker& waker() const noexcept { return *waker_; }

private:
    const Waker* waker_;
};

/// A future: `poll(cx)` returns `Poll<Output>`.
///
/// A future must not be moved after its first poll: coroutine frames and task
/// cells give it a stable address, and leaf futures (timers, sockets) hand
/// that address to drivers. Destroying it at any point cancels the work.
template <class F>
concept Future = requires(F& f, Context& cx) {
    typename F::Output;
    { f.poll(cx) } -> std::same_as<Poll<typename F::Output>>;
};

/// The output type of future `F`.
template <Future F>
using output_of = typename F::Output;

namespace detail {
/// A Waker that borrows a raw waker without owning its reference: built for
/// the span of one poll, never dropped.
class BorrowedWaker {
public:
    explicit BorrowedWaker(RawWaker raw) noexcept { new (&storage_) Waker(Waker::from_raw(raw)); }
    BorrowedWaker(const BorrowedWaker&) = delete;
    BorrowedWaker& operator=(const BorrowedWaker&) = delete;
    ~BorrowedWaker() { (void)std::move(owned()).into_raw(); }
    const Waker& get() const noexcept { return *std::launder(reinterpret_cast<const Waker*>(&storage_)); }

private:
    Waker& owned() noexcept { return *std::launder(reinterpret_cast<Waker*>(&storage_)); }
    alignas(Waker) unsigned char storage_[sizeof(Waker)];
};
}  // namespace detail

}  // namespace corio
