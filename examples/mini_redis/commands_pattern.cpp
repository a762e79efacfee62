// Pattern subscriptions: PSUBSCRIBE and PUNSUBSCRIBE, with Redis 7.0's
// replies. A pattern's messages come as "pmessage" (pattern, channel,
// message) through the same outbox as the channels' (session.cpp), and the
// counts in the replies include channels and patterns alike.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "session.hpp"

namespace mini_redis {

void Session::psubscribe(Args args) {
    for (std::string_view pattern : args.subspan(1)) {
        add_pattern(pattern);
        reply(resp::ArrayHeader{3});
        reply(resp::Bulk{"psubscribe"});
        reply(resp::Bulk{pattern});
        reply(resp::Integer{static_cast<std::int64_t>(subscription_count())});
    }
}

void Session::punsubscribe(Args args) {
    std::vector<std::string> patterns;
    if (args.size() > 1) {
        for (std::string_view pattern : args.subspan(1)) patterns.emplace_back(pattern);
    } else {
        // All of them, in subscription order.
        std::vector<std::pair<std::uint64_t, std::string>> ordered;
        for (const auto& [pattern, order] : patterns_) ordered.emplace_back(order, pattern);
        std::sort(ordered.begin(), ordered.end());
        for (auto& [order, pattern] : ordered) patterns.push_back(std::move(pattern));
    }
    if (patterns.empty()) {  // PUNSUBSCRIBE with no argument and no pattern
        reply(resp::ArrayHeader{3});
        reply(resp::Bulk{"punsubscribe"});
        reply(resp::NullBulk{});
        reply(resp::Integer{static_cast<std::int64_t>(subscription_count())});
        return;
    }
    for (const std::string& pattern : patterns) {
        remove_pattern(pattern);
        reply(resp::ArrayHeader{3});
        reply(resp::Bulk{"punsubscribe"});
        reply(resp::Bulk{pattern});
        reply(resp::Integer{static_cast<std::int64_t>(subscription_count())});
    }
}

}  // namespace mini_redis
