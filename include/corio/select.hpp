// Combinators over several futures: join, try_join, select, select_biased,
// and for select the branch adaptors when() (a branch switched off by a
// condition) and on() (a branch with the handler of its output, for
// select_with and select_biased_with).
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
// std::logic_error. A branch disabled with when() is never polled.
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

#include "corio/detail/describe.hpp"
#include "corio/detail/sync.hpp"
#include "corio/future.hpp"

// GCC 12 at -O2 warns that the Poll<std::variant<...>> a select returns
// "may be used uninitialized" when a branch's output holds a std::expected:
// a false positive (the value is engaged on every path that reads it) that
// would break users' -Werror builds, so it is silenced for this header only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace corio {

template <class A>
class When;

template <class A, class H>
class On;

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

    /// A plain branch is always enabled.
    static constexpr bool enabled() noexcept { return true; }

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

    /// A plain branch is always enabled.
    static constexpr bool enabled() noexcept { return true; }

private:
    F* fut_;
};

/// A branch made with when(): the branch of its future (owned or borrowed as
/// the When says) and the switch. A disabled one is never polled.
template <class A>
class Branch<When<A>> : public Branch<A> {
public:
    explicit Branch(When<A>&& branch) : Branch<A>(std::move(branch).future()), enabled_(branch.enabled()) {}

    bool enabled() const noexcept { return enabled_; }

private:
    bool enabled_;
};

/// A named When: its future is borrowed where the When holds it.
template <class A>
class Branch<When<A>&> : public Branch<std::remove_reference_t<A>&> {
public:
    explicit Branch(When<A>& branch)
        : Branch<std::remove_reference_t<A>&>(branch.future()), enabled_(branch.enabled()) {}

    bool enabled() const noexcept { return enabled_; }

private:
    bool enabled_;
};

template <class T>
inline constexpr bool is_when_v = false;
template <class A>
inline constexpr bool is_when_v<When<A>> = true;

template <class T>
inline constexpr bool is_on_v = false;
template <class A, class H>
inline constexpr bool is_on_v<On<A, H>> = true;

/// False, but only once `Ts` is known: for a static_assert in a template
/// that must be instantiated to fail.
template <class... Ts>
inline constexpr bool dependent_false_v = false;

/// An argument a combinator accepts: a non-const Future, by lvalue or rvalue.
template <class A>
concept CombinatorArg = Future<std::remove_cvref_t<A>> && !std::is_const_v<std::remove_reference_t<A>>;

/// An argument select() accepts: a CombinatorArg or a non-const When.
template <class A>
concept SelectArg =
    CombinatorArg<A> || (is_when_v<std::remove_cvref_t<A>> && !std::is_const_v<std::remove_reference_t<A>>);

/// The output of the future a select argument `A` runs (through a When).
template <class A>
struct SelectArgOutput {
    using type = output_of<std::remove_cvref_t<A>>;
};
template <class A>
    requires is_when_v<std::remove_cvref_t<A>>
struct SelectArgOutput<A> {
    using type = typename std::remove_cvref_t<A>::Output;
};
template <class A>
using select_arg_output_t = typename SelectArgOutput<A>::type;

/// The state of select's per-thread random stream; 0 until first used. A
/// simulation (corio::sim) sets it from its seed for the length of a run.
inline thread_local std::uint32_t select_random_state = 0;

/// A cheap per-thread xorshift32 stream for select's random start.
inline std::uint32_t next_select_random() noexcept {
    std::uint32_t& state = select_random_state;
    if (state == 0) {
        static constinit corio::detail::Atomic<std::uint32_t> seed_counter{0};
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
class CORIO_NODISCARD_FUTURE Join {
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
class CORIO_NODISCARD_FUTURE TryJoin {
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
/// argument position (std::monostate for void outputs; a when() branch has
/// the output of its future, enabled or not).
///
/// When `Biased` is false each poll starts at a random enabled branch
/// (fair among the enabled ones); when true branches are polled in argument
/// order. A branch disabled with when() is never polled. The losers are
/// destroyed before poll returns Ready (borrowed ones are left as they
/// are). Cancellation-safe exactly when every owned branch is: dropping a
/// Select drops its owned branches and whatever progress they had made; a
/// borrowed branch keeps its state.
template <bool Biased, class... As>
class CORIO_NODISCARD_FUTURE Select {
    static_assert(sizeof...(As) >= 1, "corio::select needs at least one future");

public:
    using Output = std::variant<typename detail::Branch<As>::Output...>;

    explicit Select(As&&... futs) : branches_(detail::Branch<As>(std::forward<As>(futs))...) {}

    /// For task dumps: "select(sync::Notify::Notified, net::TcpListener::Accept)".
    void describe(detail::DescribeSink& out) const noexcept {
        out << (Biased ? "select_biased(" : "select(");
        bool first = true;
        ((out << (first ? "" : ", "), first = false,
          detail::write_short_type_name(detail::type_name<std::remove_cvref_t<As>>(), out)),
         ...);
        out << ")";
    }

    /// Ready with the winner's output. Rethrows a branch's exception (the
    /// branches polled before it keep their state); throws std::logic_error
    /// when polled after Ready, or when every branch is disabled (it could
    /// never finish).
    Poll<Output> poll(Context& cx) {
        if (finished_) throw std::logic_error("corio: select polled after it completed");
        constexpr std::size_t n = sizeof...(As);
        const std::size_t start = first_to_poll();
        Poll<Output> result = Pending;
        for (std::size_t k = 0; k < n; ++k) {
            std::size_t index = start + k;
            if (index >= n) index -= n;
            if (!enabled_at(index, std::index_sequence_for<As...>{})) continue;
            if (poll_at(index, cx, result, std::index_sequence_for<As...>{})) {
                finished_ = true;
                drop_all(std::index_sequence_for<As...>{});
                return result;
            }
        }
        return Pending;
    }

private:
    static constexpr bool kSwitchable = (detail::is_when_v<std::remove_cvref_t<As>> || ...);

    /// The branch this poll starts at: the first (biased) or a random one
    /// (fair), counting enabled branches only, so that a disabled branch
    /// does not double the chances of the one after it.
    std::size_t first_to_poll() const {
        constexpr std::size_t n = sizeof...(As);
        if constexpr (!kSwitchable) {
            return Biased || n == 1 ? 0 : detail::select_random_index(n);
        } else {
            const std::size_t enabled = enabled_count(std::index_sequence_for<As...>{});
            if (enabled == 0) throw std::logic_error("corio::select: every branch is disabled");
            std::size_t nth = 0;
            if constexpr (!Biased) nth = enabled > 1 ? detail::select_random_index(enabled) : 0;
            for (std::size_t index = 0; index < n; ++index) {
                if (!enabled_at(index, std::index_sequence_for<As...>{})) continue;
                if (nth == 0) return index;
                --nth;
            }
            return 0;  // unreachable: nth < enabled
        }
    }

    template <std::size_t... I>
    std::size_t enabled_count(std::index_sequence<I...>) const noexcept {
        return (std::size_t{0} + ... + static_cast<std::size_t>(std::get<I>(branches_).enabled()));
    }

    template <std::size_t... I>
    bool enabled_at(std::size_t index, std::index_sequence<I...>) const noexcept {
        if constexpr (!kSwitchable) {
            return true;
        } else {
            bool enabled = false;
            (void)((index == I && (enabled = std::get<I>(branches_).enabled(), true)) || ...);
            return enabled;
        }
    }

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

/// A select branch that can be switched off, made by when(): Tokio's
/// `select! { v = fut, if cond => ... }`. Not a future itself: it is only an
/// argument of select(), select_biased() and on(). `A` is `F` (the future
/// moved in, owned) or `F&` (borrowed). Output is F's output, so a select's
/// variant has the same shape whether the branch is enabled or not.
template <class A>
class [[nodiscard("a corio::when() branch does nothing unless passed to select() or on()")]] When {
public:
    using Output = output_of<std::remove_cvref_t<A>>;

    When(bool enabled, A&& fut) : fut_(std::forward<A>(fut)), enabled_(enabled) {}

    /// Whether the select may poll the future.
    bool enabled() const noexcept { return enabled_; }

    /// The future, to be moved out (owned) or referred to (borrowed).
    A&& future() && noexcept { return std::forward<A>(fut_); }
    std::remove_reference_t<A>& future() & noexcept { return fut_; }

private:
    A fut_;
    bool enabled_;
};

namespace detail {

/// Whether handler `H` takes output `Out` (no argument for void), and what
/// it returns then.
template <class H, class Out>
struct HandlerResult {
    static constexpr bool invocable = std::is_invocable_v<H&, Out&&>;
    using type = std::invoke_result_t<H&, Out&&>;
};
template <class H>
struct HandlerResult<H, void> {
    static constexpr bool invocable = std::is_invocable_v<H&>;
    using type = std::invoke_result_t<H&>;
};

}  // namespace detail

/// A select branch with the handler of its output, made by on(): an
/// argument of select_with() and select_biased_with() only. `A` is what
/// on() deduced for the branch: a future (`F` owned, `F&` borrowed) or a
/// When; `H` is the handler, held by value.
template <class A, class H>
class [[nodiscard("a corio::on() branch does nothing unless passed to select_with()")]] On {
    using Out = detail::select_arg_output_t<A>;
    static_assert(detail::HandlerResult<H, Out>::invocable,
                  "corio::on: the handler must be callable with the future's output "
                  "(with no argument when the output is void)");

public:
    using Arg = A;
    using Handler = H;
    /// What the handler returns.
    using Result = typename detail::HandlerResult<H, Out>::type;

    On(A&& branch, H handler) : branch_(std::forward<A>(branch)), handler_(std::move(handler)) {}

    /// The branch, to be moved out (owned) or referred to (borrowed).
    A&& branch() && noexcept { return std::forward<A>(branch_); }
    /// The handler, moved out.
    H&& handler() && noexcept { return std::move(handler_); }

private:
    A branch_;
    H handler_;
};

namespace detail {

/// What common_handler_result() gives when the results have no common type
/// (SelectWith then fails its static_assert).
struct NoCommonHandlerResult {
    using type = void;
};

/// void when every handler returns void; else the common type of the
/// results, or NoCommonHandlerResult when there is none.
template <class... Rs>
constexpr auto common_handler_result() {
    if constexpr ((std::is_void_v<Rs> && ...)) {
        return std::type_identity<void>{};
    } else if constexpr (!(std::is_void_v<Rs> || ...) && requires { typename std::common_type<Rs...>::type; }) {
        return std::type_identity<std::common_type_t<Rs...>>{};
    } else {
        return NoCommonHandlerResult{};
    }
}

}  // namespace detail

/// The future of select_with() and select_biased_with(): a Select over the
/// branches of the On arguments, whose winner's output is passed to that
/// branch's handler; Output is what the handler returned (the common type
/// of all handlers' results, or void when they all return void).
///
/// The handler runs synchronously inside the poll that finds its branch
/// ready, after the losers were destroyed; the other handlers are destroyed
/// with the SelectWith. An exception from a branch or from the handler
/// propagates out of poll. Cancellation-safe exactly as the Select is: a
/// handler has not run until the poll that returns Ready.
template <bool Biased, class... Os>
class CORIO_NODISCARD_FUTURE SelectWith {
    static_assert((detail::is_on_v<Os> && ...), "corio::select_with: every branch must be made with corio::on()");
    using Inner = Select<Biased, typename Os::Arg...>;
    using Common = decltype(detail::common_handler_result<typename Os::Result...>());
    static_assert(!std::is_same_v<Common, detail::NoCommonHandlerResult>,
                  "corio::select_with: the handlers must all return void, or all return values with a common type");

public:
    using Output = typename Common::type;

    explicit SelectWith(Os&&... branches)
        : select_(std::move(branches).branch()...), handlers_(std::move(branches).handler()...) {}

    /// Ready with the winning handler's result. Rethrows what a branch or
    /// the handler throws; throws std::logic_error when polled after Ready,
    /// or when every branch is disabled.
    Poll<Output> poll(Context& cx) {
        auto p = select_.poll(cx);
        if (p.is_pending()) return Pending;
        return dispatch(std::move(p).take(), std::index_sequence_for<Os...>{});
    }

private:
    template <std::size_t... I>
    Poll<Output> dispatch(typename Inner::Output&& winner, std::index_sequence<I...>) {
        Poll<Output> result = Pending;
        (void)((winner.index() == I && (result = run_handler<I>(winner), true)) || ...);
        return result;
    }

    template <std::size_t I>
    Poll<Output> run_handler(typename Inner::Output& winner) {
        using Out = detail::select_arg_output_t<typename std::tuple_element_t<I, std::tuple<Os...>>::Arg>;
        auto& handler = std::get<I>(handlers_);
        if constexpr (std::is_void_v<Output>) {
            if constexpr (std::is_void_v<Out>) {
                handler();
            } else {
                handler(std::get<I>(std::move(winner)));
            }
            return Ready();
        } else if constexpr (std::is_void_v<Out>) {
            return Poll<Output>(std::in_place, handler());
        } else {
            return Poll<Output>(std::in_place, handler(std::get<I>(std::move(winner))));
        }
    }

    Inner select_;
    std::tuple<typename Os::Handler...> handlers_;
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

/// join() is given a when() branch: a compile error. join and try_join wait
/// for every future, so a branch that is never polled would never let them
/// finish; build the join from the enabled futures only, or use select().
template <class... Fs>
    requires(detail::is_when_v<std::remove_cvref_t<Fs>> || ...)
void join(Fs&&...) {
    static_assert(detail::dependent_false_v<Fs...>,
                  "corio::when() switches off a select branch; join waits for every future and takes none");
}

/// try_join() is given a when() branch: a compile error, as for join().
template <class... Fs>
    requires(detail::is_when_v<std::remove_cvref_t<Fs>> || ...)
void try_join(Fs&&...) {
    static_assert(detail::dependent_false_v<Fs...>,
                  "corio::when() switches off a select branch; try_join waits for every future and takes none");
}

/// A select branch that is enabled only when `enabled` is true: a disabled
/// branch is never polled (its future need not even be in a state where
/// polling it is allowed: a finished Task, a drained stream) and never makes
/// the select ready. Tokio's `select! { v = fut, if cond => ... }`. An
/// rvalue `fut` is moved in and owned by the select (destroyed with the
/// other losers, unpolled, when disabled); an lvalue is borrowed. The
/// branch keeps its position and output type in the select's variant. A
/// select whose branches are all disabled throws std::logic_error("corio::
/// select: every branch is disabled") from its first poll instead of waiting
/// for ever. Only for select(), select_biased() and on(): join() and
/// try_join() reject it at compile time. No allocation; cancellation-safe
/// exactly as `fut` is (and trivially when disabled).
///
///     while (!done) {
///         auto r = co_await corio::select(rx.recv(), corio::when(!set.is_empty(), set.join_next()));
///         ...
///     }
template <detail::CombinatorArg F>
When<F> when(bool enabled, F&& fut) {
    return When<F>(enabled, std::forward<F>(fut));
}

/// A select_with() branch: `fut` (a future, rvalue owned or lvalue borrowed,
/// or a when() branch) and the handler its output is passed to when it wins
/// (called with no argument for a void output). The handler is moved in and
/// runs synchronously inside the poll in which the branch wins; for async
/// follow-up work, return a value from it and co_await after the select.
/// No allocation.
template <detail::SelectArg F, class H>
On<F, std::decay_t<H>> on(F&& fut, H&& handler) {
    return On<F, std::decay_t<H>>(std::forward<F>(fut), std::forward<H>(handler));
}

/// Waits for the first of the futures to finish: a variant whose index is
/// the winner's position (also when two outputs have the same type), void
/// outputs as std::monostate. The losers are destroyed on the spot, before
/// the select returns. Fair: each poll starts at a random enabled branch.
/// Rvalue arguments are owned, lvalue arguments borrowed (never destroyed:
/// race a long-lived `time::Sleep` in a loop). A branch wrapped in when()
/// with a false condition is never polled; with every branch disabled the
/// first poll throws std::logic_error. Cancellation-safe exactly when every
/// owned branch is; a borrowed branch keeps its state. No allocation.
template <detail::SelectArg... Fs>
    requires(sizeof...(Fs) >= 1)
Select<false, Fs...> select(Fs&&... futs) {
    return Select<false, Fs...>(std::forward<Fs>(futs)...);
}

/// select() polling the enabled branches in argument order on every poll:
/// the earliest ready branch wins (use it to give one branch priority); the
/// losers are destroyed before it returns, as in select(). when() and the
/// every-branch-disabled error as in select(). Cancellation-safe exactly
/// when every owned branch is; a borrowed branch keeps its state. No
/// allocation.
template <detail::SelectArg... Fs>
    requires(sizeof...(Fs) >= 1)
Select<true, Fs...> select_biased(Fs&&... futs) {
    return Select<true, Fs...>(std::forward<Fs>(futs)...);
}

/// select() over branches made with on(), each winner's output handed to
/// its own handler: the result is what that handler returned (the common
/// type of every handler's result, or void when all return void). Because
/// each handler travels with its future, reordering the branches cannot
/// mismatch them, unlike an index into select()'s variant. Compose with
/// when(): `on(when(cond, fut), handler)`.
///
///     bool stop = co_await corio::select_with(
///         corio::on(listener.accept(), [&](auto accepted) { serve(std::move(accepted)); return false; }),
///         corio::on(ctrl_c, [](io::Result<void>) { return true; }));
///
/// The handler runs synchronously inside the poll where its branch wins,
/// after the losers were destroyed. Throws std::logic_error when every
/// branch is disabled, as select() does; an exception from a handler
/// propagates to the awaiter. Fair as select(). Cancellation-safe exactly
/// when every owned branch is (no handler has run before the result is
/// returned); a borrowed branch keeps its state. No allocation.
template <class... Fs, class... Hs>
    requires(sizeof...(Fs) >= 1)
SelectWith<false, On<Fs, Hs>...> select_with(On<Fs, Hs>&&... branches) {
    return SelectWith<false, On<Fs, Hs>...>(std::move(branches)...);
}

/// select_with() polling the enabled branches in argument order, as
/// select_biased() does. Cancellation-safe exactly when every owned branch
/// is. No allocation.
template <class... Fs, class... Hs>
    requires(sizeof...(Fs) >= 1)
SelectWith<true, On<Fs, Hs>...> select_biased_with(On<Fs, Hs>&&... branches) {
    return SelectWith<true, On<Fs, Hs>...>(std::move(branches)...);
}

/// An overload set of callables, for `std::visit` on a select's variant
/// when its alternatives have distinct types:
/// `std::visit(corio::overloaded{[](int n) {...}, [](std::monostate) {...}}, r)`.
/// Two branches with the same output type cannot be told apart this way:
/// use r.index() or select_with() then.
template <class... Fs>
struct overloaded : Fs... {  // NOLINT(readability-identifier-naming): the idiom's usual name (cppreference)
    using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

}  // namespace corio

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
