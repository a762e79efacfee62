// Signal delivery: a sigaction handler feeding a process-global self-pipe,
// read through each listener's own registration with its runtime's reactor.
//
// The handler (async-signal-safe: lock-free atomics and write(2) only) bumps
// the signal's generation counter, then writes one byte to the pipe. A
// listener has received everything up to the generation it last saw.
// Every listener registers a dup of the pipe's read end with its reactor;
// whichever listener finds the pipe readable drains it and broadcasts: it
// wakes every waiting listener of each signal whose generation moved since
// the previous broadcast. The broadcast is needed because a drained pipe is
// no longer reported to the other epoll instances watching it.
//
// No lost wake-up: a listener stores its waker in the registry (under the
// mutex) before it re-reads the generation. A broadcast that runs after the
// store wakes it; one that ran before read the generation under the same
// mutex, so the listener's re-read sees at least that value.
#include "corio/signal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <vector>

#include "corio/detail/intrusive_list.hpp"
#include "corio/detail/poll_evented.hpp"
#include "corio/detail/sync.hpp"

namespace corio::detail {

/// One Signal's state; heap-allocated so a Signal can move while linked.
struct SignalListener : ListHook<SignalListener> {  // the registry's list, guarded by its mutex
    explicit SignalListener(int s) noexcept : signum(s) {}

    const int signum;
    std::error_code error;   // setup failed: every recv reports it
    std::uint64_t seen = 0;  // the generation received; only the owner touches it
    PollEvented pipe;        // a dup of the pipe's read end, registered at the first wait

    // Guarded by the registry mutex.
    Waker waker;  // a no-op waker when not waiting
};

}  // namespace corio::detail

namespace corio::signal {
namespace {

using detail::SignalListener;

constexpr int kMaxSignal = NSIG;  // signal numbers are 1 .. NSIG-1

static_assert(corio::detail::Atomic<std::uint64_t>::is_always_lock_free &&
                  corio::detail::Atomic<int>::is_always_lock_free,
              "the signal handler may only touch lock-free atomics");

// Touched by the handler: constant-initialised, never destroyed.
constinit std::array<corio::detail::Atomic<std::uint64_t>, kMaxSignal> g_generation{};
constinit corio::detail::Atomic<int> g_write_fd{-1};

std::uint64_t generation(int signum) noexcept {
    // acquire: pairs with the handler's release, so a listener that sees the
    // new generation sees whatever the signal's sender did before (as far
    // as the kernel orders it).
    return g_generation[signum].load(std::memory_order_acquire);
}

void on_signal(int signum) {
    int saved_errno = errno;
    if (signum > 0 && signum < kMaxSignal) g_generation[signum].fetch_add(1, std::memory_order_release);
    // relaxed: the descriptor was published before the handler was installed
    // (sigaction orders it), and never changes afterwards.
    int fd = g_write_fd.load(std::memory_order_relaxed);
    if (fd >= 0) {
        char byte = 0;
        ssize_t written = ::write(fd, &byte, 1);
        (void)written;  // EAGAIN: the pipe is full, so a drain is pending anyway
    }
    errno = saved_errno;
}

/// The registry of listeners, the pipe and the installed handlers.
struct Registry {
    corio::detail::Mutex mutex;
    int read_fd = -1;                                              // guarded by mutex (written once)
    std::array<bool, kMaxSignal> installed{};                      // guarded by mutex
    std::array<std::uint64_t, kMaxSignal> broadcast_generation{};  // guarded by mutex
    detail::IntrusiveList<detail::SignalListener> listeners;       // guarded by mutex
};

Registry& registry() {
    static auto* r = new Registry;  // never destroyed: a handler may fire during exit
    return *r;
}

bool catchable(int signum) noexcept {
    if (signum <= 0 || signum >= kMaxSignal) return false;
    switch (signum) {
        case SIGKILL:
        case SIGSTOP:
        case SIGSEGV:
        case SIGILL:
        case SIGFPE:
            return false;
        default:
            return true;
    }
}

// With r.mutex held.
std::error_code ensure_pipe(Registry& r) {
    if (r.read_fd >= 0) return {};
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return std::error_code(errno, std::generic_category());
    r.read_fd = fds[0];
    g_write_fd.store(fds[1], std::memory_order_relaxed);  // published to handlers by the sigaction that installs them
    return {};
}

// With r.mutex held.
std::error_code ensure_installed(Registry& r, int signum) {
    if (!catchable(signum)) return std::make_error_code(std::errc::invalid_argument);
    if (r.installed[signum]) return {};
    if (std::error_code ec = ensure_pipe(r)) return ec;
    struct sigaction action{};
    action.sa_handler = &on_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (::sigaction(signum, &action, nullptr) < 0) return std::error_code(errno, std::generic_category());
    r.installed[signum] = true;
    return {};
}

// Wakes the waiting listeners of every signal that arrived since the last broadcast.
void broadcast() {
    Registry& r = registry();
    std::vector<Waker> to_wake;
    {
        std::lock_guard lock(r.mutex);
        std::array<bool, kMaxSignal> moved{};
        bool any = false;
        for (int s = 1; s < kMaxSignal; ++s) {
            if (!r.installed[s]) continue;
            std::uint64_t g = generation(s);
            if (g != r.broadcast_generation[s]) {
                r.broadcast_generation[s] = g;
                moved[s] = true;
                any = true;
            }
        }
        if (!any) return;
        r.listeners.for_each([&](SignalListener& l) {
            if (moved[l.signum] && !l.waker.is_noop()) to_wake.push_back(std::move(l.waker));
        });
    }
    for (Waker& w : to_wake) std::move(w).wake();  // outside the lock: waking runs scheduler code
}

// True (and marks it received) when an arrival came since the last one received.
bool take_arrival(SignalListener& l) noexcept {
    std::uint64_t g = generation(l.signum);
    if (g == l.seen) return false;
    l.seen = g;
    return true;
}

// Registers a dup of the pipe's read end with the current runtime's reactor.
io::Result<void> register_pipe(SignalListener& l) {
    int read_fd;
    {
        Registry& r = registry();
        std::lock_guard lock(r.mutex);
        read_fd = r.read_fd;  // set: the handler was installed
    }
    int fd = ::fcntl(read_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return io::last_os_error();
    auto pipe = detail::PollEvented::adopt(fd);  // std::logic_error outside a runtime
    if (!pipe) return std::unexpected(pipe.error());
    l.pipe = std::move(*pipe);
    return {};
}

// Reads the pipe until it would block (leaving the waker with the reactor);
// broadcasts if anything was read.
io::Result<void> drain(Context& cx, SignalListener& l) {
    int fd = l.pipe.fd();
    bool drained = false;
    io::Result<void> outcome;
    for (;;) {
        char buf[64];
        auto r = l.pipe.poll_io(cx, detail::Direction::Read, [&] { return ::read(fd, buf, sizeof buf); });
        if (r.is_pending()) break;
        if (!*r) {
            outcome = std::unexpected(r->error());  // the runtime shut down
            break;
        }
        if (**r == 0) break;  // end of file: cannot happen, the write end stays open
        drained = true;
    }
    if (drained) broadcast();
    return outcome;
}

}  // namespace

Signal::Signal(std::unique_ptr<detail::SignalListener> listener) noexcept : listener_(std::move(listener)) {}
Signal::Signal(Signal&&) noexcept = default;
Signal& Signal::operator=(Signal&& other) noexcept {
    if (this != &other) {
        Signal old(std::move(*this));
        listener_ = std::move(other.listener_);
    }
    return *this;
}

Signal::~Signal() {
    if (listener_ == nullptr || listener_->error) return;  // moved from, or never linked
    Registry& r = registry();
    Waker dropped;
    {
        std::lock_guard lock(r.mutex);
        detail::IntrusiveList<detail::SignalListener>::remove(*listener_);
        dropped = std::move(listener_->waker);
    }
}

int Signal::signum() const noexcept { return listener_->signum; }

Poll<io::Result<void>> Signal::poll_recv(Context& cx) {
    SignalListener& l = *listener_;
    if (l.error) return Ready(io::Result<void>(std::unexpected(l.error)));
    if (take_arrival(l)) return Ready(io::Result<void>());
    if (!l.pipe.is_open()) {
        if (auto registered = register_pipe(l); !registered) return Ready(std::move(registered));
    }
    {
        Registry& r = registry();
        std::lock_guard lock(r.mutex);
        l.waker.clone_from(cx.waker());
    }
    if (auto drained = drain(cx, l); !drained) return Ready(std::move(drained));
    if (take_arrival(l)) return Ready(io::Result<void>());
    return Pending;
}

Signal signal(int signum) {
    auto listener = std::make_unique<detail::SignalListener>(signum);
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    if (std::error_code ec = ensure_installed(r, signum)) {
        listener->error = ec;
    } else {
        listener->seen = generation(signum);  // after installing: later arrivals are ours
        r.listeners.push_front(*listener);
    }
    return Signal(std::move(listener));
}

CtrlC ctrl_c() { return CtrlC(signal(SIGINT)); }

}  // namespace corio::signal
