// A subscriber's outbound queue: every message published to any of its
// channels, in publish order, waiting to be written to its socket.
//
// Publishers push (any thread, never waiting); the subscriber's session
// takes everything queued at once and writes it. Nothing is ever dropped
// while the connection stays open: a subscriber whose queue passes the hard
// limit, or stays over the soft limit longer than the soft period (Redis's
// `client-output-buffer-limit pubsub 32mb 8mb 60`), is cut off instead:
// its queue is freed at once and its session closes the connection.
#pragma once

#include <chrono>
#include <corio/future.hpp>
#include <corio/time.hpp>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace mini_redis {

/// A published message as it travels to every subscriber of its channel:
/// shared, so a large message is not copied once per subscriber.
using Payload = std::shared_ptr<const std::string>;

/// Redis's `client-output-buffer-limit pubsub HARD SOFT SECONDS`.
struct OutputLimits {
    std::size_t hard_bytes = 32 * 1024 * 1024;  ///< over this: cut off at once (0: no limit)
    std::size_t soft_bytes = 8 * 1024 * 1024;   ///< over this for longer than soft_period: cut off (0: no limit)
    std::chrono::milliseconds soft_period{60'000};
};

/// One queued message: its channel's name and its body, both shared, and
/// the pattern it matched for a pattern subscription ("pmessage"), else null.
struct Outgoing {
    Payload channel;
    Payload message;
    Payload pattern = nullptr;
};

class Outbox {
public:
    explicit Outbox(OutputLimits limits) noexcept : limits_(limits) {}

    /// Queues a message; false when the subscriber is cut off, already or
    /// by this message (it is then not counted as reached).
    bool push(Payload channel, Payload message, Payload pattern = nullptr);

    /// The session: takes the oldest queued messages, about `budget` bytes
    /// of them (at least one), or stores the waker (Pending). Ready with
    /// nothing once cut off (see cut_off()). Cancellation-safe: a Pending
    /// poll takes nothing.
    corio::Poll<std::deque<Outgoing>> poll_take(corio::Context& cx, std::size_t budget);

    /// Ready(true) once cut off; else stores the waker (Pending). The
    /// session waits on this or on poll_take, never both at once.
    corio::Poll<bool> poll_cut_off(corio::Context& cx);

    /// The session's own unwritten bytes (its write buffer), counted against
    /// the limits with the queue.
    void set_pending_output(std::size_t bytes);

    /// True once the limits cut the subscriber off.
    bool cut_off() const;
    /// Bytes counted against the limits now (for tests and INFO).
    std::size_t bytes() const;

private:
    static std::size_t cost(const Outgoing& m) noexcept;
    bool over_limits_locked(corio::time::Instant now);

    const OutputLimits limits_;
    mutable std::mutex mutex_;
    std::deque<Outgoing> queue_;
    std::size_t queued_bytes_ = 0;
    std::size_t pending_output_ = 0;
    std::optional<corio::time::Instant> over_soft_since_;
    bool cut_off_ = false;
    corio::Waker waiter_;
};

}  // namespace mini_redis
