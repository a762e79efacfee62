// Unix signals as async streams: signal::signal(SIGTERM).recv(), signal::ctrl_c().
//
// The first listener of a signal installs corio's handler for it, process
// wide and for good (as Tokio does): the signal's previous disposition,
// including a default action such as SIGINT terminating the process, no
// longer applies. The handler only bumps a per-signal counter and writes a
// byte to a self-pipe; listeners wait on that pipe through their runtime's
// reactor.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include "corio/future.hpp"
#include "corio/io.hpp"

namespace corio::detail {
struct SignalListener;
}  // namespace corio::detail

namespace corio::signal {

/// A stream of the arrivals of one signal, from the moment it was created.
///
/// Arrivals coalesce: several arrivals between two recv() calls complete
/// one recv(). Every Signal of the same signal number sees every arrival.
/// Arrivals before the Signal existed are not seen. Must be polled inside a
/// runtime (std::logic_error otherwise).
class Signal {
public:
    /// The future of recv().
    class CORIO_NODISCARD_FUTURE Recv {
    public:
        using Output = io::Result<void>;
        explicit Recv(Signal& signal) noexcept : signal_(&signal) {}
        Poll<Output> poll(Context& cx) { return signal_->poll_recv(cx); }

    private:
        Signal* signal_;
    };

    Signal(Signal&&) noexcept;
    Signal& operator=(Signal&&) noexcept;
    Signal(const Signal&) = delete;
    Signal& operator=(const Signal&) = delete;
    ~Signal();

    /// Completes at the next arrival not yet received (at once if one came
    /// since the last recv). Errors: invalid_argument (a signal number that
    /// cannot be caught: SIGKILL, SIGSTOP, SIGSEGV, SIGILL, SIGFPE, or out of
    /// range), the OS error that prevented installing the handler or
    /// registering with the reactor, bad_file_descriptor once the runtime
    /// shut down. Cancellation-safe: dropping it loses no arrival. The Signal
    /// must outlive the future and not move meanwhile.
    Recv recv() noexcept { return Recv(*this); }

    /// recv() as a poll function.
    Poll<io::Result<void>> poll_recv(Context& cx);

    /// The signal as a corio::Stream that never ends: one item per (coalesced)
    /// arrival, or the error recv() would report. Cancellation-safe as recv().
    using Item = io::Result<void>;
    /// poll_recv under the Stream name (never Ready(nullopt)).
    Poll<std::optional<Item>> poll_next(Context& cx) {
        return poll_recv(cx).map([](Item r) { return std::optional<Item>(std::move(r)); });
    }

    /// The signal number.
    int signum() const noexcept;

private:
    friend Signal signal(int signum);
    explicit Signal(std::unique_ptr<detail::SignalListener> listener) noexcept;

    std::unique_ptr<detail::SignalListener> listener_;
};

/// Listens for `signum` (SIGTERM, SIGHUP, SIGUSR1, ...) from now on,
/// installing corio's handler for it if this is the first listener. Errors
/// are reported by recv(); this never throws for them.
Signal signal(int signum);

/// The future of ctrl_c(): completes at the next SIGINT. It listens from its
/// creation on, and once Ready it may be polled again (for instance kept in
/// a select loop): it then waits for the SIGINT after that one, so a second
/// Ctrl-C can be told apart from the first.
class CORIO_NODISCARD_FUTURE CtrlC {
public:
    using Output = io::Result<void>;
    Poll<Output> poll(Context& cx) { return signal_.poll_recv(cx); }

private:
    friend CtrlC ctrl_c();
    explicit CtrlC(Signal signal) noexcept : signal_(std::move(signal)) {}
    Signal signal_;
};

/// Completes at the first SIGINT after this call (the handler is installed
/// here, so from then on SIGINT no longer terminates the process). Errors as
/// Signal::recv. Cancellation-safe.
CtrlC ctrl_c();

static_assert(Future<Signal::Recv> && Future<CtrlC>);

}  // namespace corio::signal
