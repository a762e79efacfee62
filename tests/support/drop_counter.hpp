// A value type that counts its constructions and destructions, to prove that
// every object a test created was destroyed exactly once.
#pragma once

#include <atomic>
#include <utility>

namespace corio::test {

struct DropCounts {
    std::atomic<int> constructed{0};
    std::atomic<int> destroyed{0};
    int alive() const { return constructed.load() - destroyed.load(); }
};

class DropCounter {
public:
    explicit DropCounter(DropCounts& counts, int value = 0) : counts_(&counts), value_(value) {
        counts_->constructed.fetch_add(1);
    }
    DropCounter(const DropCounter& other) : counts_(other.counts_), value_(other.value_) {
        if (counts_) counts_->constructed.fetch_add(1);
    }
    DropCounter(DropCounter&& other) noexcept : counts_(std::exchange(other.counts_, nullptr)), value_(other.value_) {}
    DropCounter& operator=(const DropCounter&) = delete;
    DropCounter& operator=(DropCounter&&) = delete;
    ~DropCounter() {
        if (counts_) counts_->destroyed.fetch_add(1);
    }
    int value() const { return value_; }

private:
    DropCounts* counts_;
    int value_;
};

}  // namespace corio::test
