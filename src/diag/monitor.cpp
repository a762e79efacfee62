#include "diag/monitor.hpp"

#include <cxxabi.h>
#include <execinfo.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>

#include "diag/collect.hpp"

namespace corio::detail {
namespace {

// ---- capturing a stalled thread's state, on that thread ---------------------------------

constexpr int kMaxFrames = 48;

// One capture at a time (capture_mutex). The handler writes only here and
// allocates nothing.
struct Capture {
    Atomic<bool> armed{false};
    Atomic<int> done{0};  // 1: captured; 2: the thread had moved on to another task
    RawTask expected;
    pthread_t thread{};  // the thread the capture is for
    std::uint64_t id = 0;
    std::source_location where;
    char name[128] = {};
    std::size_t name_len = 0;
    std::uint32_t polls = 0;
    std::uint32_t age_s = 0;
    ChainBuffer chain;
    void* frames[kMaxFrames] = {};
    int frame_count = 0;
};

Capture capture;
std::mutex capture_mutex;

// The attached thread's hook for a stall (Monitor::attach).
thread_local void (*stalled_hook)() noexcept = nullptr;

int capture_signal() { return SIGRTMAX - 3; }

void on_capture_signal(int) {
    int saved_errno = errno;
    if (auto hook = stalled_hook) hook();
    if (capture.armed.load(std::memory_order_acquire) && pthread_equal(pthread_self(), capture.thread) != 0 &&
        capture.armed.exchange(false, std::memory_order_acq_rel)) {
        RawTask t = current_task.load(std::memory_order_relaxed);
        if (t != capture.expected) {
            capture.done.store(2, std::memory_order_release);
        } else {
            capture.id = t->id;
            capture.where = t->origin.where();
            capture.name_len = 0;
            if (const std::string* n = t->origin.name()) {
                capture.name_len = n->size() < sizeof capture.name ? n->size() : sizeof capture.name;
                std::memcpy(capture.name, n->data(), capture.name_len);
            }
            capture.polls = t->polls.load(std::memory_order_relaxed);
            capture.age_s = t->age_s(coarse_clock_ms());
            capture.chain.depth = 0;
            capture.chain.skipped = 0;
            capture.chain.started = true;
            // Inside a leaf's poll the frames awaiting it stand still, so
            // walking them is safe here, on this thread. While a Task runs
            // its own code there is no leaf: no chain.
            if (const LeafAwaiter* leaf = polling_leaf.load(std::memory_order_relaxed)) {
                describe_leaf_chain(leaf, capture.chain);
            } else {
                t->vtable->describe(t.get(), capture.chain);
                if (capture.chain.depth == 0) capture.chain.started = false;
            }
            capture.frame_count = backtrace(capture.frames, kMaxFrames);
            capture.done.store(1, std::memory_order_release);
        }
    }
    errno = saved_errno;
}

void install_capture_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        void* prime[2];
        backtrace(prime, 2);  // loads the unwinder now, not inside the handler
        struct sigaction sa{};
        sa.sa_handler = &on_capture_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        sigaction(capture_signal(), &sa, nullptr);
    });
}

std::string demangled_frame(const char* symbol) {
    std::string s = symbol;
    std::size_t open = s.find('(');
    std::size_t plus = s.find('+', open);
    if (open == std::string::npos || plus == std::string::npos || plus == open + 1) return s;
    std::string mangled = s.substr(open + 1, plus - open - 1);
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status),
                                                &std::free);
    if (status != 0 || !name) return s;
    return s.substr(0, open + 1) + name.get() + s.substr(plus);
}

bool thread_on_cpu(pid_t tid) {
    std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
    std::string line;
    std::getline(stat, line);
    std::size_t close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'R';
}

// ---- dump_on_signal -------------------------------------------------------------------

struct DumpHook {
    Atomic<int> signo{0};
    Atomic<int> fd{-1};
};
std::array<DumpHook, 16> dump_hooks;
std::mutex dump_hooks_mutex;

void on_dump_signal(int signo) {
    int saved_errno = errno;
    for (DumpHook& h : dump_hooks) {
        if (h.signo.load(std::memory_order_acquire) == signo) {
            std::uint64_t one = 1;
            ssize_t ignored = ::write(h.fd.load(std::memory_order_relaxed), &one, sizeof one);
            (void)ignored;
        }
    }
    errno = saved_errno;
}

void add_dump_hook(int signo, int fd) {
    std::lock_guard lock(dump_hooks_mutex);
    for (DumpHook& h : dump_hooks) {
        if (h.signo.load(std::memory_order_relaxed) == 0) {
            h.fd.store(fd, std::memory_order_relaxed);
            h.signo.store(signo, std::memory_order_release);
            break;
        }
    }
    struct sigaction sa{};
    sa.sa_handler = &on_dump_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(signo, &sa, nullptr);
}

void remove_dump_hook(int fd) {
    std::lock_guard lock(dump_hooks_mutex);
    for (DumpHook& h : dump_hooks) {
        if (h.fd.load(std::memory_order_relaxed) == fd && h.signo.load(std::memory_order_relaxed) != 0) {
            h.signo.store(0, std::memory_order_release);
            h.fd.store(-1, std::memory_order_relaxed);
        }
    }
}

constexpr std::size_t kReportsPerMinute = 5;

}  // namespace

Monitor::Monitor(const Builder::Config& config, std::size_t workers, std::function<diag::Dump()> dump)
    : threshold_(config.stall_threshold),
      dump_(std::move(dump)),
      dump_signal_(config.dump_signal),
      slots_(workers),
      reporter_(std::make_shared<Reporter>()) {
    reporter_->on_stall = config.on_stall;
    if (threshold_.count() == 0 && dump_signal_ == 0) return;  // nothing to watch
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return;  // no monitor rather than no runtime
    if (threshold_.count() != 0) install_capture_handler();
    if (dump_signal_ != 0) add_dump_hook(dump_signal_, wake_fd_);
    thread_ = std::thread([this] { run(); });
}

Monitor::~Monitor() { stop(); }

void Monitor::stop() noexcept {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
    }
    {
        std::lock_guard lock(reporter_->mutex);
        reporter_->stopping = true;
    }
    reporter_->cv.notify_all();
    if (wake_fd_ >= 0) {
        if (dump_signal_ != 0) remove_dump_hook(wake_fd_);
        std::uint64_t one = 1;
        ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
        (void)ignored;
    }
    if (thread_.joinable()) thread_.join();
    if (wake_fd_ >= 0) ::close(wake_fd_);
    wake_fd_ = -1;
}

void Monitor::attach(std::size_t index, void (*on_stalled)() noexcept) noexcept {
    stalled_hook = on_stalled;
    std::lock_guard lock(mutex_);
    if (index >= slots_.size()) return;
    Slot& s = slots_[index];
    s.signalable = on_stalled != nullptr;
    s.current = &current_task;
    s.polls = &poll_count;
    s.thread = pthread_self();
    s.tid = gettid();
    s.seen_task = RawTask();
}

void Monitor::detach(std::size_t index) noexcept {
    std::lock_guard lock(mutex_);
    if (index >= slots_.size()) return;
    slots_[index].current = nullptr;
    slots_[index].polls = nullptr;
}

std::vector<RawTask> Monitor::polling() const {
    std::lock_guard lock(mutex_);
    std::vector<RawTask> out(slots_.size());
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].current != nullptr) out[i] = slots_[i].current->load(std::memory_order_relaxed);
    }
    return out;
}

void Monitor::run() {
    using namespace std::chrono;
    int period_ms = -1;
    if (threshold_.count() != 0) {
        auto quarter = duration_cast<milliseconds>(threshold_ / 4).count();
        period_ms = static_cast<int>(quarter < 1 ? 1 : quarter > 250 ? 250 : quarter);
    }
    for (;;) {
        pollfd p{wake_fd_, POLLIN, 0};
        int n = ::poll(&p, 1, period_ms);
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
        }
        if (n > 0) {
            std::uint64_t count;
            if (::read(wake_fd_, &count, sizeof count) == sizeof count) serve_dump_signal();
        }
        if (threshold_.count() != 0) check_slots(steady_clock::now());
    }
}

void Monitor::serve_dump_signal() {
    std::string text;
    try {
        text = dump_().to_string();
    } catch (const std::exception& e) {
        text = std::string("corio: task dump failed: ") + e.what() + "\n";
    }
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
}

void Monitor::check_slots(std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        Slot& s = slots_[i];
        if (s.current == nullptr) continue;
        RawTask task = s.current->load(std::memory_order_relaxed);
        std::uint64_t polls = s.polls->load(std::memory_order_relaxed);
        if (!task) {
            s.seen_task = RawTask();
            continue;
        }
        if (task != s.seen_task || polls != s.seen_polls) {
            s.seen_task = task;
            s.seen_polls = polls;
            s.since = now;
            s.reported = false;
            continue;
        }
        if (now - s.since < threshold_) continue;
        if (!s.reported) {
            s.reported = true;
            s.signalled = now;
            report_stall(s, i, task, now - s.since);
        } else if (s.signalable && now - s.signalled >= threshold_) {
            // Run its hook again, once a threshold: more may need rescuing.
            // (Each signal makes a blocking poll(2) or epoll_wait(2) in the
            // stuck task return EINTR, so not more often.)
            s.signalled = now;
            pthread_kill(s.thread, capture_signal());
        }
    }
}

void Monitor::report_stall(Slot& slot, std::size_t index, RawTask task, std::chrono::nanoseconds in_poll) {
    using namespace std::chrono;
    auto now = steady_clock::now();
    std::erase_if(recent_reports_, [&](steady_clock::time_point t) { return now - t >= minutes(1); });
    if (recent_reports_.size() >= kReportsPerMinute) {
        if (slot.signalable) pthread_kill(slot.thread, capture_signal());  // its hook still runs
        return;
    }

    diag::StallReport report;
    report.worker = index;
    report.in_poll = in_poll;
    report.on_cpu = thread_on_cpu(slot.tid);
    report.task.state = diag::TaskState::Running;
    report.task.worker = index;

    std::lock_guard capture_lock(capture_mutex);
    capture.expected = task;
    capture.thread = slot.thread;
    capture.done.store(0, std::memory_order_relaxed);
    capture.armed.store(true, std::memory_order_release);
    int captured = 0;
    if (pthread_kill(slot.thread, capture_signal()) == 0) {
        for (int waited = 0; waited < 100; ++waited) {
            captured = capture.done.load(std::memory_order_acquire);
            if (captured != 0) break;
            std::this_thread::sleep_for(milliseconds(1));
        }
    }
    if (captured == 0 && !capture.armed.exchange(false, std::memory_order_acq_rel)) {
        // The handler started just now: let it finish before the buffer is reused.
        while ((captured = capture.done.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
    }
    if (captured == 2) return;  // the poll ended meanwhile: no stall any more
    if (captured == 1) {
        report.task.id = task::Id(capture.id);
        report.task.name.assign(capture.name, capture.name_len);
        report.task.spawned_at = capture.where;
        report.task.polls = capture.polls;
        set_state(report.task, diag::TaskState::Running);  // and the wakes that follow from the polls
        report.task.age = seconds(capture.age_s);
        if (capture.chain.started) append_chain(capture.chain, report.task);
        char** symbols = backtrace_symbols(capture.frames, capture.frame_count);
        // Frames 0 and 1 are the signal handler and the kernel's trampoline.
        for (int i = 2; symbols != nullptr && i < capture.frame_count; ++i) {
            report.backtrace.push_back(demangled_frame(symbols[i]));
        }
        std::free(static_cast<void*>(symbols));
    }
    recent_reports_.push_back(now);
    deliver(std::move(report));
}

void Monitor::deliver(diag::StallReport report) {
    std::lock_guard lock(reporter_->mutex);
    if (reporter_->pending.size() >= 4) return;  // the handler is stuck: keep the monitor going
    reporter_->pending.push_back(std::move(report));
    if (!reporter_->started) {
        reporter_->started = true;
        std::thread([r = reporter_] { Reporter::run(r); }).detach();
    }
    reporter_->cv.notify_one();
}

void Monitor::Reporter::run(const std::shared_ptr<Reporter>& self) {
    std::unique_lock lock(self->mutex);
    for (;;) {
        self->cv.wait(lock, [&] { return self->stopping || !self->pending.empty(); });
        if (self->stopping) return;
        diag::StallReport report = std::move(self->pending.front());
        self->pending.pop_front();
        lock.unlock();
        try {
            if (self->on_stall) {
                self->on_stall(report);
            } else {
                std::string text = report.to_string();
                std::fwrite(text.data(), 1, text.size(), stderr);
            }
        } catch (...) {
            std::fputs("corio: an on_stall handler threw; the report was dropped\n", stderr);
        }
        lock.lock();
    }
}

}  // namespace corio::detail
