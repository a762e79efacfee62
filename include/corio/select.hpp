// Combinators over several futures: join, try_join, select, select_biased.
//
// Each combinator is itself a Future holding its branches in place (no heap
// allocation): an rvalue argument is moved in and owned (destroyed as soon as
// it is no longer needed), an lvalue argument is borrowed (polled where it
// lives, never destroyed), so a long-lived future such as a deadline Sleep can
// be raced again and again in a loop. Every branch is polled with the
// caller's waker, so whichever branch makes progress wakes the task that
// awaits the combinator, which then polls the unfinished branches again.
//
// Invariant: once a combinator has returned Ready it owns no future any more
// (select and try_join destroy their losers before returning Ready; join
// destroys each branch as soon as it finished), and polling it again throws
// std::logic_error.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "corio/future.hpp"

namespace corio {

namespace detail {

/// `T`, or std::monostate for void: what a combinator stores for an output.
template <class T>
using value_or_monostate_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// Polls `fut`, turning a void output into std::monostate.
template <class F>
Poll<value_or_monostate_t<output_of<F>>> poll_as_value(F& fut, Context& cx) {
    if constexpr (std::is_void_v<output_of<F>>) {
        if (fut.poll(cx).is_pending()) return Pending;
        return Ready(std::monostate{});
    } else {
        return fut.poll(cx);
    }
}

/// One argument of a combinator. `A` is what the factory deduced: `F` for an
/// rvalue (moved in and owned here) or `F&` for an lvalue (borrowed).
template <class A>
class Branch {
public:
    using Output = value_or_monostate_t<output_of<A>>;

    explicit Branch(A&& fut) : fut_(std::in_place, std::move(fut)) {}

    Poll<Output> poll(Context& cx) { return poll_as_value(*fut_, cx); }

    /// Destroys the owned future now (cancelling it).
    void drop() noexcept { fut_.reset(); }

private:
    std::optional<A> fut_;
};

template <class F>
class Branch<F&> {
public:
    using Output = value_or_monostate_t<output_of<F>>;

    explicit Branch(F& fut) noexcept : fut_(&fut) {}

    Poll<Output> poll(Context& cx) { return poll_as_value(*fut_, cx); }

    /// A borrowed future is never destroyed by the combinator.
    void drop() noexcept {}

private:
    F* fut_;
};

/// An argument a combinator accepts: a non-const Future, by lvalue or rvalue.
template <class A>
concept CombinatorArg = Future<std::remove_cvref_t<A>> && !std::is_const_v<std::remove_reference_t<A>>;

/// A cheap per-thread xorshift32 stream for select's random start.
inline std::uint32_t next_select_random() noexcept {
    thread_local std::uint32_t state = 0;
    if (state == 0) {
        static constinit std::atomic<std::uint32_t> seed_counter{0};
        std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(&state);
        std::uint32_t seed = static_cast<std::uint32_t>(addr ^ (addr >> 32)) * 2654435761u;
        // relaxed: the counter only makes the seeds of threads differ; it orders nothing.
        seed ^= (seed_counter.fetch_add(1, std::memory_order_relaxed) + 1) * 0x9E3779B9u;
        state = seed != 0 ? seed : 0x6A09E667u;
    }
    std::uint32_t x = state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    state = x;
    return x;
}

/// A random index in [0, n), n >= 1.
inline std::size_t select_random_index(std::size_t n) noexcept {
    return static_cast<std::size_t>((static_cast<std::uint64_t>(next_select_random()) * n) >> 32);
}

template <class T>
struct ExpectedTraits : std::false_type {};
template <class T, class E>
struct ExpectedTraits<std::expected<T, E>> : std::true_type {
    using Value = T;
    using Error = E;
};

template <class F>
using expected_value_t = typename ExpectedTraits<output_of<F>>::Value;
template <class F>
using expected_error_t = typename ExpectedTraits<output_of<F>>::Error;

}  // namespace detail

/// The future of join(): runs every branch to completion; Output is the
/// tuple of their outputs (std::monostate for void ones), in argument order.
///
/// Every poll polls each unfinished branch with the caller's waker; a branch
/// is destroyed as soon as it finished (its output kept). An exception from a
/// branch propagates out of poll; the other branches are destroyed with the
/// Join. Not cancellation-safe once a branch has finished: dropping it
/// mid-way drops the outputs already collected (a borrowed branch's too) and
/// the unfinished owned branches (each losing what it loses when dropped);
/// an unfinished borrowed branch keeps its state.
template <class... As>
class [[nodiscard]] Join {
public:
    using Output = std::tuple<typename detail::Branch<As>::Output...>;

    explicit Join(As&&... futs) : branches_(detail::Branch<As>(std::forward<As>(futs))...) {}

    /// Ready with every output once all branches finished. Rethrows a
    /// branch's exception; throws std::logic_error when polled after Ready.
    Poll<Output> poll(Context& cx) {
        if (finished_) throw std::logic_error("corio: join polled after it completed");
        bool all_done = true;
        poll_all(cx, all_done, std::index_sequence_for<As...>{});
        if (!all_done) return Pending;
        finished_ = true;
        return take_outputs(std::index_sequence_for<As...>{});
    }

private:
    template <std::size_t... I>
    void poll_all(Context& cx, bool& all_done, std::index_sequence<I...>) {
        ((all_done = poll_branch<I>(cx) && all_done), ...);
    }

    template <std::size_t I>
    bool poll_branch(Context& cx) {
        auto& out = std::get<I>(outputs_);
        if (out.has_value()) return true;
        auto& branch = std::get<I>(branches_);
        auto p = branch.poll(cx);
        if (p.is_pending()) return false;
        out.emplace(std::move(p).take());
        branch.drop();
        return true;
    }

    template <std::size_t... I>
    Poll<Output> take_outputs(std::index_sequence<I...>) {
        Poll<Output> ready(std::in_place, std::move(*std::get<I>(outputs_))...);
        (std::get<I>(outputs_).reset(), ...);
        return ready;
    }

    std::tuple<detail::Branch<As>...> branches_;
    std::tuple<std::optional<typename detail::Branch<As>::Output>...> outputs_;
    bool finished_ = false;
};

/// The future of try_join(): like Join for `std::expected<T_i, E>` outputs;
/// Output is `std::expected<std::tuple<T_i...>, E>` (std::monostate for void
/// T_i). The first error to arrive wins: every other branch is destroyed
/// before poll returns it. Not cancellation-safe once a branch has
/// succeeded: dropping it mid-way drops the values already collected (a
/// borrowed branch's too) and the unfinished owned branches (each losing
/// what it loses when dropped); an unfinished borrowed branch keeps its
/// state.
template <class... As>
class [[nodiscard]] TryJoin {
    using Error = detail::expected_error_t<std::remove_cvref_t<std::tuple_element_t<0, std::tuple<As...>>>>;
    static_assert((detail::ExpectedTraits<output_of<std::remove_cvref_t<As>>>::value && ...),
                  "corio::try_join: every future's Output must be a std::expected");
    static_assert((std::is_same_v<detail::expected_error_t<std::remove_cvref_t<As>>, Error> && ...),
                  "corio::try_join: every std::expected must have the same error type");

public:
    using Values = std::tuple<detail::value_or_monostate_t<detail::expected_value_t<std::remove_cvref_t<As>>>...>;
    using Output = std::expected<Values, Error>;

    explicit TryJoin(As&&... futs) : branches_(detail::Branch<As>(std::forward<As>(futs))...) {}

    /// Ready with every value once all branches succeeded, or with the first
    /// error (the others destroyed). Rethrows a branch's exception; throws
    /// std::logic_error when polled after Ready.
    Poll<Output> poll(Context& cx) {
        if (finished_) throw std::logic_error("corio: try_join polled after it completed");
        bool all_done = true;
        std::optional<Error> error;
        poll_all(cx, all_done, error, std::index_sequence_for<As...>{});
        if (error.has_value()) {
            finished_ = true;
            drop_all(std::index_sequence_for<As...>{});
            return Ready(Output(std::unexpect, std::move(*error)));
        }
        if (!all_done) return Pending;
        finished_ = true;
        return take_values(std::index_sequence_for<As...>{});
    }

private:
    template <std::size_t... I>
    void poll_all(Context& cx, bool& all_done, std::optional<Error>& error, std::index_sequence<I...>) {
        // Stops at the first error: the branches after it are not polled.
        ((error.has_value() || (all_done = poll_branch<I>(cx, error) && all_done)), ...);
    }

    template <std::size_t I>
    bool poll_branch(Context& cx, std::optional<Error>& error) {
        auto& out = std::get<I>(values_);
        if (out.has_value()) return true;
        auto& branch = std::get<I>(branches_);
        auto p = branch.poll(cx);
        if (p.is_pending()) return false;
        auto result = std::move(p).take();
        branch.drop();
        if (!result.has_value()) {
            error.emplace(std::move(result).error());
            return true;
        }
        if constexpr (std::is_void_v<typename decltype(result)::value_type>) {
            out.emplace();
        } else {
            out.emplace(std::move(*result));
        }
        return true;
    }

    template <std::size_t... I>
    void drop_all(std::index_sequence<I...>) noexcept {
        (std::get<I>(branches_).drop(), ...);
        (std::get<I>(values_).reset(), ...);
    }

    template <std::size_t... I>
    Poll<Output> take_values(std::index_sequence<I...>) {
        Poll<Output> ready(std::in_place, std::in_place, std::move(*std::get<I>(values_))...);
        (std::get<I>(values_).reset(), ...);
        return ready;
    }

    std::tuple<detail::Branch<As>...> branches_;
    std::tuple<std::optional<detail::value_or_monostate_t<detail::expected_value_t<std::remove_cvref_t<As>>>>...>
        values_;
    bool finished_ = false;
};

/// The future of select() and select_biased(): the first branch to finish
/// wins; Output is `std::variant<Out...>` whose index is the winner's
/// argument position (std::monostate for void outputs).
///
/// When `Biased` is false each poll starts at a random branch (fair); when
/// true branches are polled in argument order. The losers are destroyed
/// before poll returns Ready (borrowed ones are left as they are).
/// Cancellation-safe exactly when every owned branch is: dropping a Select
/// drops its owned branches and whatever progress they had made; a borrowed
/// branch keeps its state.
template <bool Biased, class... As>
class [[nodiscard]] Select {
    static_assert(sizeof...(As) >= 1, "corio::select needs at least one future");

public:
    using Output = std::variant<typename detail::Branch<As>::Output...>;

    explicit Select(As&&... futs) : branches_(detail::Branch<As>(std::forward<As>(futs))...) {}

    /// Ready with the winner's output. Rethrows a branch's exception (the
    /// branches polled before it keep their state); throws std::logic_error
    /// when polled after Ready.
    Poll<Output> poll(Context& cx) {
        if (finished_) throw std::logic_error("corio: select polled after it completed");
        constexpr std::size_t n = sizeof...(As);
        std::size_t start = 0;
        if constexpr (!Biased && n > 1) start = detail::select_random_index(n);
        Poll<Output> result = Pending;
        for (std::size_t k = 0; k < n; ++k) {
            std::size_t index = start + k;
            if (index >= n) index -= n;
            if (poll_at(index, cx, result, std::index_sequence_for<As...>{})) {
                finished_ = true;
                drop_all(std::index_sequence_for<As...>{});
                return result;
            }
        }
        return Pending;
    }

private:
    template <std::size_t... I>
    bool poll_at(std::size_t index, Context& cx, Poll<Output>& result, std::index_sequence<I...>) {
        bool ready = false;
        (void)((index == I && (ready = poll_branch<I>(cx, result), true)) || ...);
        return ready;
    }

    template <std::size_t I>
    bool poll_branch(Context& cx, Poll<Output>& result) {
        auto p = std::get<I>(branches_).poll(cx);
        if (p.is_pending()) return false;
        result = Poll<Output>(std::in_place, std::in_place_index<I>, std::move(p).take());
        return true;
    }

    template <std::size_t... I>
    void drop_all(std::index_sequence<I...>) noexcept {
        (std::get<I>(branches_).drop(), ...);
    }

    std::tuple<detail::Branch<As>...> branches_;
    bool finished_ = false;
};

/// Runs every future concurrently (on the awaiting task) and completes when
/// all have: a tuple of their outputs in argument order, std::monostate for
/// void outputs. Rvalue arguments are moved in and owned; lvalue arguments
/// are borrowed and polled in place (they must outlive the join). An
/// exception from any future propagates; the others are then destroyed with
/// the join. No allocation. Not cancellation-safe once a future has
/// finished: dropped mid-way, the join loses the outputs it already holds (a
/// borrowed future's too) and destroys its unfinished owned futures (each
/// losing what it loses when dropped); an unfinished borrowed future keeps
/// its state. Before any has finished it is exactly as safe as its owned
/// futures.
template <detail::CombinatorArg... Fs>
Join<Fs...> join(Fs&&... futs) {
    return Join<Fs...>(std::forward<Fs>(futs)...);
}

/// Like join() for futures whose outputs are `std::expected<T_i, E>` (one
/// E): `std::expected<std::tuple<T_i...>, E>`. The first error wins; the
/// other futures are destroyed at once, before it is returned. No
/// allocation. Not cancellation-safe once a future has succeeded: dropped
/// mid-way, it loses the values it already holds (a borrowed future's too)
/// and destroys its unfinished owned futures (each losing what it loses when
/// dropped); an unfinished borrowed future keeps its state. Before any has
/// finished it is exactly as safe as its owned futures.
template <detail::CombinatorArg... Fs>
    requires(sizeof...(Fs) >= 1)
TryJoin<Fs...> try_join(Fs&&... futs) {
    return TryJoin<Fs...>(std::forward<Fs>(futs)...);
}

/// Waits for the first of the futures to finish: a variant whose index is
/// the winner's position (also when two outputs have the same type), void
/// outputs as std::monostate. The losers are destroyed on the spot, before
/// the select returns. Fair: each poll starts at a random branch. Rvalue
/// arguments are owned, lvalue arguments borrowed (never destroyed: race a
/// long-lived `time::Sleep` in a loop). Cancellation-safe exactly when every
/// owned branch is; a borrowed branch keeps its state. No allocation.
template <detail::CombinatorArg... Fs>
    requires(sizeof...(Fs) >= 1)
Select<false, Fs...> select(Fs&&... futs) {
    return Select<false, Fs...>(std::forward<Fs>(futs)...);
}

/// select() polling the branches in argument order on every poll: the
/// earliest ready branch wins (use it to give one branch priority); the
/// losers are destroyed before it returns, as in select(). Cancellation-safe
/// exactly when every owned branch is; a borrowed branch keeps its state.
/// No allocation.
template <detail::CombinatorArg... Fs>
    requires(sizeof...(Fs) >= 1)
Select<true, Fs...> select_biased(Fs&&... futs) {
    return Select<true, Fs...>(std::forward<Fs>(futs)...);
}

}  // namespace corio
