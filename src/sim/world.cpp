#include "sim/world.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "corio/runtime.hpp"
#include "corio/select.hpp"
#include "runtime/task/lifecycle.hpp"
#include "runtime/time/clock.hpp"
#include "sim/runtime.hpp"

namespace corio::sim::detail {

using corio::detail::RawTask;

namespace {

thread_local World* running_world = nullptr;

// The fixed origin of every simulation's clock: runs never see the real time.
const time::Instant kStart{time::Instant::Clock::time_point(std::chrono::hours(1))};

std::string seconds(std::chrono::nanoseconds d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6fs", static_cast<double>(d.count()) / 1e9);
    return buf;
}

std::string message_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "an exception that is not a std::exception";
    }
}

// A root task (a host's software or a client's task): reports how it ended.
Task<void> run_root(World* world, HostId host, std::uint32_t generation, Task<void> body) {
    std::exception_ptr error;
    try {
        co_await std::move(body);
    } catch (...) {
        error = std::current_exception();
    }
    world->on_root_exit(host, generation, error);
}

}  // namespace

World* current_world() noexcept { return running_world; }
Network* current_network() noexcept { return running_world == nullptr ? nullptr : &running_world->network(); }

/// Makes the world's runtime, clock, network and random streams the thread's
/// for a scope, and restores what was there.
class Enter {
public:
    Enter(World& world, SimRuntime& rt, std::uint32_t select_seed) noexcept
        : world_(std::exchange(running_world, &world)),
          runtime_(std::exchange(corio::detail::current_runtime, &rt)),
          clock_(std::exchange(corio::detail::current_clock, &rt.time_driver().clock())),
          observer_(std::exchange(corio::detail::poll_observer, nullptr)),
          select_(std::exchange(corio::detail::select_random_state, select_seed)) {}
    Enter(const Enter&) = delete;
    Enter& operator=(const Enter&) = delete;
    ~Enter() {
        running_world = world_;
        corio::detail::current_runtime = runtime_;
        corio::detail::current_clock = clock_;
        corio::detail::poll_observer = observer_;
        corio::detail::select_random_state = select_;
    }

private:
    World* world_;
    corio::detail::RuntimeCore* runtime_;
    const corio::detail::Clock* clock_;
    corio::detail::PollObserver* observer_;
    std::uint32_t select_;
};

World::World(const Builder::Config& config)
    : config_(config), random_(config.seed), network_(*this), runtime_(new SimRuntime(*this, kStart)) {}

World::~World() {
    {
        Enter enter(*this, *runtime_, 1);
        runtime_->shutdown(std::chrono::nanoseconds(0));  // cancels every task: their destructors run here
    }
    runtime_->detach();
    runtime_->unref();
}

time::Instant World::now() const noexcept { return runtime_->time_driver().now(); }
std::chrono::nanoseconds World::elapsed() const noexcept { return now() - kStart; }

// ---- hosts -----------------------------------------------------------------------

void World::add_host(std::string name, std::function<Task<void>()> software) {
    if (started_) throw std::logic_error("corio::sim: hosts and clients are added before run()");
    if (name.empty()) throw std::invalid_argument("corio::sim: a host needs a name");
    if (find_host(name)) throw std::invalid_argument("corio::sim: two hosts named '" + name + "'");
    if (!software) throw std::invalid_argument("corio::sim: host '" + name + "' has no software");
    Host h;
    h.name = std::move(name);
    auto index = static_cast<std::uint32_t>(hosts_.size()) + 1;
    h.ip = (10u << 24) | (index >> 8 << 8) | (index & 0xffu);
    h.software = std::move(software);
    hosts_.push_back(std::move(h));
}

void World::add_client(std::string name, Task<void> task) {
    add_host(std::move(name), []() -> Task<void> { co_return; });
    Host& h = hosts_.back();
    h.software = nullptr;
    h.is_client = true;
    h.client_task.emplace(std::move(task));
}

std::optional<HostId> World::find_host(std::string_view name) const {
    for (std::size_t i = 0; i < hosts_.size(); ++i) {
        if (hosts_[i].name == name) return static_cast<HostId>(i);
    }
    return std::nullopt;
}

HostId World::host_id(std::string_view name) const {
    if (auto id = find_host(name)) return *id;
    std::string known;
    for (const Host& h : hosts_) known += (known.empty() ? "" : ", ") + h.name;
    throw std::invalid_argument("corio::sim: no host named '" + std::string(name) + "' (hosts: " + known + ")");
}

std::optional<HostId> World::host_by_ip(std::uint32_t ip) const {
    for (std::size_t i = 0; i < hosts_.size(); ++i) {
        if (hosts_[i].ip == ip) return static_cast<HostId>(i);
    }
    return std::nullopt;
}

void World::start_host(HostId id) {
    Host& h = hosts_[id];
    HostId saved = std::exchange(current_host_, id);
    std::optional<Task<void>> body;
    if (h.is_client) {
        body = std::move(h.client_task);
        h.client_task.reset();
    } else {
        try {
            body.emplace(h.software());
        } catch (...) {  // the software threw before it made its task: the same failure as from inside it
            on_root_exit(id, h.generation, std::current_exception());
        }
    }
    if (body) (void)corio::spawn(run_root(this, id, h.generation, std::move(*body)));  // run_root reports the end
    current_host_ = saved;
}

void World::on_root_exit(HostId id, std::uint32_t generation, const std::exception_ptr& error) {
    Host& h = hosts_[id];
    if (h.generation != generation) return;
    record(error ? "{h}: its software threw" : "{h}: its software returned", id);
    if (error && !failure_) {
        failure_ = std::string(h.is_client ? "client '" : "host '") + h.name + "' threw: " + message_of(error);
    }
    if (h.is_client) h.finished = true;
}

void World::crash(HostId id) {
    Host& h = hosts_[id];
    if (!h.up) return;
    h.up = false;
    record("{h} crashes", id);
    network_.crash(id);
    for (auto& [seq, task] : h.tasks) corio::detail::task_abort(task);
    if (h.is_client) h.finished = true;
}

void World::restart(HostId id) {
    Host& h = hosts_[id];
    if (h.is_client) throw std::logic_error("corio::sim: restart('" + h.name + "'): a client cannot be restarted");
    if (h.up) throw std::logic_error("corio::sim: restart('" + h.name + "'): the host is up (crash it first)");
    h.up = true;
    ++h.generation;
    record("{h} restarts", id);
    start_host(id);
}

// ---- the runtime's hooks -----------------------------------------------------------

World::Tag* World::tag_of(RawTask task) noexcept {
    std::uint32_t note = task->scheduler_note;
    return note == 0 ? nullptr : &tags_[note - 1];
}

void World::on_spawn(RawTask task) {
    std::uint64_t seq = ++task_seq_;
    std::uint32_t slot;
    if (free_tags_.empty()) {
        slot = static_cast<std::uint32_t>(tags_.size());
        tags_.push_back(Tag{current_host_, seq});
    } else {
        slot = free_tags_.back();
        free_tags_.pop_back();
        tags_[slot] = Tag{current_host_, seq};
    }
    task->scheduler_note = slot + 1;
    Host& h = hosts_[current_host_];
    h.tasks.emplace(seq, task);
    record("task {n} spawned on {h}", seq, current_host_);
    if (!h.up) corio::detail::task_abort(task);  // spawned by a destructor on a host that crashed
}

void World::on_release(RawTask task) noexcept {
    Tag* tag = tag_of(task);
    if (tag == nullptr) return;
    hosts_[tag->host].tasks.erase(tag->seq);
    free_tags_.push_back(task->scheduler_note - 1);
    task->scheduler_note = 0;
}

// ---- the event log -----------------------------------------------------------------

void World::record(std::string_view what, std::uint64_t a, std::uint64_t b) {
    ++events_;
    auto mix = [this](std::uint64_t v) {
        for (int i = 0; i < 8; ++i) {
            hash_ ^= (v >> (i * 8)) & 0xff;
            hash_ *= 0x100000001b3ull;  // FNV-1a
        }
    };
    for (char c : what) {
        hash_ ^= static_cast<unsigned char>(c);
        hash_ *= 0x100000001b3ull;
    }
    mix(static_cast<std::uint64_t>(elapsed().count()));
    mix(a);
    mix(b);
    if (config_.record_events) log_.push_back(seconds(elapsed()) + "  " + describe(what, a, b));
}

// The event's text: `what` with each {h} replaced by the next argument as a
// host name and each {n} by the next as a number.
std::string World::describe(std::string_view what, std::uint64_t a, std::uint64_t b) const {
    std::string text;
    std::uint64_t args[2] = {a, b};
    std::size_t next = 0;
    for (std::size_t i = 0; i < what.size(); ++i) {
        if (what[i] == '{' && i + 2 < what.size() && what[i + 2] == '}' && next < 2) {
            std::uint64_t v = args[next++];
            text += what[i + 1] == 'h' && v < hosts_.size() ? hosts_[v].name : std::to_string(v);
            i += 2;
        } else {
            text += what[i];
        }
    }
    return text;
}

// ---- the run loop ------------------------------------------------------------------

bool World::clients_done() const noexcept {
    for (const Host& h : hosts_) {
        if (h.is_client && !h.finished) return false;
    }
    return true;
}

std::string World::unfinished_clients() const {
    std::string names;
    for (const Host& h : hosts_) {
        if (h.is_client && !h.finished) names += (names.empty() ? "" : ", ") + h.name;
    }
    return names;
}

void World::fail(const std::string& cause) {
    std::string text = "corio::sim: failed at " + seconds(elapsed()) + " with seed " + std::to_string(config_.seed) +
                       " (rerun: CORIO_SEED=" + std::to_string(config_.seed) + "): " + cause;
    throw Failure(text, config_.seed, elapsed());
}

// Polls one ready task, picked by the seed.
void World::step() {
    if (++polls_at_this_instant_ > config_.livelock_limit) {
        fail("livelock: " + std::to_string(config_.livelock_limit) +
             " polls without the virtual clock moving (a task that yields or wakes itself for ever?); clients "
             "still running: " +
             unfinished_clients());
    }
    auto& core = runtime_->core();
    corio::detail::Notified entry = core.local.take_at(random_.below(core.local.size()));
    Tag* found = tag_of(entry.task());
    Tag tag = found != nullptr ? *found : Tag{current_host_, 0};
    current_host_ = tag.host;
    record("poll task {n} on {h}", tag.seq, tag.host);
    corio::detail::BudgetScope budget;
    std::move(entry).run();
    runtime_->count_poll();
}

// Nothing is ready: jumps the clock to the next timer or network event and
// fires what is due then. False when there is none.
bool World::advance() {
    auto& time = runtime_->time_driver();
    std::optional<time::Instant> next = time.next_expiration();
    if (auto net = network_.next_event(); net && (!next || *net < *next)) next = net;
    if (!next) return false;
    if (*next - kStart > config_.time_limit) {
        time.clock().advance_to(kStart + config_.time_limit);
        fail("the virtual time limit (" + seconds(config_.time_limit) +
             ") passed; clients still running: " + unfinished_clients());
    }
    if (*next > time.now()) {
        time.clock().advance_to(*next);
        polls_at_this_instant_ = 0;
        record("clock jumps");
    }
    network_.fire_due(time.now());
    time.process();
    runtime_->io_driver().turn(0);  // frees the registrations of closed sockets
    return true;
}

void World::run() {
    if (corio::detail::current_runtime != nullptr) {
        throw std::logic_error(
            "corio::sim: Sim::run called on a thread that is running a corio runtime; run a simulation from plain "
            "code (a test body), not from inside a task or block_on");
    }
    if (started_) throw std::logic_error("corio::sim: a Sim runs once; build another for a second run");
    if (!std::any_of(hosts_.begin(), hosts_.end(), [](const Host& h) { return h.is_client; })) {
        throw std::logic_error("corio::sim: the Sim has no client, so nothing would decide when the run ends");
    }
    started_ = true;
    Enter enter(*this, *runtime_, static_cast<std::uint32_t>(random_.next() | 1));
    for (HostId id = 0; id < hosts_.size(); ++id) start_host(id);
    auto& core = runtime_->core();
    for (;;) {
        if (failure_) fail(*failure_);
        if (clients_done()) break;
        core.remote.take_into(core.owned, core.local);
        if (!core.local.empty()) {
            step();
            continue;
        }
        if (!advance()) {
            fail("deadlock: no task can run, no timer is set and no message is in flight; clients still waiting: " +
                 unfinished_clients());
        }
    }
    record("every client finished");
    runtime_->shutdown(std::chrono::nanoseconds(0));
}

}  // namespace corio::sim::detail
