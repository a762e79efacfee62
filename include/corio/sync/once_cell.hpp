// sync::OnceCell<T>: a value set at most once, with asynchronous
// initialisation (Tokio's `OnceCell`).
//
// A Semaphore with one permit serialises initialisers: whoever holds the
// permit runs its initialiser; success stores the value, publishes it
// (`initialized_`, release) and closes the semaphore, which releases every
// queued caller with AcquireError, meaning "the value is there". A failed,
// throwing or cancelled initialiser just returns the permit, so the next
// queued caller tries. Once set, the value never changes until the cell is
// destroyed.
#pragma once

#include <atomic>
#include <concepts>
#include <expected>
#include <functional>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "corio/detail/sync.hpp"
#include "corio/future.hpp"
#include "corio/sync/semaphore.hpp"

namespace corio::sync {

namespace detail {
template <class E>
struct IsExpected : std::false_type {};
template <class V, class E>
struct IsExpected<std::expected<V, E>> : std::true_type {};
}  // namespace detail

/// A cell written at most once, then read without locking. Must outlive the
/// futures of get_or_init / get_or_try_init.
template <class T>
class OnceCell {
    static_assert(std::is_object_v<T> && !std::is_array_v<T>, "OnceCell<T> needs a value type");

public:
    /// An empty cell.
    OnceCell() = default;
    /// A cell already holding `value`.
    explicit OnceCell(T value) : value_(std::move(value)) {
        initialized_.store(true, std::memory_order_relaxed);  // relaxed: nobody can see the cell yet
        sem_.close();
    }
    OnceCell(const OnceCell&) = delete;
    OnceCell& operator=(const OnceCell&) = delete;

    /// The value, or nullptr while the cell is not set.
    const T* get() const noexcept { return initialized() ? &*value_ : nullptr; }

    /// The value for modification (exclusive access to the cell required), or nullptr.
    T* get_mut() noexcept { return initialized() ? &*value_ : nullptr; }

    /// True once the value is set.
    bool initialized() const noexcept {
        return initialized_.load(std::memory_order_acquire);  // acquire: pairs with publish()'s release
    }

    /// Sets the value if the cell is empty and no initialiser is running;
    /// otherwise returns `value` back as the error.
    std::expected<void, T> set(T value) {
        auto permit = sem_.try_acquire(1);
        if (!permit) return std::unexpected(std::move(value));
        publish(std::move(value), *permit);
        return {};
    }

    /// The future of get_or_init(f).
    template <class F>
    class GetOrInit;
    /// The future of get_or_try_init(f).
    template <class F>
    class GetOrTryInit;

    /// The value, initialising it first with `co_await f()` if the cell is
    /// empty. Concurrent callers wait for one initialiser at a time; when it
    /// succeeds they all get its value. Awaiting yields a
    /// `std::reference_wrapper<const T>` (binds to `const T&`). `f()` must
    /// return a Future whose output converts to T (usually a Task<T>). An
    /// exception from `f` or its future propagates to this caller, and the
    /// next waiting caller runs its own initialiser.
    ///
    /// Cancellation-safe: dropped while waiting for another initialiser, it
    /// leaves the queue; dropped while its own initialiser runs, that
    /// initialiser is destroyed (cancelled) and the next waiting caller tries.
    /// The cell is never left half-set.
    template <class F>
    GetOrInit<F> get_or_init(F f) {
        return GetOrInit<F>(*this, std::move(f));
    }

    /// As get_or_init, for an initialiser whose future yields
    /// `std::expected<T, E>`: an error is returned to this caller (the cell
    /// stays empty and the next waiting caller tries). Yields
    /// `std::expected<std::reference_wrapper<const T>, E>`. Cancellation-safe,
    /// as get_or_init.
    template <class F>
    GetOrTryInit<F> get_or_try_init(F f) {
        return GetOrTryInit<F>(*this, std::move(f));
    }

private:
    /// Common part of the two init futures: acquiring the right to
    /// initialise, and running the initialiser's future. Yields the
    /// initialiser's output, or nullopt when the value is (now) set.
    template <class F>
    class InitDriver {
    public:
        using InitFuture = std::invoke_result_t<F&>;
        static_assert(Future<InitFuture>, "get_or_init: f() must return a corio::Future (e.g. a Task<T>)");
        using InitOutput = output_of<InitFuture>;

        InitDriver(OnceCell& cell, F f) : cell_(&cell), f_(std::move(f)), acquire_(cell.sem_, 1) {}
        /// Only before the first poll.
        InitDriver(InitDriver&& other) noexcept(std::is_nothrow_move_constructible_v<F>)
            : cell_(other.cell_), f_(std::move(other.f_)), acquire_(std::move(other.acquire_)) {}
        InitDriver& operator=(InitDriver&&) = delete;
        ~InitDriver() { abandon(); }

        OnceCell& cell() const noexcept { return *cell_; }

        /// Ready(nullopt) when the value is set; Ready(output) when this
        /// caller's initialiser finished (the caller then calls publish() or
        /// abandon()). Rethrows the initialiser's exception (after abandoning).
        Poll<std::optional<InitOutput>> poll(Context& cx) {
            if (!init_) {
                if (cell_->initialized()) return Ready(std::optional<InitOutput>());
                Poll<corio::detail::SemaphoreAcquire::Output> acquired = acquire_.poll(cx);
                if (acquired.is_pending()) return Pending;
                if (!acquired->has_value()) return Ready(std::optional<InitOutput>());  // closed: set by another
                holds_permit_ = true;
                if (cell_->initialized()) {  // set() cannot have won (it needs the permit), but be exact
                    abandon();
                    return Ready(std::optional<InitOutput>());
                }
                try {
                    init_.emplace(std::invoke(f_));
                } catch (...) {
                    abandon();
                    throw;
                }
            }
            Poll<InitOutput> out = poll_init(cx);
            if (out.is_pending()) return Pending;
            init_.reset();
            return Poll<std::optional<InitOutput>>(std::in_place, std::move(out).take());
        }

        /// Stores the value and releases the waiters; the permit is consumed.
        const T& publish(T&& value) {
            holds_permit_ = false;
            try {
                return cell_->publish_held(std::move(value));
            } catch (...) {
                cell_->sem_.release(1);  // T's construction threw: the next caller tries
                throw;
            }
        }

        /// Drops the initialiser (if running) and returns the permit (if held).
        void abandon() noexcept {
            init_.reset();
            if (std::exchange(holds_permit_, false)) cell_->sem_.release(1);
        }

    private:
        Poll<InitOutput> poll_init(Context& cx) {
            try {
                return init_->poll(cx);
            } catch (...) {
                abandon();
                throw;
            }
        }

        OnceCell* cell_;
        F f_;
        corio::detail::SemaphoreAcquire acquire_;
        std::optional<InitFuture> init_;
        bool holds_permit_ = false;
    };

    /// With the permit held (and forgotten): sets the value, publishes it and
    /// closes the semaphore, waking every waiting caller.
    const T& publish_held(T&& value) {
        value_.emplace(std::move(value));
        initialized_.store(true, std::memory_order_release);  // release: the value is written first
        sem_.close();
        return *value_;
    }

    void publish(T&& value, SemaphorePermit& permit) {
        permit.forget();
        try {
            publish_held(std::move(value));
        } catch (...) {
            sem_.release(1);
            throw;
        }
    }

    Semaphore sem_{1};
    corio::detail::Atomic<bool> initialized_{false};
    std::optional<T> value_;  // written once, before initialized_ is set
};

template <class T>
template <class F>
class CORIO_NODISCARD_FUTURE OnceCell<T>::GetOrInit {
    using Driver = InitDriver<F>;
    static_assert(std::convertible_to<typename Driver::InitOutput, T>,
                  "get_or_init: the initialiser's future must yield a value convertible to T");

public:
    using Output = std::reference_wrapper<const T>;

    GetOrInit(OnceCell& cell, F f) : driver_(cell, std::move(f)) {}

    /// Ready with the value; rethrows the initialiser's exception.
    Poll<Output> poll(Context& cx) {
        auto r = driver_.poll(cx);
        if (r.is_pending()) return Pending;
        if (!r->has_value()) return Ready(std::cref(*driver_.cell().get()));
        return Ready(std::cref(driver_.publish(T(std::move(**r)))));
    }

private:
    Driver driver_;
};

template <class T>
template <class F>
class CORIO_NODISCARD_FUTURE OnceCell<T>::GetOrTryInit {
    using Driver = InitDriver<F>;
    using InitOutput = typename Driver::InitOutput;
    static_assert(detail::IsExpected<InitOutput>::value,
                  "get_or_try_init: the initialiser's future must yield a std::expected<T, E>");
    using Error = typename InitOutput::error_type;

public:
    using Output = std::expected<std::reference_wrapper<const T>, Error>;

    GetOrTryInit(OnceCell& cell, F f) : driver_(cell, std::move(f)) {}

    /// Ready with the value or the initialiser's error; rethrows its exception.
    Poll<Output> poll(Context& cx) {
        auto r = driver_.poll(cx);
        if (r.is_pending()) return Pending;
        if (!r->has_value()) return Ready(Output(std::cref(*driver_.cell().get())));
        InitOutput& out = **r;
        if (!out.has_value()) {
            driver_.abandon();
            return Ready(Output(std::unexpect, std::move(out).error()));
        }
        return Ready(Output(std::cref(driver_.publish(T(std::move(*out))))));
    }

private:
    Driver driver_;
};

}  // namespace corio::sync
