// One simulation's state: its hosts, the runtime its tasks run on, the
// network between them, the virtual clock and the event log.
//
// The run loop (run) alternates two things, each decided by the seed: poll
// one ready task, picked at random among the ready ones; or, when none is
// ready, jump the clock to the next timer or network event and fire it.
// Every task carries the host it was spawned on (tags_), so a crash cancels
// exactly the host's tasks and a socket opened in a task belongs to its host.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "corio/detail/task_header.hpp"
#include "corio/sim.hpp"
#include "corio/task.hpp"
#include "sim/network.hpp"
#include "sim/random.hpp"

namespace corio::sim::detail {

class SimRuntime;

struct Host {
    std::string name;
    std::uint32_t ip = 0;  // host order, 10.0.x.y
    bool is_client = false;
    bool up = true;
    bool finished = false;         // a client whose task ended (or that crashed)
    std::uint32_t generation = 0;  // counts restarts: what an earlier life sent is dropped
    std::function<Task<void>()> software;
    std::optional<Task<void>> client_task;
    std::map<std::uint64_t, corio::detail::RawTask> tasks;  // by spawn order
    // Network state.
    std::uint16_t next_port = 49152;
    std::map<std::uint16_t, SimListener*> listeners;
    std::map<std::uint16_t, SimDatagram*> datagrams;
    std::map<std::uint64_t, SimSocket*> sockets;  // by creation order
};

class World {
public:
    explicit World(const Builder::Config& config);
    World(const World&) = delete;
    World& operator=(const World&) = delete;
    ~World();

    void add_host(std::string name, std::function<Task<void>()> software);
    void add_client(std::string name, Task<void> task);
    void run();

    const Builder::Config& config() const noexcept { return config_; }
    std::uint64_t seed() const noexcept { return config_.seed; }
    std::uint64_t trace_hash() const noexcept { return hash_; }
    std::uint64_t events() const noexcept { return events_; }
    const std::vector<std::string>& event_log() const noexcept { return log_; }
    std::chrono::nanoseconds elapsed() const noexcept;
    time::Instant now() const noexcept;

    // Hosts.
    Host& host(HostId id) noexcept { return hosts_[id]; }
    std::size_t host_count() const noexcept { return hosts_.size(); }
    /// The host named `name`; throws std::invalid_argument naming it if none.
    HostId host_id(std::string_view name) const;
    std::optional<HostId> find_host(std::string_view name) const;
    std::optional<HostId> host_by_ip(std::uint32_t ip) const;
    /// The host whose task is running (or being set up) now.
    HostId current_host() const noexcept { return current_host_; }

    // Faults (any time during the run).
    void crash(HostId id);
    void restart(HostId id);

    Network& network() noexcept { return network_; }
    Random& random() noexcept { return random_; }

    /// Adds one event to the log (and its hash). `what` is a template: each
    /// {h} is replaced by the next of `a`, `b` as a host's name, each {n} as
    /// a number (the text is made only when events are recorded).
    void record(std::string_view what, std::uint64_t a = 0, std::uint64_t b = 0);

    // The runtime's hooks.
    void on_spawn(corio::detail::RawTask task);
    void on_release(corio::detail::RawTask task) noexcept;
    /// A host's software or a client's task threw (or a client ended).
    void on_root_exit(HostId host, std::uint32_t generation, const std::exception_ptr& error);

private:
    // A task's host and spawn number, in a slab indexed by the task's
    // scheduler_note - 1 (so a poll finds it without a hash lookup).
    struct Tag {
        HostId host;
        std::uint64_t seq;
    };
    Tag* tag_of(corio::detail::RawTask task) noexcept;
    std::string describe(std::string_view what, std::uint64_t a, std::uint64_t b) const;
    void start_host(HostId id);
    void step();
    [[noreturn]] void fail(const std::string& cause);
    bool clients_done() const noexcept;
    std::string unfinished_clients() const;
    bool advance();

    Builder::Config config_;
    Random random_;
    Network network_;
    SimRuntime* runtime_ = nullptr;  // one reference, dropped in the destructor
    std::vector<Host> hosts_;
    std::vector<Tag> tags_;
    std::vector<std::uint32_t> free_tags_;
    std::uint64_t task_seq_ = 0;
    // Polls since the clock last moved: past config_.livelock_limit the run
    // is a livelock (a task that wakes itself for ever would never end).
    std::uint64_t polls_at_this_instant_ = 0;
    HostId current_host_ = 0;
    bool started_ = false;
    std::optional<std::string> failure_;  // set by a hook, thrown by the loop
    std::uint64_t hash_ = 0xcbf29ce484222325ull;
    std::uint64_t events_ = 0;
    std::vector<std::string> log_;
};

/// The world whose run is on this thread (null outside a run).
World* current_world() noexcept;

}  // namespace corio::sim::detail
