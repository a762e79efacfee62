// The runtime's monitor thread: the stall detector and dump_on_signal.
//
// Each worker thread attaches itself: the monitor then reads, every quarter
// of the stall threshold, the task it is polling and its poll count (both
// thread-locals the worker keeps anyway, read through atomics). A worker
// whose count has not moved while one task stayed current for the threshold
// is stalled: the monitor sends it a signal whose handler, on the stalled
// thread itself, copies the task's identity, its await chain (when it is
// waiting inside a leaf future's poll) and a native backtrace, all without
// allocating. The report then goes to a reporter thread, so a handler that
// blocks or throws stops neither the monitor nor the runtime.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "corio/detail/sync.hpp"
#include "corio/detail/task_cell.hpp"
#include "corio/diag.hpp"
#include "corio/runtime.hpp"

namespace corio::detail {

class Monitor {
public:
    /// `dump` is what dump_on_signal prints (called on the monitor thread).
    Monitor(const Builder::Config& config, std::size_t workers, std::function<diag::Dump()> dump);
    Monitor(const Monitor&) = delete;
    Monitor& operator=(const Monitor&) = delete;
    ~Monitor();

    /// Stops the threads (idempotent); later attaches are ignored.
    void stop() noexcept;

    /// The calling thread is worker `index` until detach(index). While it
    /// stays stuck in one poll, `on_stalled` runs now and then in a signal
    /// handler on that thread (it must be async-signal-safe).
    void attach(std::size_t index, void (*on_stalled)() noexcept = nullptr) noexcept;
    void detach(std::size_t index) noexcept;

    /// What each worker is polling right now (null: nothing), by index.
    std::vector<RawTask> polling() const;

private:
    struct Slot {
        Atomic<RawTask>* current = nullptr;  // the worker's thread-locals; null when detached
        Atomic<std::uint64_t>* polls = nullptr;
        pthread_t thread{};
        pid_t tid = 0;
        // Monitor thread only:
        RawTask seen_task;
        std::uint64_t seen_polls = 0;
        std::chrono::steady_clock::time_point since{};
        bool reported = false;
        bool signalable = false;  // it has an on_stalled hook to run
        std::chrono::steady_clock::time_point signalled{};
    };

    void run();
    void check_slots(std::chrono::steady_clock::time_point now);
    void report_stall(Slot& slot, std::size_t index, RawTask task, std::chrono::nanoseconds in_poll);
    void deliver(diag::StallReport report);
    void serve_dump_signal();

    // Delivers reports on a thread of its own. Shared with that thread, which
    // a handler that never returns keeps alive after the runtime is gone.
    struct Reporter {
        Mutex mutex;
        CondVar cv;
        std::deque<diag::StallReport> pending;
        bool stopping = false;
        bool started = false;
        std::function<void(const diag::StallReport&)> on_stall;
        static void run(const std::shared_ptr<Reporter>& self);
    };

    std::chrono::nanoseconds threshold_;
    std::function<diag::Dump()> dump_;
    int dump_signal_;
    int wake_fd_ = -1;  // eventfd: stop() and the dump signal wake the monitor

    mutable Mutex mutex_;  // slots_, stopping_
    std::vector<Slot> slots_;
    bool stopping_ = false;
    std::vector<std::chrono::steady_clock::time_point> recent_reports_;  // rate limit (monitor thread)
    std::shared_ptr<Reporter> reporter_;
    std::thread thread_;
};

}  // namespace corio::detail
