// The connection loop and subscribe mode (see session.hpp). The commands
// themselves are in commands.cpp.
#include "session.hpp"

#include <array>
#include <corio/select.hpp>
#include <corio/sink.hpp>
#include <corio/stream/core.hpp>
#include <corio/time.hpp>
#include <cstddef>
#include <utility>
#include <variant>

namespace mini_redis {

namespace {

using namespace std::chrono_literals;

/// Batches are flushed once their replies reach this size, so a pipeline of
/// large GETs does not pile up in memory.
constexpr std::size_t kFlushAbove = 64 * 1024;

/// Reads and discards until end of stream (or an error).
corio::Task<void> drain(corio::net::TcpStream& stream) {
    std::array<std::byte, 4096> sink;
    for (;;) {
        corio::io::Result<std::size_t> n = co_await stream.read(sink);
        if (!n || *n == 0) co_return;
    }
}

/// The future that waits for the next message on any of a session's
/// subscriptions. Each subscription keeps its receive in progress (not this
/// future), so nothing is lost when this future loses a select. Polls the
/// subscriptions from a rotating start, so a busy channel cannot starve the
/// others.
class NextMessage {
public:
    struct Delivery {
        Subscription* subscription;
        std::expected<Payload, corio::sync::broadcast::RecvError> message;
    };
    using Output = Delivery;

    NextMessage(std::vector<std::unique_ptr<Subscription>>& subscriptions, std::size_t& rotation) noexcept
        : subscriptions_(&subscriptions), rotation_(&rotation) {}

    corio::Poll<Output> poll(corio::Context& cx) {
        std::size_t n = subscriptions_->size();
        std::size_t start = (*rotation_)++ % (n == 0 ? 1 : n);
        for (std::size_t k = 0; k < n; ++k) {
            Subscription& sub = *(*subscriptions_)[(start + k) % n];
            if (!sub.receiving) sub.receiving.emplace(sub.receiver);
            auto p = sub.receiving->poll(cx);
            if (p.is_pending()) continue;
            sub.receiving.reset();
            return corio::Ready(Delivery{&sub, std::move(p).take()});
        }
        // Every receive stored the waker (with no subscription, nothing can
        // arrive here and a select's other branches wake the task).
        return corio::Pending;
    }

private:
    std::vector<std::unique_ptr<Subscription>>* subscriptions_;
    std::size_t* rotation_;
};

}  // namespace

Session::Session(corio::net::TcpStream stream, std::shared_ptr<ServerState> state)
    : conn_(std::move(stream), RequestCodec()),
      state_(std::move(state)),
      stop_(state_->shutdown.cancelled()),
      client_id_(state_->next_client_id.fetch_add(1)) {}

Session::~Session() {
    // Drop every receiver first, then let the Db remove channels left empty.
    std::vector<std::string> channels;
    for (auto& sub : subscriptions_) channels.push_back(sub->channel);
    subscriptions_.clear();
    for (const std::string& channel : channels) state_->db.release_channel(channel);
}

corio::Task<void> Session::run() {
    for (;;) {
        if (state_->shutdown.is_cancelled()) co_return;
        // Wait for the next thing to do. stream::next over the Framed is
        // cancellation-safe (what it read stays in the read buffer), and so
        // is a message receive, so whichever loses the select loses nothing.
        std::optional<Request> request;
        if (subscriptions_.empty()) {
            auto next = corio::stream::next(conn_);
            auto event = co_await corio::select_biased(next, stop_);
            if (event.index() == 1) co_return;
            request = std::move(std::get<0>(event));
            if (!request) co_return;  // end of stream
        } else {
            auto next = corio::stream::next(conn_);
            NextMessage message(subscriptions_, rotation_);
            auto event = co_await corio::select(next, message, stop_);
            if (event.index() == 2) co_return;
            if (event.index() == 1) {
                deliver(std::get<1>(event).subscription, std::move(std::get<1>(event).message));
            } else {
                request = std::move(std::get<0>(event));
                if (!request) co_return;
            }
        }
        bool keep_going = co_await respond(std::move(request));
        if (!keep_going) co_return;
        // The batch is over: nothing points into the read buffer any more.
        release_if_large(conn_.read_buffer());
    }
}

corio::Task<bool> Session::respond(std::optional<Request> request) {
    for (;;) {
        Batch batch = execute_batch(std::move(request));
        if (batch == Batch::Closed) co_return false;
        if (!conn_.write_buffer().empty()) {
            bool sent = co_await send_output();
            if (!sent) co_return false;
        }
        switch (batch) {
            case Batch::More:
                request = conn_.next_buffered();
                continue;
            case Batch::Done:
                co_return true;
            case Batch::ProtocolError:
                co_await close_with_reply(conn_, 1s);
                co_return false;
            case Batch::Quit:
            case Batch::Closed:
                co_return false;
        }
    }
}

Session::Batch Session::execute_batch(std::optional<Request> request) {
    // The words point into the read buffer: each command runs before the
    // next decode, and nothing reads into the buffer during a batch.
    for (; request; request = conn_.next_buffered()) {
        if (!*request) return refuse_request(request->error());
        Args args = **request;
        if (!args.empty()) execute(args);  // else an empty line, "*0" or "*-1"
        if (quit_) return Batch::Quit;
        if (conn_.write_buffer().size() >= kFlushAbove) return Batch::More;
    }
    return Batch::Done;
}

Session::Batch Session::refuse_request(std::error_code error) {
    // An I/O error, or the end of the stream in the middle of a request:
    // nobody is left to answer.
    if (error != resp_errc::protocol_error) return Batch::Closed;
    reply(resp::Error{"ERR " + conn_.codec().protocol_error()});
    return Batch::ProtocolError;
}

corio::Task<bool> Session::send_output() {
    corio::io::Result<void> written;
    // A client that does not read its replies must not hold up a shutdown:
    // the flush loses to the stop signal (and the connection is dropped).
    if (subscriptions_.empty()) {
        auto flush = corio::sink::flush(conn_);
        auto event = co_await corio::select_biased(flush, stop_);
        if (event.index() == 1) co_return false;
        written = std::get<0>(event);
    } else {
        // A subscriber that stopped reading is disconnected after a while
        // rather than kept (with its messages) for ever.
        auto flush = corio::time::timeout(state_->options.subscriber_write_timeout, corio::sink::flush(conn_));
        auto event = co_await corio::select_biased(flush, stop_);
        if (event.index() == 1) co_return false;
        auto& in_time = std::get<0>(event);
        if (!in_time) co_return false;
        written = *in_time;
    }
    co_return written.has_value();
}

void Session::deliver(Subscription* sub, std::expected<Payload, corio::sync::broadcast::RecvError> message) {
    if (message) {
        reply(resp::ArrayHeader{3});
        reply(resp::Bulk{"message"});
        reply(resp::Bulk{sub->channel});
        reply(resp::Bulk{**message});
        return;
    }
    // Lagged: the oldest messages were dropped for this slow subscriber; the
    // next receive continues with the oldest one kept. Closed cannot happen
    // while the Db holds the channel's sender, but if it does, the
    // subscription is over.
    if (message.error().is_closed()) remove_subscription(sub->channel);
}

void Session::add_subscription(std::string_view channel) {
    for (auto& sub : subscriptions_) {
        if (sub->channel == channel) return;
    }
    subscriptions_.push_back(std::make_unique<Subscription>(std::string(channel), state_->db.subscribe(channel)));
}

bool Session::remove_subscription(std::string_view channel) {
    for (auto it = subscriptions_.begin(); it != subscriptions_.end(); ++it) {
        if ((*it)->channel != channel) continue;
        std::string name = std::move((*it)->channel);
        subscriptions_.erase(it);  // drops the receiver
        state_->db.release_channel(name);
        return true;
    }
    return false;
}

corio::Task<void> serve_connection(corio::net::TcpStream stream, std::shared_ptr<ServerState> state,
                                   corio::sync::OwnedSemaphorePermit permit) {
    Session session(std::move(stream), std::move(state));
    co_await session.run();
    (void)permit;  // returned to the limit when this task ends, however it ends
}

corio::Task<void> close_with_reply(ServerConnection& conn, std::chrono::milliseconds limit) {
    if (!conn.write_buffer().empty()) {
        auto sent = co_await corio::time::timeout(limit, corio::sink::flush(conn));
        if (!sent || !*sent) co_return;
    }
    (void)conn.get_ref().shutdown(SHUT_WR);
    auto rest = drain(conn.get_ref());
    (void)co_await corio::time::timeout(limit, std::move(rest));
}

}  // namespace mini_redis
