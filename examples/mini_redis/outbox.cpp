// A subscriber's outbound queue and its output-buffer limits (see outbox.hpp).
#include "outbox.hpp"

#include <utility>

namespace mini_redis {

std::size_t Outbox::cost(const Outgoing& m) noexcept {
    // What the message takes as RESP ("*3\r\n$7\r\nmessage\r\n$N\r\n...\r\n"):
    // about 40 bytes of framing around the channel and the body.
    return m.channel->size() + m.message->size() + (m.pattern ? m.pattern->size() : 0) + 40;
}

bool Outbox::over_limits_locked(corio::time::Instant now) {
    std::size_t total = queued_bytes_ + pending_output_;
    if (limits_.hard_bytes != 0 && total > limits_.hard_bytes) return true;
    if (limits_.soft_bytes == 0 || total <= limits_.soft_bytes) {
        over_soft_since_.reset();
        return false;
    }
    if (!over_soft_since_) over_soft_since_ = now;
    return now - *over_soft_since_ > limits_.soft_period;
}

bool Outbox::push(Payload channel, Payload message, Payload pattern) {
    corio::Waker to_wake;
    bool queued = true;
    {
        std::lock_guard lock(mutex_);
        if (cut_off_) return false;
        bool was_empty = queue_.empty();
        Outgoing m{std::move(channel), std::move(message), std::move(pattern)};
        queued_bytes_ += cost(m);
        queue_.push_back(std::move(m));
        if (over_limits_locked(corio::time::Instant::now())) {
            // Cut off: the memory goes now, not when the session gets around to it.
            // This message is not counted as reached: it goes with the rest.
            cut_off_ = true;
            queued = false;
            std::deque<Outgoing>().swap(queue_);
            queued_bytes_ = 0;
        }
        // The session waits for the first message after it took the last,
        // or for the cut-off; a push onto a backlog it is still writing
        // needs no wake.
        if (was_empty || cut_off_) to_wake = std::move(waiter_);
    }
    std::move(to_wake).wake();
    return queued;
}

corio::Poll<std::deque<Outgoing>> Outbox::poll_take(corio::Context& cx, std::size_t budget) {
    std::lock_guard lock(mutex_);
    if (cut_off_) return corio::Ready(std::deque<Outgoing>());
    if (queue_.empty()) {
        waiter_.clone_from(cx.waker());
        return corio::Pending;
    }
    std::deque<Outgoing> taken;
    std::size_t bytes = 0;
    while (!queue_.empty() && (taken.empty() || bytes < budget)) {
        bytes += cost(queue_.front());
        taken.push_back(std::move(queue_.front()));
        queue_.pop_front();
    }
    queued_bytes_ -= bytes;
    if (queue_.empty()) std::deque<Outgoing>().swap(queue_);  // a drained backlog gives its memory back
    return corio::Ready(std::move(taken));
}

corio::Poll<bool> Outbox::poll_cut_off(corio::Context& cx) {
    std::lock_guard lock(mutex_);
    if (cut_off_) return corio::Ready(true);
    waiter_.clone_from(cx.waker());
    return corio::Pending;
}

void Outbox::set_pending_output(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    pending_output_ = bytes;
    if (!cut_off_ && over_limits_locked(corio::time::Instant::now())) cut_off_ = true;
}

bool Outbox::cut_off() const {
    std::lock_guard lock(mutex_);
    return cut_off_;
}

std::size_t Outbox::bytes() const {
    std::lock_guard lock(mutex_);
    return queued_bytes_ + pending_output_;
}

}  // namespace mini_redis
