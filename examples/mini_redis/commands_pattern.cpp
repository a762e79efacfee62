// Pattern subscriptions: PSUBSCRIBE and PUNSUBSCRIBE, with Redis 7.0's
// replies. A pattern's messages come as "pmessage" (pattern, channel,
// message) through the same outbox as the channels' (session.cpp), and the
// counts in the replies include channels and patterns alike.
#include <string>
#include <vector>

#include "session.hpp"

namespace mini_redis {

void Session::psubscribe(Args args) {
    for (std::string_view pattern : args.subspan(1)) {
        add_pattern(pattern);
        confirm("psubscribe", pattern);
    }
}

void Session::punsubscribe(Args args) {
    std::vector<std::string> patterns = to_leave(args, patterns_);
    if (patterns.empty()) confirm("punsubscribe", std::nullopt);  // no argument and no pattern
    for (const std::string& pattern : patterns) {
        remove_pattern(pattern);
        confirm("punsubscribe", pattern);
    }
}

}  // namespace mini_redis
