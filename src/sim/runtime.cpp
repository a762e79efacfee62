#include "sim/runtime.hpp"

#include <stdexcept>

#include "diag/collect.hpp"
#include "sim/network.hpp"
#include "sim/world.hpp"

namespace corio::sim::detail {

using corio::detail::NewTask;
using corio::detail::Notified;
using corio::detail::RawTask;
using corio::detail::TaskHeader;

// ---- SimBackend ------------------------------------------------------------------

io::Result<corio::detail::Registration*> SimBackend::add(int fd, corio::detail::IoDriver*) {
    corio::detail::Registration* reg = net_ == nullptr ? nullptr : net_->adopt(fd);
    if (reg == nullptr) return io::error(std::errc::bad_file_descriptor);  // a real descriptor: not simulated
    return reg;
}

void SimBackend::remove(corio::detail::Registration& reg) noexcept {
    if (SimSocket* s = reg.sim_socket(); s != nullptr && net_ != nullptr) s->on_close();
}

// ---- SimRuntime ------------------------------------------------------------------

namespace {

std::unique_ptr<corio::detail::Backend> backend_for(World& world, SimBackend*& made) {
    auto backend = std::make_unique<SimBackend>(world.network());
    made = backend.get();
    return backend;
}

}  // namespace

SimRuntime::SimRuntime(World& world, time::Instant start)
    : world_(&world), time_(start), io_(backend_for(world, backend_)) {
    world.network().set_driver(&io_);
}

void SimRuntime::detach() noexcept {
    world_ = nullptr;
    backend_->detach();
}

SimRuntime::~SimRuntime() = default;

void SimRuntime::unref() noexcept {
    // acq_rel: the last owner must see every other owner's writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void SimRuntime::do_schedule(std::uintptr_t entry) {
    core_.schedule(Notified::from_bits(entry), on_thread(), [this](NewTask t) { core_.remote.push(std::move(t)); });
}

void SimRuntime::do_schedule_yielded(std::uintptr_t entry) { core_.schedule_yielded(Notified::from_bits(entry)); }

void SimRuntime::do_spawn(TaskHeader* new_task) {
    NewTask task(new_task);
    if (world_ != nullptr && on_thread() && !core_.shut_down) world_->on_spawn(task.task());
    core_.spawn(std::move(task), on_thread(), [this](NewTask t) { core_.remote.push(std::move(t)); });
}

TaskHeader* SimRuntime::do_release(TaskHeader* task) noexcept {
    if (world_ != nullptr) world_->on_release(RawTask(task));
    return core_.release(RawTask(task)).into_raw();
}

void SimRuntime::block_on(bool (*)(void*, Context&), void*) {
    throw std::logic_error("corio::sim: block_on inside a simulation; a simulated task must co_await instead");
}

void SimRuntime::shutdown(std::chrono::nanoseconds) noexcept {
    if (core_.shut_down) return;
    core_.shut_down = true;
    core_.remote.close();
    core_.cancel_all();
    io_.shutdown();
    time_.shutdown();
}

RuntimeMetrics SimRuntime::metrics() const {
    RuntimeMetrics m;
    m.num_workers = 1;
    m.alive_tasks = core_.owned.size();
    m.budget_forced_yields = forced_yields_.load(std::memory_order_relaxed);
    WorkerMetrics w;
    w.polls = polls_;
    w.local_queue_depth = core_.local.size();
    m.workers.push_back(w);
    return m;
}

diag::Dump SimRuntime::dump() {
    diag::Dump d;
    if (!on_thread()) {
        d.incomplete = "a simulation's tasks can be read only from inside the simulation";
        return d;
    }
    corio::detail::read_owned_tasks(core_.owned, core_.owned.size(),
                                    {corio::detail::current_task.load(std::memory_order_relaxed)}, false, d);
    corio::detail::finish_dump(d);
    return d;
}

}  // namespace corio::sim::detail
