// Deterministic simulation (DESIGN section 9): corio's own API, unchanged,
// inside a seeded, virtual-time, simulated network.
//
// A Sim runs hosts (restartable software) and clients (the test's tasks) on
// one thread. One seed decides everything: which ready task runs next, how
// long each message takes, which UDP datagrams are lost. Time is virtual and
// jumps to the next event, so a minute of timeouts costs microseconds. No
// real thread, socket or clock is used: net::TcpStream, TcpListener,
// UdpSocket and net::lookup_host("server:6379") inside a host reach the
// simulated network, time::* reads the virtual clock.
//
// Invariant: a run is a function of its seed. Everything that orders events
// (the run queue pick, message timing, ties) is drawn from one generator in
// one order, and nothing keyed by an address is ever iterated; so the same
// seed gives the same event log, hence the same trace_hash(), in any process.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "corio/task.hpp"

namespace corio::sim {

class Sim;

/// A failed simulation: an exception that escaped a client or a host's
/// software, a deadlock (nothing runnable, no timer, no message in flight),
/// a livelock (see Builder::livelock_limit), or the virtual time limit. what() reads
/// "corio::sim: failed at 1.234567s with seed N (rerun: CORIO_SEED=N): cause".
class Failure : public std::runtime_error {
public:
    Failure(const std::string& message, std::uint64_t seed, std::chrono::nanoseconds at);
    /// The seed of the failing run.
    std::uint64_t seed() const noexcept { return seed_; }
    /// The virtual instant of the failure, since the start of the run.
    std::chrono::nanoseconds at() const noexcept { return at_; }

private:
    std::uint64_t seed_;
    std::chrono::nanoseconds at_;
};

/// How a simulation is set up. Defaults: seed from $CORIO_SEED, else random
/// (printed on stderr when the run fails, and by Sim::seed()); latency 1-10
/// ms; no UDP loss; a virtual time limit of one hour.
class Builder {
public:
    Builder();
    /// The seed that decides the run.
    Builder& seed(std::uint64_t seed);
    /// Every message (a TCP segment, a datagram, a connection's handshake)
    /// takes between `min` and `max`, drawn per message. TCP keeps each
    /// connection's order. Throws std::invalid_argument when min > max or
    /// min < 0.
    Builder& latency(std::chrono::nanoseconds min, std::chrono::nanoseconds max);
    /// Each UDP datagram is lost with `probability` (0..1; TCP is delayed,
    /// never lost). Throws std::invalid_argument outside 0..1.
    Builder& udp_loss(double probability);
    /// The run fails once virtual time passes `limit`. Throws
    /// std::invalid_argument unless positive.
    Builder& time_limit(std::chrono::nanoseconds limit);
    /// The run fails as a livelock after `polls` task polls without the
    /// virtual clock moving (a task that yields or wakes itself for ever
    /// would otherwise never let the run end). Default 10,000,000. Throws
    /// std::invalid_argument for 0.
    Builder& livelock_limit(std::uint64_t polls);
    /// Keep every event as text, so check_determinism can name the first
    /// difference (costs memory; off by default).
    Builder& record_events(bool on);
    /// The simulation, not yet run.
    Sim build() const;

    struct Config {
        std::uint64_t seed = 0;
        std::chrono::nanoseconds latency_min{std::chrono::milliseconds(1)};
        std::chrono::nanoseconds latency_max{std::chrono::milliseconds(10)};
        double udp_loss = 0.0;
        std::chrono::nanoseconds time_limit{std::chrono::hours(1)};
        bool record_events = false;
        std::uint64_t livelock_limit = 10'000'000;
        bool seed_is_random = false;  // drawn at random: the run prints it
    };
    const Config& config() const noexcept { return config_; }

private:
    Config config_;
};

namespace detail {
class World;
}

/// One simulation: hosts, clients, the network between them and its clock.
/// Build it with Builder, add hosts and clients, then run() it once.
class Sim {
public:
    Sim(Sim&&) noexcept;
    Sim& operator=(Sim&&) noexcept;
    ~Sim();

    /// A host named `name` (its address is 10.0.x.y; net::lookup_host(name)
    /// finds it) running `software()`, which is called again by restart().
    /// Its tasks, and every task they spawn, belong to it. An exception that
    /// escapes `software` fails the run, naming the host. Throws
    /// std::invalid_argument when the name is taken or empty, std::logic_error
    /// once the run started.
    void host(std::string name, std::function<Task<void>()> software);
    /// A client named `name` running `task`; the run ends when every client
    /// has finished. Throws as host().
    void client(std::string name, Task<void> task);
    /// Runs until every client finished. Throws Failure (see there), or
    /// std::logic_error when a runtime is already running on this thread, the
    /// Sim has no client, or it ran before. Inside a simulation,
    /// spawn_blocking (and corio::fs, which uses it) throws
    /// std::logic_error: a real thread would make the run depend on timing.
    void run();

    /// The seed of this run.
    std::uint64_t seed() const noexcept;
    /// A hash of the event log (every poll, delivery, timer jump and fault,
    /// at its virtual instant): equal for equal seeds.
    std::uint64_t trace_hash() const noexcept;
    /// Virtual time since the start of the run.
    std::chrono::nanoseconds elapsed() const noexcept;
    /// How many events the log holds.
    std::uint64_t events() const noexcept;

private:
    friend class Builder;
    friend void check_determinism(const Builder&, const std::function<void(Sim&)>&);
    explicit Sim(std::unique_ptr<detail::World> world);
    std::unique_ptr<detail::World> world_;
};

// Faults. Callable from any task of a running simulation: a host's or a
// client's (a client is the test's own code; a fault wanted from the start
// is made first thing in a client). Each throws std::invalid_argument naming
// a host that does not exist, and std::logic_error outside a run.

/// Messages between hosts `a` and `b` (both ways) stop: TCP segments wait
/// until repair(), UDP datagrams are lost.
void partition(std::string_view a, std::string_view b);
/// Ends a partition; what waited is delivered, in order, with new latency.
void repair(std::string_view a, std::string_view b);
/// Messages between `a` and `b` (both ways, TCP and UDP) wait until release().
void hold(std::string_view a, std::string_view b);
/// Ends a hold; what waited is delivered, in order, with new latency.
void release(std::string_view a, std::string_view b);
/// The host stops: its tasks are cancelled (their destructors run), its
/// listeners close, its peers' connections are reset, and what it had in
/// flight is lost. A crashed client counts as finished.
void crash(std::string_view host);
/// A crashed host starts again: its software is called anew. Throws
/// std::logic_error for a client or a host that is up.
void restart(std::string_view host);

/// Runs the scenario `setup` describes twice with the builder's seed (events
/// recorded) and throws std::runtime_error naming the first event where the
/// two runs differ: a test that reads the real clock or a global random
/// source is caught. A Failure in the first run is rethrown.
void check_determinism(const Builder& builder, const std::function<void(Sim&)>& setup);

/// The seeds a test's seed loop should run: only $CORIO_SEED when it is set
/// (so `CORIO_SEED=N ctest -R ...` replays the failing one alone), else
/// `first`, `first + 1`, ..., `count` of them.
std::vector<std::uint64_t> seeds(std::uint64_t count, std::uint64_t first = 1);

/// The name of the simulated host the calling task belongs to; empty outside
/// a simulation.
std::string_view current_host() noexcept;

}  // namespace corio::sim
