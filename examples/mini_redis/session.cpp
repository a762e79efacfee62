// The connection loop and subscribe mode (see session.hpp). The commands
// themselves are in commands.cpp.
#include "session.hpp"

#include <array>
#include <corio/select.hpp>
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
    : conn_(std::move(stream)),
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
        // Wait for the next thing to do. The read is cancellation-safe (its
        // bytes land in the buffer in the poll that reads them), and so is a
        // message receive, so whichever loses the select loses nothing.
        bool got_input = false;
        if (subscriptions_.empty()) {
            auto read = conn_.read_some();
            auto event = co_await corio::select_biased(read, stop_);
            if (event.index() == 1) co_return;
            corio::io::Result<std::size_t>& n = std::get<0>(event);
            if (!n || *n == 0) co_return;  // error, end of stream, or a frame too large
            got_input = true;
        } else {
            auto read = conn_.read_some();
            NextMessage next(subscriptions_, rotation_);
            auto event = co_await corio::select(read, next, stop_);
            if (event.index() == 2) co_return;
            if (event.index() == 1) {
                deliver(std::get<1>(event).subscription, std::move(std::get<1>(event).message));
            } else {
                corio::io::Result<std::size_t>& n = std::get<0>(event);
                if (!n || *n == 0) co_return;
                got_input = true;
            }
        }
        bool keep_going = co_await respond(got_input);
        if (!keep_going) co_return;
    }
}

corio::Task<bool> Session::respond(bool got_input) {
    Batch batch = Batch::Done;
    do {
        if (got_input) batch = execute_buffered();
        if (!conn_.output().empty()) {
            bool sent = co_await send_output();
            if (!sent) co_return false;
        }
    } while (batch == Batch::More);
    if (batch == Batch::Quit) co_return false;
    if (batch == Batch::ProtocolError) {
        co_await close_with_reply(conn_, 1s);
        co_return false;
    }
    co_return true;
}

Session::Batch Session::execute_buffered() {
    ReadBuffer& in = conn_.input();
    while (!in.empty()) {
        // The words point into the read buffer: the command runs before the
        // bytes are consumed (consume() may free an emptied large buffer),
        // and nothing reads into the buffer during a batch.
        CommandResult parsed = parse_command(in.data(), args_);
        if (std::holds_alternative<Incomplete>(parsed)) {
            if (in.size() <= kMaxFrameBytes) return Batch::Done;
            resp::error(conn_.output(), "ERR Protocol error: request too large");
            return Batch::ProtocolError;
        }
        if (auto* error = std::get_if<ProtocolError>(&parsed)) {
            std::string& out = conn_.output();
            out.append("-ERR ");
            out.append(error->message);
            out.append("\r\n");
            return Batch::ProtocolError;
        }
        std::size_t consumed = std::get<ParsedCommand>(parsed).consumed;
        if (!args_.empty()) execute(args_.words());  // else an empty line, "*0" or "*-1"
        in.consume(consumed);
        if (quit_) return Batch::Quit;
        if (conn_.output().size() >= kFlushAbove) return Batch::More;
    }
    return Batch::Done;
}

corio::Task<bool> Session::send_output() {
    std::string& out = conn_.output();
    auto bytes = std::as_bytes(std::span(out.data(), out.size()));
    corio::io::Result<void> written;
    // A client that does not read its replies must not hold up a shutdown:
    // the write loses to the stop signal (and the connection is dropped).
    if (subscriptions_.empty()) {
        auto write = conn_.stream().write_all(bytes);
        auto event = co_await corio::select_biased(write, stop_);
        if (event.index() == 1) co_return false;
        written = std::get<0>(event);
    } else {
        // A subscriber that stopped reading is disconnected after a while
        // rather than kept (with its messages) for ever.
        auto write = corio::time::timeout(state_->options.subscriber_write_timeout, conn_.stream().write_all(bytes));
        auto event = co_await corio::select_biased(write, stop_);
        if (event.index() == 1) co_return false;
        auto& in_time = std::get<0>(event);
        if (!in_time) co_return false;
        written = *in_time;
    }
    out.clear();
    co_return written.has_value();
}

void Session::deliver(Subscription* sub, std::expected<Payload, corio::sync::broadcast::RecvError> message) {
    if (message) {
        std::string& out = conn_.output();
        resp::array_header(out, 3);
        resp::bulk(out, "message");
        resp::bulk(out, sub->channel);
        resp::bulk(out, **message);
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

corio::Task<void> close_with_reply(Connection& conn, std::chrono::milliseconds limit) {
    if (!conn.output().empty()) {
        auto send = conn.flush();
        auto sent = co_await corio::time::timeout(limit, std::move(send));
        if (!sent || !*sent) co_return;
    }
    (void)conn.stream().shutdown(SHUT_WR);
    auto rest = drain(conn.stream());
    (void)co_await corio::time::timeout(limit, std::move(rest));
}

}  // namespace mini_redis
