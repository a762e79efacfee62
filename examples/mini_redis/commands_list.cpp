// The list commands: LPUSH, RPUSH, LPOP, RPOP, LRANGE, LLEN, and the
// blocking BLPOP and BRPOP, with Redis 7.0's replies and errors. A list
// left empty is deleted, as in Redis.
//
// BLPOP / BRPOP run as async commands (Batch::Await): the replies before
// them were sent, and nothing else of the client runs until they reply. A
// blocked client waits for whichever comes first: an element handed over by
// a push (blocking.hpp), its timeout, the server's shutdown (the connection
// is then closed at once), or the end of its connection (noticed by reading
// on, as Redis does: what it sends meanwhile is kept, unparsed, in the read
// buffer and runs after the reply).
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <corio/select.hpp>
#include <corio/time.hpp>
#include <cstdint>
#include <cstdlib>
#include <expected>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "blocking.hpp"
#include "session.hpp"

namespace mini_redis {

namespace {

constexpr std::string_view kNotAnInteger = "ERR value is not an integer or out of range";
constexpr std::string_view kNotPositive = "ERR value is out of range, must be positive";

/// A blocked client's read buffer grows no further than this: past it, the
/// client's further requests wait in its socket (and a disconnect is only
/// noticed once the command returns).
constexpr std::size_t kMaxReadWhileBlocked = 1024 * 1024;

/// Timeouts longer than this (about 30 years) wait for ever, as Redis's
/// do in practice.
constexpr std::int64_t kForeverMs = 1'000'000'000'000;

/// BLPOP's timeout in milliseconds as Redis 7.0 reads it (a long double
/// of seconds, times 1000, rounded up; 0 for none), or its error.
std::expected<std::int64_t, std::string_view> parse_timeout(std::string_view text) {
    constexpr std::string_view kNotAFloat = "ERR timeout is not a float or out of range";
    constexpr std::size_t kMaxChars = 5 * 1024;  // Redis's MAX_LONG_DOUBLE_CHARS
    if (text.empty() || text.size() >= kMaxChars || std::isspace(static_cast<unsigned char>(text[0])))
        return std::unexpected(kNotAFloat);
    std::string copy(text);  // NUL-terminated for strtold
    char* end = nullptr;
    errno = 0;
    long double seconds = std::strtold(copy.c_str(), &end);
    bool range_error = errno == ERANGE && (std::isinf(seconds) || seconds == 0);
    if (end != copy.c_str() + copy.size() || range_error || std::isnan(seconds)) return std::unexpected(kNotAFloat);
    long double ms = std::ceil(seconds * 1000);
    // Redis converts to long long without a check: on x86-64 a value out of
    // its range (inf, 1e16 seconds) becomes LLONG_MIN, "negative".
    constexpr long double kLimit = 9223372036854775808.0L;  // 2^63
    if (ms < 0 || ms >= kLimit) return std::unexpected("ERR timeout is negative");
    return static_cast<std::int64_t>(ms);
}

/// Reads what a blocked client sends into the connection's read buffer,
/// without decoding it: Ready(true) after a read, Ready(false) at the end of
/// the stream or on an error. Cancellation-safe: what it read stays read.
class ReadWhileBlocked {
public:
    using Output = bool;
    explicit ReadWhileBlocked(ServerConnection& conn) noexcept : conn_(&conn) {}
    corio::Poll<bool> poll(corio::Context& cx) {
        corio::codec::BytesMut& buffer = conn_->read_buffer();
        if (buffer.size() >= kMaxReadWhileBlocked) return corio::Pending;
        auto n = conn_->get_ref().poll_read(cx, buffer.write_area(corio::codec::kReadChunk));
        if (n.is_pending()) return corio::Pending;
        if (!*n || **n == 0) return corio::Ready(false);
        buffer.commit(**n);
        return corio::Ready(true);
    }

private:
    ServerConnection* conn_;
};

/// Ready at the deadline; never without one.
class Deadline {
public:
    using Output = bool;
    explicit Deadline(std::optional<corio::time::Instant> at) {
        if (at) sleep_.emplace(*at);
    }
    corio::Poll<bool> poll(corio::Context& cx) {
        if (!sleep_) return corio::Pending;
        if (sleep_->poll(cx).is_pending()) return corio::Pending;
        return corio::Ready(true);
    }

private:
    std::optional<corio::time::Sleep> sleep_;
};

/// The words of a stored list from `start` to `stop` (LRANGE's indexes).
std::pair<std::size_t, std::size_t> lrange_bounds(std::int64_t start, std::int64_t stop, std::size_t size) {
    auto n = static_cast<std::int64_t>(size);
    if (start < 0) start += n;
    if (stop < 0) stop += n;
    if (start < 0) start = 0;
    if (start > stop || start >= n) return {0, 0};
    if (stop >= n) stop = n - 1;
    return {static_cast<std::size_t>(start), static_cast<std::size_t>(stop + 1)};
}

}  // namespace

void Session::lpush(Args args) { push(args, ListEnd::Head); }
void Session::rpush(Args args) { push(args, ListEnd::Tail); }
void Session::lpop(Args args) { pop(args, ListEnd::Head); }
void Session::rpop(Args args) { pop(args, ListEnd::Tail); }
corio::Task<void> Session::blpop(Args args) { return blocking_pop(args, ListEnd::Head); }
corio::Task<void> Session::brpop(Args args) { return blocking_pop(args, ListEnd::Tail); }

void Session::push(Args args, ListEnd end) {
    std::vector<Str> values;  // copied before the lock is taken
    values.reserve(args.size() - 2);
    for (std::string_view value : args.subspan(2)) values.emplace_back(value);
    Db::Access access = state_->db.lock(args[1]);
    auto [entry, created] = access.find_or_create(args[1]);
    List* list = created ? &entry->make_list() : entry->list();
    if (list == nullptr) {
        reply(resp::Error{kWrongType});
        return;
    }
    for (Str& value : values) {
        if (end == ListEnd::Head) {
            list->push_front(std::move(value));
        } else {
            list->push_back(std::move(value));
        }
    }
    // Redis answers the length before blocked clients take their elements.
    reply(resp::Integer{static_cast<std::int64_t>(list->size())});
    access.serve_blocked(*entry);
}

void Session::pop(Args args, ListEnd end) {
    if (args.size() > 3) {
        reply(resp::Error{end == ListEnd::Head ? "ERR wrong number of arguments for 'lpop' command"
                                               : "ERR wrong number of arguments for 'rpop' command"});
        return;
    }
    std::optional<std::int64_t> count;
    if (args.size() == 3) {
        std::int64_t n = 0;
        if (!parse_int64(args[2], n) || n < 0) {
            reply(resp::Error{kNotPositive});
            return;
        }
        count = n;
    }
    std::vector<Str> popped;  // shared copies: encoded after the lock is released
    {
        Db::Access access = state_->db.lock(args[1]);
        Entry* entry = access.find(args[1]);
        if (entry == nullptr) {
            if (count) {
                reply(resp::NullArray{});
            } else {
                reply(resp::NullBulk{});
            }
            return;
        }
        List* list = entry->list();
        if (list == nullptr) {
            reply(resp::Error{kWrongType});
            return;
        }
        auto n = static_cast<std::size_t>(std::min<std::int64_t>(count.value_or(1), list->size()));
        for (std::size_t i = 0; i < n; ++i) popped.push_back(pop_end(*list, end));
        if (list->empty()) access.erase(*entry);
    }
    if (!count) {
        reply_value(popped.front());
        return;
    }
    reply(resp::ArrayHeader{popped.size()});
    for (const Str& value : popped) reply(resp::Bulk{value.view()});
}

void Session::lrange(Args args) {
    std::int64_t start = 0;
    std::int64_t stop = 0;
    if (!parse_int64(args[2], start) || !parse_int64(args[3], stop)) {
        reply(resp::Error{kNotAnInteger});
        return;
    }
    std::vector<Str> values;  // shared copies: encoded after the lock is released
    {
        Db::Access access = state_->db.lock(args[1]);
        const Entry* entry = access.find(args[1]);
        if (entry != nullptr) {
            const List* list = entry->list();
            if (list == nullptr) {
                reply(resp::Error{kWrongType});
                return;
            }
            auto [from, to] = lrange_bounds(start, stop, list->size());
            values.assign(list->begin() + static_cast<std::ptrdiff_t>(from),
                          list->begin() + static_cast<std::ptrdiff_t>(to));
        }
    }
    reply(resp::ArrayHeader{values.size()});
    for (const Str& value : values) reply(resp::Bulk{value.view()});
}

void Session::llen(Args args) {
    Db::Access access = state_->db.lock(args[1]);
    const Entry* entry = access.find(args[1]);
    if (entry == nullptr) {
        reply(resp::Integer{0});
        return;
    }
    const List* list = entry->list();
    if (list == nullptr) {
        reply(resp::Error{kWrongType});
        return;
    }
    reply(resp::Integer{static_cast<std::int64_t>(list->size())});
}

// ---- BLPOP / BRPOP ----

/// Pops at `end` of the first of `keys` that holds a list, as Redis checks
/// them: in order, stopping at the first key of another type (WRONGTYPE).
/// Replies and returns true, unless every key is empty; `popped` is then
/// the key popped from (null after WRONGTYPE).
bool Session::pop_first_ready(Db::Access& access, std::span<const std::string> keys, ListEnd end,
                              const std::string*& popped) {
    popped = nullptr;
    for (const std::string& key : keys) {
        Entry* entry = access.find(key);
        if (entry == nullptr) continue;
        List* list = entry->list();
        if (list == nullptr) {
            reply(resp::Error{kWrongType});
            return true;
        }
        popped = &key;
        Str value = pop_end(*list, end);
        if (list->empty()) access.erase(*entry);
        reply(resp::ArrayHeader{2});
        reply(resp::Bulk{key});
        reply(resp::Bulk{value.view()});
        return true;
    }
    return false;
}

corio::Task<void> Session::blocking_pop(Args args, ListEnd end) {
    std::expected<std::int64_t, std::string_view> timeout_ms = parse_timeout(args.back());
    if (!timeout_ms) {
        reply(resp::Error{timeout_ms.error()});
        co_return;
    }
    // Owned copies: reading on while blocked may move the bytes `args`
    // points into.
    std::vector<std::string> keys(args.begin() + 1, args.end() - 1);
    PopWaiter waiter(state_->db, keys, end, state_->aof.get());
    {
        // A pop at once is a write: in the append-only file's order, as an
        // LPOP or RPOP (a pop served later is logged by the push that serves it).
        std::unique_lock<std::mutex> order;
        if (state_->aof) order = state_->aof->order();
        std::vector<std::string_view> views(keys.begin(), keys.end());
        const std::string* popped = nullptr;
        bool answered = false;
        {
            Db::Access access = state_->db.lock(views);
            // Checked and queued under one lock: no push slips in between.
            answered = pop_first_ready(access, keys, end, popped);
            if (!answered) waiter.enqueue(access);
        }
        if (popped != nullptr && state_->aof) {
            std::array<std::string_view, 2> pop{end == ListEnd::Head ? "LPOP" : "RPOP", *popped};
            aof_offset_ = state_->aof->append_command(pop);
            aof_committed_ = false;
        }
        if (answered) co_return;
    }
    std::optional<corio::time::Instant> deadline;
    if (*timeout_ms > 0 && *timeout_ms < kForeverMs) {
        deadline = corio::time::Instant::now() + std::chrono::milliseconds(*timeout_ms);
    }
    bool connected = co_await wait_blocked(waiter, deadline);
    std::optional<PopWaiter::Popped> popped = waiter.finish();
    if (!connected) {
        if (popped) waiter.give_back(std::move(*popped));
        quit_ = true;  // close without another reply
        co_return;
    }
    if (!popped) {
        reply(resp::NullArray{});
        co_return;
    }
    reply(resp::ArrayHeader{2});
    reply(resp::Bulk{popped->key});
    reply_value(popped->value);
}

/// Waits until `waiter` was handed an element or `deadline` passed (true),
/// or the client left or the server stops (false).
corio::Task<bool> Session::wait_blocked(PopWaiter& waiter, std::optional<corio::time::Instant> deadline) {
    Deadline timer(deadline);
    for (;;) {
        auto handed_over = waiter.handed_over();
        ReadWhileBlocked read(conn_);
        auto event = co_await corio::select_biased(handed_over, timer, stop_, read);
        switch (event.index()) {
            case 0:
            case 1:
                co_return true;
            case 2:
                co_return false;
            default:
                break;
        }
        bool open = std::get<3>(event);
        if (!open) co_return false;
        // A request sent while blocked: it runs after the reply.
    }
}

}  // namespace mini_redis
