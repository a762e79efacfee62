// The public face of corio::sim: Builder, Sim, the fault functions and
// check_determinism, over the World that runs a simulation.
#include "corio/sim.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "sim/world.hpp"

namespace corio::sim {
namespace {

// The seed a Builder starts with: $CORIO_SEED, else a random one that the
// run announces (a failing run names it too).
std::uint64_t default_seed(bool& random) {
    if (const char* env = std::getenv("CORIO_SEED"); env != nullptr && *env != '\0') {
        char* end = nullptr;
        std::uint64_t seed = std::strtoull(env, &end, 10);
        if (end != nullptr && *end == '\0') {
            random = false;
            return seed;
        }
        static std::atomic<bool> warned{false};  // once per process, not per Builder
        if (!warned.exchange(true)) {
            std::fprintf(stderr, "corio::sim: CORIO_SEED=%s is not a number; using random seeds\n", env);
        }
    }
    random = true;
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) | device();
}

detail::World& world_or_throw(const char* what) {
    detail::World* w = detail::current_world();
    if (w == nullptr) {
        throw std::logic_error(std::string("corio::sim::") + what +
                               " called outside a running simulation (call it from a simulated task)");
    }
    return *w;
}

}  // namespace

Failure::Failure(const std::string& message, std::uint64_t seed, std::chrono::nanoseconds at)
    : std::runtime_error(message), seed_(seed), at_(at) {}

// ---- Builder ---------------------------------------------------------------------

Builder::Builder() {
    bool random = false;
    config_.seed = default_seed(random);
    config_.seed_is_random = random;
}

Builder& Builder::seed(std::uint64_t seed) {
    config_.seed = seed;
    config_.seed_is_random = false;
    return *this;
}

Builder& Builder::latency(std::chrono::nanoseconds min, std::chrono::nanoseconds max) {
    if (min.count() < 0 || min > max) throw std::invalid_argument("corio::sim::Builder::latency: need 0 <= min <= max");
    config_.latency_min = min;
    config_.latency_max = max;
    return *this;
}

Builder& Builder::udp_loss(double probability) {
    if (!(probability >= 0.0 && probability <= 1.0)) {
        throw std::invalid_argument("corio::sim::Builder::udp_loss: a probability is between 0 and 1");
    }
    config_.udp_loss = probability;
    return *this;
}

Builder& Builder::time_limit(std::chrono::nanoseconds limit) {
    if (limit.count() <= 0) throw std::invalid_argument("corio::sim::Builder::time_limit: must be positive");
    config_.time_limit = limit;
    return *this;
}

Builder& Builder::livelock_limit(std::uint64_t polls) {
    if (polls == 0) throw std::invalid_argument("corio::sim::Builder::livelock_limit: must be positive");
    config_.livelock_limit = polls;
    return *this;
}

Builder& Builder::record_events(bool on) {
    config_.record_events = on;
    return *this;
}

Sim Builder::build() const { return Sim(std::make_unique<detail::World>(config_)); }

// ---- Sim -------------------------------------------------------------------------

Sim::Sim(std::unique_ptr<detail::World> world) : world_(std::move(world)) {}
Sim::Sim(Sim&&) noexcept = default;
Sim& Sim::operator=(Sim&&) noexcept = default;
Sim::~Sim() = default;

void Sim::host(std::string name, std::function<Task<void>()> software) {
    world_->add_host(std::move(name), std::move(software));
}

void Sim::client(std::string name, Task<void> task) { world_->add_client(std::move(name), std::move(task)); }

void Sim::run() {
    if (world_->config().seed_is_random) {
        std::fprintf(stderr, "corio::sim: random seed %llu (rerun: CORIO_SEED=%llu)\n",
                     static_cast<unsigned long long>(seed()), static_cast<unsigned long long>(seed()));
    }
    world_->run();
}

std::uint64_t Sim::seed() const noexcept { return world_->seed(); }
std::uint64_t Sim::trace_hash() const noexcept { return world_->trace_hash(); }
std::chrono::nanoseconds Sim::elapsed() const noexcept { return world_->elapsed(); }
std::uint64_t Sim::events() const noexcept { return world_->events(); }

// ---- faults ----------------------------------------------------------------------

void partition(std::string_view a, std::string_view b) {
    detail::World& w = world_or_throw("partition");
    w.network().set_partition(w.host_id(a), w.host_id(b), true);
}

void repair(std::string_view a, std::string_view b) {
    detail::World& w = world_or_throw("repair");
    w.network().set_partition(w.host_id(a), w.host_id(b), false);
}

void hold(std::string_view a, std::string_view b) {
    detail::World& w = world_or_throw("hold");
    w.network().set_hold(w.host_id(a), w.host_id(b), true);
}

void release(std::string_view a, std::string_view b) {
    detail::World& w = world_or_throw("release");
    w.network().set_hold(w.host_id(a), w.host_id(b), false);
}

void crash(std::string_view host) {
    detail::World& w = world_or_throw("crash");
    w.crash(w.host_id(host));
}

void restart(std::string_view host) {
    detail::World& w = world_or_throw("restart");
    w.restart(w.host_id(host));
}

std::string_view current_host() noexcept {
    detail::World* w = detail::current_world();
    if (w == nullptr) return {};
    return w->host(w->current_host()).name;
}

std::vector<std::uint64_t> seeds(std::uint64_t count, std::uint64_t first) {
    bool random = false;
    if (std::getenv("CORIO_SEED") != nullptr) {
        std::uint64_t seed = default_seed(random);
        if (!random) return {seed};
    }
    std::vector<std::uint64_t> out;
    out.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) out.push_back(first + i);
    return out;
}

// ---- check_determinism -----------------------------------------------------------

void check_determinism(const Builder& builder, const std::function<void(Sim&)>& setup) {
    Builder recording = builder;
    recording.record_events(true);
    auto run_once = [&](std::exception_ptr& failure) {
        Sim sim = recording.build();
        setup(sim);
        try {
            sim.world_->run();
        } catch (const Failure&) {
            failure = std::current_exception();
        }
        return sim;
    };
    std::exception_ptr first_failure, second_failure;
    Sim first = run_once(first_failure);
    Sim second = run_once(second_failure);
    const auto& a = first.world_->event_log();
    const auto& b = second.world_->event_log();
    std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i <= n; ++i) {
        if (i == n && a.size() == b.size()) break;
        if (i < n && a[i] == b[i]) continue;
        auto at = [](const std::vector<std::string>& log, std::size_t k) {
            return k < log.size() ? log[k] : std::string("(the run ended)");
        };
        std::string text = "corio::sim: not deterministic with seed " + std::to_string(builder.config().seed) +
                           ": the two runs part at event " + std::to_string(i + 1) + "\n";
        if (i > 0) text += "  both:   " + a[i - 1] + "\n";
        text += "  first:  " + at(a, i) + "\n  second: " + at(b, i) +
                "\n(does the code read the real clock, a global random source, or an address?)";
        throw std::runtime_error(text);
    }
    if (first_failure) std::rethrow_exception(first_failure);
}

}  // namespace corio::sim
