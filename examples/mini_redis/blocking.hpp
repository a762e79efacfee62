// Clients blocked in BLPOP / BRPOP, waiting for an element.
//
// A blocked client is one BlockedPop, queued (by shared_ptr) on each of its
// keys in the BlockedQueues of the key's shard: one FIFO per key, guarded by
// that shard's lock. A push to a list calls Db::Access::serve_blocked while
// it still holds the shard's lock: the oldest waiter of the key is claimed
// (an atomic exchange, since a waiter on keys of two shards may be claimed
// from either), handed the element popped for it, and woken through its
// Notify. So an element is never in the list and in a waiter at once, and a
// waiter queued on several keys is served once, by the first push to any.
//
// The session's side is PopWaiter: it queues the waiter (under the same
// lock as the check that found every key empty, so no push slips between
// the two) and, when done or dropped, takes it off every queue while holding
// every key's shard: no serve is then half done, and the waiter either was
// handed an element (which it takes) or never will be. An element handed to
// a session that can no longer deliver it (its client left, the server
// stops) goes back to the end of the list it was taken from, and on to the
// next waiter if there is one: nothing is lost.
#pragma once

#include <atomic>
#include <corio/sync/notify.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "db.hpp"
#include "value.hpp"

namespace mini_redis {

class AppendOnlyFile;

/// An end of a list: LPUSH, LPOP and BLPOP work at the head, the R
/// commands at the tail.
enum class ListEnd : std::uint8_t { Head, Tail };

/// Removes and returns the element at `end` of a non-empty list.
Str pop_end(List& list, ListEnd end);

/// One client blocked in BLPOP (takes from the head) or BRPOP (the tail).
/// Thread-safe as described in the header comment.
class BlockedPop {
public:
    explicit BlockedPop(ListEnd end) noexcept : end_(end) {}

    /// Which end of a list it takes from.
    ListEnd end() const noexcept { return end_; }

    /// For a pusher holding the shard lock of `key`: claims the waiter if no
    /// other key served it and it did not leave; then hand_over() must follow
    /// under the same lock.
    bool try_claim() noexcept;
    /// Whether it still waits (a snapshot, for INFO).
    bool waiting() const noexcept { return state_.load(std::memory_order_relaxed) == kWaiting; }
    /// Stores the element popped for the claimed waiter and wakes it.
    void hand_over(std::string_view key, Str value);

    /// For its session, holding the shard lock of every key it waits on:
    /// marks it gone (no later claim succeeds) and returns what it was
    /// handed, if anything.
    std::optional<std::pair<std::string, Str>> withdraw();

    /// Completes once an element was handed over (possibly before the call:
    /// the Notify keeps the permit). Cancellation-safe.
    corio::sync::Notify::Notified handed_over() noexcept { return ready_.notified(); }

private:
    enum State : std::uint8_t { kWaiting, kClaimed, kGone };

    const ListEnd end_;
    std::atomic<State> state_{kWaiting};
    // Written by the claiming pusher and read by withdraw(), each holding the
    // shard lock of the served key: the lock orders them.
    std::string key_;
    Str value_;
    corio::sync::Notify ready_;
};

/// The clients blocked on the keys of one shard, oldest first per key. Not
/// thread-safe: the Db holds the shard's lock around every call.
class BlockedQueues {
public:
    bool empty() const noexcept { return queues_.empty(); }
    /// Queues `waiter` behind the others blocked on `key`.
    void add(std::string_view key, std::shared_ptr<BlockedPop> waiter);
    /// Takes `waiter` off the queue of `key` (every time it is in it).
    void remove(std::string_view key, const BlockedPop& waiter);
    /// Hands elements of `list` (the value of `key`) to its waiters, oldest
    /// first, while both last; skips waiters already served or gone. Calls
    /// `served(key, from_head)` (when set) for each element handed.
    void serve(std::string_view key, List& list, const std::function<void(std::string_view, bool)>& served);
    /// Adds the waiters still waiting (not served, not gone) to `out`.
    void collect_waiting(std::unordered_set<const BlockedPop*>& out) const;

private:
    struct KeyHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, std::deque<std::shared_ptr<BlockedPop>>, KeyHash, std::equal_to<>> queues_;
};

/// A session's blocked pop on `keys`: queued by enqueue(), off every queue
/// after finish() or when destroyed (an element handed to it then goes back).
class PopWaiter {
public:
    /// What a pop got: the key and the element.
    struct Popped {
        std::string key;
        Str value;
    };

    /// A waiter on `keys`; with `aof`, a give_back() is logged there.
    PopWaiter(Db db, std::vector<std::string> keys, ListEnd end, AppendOnlyFile* aof = nullptr);
    PopWaiter(const PopWaiter&) = delete;
    PopWaiter& operator=(const PopWaiter&) = delete;
    /// Leaves the queues if still on them, giving back what it was handed.
    ~PopWaiter();

    /// Queues the waiter on each key; `access` must hold every key's shard
    /// (the one that found them all empty).
    void enqueue(Db::Access& access);
    /// Completes once an element was handed over. Cancellation-safe.
    corio::sync::Notify::Notified handed_over() noexcept { return waiter_->handed_over(); }
    /// Leaves every queue; what was handed over, if anything.
    std::optional<Popped> finish();
    /// Puts `popped` back where it was taken from (then serving the next
    /// waiter): for an element that could not be delivered.
    void give_back(Popped popped);

private:
    Db db_;
    std::vector<std::string> keys_;
    std::shared_ptr<BlockedPop> waiter_;
    AppendOnlyFile* aof_;
    bool queued_ = false;
};

}  // namespace mini_redis
