// The simulation's runtime flavour: a single-thread scheduler whose queues
// are the SingleThreadCore of current_thread and LocalSet, a paused clock
// that starts at a fixed instant, and the simulated network as its I/O
// backend. It has no driving loop of its own: World::run picks which ready
// task runs next (by the seed) and when the clock jumps.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "corio/detail/runtime_core.hpp"
#include "corio/detail/sync.hpp"
#include "runtime/io/io_driver.hpp"
#include "runtime/scheduler/single_thread_core.hpp"
#include "runtime/time/driver.hpp"

namespace corio::sim::detail {

class World;
class Network;

/// The I/O backend of a simulation: registrations are the network's sockets.
class SimBackend final : public corio::detail::Backend {
public:
    explicit SimBackend(Network& net) noexcept : net_(&net) {}
    IoBackend kind() const noexcept override { return IoBackend::Sim; }
    io::Result<corio::detail::Registration*> add(int fd, corio::detail::IoDriver* owner) override;
    void remove(corio::detail::Registration& reg) noexcept override;
    bool turn(int) override { return false; }  // the world fires network events itself
    void wake() noexcept override {}
    /// The network is gone (its Sim was destroyed): a socket kept beyond it
    /// is closed without telling anyone.
    void detach() noexcept { net_ = nullptr; }

private:
    Network* net_;
};

class SimRuntime final : public corio::detail::RuntimeCore {
public:
    SimRuntime(World& world, time::Instant start);
    SimRuntime(const SimRuntime&) = delete;
    SimRuntime& operator=(const SimRuntime&) = delete;

private:
    // Scheduler (what its typed calls dispatch to)
    void do_schedule(std::uintptr_t entry) override;
    void do_schedule_yielded(std::uintptr_t entry) override;
    void do_spawn(corio::detail::TaskHeader* new_task) override;
    corio::detail::TaskHeader* do_release(corio::detail::TaskHeader* task) noexcept override;

public:
    void ref() noexcept override { refs_.fetch_add(1, std::memory_order_relaxed); }
    void unref() noexcept override;

    // RuntimeCore
    void block_on(bool (*poll_root)(void* ctx, Context& cx), void* ctx) override;
    void shutdown(std::chrono::nanoseconds timeout) noexcept override;
    corio::detail::TimeDriver& time_driver() noexcept override { return time_; }
    corio::detail::IoDriver& io_driver() noexcept override { return io_; }
    IoBackend io_backend() const noexcept override { return IoBackend::Sim; }
    RuntimeMetrics metrics() const override;
    diag::Dump dump() override;

    corio::detail::SingleThreadCore& core() noexcept { return core_; }
    /// Hooks stop here once the world is gone (wakers may outlive it).
    void detach() noexcept;
    std::uint64_t polls() const noexcept { return polls_; }
    void count_poll() noexcept { ++polls_; }

private:
    ~SimRuntime();
    bool on_thread() const noexcept { return corio::detail::current_runtime == this; }

    World* world_;
    corio::detail::Atomic<std::size_t> refs_{1};  // wakers may be dropped on another thread
    corio::detail::TimeDriver time_;
    SimBackend* backend_ = nullptr;  // owned by io_ (set while io_ is made)
    corio::detail::IoDriver io_;
    corio::detail::SingleThreadCore core_;
    std::uint64_t polls_ = 0;
};

}  // namespace corio::sim::detail
