// What the command files (commands*.cpp) share: Redis's common error texts,
// case-insensitive option matching and wall-clock deadlines.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <corio/time.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "frame.hpp"

namespace mini_redis {

inline constexpr std::string_view kNotAnInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kSyntaxError = "ERR syntax error";

/// `s` in lower case (ASCII).
inline std::string lower(std::string_view s) {
    std::string l(s);
    for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return l;
}

/// Whether `a` equals `lower_b` (given in lower case), ignoring a's case.
inline bool equals_ignore_case(std::string_view a, std::string_view lower_b) {
    return a.size() == lower_b.size() && std::equal(a.begin(), a.end(), lower_b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == y;
           });
}

/// Milliseconds since the Unix epoch, now.
inline std::int64_t unix_millis_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// The Instant (the runtime's clock) of a Unix time in milliseconds, taking
/// `now` as the Instant of unix_millis_now(). Saturates rather than overflows.
inline corio::time::Instant instant_of_unix_millis(std::int64_t unix_ms, corio::time::Instant now) {
    std::int64_t from_now = unix_ms - unix_millis_now();
    if (from_now <= 0) return now;  // already past: expired as soon as looked at
    return now + std::chrono::milliseconds(from_now);
}

/// The Unix time in milliseconds of `at`, taking `now` as the Instant of now.
inline std::int64_t unix_millis_of(corio::time::Instant at, corio::time::Instant now) {
    auto ahead = std::chrono::ceil<std::chrono::milliseconds>(at.duration_since(now)).count();
    return unix_millis_now() + ahead;
}

/// Redis's expiry argument: `text` as an integer in `unit_ms` units (1000
/// for seconds), relative to now or (absolute) to the Unix epoch, checked as
/// Redis checks it. Its deadline as a Unix time in ms, or the error reply.
enum class ExpiryError { None, NotAnInteger, Invalid };
inline ExpiryError parse_expiry(std::string_view text, std::int64_t unit_ms, bool absolute, bool positive,
                                std::int64_t& unix_ms) {
    std::int64_t v = 0;
    if (!parse_int64(text, v)) return ExpiryError::NotAnInteger;
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    if (positive && v <= 0) return ExpiryError::Invalid;
    if (v > kMax / unit_ms || v < std::numeric_limits<std::int64_t>::min() / unit_ms) return ExpiryError::Invalid;
    v *= unit_ms;
    if (!absolute) {
        std::int64_t now = unix_millis_now();
        if (v > 0 && v > kMax - now) return ExpiryError::Invalid;
        v += now;
    }
    unix_ms = v;
    return ExpiryError::None;
}

}  // namespace mini_redis
