// The connection loop and subscribe mode (see session.hpp). The commands
// themselves are in commands.cpp.
#include "session.hpp"

#include <array>
#include <corio/io/util.hpp>
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

/// Values this large are written from the stored value itself, not copied
/// into the write buffer (see Session::reply_value).
constexpr std::size_t kSendDirectlyFrom = 64 * 1024;

/// Reads and discards until end of stream (or an error).
corio::Task<void> drain(corio::net::TcpStream& stream) {
    std::array<std::byte, 4096> sink;
    for (;;) {
        corio::io::Result<std::size_t> n = co_await stream.read(sink);
        if (!n || *n == 0) co_return;
    }
}

/// The next messages of a subscriber: up to `budget` bytes of them taken
/// from its outbox (nothing when the output limits cut it off).
/// Cancellation-safe: a pending poll takes nothing.
class TakeMessages {
public:
    using Output = std::deque<Outgoing>;
    TakeMessages(Outbox& outbox, std::size_t budget) noexcept : outbox_(&outbox), budget_(budget) {}
    corio::Poll<Output> poll(corio::Context& cx) { return outbox_->poll_take(cx, budget_); }

private:
    Outbox* outbox_;
    std::size_t budget_;
};

/// Ready once the output limits cut the subscriber off: raced against a
/// write that a subscriber which does not read would hold up for ever.
class CutOff {
public:
    using Output = bool;
    explicit CutOff(Outbox& outbox) noexcept : outbox_(&outbox) {}
    corio::Poll<bool> poll(corio::Context& cx) { return outbox_->poll_cut_off(cx); }

private:
    Outbox* outbox_;
};

}  // namespace

Session::Session(corio::net::TcpStream stream, std::shared_ptr<ServerState> state)
    : conn_(std::move(stream), RequestCodec()), state_(std::move(state)), stop_(state_->shutdown.cancelled()) {
    info_.id = state_->next_client_id.fetch_add(1);
    if (auto peer = conn_.get_ref().peer_addr()) info_.addr = peer->to_string();
    if (auto local = conn_.get_ref().local_addr()) info_.laddr = local->to_string();
    info_.created = corio::time::Instant::now();
    info_.last_batch_ticks.store(info_.created.into_std().time_since_epoch().count(), std::memory_order_relaxed);
    state_->total_connections.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(state_->clients_mutex);
    state_->clients.emplace(info_.id, &info_);
}

Session::~Session() {
    for (const auto& [channel, order] : channels_) state_->db.unsubscribe(channel, outbox_.get());
    for (const auto& [pattern, order] : patterns_) state_->db.punsubscribe(pattern, outbox_.get());
    std::lock_guard lock(state_->clients_mutex);
    state_->clients.erase(info_.id);
    state_->retired_commands.fetch_add(info_.commands.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

corio::Task<void> Session::run() {
    for (;;) {
        if (state_->shutdown.is_cancelled()) co_return;
        // Wait for the next thing to do. stream::next over the Framed is
        // cancellation-safe (what it read stays in the read buffer), and so
        // is a message receive, so whichever loses the select loses nothing.
        std::optional<Request> request;
        if (!subscribed()) {
            auto next = corio::stream::next(conn_);
            auto event = co_await corio::select_biased(next, stop_);
            if (event.index() == 1) co_return;
            request = std::move(std::get<0>(event));
            if (!request) co_return;  // end of stream
        } else {
            auto next = corio::stream::next(conn_);
            TakeMessages messages(*outbox_, kFlushAbove);
            auto event = co_await corio::select(next, messages, stop_);
            if (event.index() == 2) co_return;
            if (event.index() == 1) {
                const auto& batch = std::get<1>(event);
                if (batch.empty()) co_return;  // cut off by the output limits
                deliver(batch);
            } else {
                request = std::move(std::get<0>(event));
                if (!request) co_return;
            }
        }
        info_.last_batch_ticks.store(corio::time::Instant::now().into_std().time_since_epoch().count(),
                                     std::memory_order_relaxed);
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
        if (!aof_committed_) {
            // The writes go to the append-only file before their replies go out.
            bool stored = co_await state_->aof->commit(aof_offset_);
            aof_committed_ = true;
            // Under `always`, a write that was not stored must not be
            // acknowledged: close without the replies.
            if (!stored && state_->aof->policy() == AppendFsync::Always) co_return false;
        }
        if (!conn_.write_buffer().empty() || direct_reply_.size() != 0) {
            bool sent = co_await send_output();
            if (!sent) co_return false;
        }
        switch (batch) {
            case Batch::More:
                request = conn_.next_buffered();
                continue;
            case Batch::Await: {
                AwaitedCommand command = *std::exchange(awaiting_, std::nullopt);
                co_await (this->*command.run)(command.args);
                if (quit_) co_return false;  // the client left or the server stops: close at once
                request = conn_.next_buffered();
                continue;
            }
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
        if (awaiting_) return Batch::Await;
        if (quit_) return Batch::Quit;
        if (conn_.write_buffer().size() >= kFlushAbove || direct_reply_.size() != 0) return Batch::More;
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
    if (!subscribed()) {
        auto flush = corio::sink::flush(conn_);
        auto event = co_await corio::select_biased(flush, stop_);
        if (event.index() == 1) co_return false;
        written = std::get<0>(event);
        if (written && direct_reply_.size() != 0) {
            // The bulk header went with the buffer: now the value's bytes,
            // from the value (kept alive by direct_reply_), then its CRLF.
            Str value = std::move(direct_reply_);
            auto body = corio::io::write_all(conn_.get_ref(), value.view());
            auto sent = co_await corio::select_biased(body, stop_);
            if (sent.index() == 1 || !std::get<0>(sent)) co_return false;
            conn_.write_buffer().append("\r\n");
            auto end = corio::sink::flush(conn_);
            auto ended = co_await corio::select_biased(end, stop_);
            if (ended.index() == 1) co_return false;
            written = std::get<0>(ended);
        }
    } else {
        // A subscriber that stopped reading holds its messages until its
        // output limits cut it off; the write loses to that.
        outbox_->set_pending_output(conn_.write_buffer().size());
        auto flush = corio::sink::flush(conn_);
        CutOff cut_off(*outbox_);
        auto event = co_await corio::select_biased(flush, stop_, cut_off);
        if (event.index() != 0) co_return false;
        written = std::get<0>(event);
        outbox_->set_pending_output(0);
        release_if_large(conn_.write_buffer());  // a drained backlog gives its memory back
    }
    co_return written.has_value();
}

void Session::reply_value(const Str& value) {
    if (value.size() < kSendDirectlyFrom || subscribed()) {
        reply(resp::Bulk{value.view()});
        return;
    }
    resp::number_line(conn_.write_buffer(), '$', static_cast<std::int64_t>(value.size()));
    direct_reply_ = value;
}

void Session::deliver(const std::deque<Outgoing>& messages) {
    for (const Outgoing& m : messages) {
        if (m.pattern) {
            reply(resp::ArrayHeader{4});
            reply(resp::Bulk{"pmessage"});
            reply(resp::Bulk{*m.pattern});
            reply(resp::Bulk{*m.channel});
            reply(resp::Bulk{*m.message});
            continue;
        }
        reply(resp::ArrayHeader{3});
        reply(resp::Bulk{"message"});
        reply(resp::Bulk{*m.channel});
        reply(resp::Bulk{*m.message});
    }
}

void Session::add_subscription(std::string_view channel) {
    if (channels_.contains(channel)) return;
    if (!outbox_) outbox_ = std::make_shared<Outbox>(state_->options.pubsub_limits);
    channels_.emplace(channel, ++subscriptions_made_);
    info_.channels.store(static_cast<std::uint32_t>(channels_.size()), std::memory_order_relaxed);
    state_->db.subscribe(channel, outbox_);
}

bool Session::remove_subscription(std::string_view channel) {
    auto it = channels_.find(channel);
    if (it == channels_.end()) return false;
    state_->db.unsubscribe(channel, outbox_.get());
    channels_.erase(it);
    info_.channels.store(static_cast<std::uint32_t>(channels_.size()), std::memory_order_relaxed);
    return true;
}

void Session::add_pattern(std::string_view pattern) {
    if (patterns_.contains(pattern)) return;
    if (!outbox_) outbox_ = std::make_shared<Outbox>(state_->options.pubsub_limits);
    patterns_.emplace(pattern, ++subscriptions_made_);
    info_.patterns.store(static_cast<std::uint32_t>(patterns_.size()), std::memory_order_relaxed);
    state_->db.psubscribe(pattern, outbox_);
}

bool Session::remove_pattern(std::string_view pattern) {
    auto it = patterns_.find(pattern);
    if (it == patterns_.end()) return false;
    state_->db.punsubscribe(pattern, outbox_.get());
    patterns_.erase(it);
    info_.patterns.store(static_cast<std::uint32_t>(patterns_.size()), std::memory_order_relaxed);
    return true;
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
