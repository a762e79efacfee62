// A bound for a test that has no timer of its own to bound it (a test that
// checks the runtime holds no timer at all cannot wrap itself in
// time::timeout): if the scope is still alive after `limit`, the watchdog
// names the test and aborts the process, so a lost wake-up fails fast instead
// of hanging the suite.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace corio::test {

class Watchdog {
public:
    explicit Watchdog(std::string what, std::chrono::milliseconds limit = std::chrono::seconds(30))
        : what_(std::move(what)), thread_([this, limit] { watch(limit); }) {}
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;
    ~Watchdog() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

private:
    void watch(std::chrono::milliseconds limit) {
        std::unique_lock lock(mutex_);
        if (cv_.wait_for(lock, limit, [&] { return done_; })) return;
        std::fprintf(stderr, "corio test watchdog: '%s' still running after %lld ms; aborting\n", what_.c_str(),
                     static_cast<long long>(limit.count()));
        std::abort();
    }

    std::string what_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;  // last: starts after the members it reads
};

}  // namespace corio::test
