// Builder, Runtime and corio::run.
#include "corio/runtime.hpp"

#include <csignal>
#include <stdexcept>
#include <string>
#include <thread>

#include "runtime/scheduler/current_thread.hpp"
#include "runtime/scheduler/multi_thread/multi_thread.hpp"

namespace corio {

namespace detail {
RuntimeCore& current_runtime_or_throw(const char* what) {
    if (current_runtime == nullptr) {
        throw std::logic_error(std::string(what) + " needs a running corio runtime (call it from a task or block_on)");
    }
    return *current_runtime;
}

void count_forced_yield() noexcept {
    if (current_runtime != nullptr) current_runtime->note_forced_yield();
}
}  // namespace detail

Builder Builder::new_current_thread() { return Builder(); }

Builder Builder::new_multi_thread() {
    Builder b;
    b.config_.multi_thread = true;
    unsigned cores = std::thread::hardware_concurrency();
    b.config_.worker_threads = cores == 0 ? 1 : cores;
    return b;
}

Builder& Builder::worker_threads(std::size_t n) {
    config_.worker_threads = n;
    return *this;
}
Builder& Builder::thread_name(std::string name) {
    config_.thread_name = std::move(name);
    return *this;
}
Builder& Builder::on_thread_start(std::function<void()> f) {
    config_.on_thread_start = std::move(f);
    return *this;
}
Builder& Builder::on_thread_stop(std::function<void()> f) {
    config_.on_thread_stop = std::move(f);
    return *this;
}
Builder& Builder::max_blocking_threads(std::size_t n) {
    config_.max_blocking_threads = n;
    return *this;
}
Builder& Builder::thread_keep_alive(std::chrono::nanoseconds keep_alive) {
    config_.thread_keep_alive = keep_alive;
    return *this;
}
Builder& Builder::event_interval(std::uint32_t ticks) {
    config_.event_interval = ticks;
    return *this;
}
Builder& Builder::io_backend(IoBackend backend) {
    config_.io_backend = backend;
    return *this;
}

Builder& Builder::start_paused(bool paused) {
    config_.start_paused = paused;
    return *this;
}

Builder& Builder::stall_threshold(std::chrono::nanoseconds threshold) {
    config_.stall_threshold = threshold;
    return *this;
}

Builder& Builder::on_stall(std::function<void(const diag::StallReport&)> handler) {
    config_.on_stall = std::move(handler);
    return *this;
}

Builder& Builder::enable_metrics_histograms(bool enable) {
    config_.metrics_histograms = enable;
    return *this;
}

Builder& Builder::dump_on_signal(int signo) {
    config_.dump_signal = signo;
    return *this;
}

Runtime Builder::build() {
    if (config_.stall_threshold < std::chrono::nanoseconds::zero()) {
        throw std::invalid_argument("corio::Builder: stall_threshold must not be negative");
    }
    if (config_.dump_signal < 0 || config_.dump_signal >= NSIG || config_.dump_signal == SIGKILL ||
        config_.dump_signal == SIGSTOP) {
        throw std::invalid_argument("corio::Builder: dump_on_signal needs a signal that can be caught");
    }
    if (config_.event_interval == 0) throw std::invalid_argument("corio::Builder: event_interval must be at least 1");
    if (config_.max_blocking_threads == 0) {
        throw std::invalid_argument("corio::Builder: max_blocking_threads must be at least 1");
    }
    if (config_.thread_keep_alive < std::chrono::nanoseconds::zero()) {
        throw std::invalid_argument("corio::Builder: thread_keep_alive must not be negative");
    }
    if (config_.multi_thread) {
        if (config_.worker_threads == 0)
            throw std::invalid_argument("corio::Builder: worker_threads must be at least 1");
        if (config_.start_paused) {
            throw std::invalid_argument("corio::Builder: start_paused needs the current_thread runtime");
        }
        return Runtime(new detail::mt::MultiThread(config_));
    }
    return Runtime(new detail::CurrentThread(config_));
}

Runtime& Runtime::operator=(Runtime&& other) noexcept {
    if (this != &other) {
        Runtime old(std::move(*this));
        core_ = std::exchange(other.core_, nullptr);
    }
    return *this;
}

Runtime::~Runtime() {
    if (core_ == nullptr) return;
    core_->shutdown(std::chrono::seconds(10));
    core_->unref();
}

void Runtime::shutdown_timeout(std::chrono::nanoseconds timeout) noexcept {
    if (core_ != nullptr) core_->shutdown(timeout);
}

detail::RuntimeCore& Runtime::core() const {
    if (core_ == nullptr) throw std::logic_error("corio: use of a moved-from Runtime");
    return *core_;
}

int run(Task<int> main_task) {
    Runtime rt = Builder::new_multi_thread().build();
    return rt.block_on(std::move(main_task));
}

void run(Task<void> main_task) {
    Runtime rt = Builder::new_multi_thread().build();
    rt.block_on(std::move(main_task));
}

}  // namespace corio
