// Blocked BLPOP / BRPOP clients: the per-shard queues and the session's
// side (see blocking.hpp).
#include "blocking.hpp"

#include <algorithm>
#include <array>
#include <mutex>
#include <utility>

#include "aof.hpp"

namespace mini_redis {

Str pop_end(List& list, ListEnd end) {
    Str value;
    if (end == ListEnd::Head) {
        value = std::move(list.front());
        list.pop_front();
    } else {
        value = std::move(list.back());
        list.pop_back();
    }
    return value;
}

bool BlockedPop::try_claim() noexcept {
    State expected = kWaiting;
    // relaxed: the claim only decides who serves; what it hands over is
    // ordered by the served key's shard lock (see key_ and value_).
    return state_.compare_exchange_strong(expected, kClaimed, std::memory_order_relaxed);
}

void BlockedPop::hand_over(std::string_view key, Str value) {
    key_ = key;
    value_ = std::move(value);
    ready_.notify_one();
}

std::optional<std::pair<std::string, Str>> BlockedPop::withdraw() {
    // relaxed: the caller holds every shard lock a claim could be made
    // under, so any claim, and its hand-over, happened before (or never).
    State was = state_.exchange(kGone, std::memory_order_relaxed);
    if (was != kClaimed) return std::nullopt;
    return std::pair{std::move(key_), std::move(value_)};
}

void BlockedQueues::add(std::string_view key, std::shared_ptr<BlockedPop> waiter) {
    auto it = queues_.find(key);
    if (it == queues_.end()) it = queues_.emplace(std::string(key), std::deque<std::shared_ptr<BlockedPop>>()).first;
    it->second.push_back(std::move(waiter));
}

void BlockedQueues::remove(std::string_view key, const BlockedPop& waiter) {
    auto it = queues_.find(key);
    if (it == queues_.end()) return;
    std::erase_if(it->second, [&](const auto& queued) { return queued.get() == &waiter; });
    if (it->second.empty()) queues_.erase(it);
}

void BlockedQueues::serve(std::string_view key, List& list, const std::function<void(std::string_view, bool)>& served) {
    auto it = queues_.find(key);
    if (it == queues_.end()) return;
    auto& queue = it->second;
    while (!list.empty() && !queue.empty()) {
        std::shared_ptr<BlockedPop> waiter = std::move(queue.front());
        queue.pop_front();
        if (!waiter->try_claim()) continue;  // served through another key, or gone
        waiter->hand_over(key, pop_end(list, waiter->end()));
        if (served) served(key, waiter->end() == ListEnd::Head);
    }
    if (queue.empty()) queues_.erase(it);
}

void BlockedQueues::collect_waiting(std::unordered_set<const BlockedPop*>& out) const {
    for (const auto& [key, queue] : queues_) {
        for (const auto& waiter : queue) {
            if (waiter->waiting()) out.insert(waiter.get());
        }
    }
}

PopWaiter::PopWaiter(Db db, std::vector<std::string> keys, ListEnd end, AppendOnlyFile* aof)
    : db_(std::move(db)), keys_(std::move(keys)), waiter_(std::make_shared<BlockedPop>(end)), aof_(aof) {}

PopWaiter::~PopWaiter() {
    if (!queued_) return;
    // The session ended while blocked (its task was dropped): what was
    // handed to it must not be lost.
    std::optional<Popped> popped = finish();
    if (popped) give_back(std::move(*popped));
}

void PopWaiter::enqueue(Db::Access& access) {
    for (const std::string& key : keys_) access.block(key, waiter_);
    queued_ = true;
}

std::optional<PopWaiter::Popped> PopWaiter::finish() {
    if (!queued_) return std::nullopt;
    queued_ = false;
    std::vector<std::string_view> keys(keys_.begin(), keys_.end());
    Db::Access access = db_.lock(keys);
    for (std::string_view key : keys) access.unblock(key, *waiter_);
    std::optional<std::pair<std::string, Str>> handed = waiter_->withdraw();
    if (!handed) return std::nullopt;
    return Popped{std::move(handed->first), std::move(handed->second)};
}

void PopWaiter::give_back(Popped popped) {
    // The pop was logged when the element was handed over: the give-back is
    // logged as the push that undoes it, in the order of the write commands.
    std::unique_lock<std::mutex> order;
    if (aof_ != nullptr) order = aof_->order();
    bool head = waiter_->end() == ListEnd::Head;
    {
        Db::Access access = db_.lock(popped.key);
        auto [entry, created] = access.find_or_create(popped.key);
        List* list = created ? &entry->make_list() : entry->list();
        // The key was given another type meanwhile: the element has no list
        // to go back to.
        if (list == nullptr) return;
        if (head) {
            list->push_front(popped.value);
        } else {
            list->push_back(popped.value);
        }
        access.serve_blocked(*entry);
    }
    if (aof_ != nullptr) {
        std::array<std::string_view, 3> push{head ? "LPUSH" : "RPUSH", popped.key, popped.value.view()};
        aof_->append_command(push);
    }
}

}  // namespace mini_redis
