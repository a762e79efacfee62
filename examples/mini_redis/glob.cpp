// Redis's stringmatchlen() (util.c) on string_views (see glob.hpp).
#include "glob.hpp"

#include <cctype>
#include <cstddef>
#include <utility>

namespace mini_redis {

namespace {

/// The pattern and text still to match; a mirror of stringmatchlen's
/// pointer-and-length pairs. Where Redis reads the NUL after the pattern,
/// at() answers '\0' for a position past the end.
struct Cursor {
    std::string_view pattern;
    std::string_view text;
    bool nocase;

    char at(std::size_t i) const noexcept { return i < pattern.size() ? pattern[i] : '\0'; }
    bool same(char a, char b) const noexcept {
        if (!nocase) return a == b;
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
    }
};

/// Redis's limit on `*` recursion: deeper patterns match nothing.
constexpr int kMaxNesting = 1000;

bool match(Cursor c, bool& give_up, int nesting);

/// `[...]` at the front of c.pattern against c.text[0]: consumes the set
/// (up to, not past, its `]`) and says whether the byte is in it.
bool match_set(Cursor& c) {
    c.pattern.remove_prefix(1);
    bool negate = c.at(0) == '^';
    if (negate) c.pattern.remove_prefix(1);
    const char byte = c.text[0];
    bool found = false;
    for (;;) {
        if (c.pattern.empty()) {
            // Unclosed: Redis steps back so that the caller's step past the
            // set's last character ends the pattern.
            c.pattern = std::string_view(c.pattern.data() - 1, 1);
            break;
        }
        if (c.pattern[0] == '\\' && c.pattern.size() >= 2) {
            c.pattern.remove_prefix(1);
            if (c.pattern[0] == byte) found = true;
        } else if (c.pattern[0] == ']') {
            break;
        } else if (c.pattern.size() >= 3 && c.pattern[1] == '-') {
            int lo = static_cast<unsigned char>(c.pattern[0]);
            int hi = static_cast<unsigned char>(c.pattern[2]);
            int b = static_cast<unsigned char>(byte);
            if (lo > hi) std::swap(lo, hi);
            if (c.nocase) {
                lo = std::tolower(lo);
                hi = std::tolower(hi);
                b = std::tolower(b);
            }
            c.pattern.remove_prefix(2);
            if (b >= lo && b <= hi) found = true;
        } else if (c.same(c.pattern[0], byte)) {
            found = true;
        }
        c.pattern.remove_prefix(1);
    }
    return negate ? !found : found;
}

/// `*` at the front of c.pattern: tries the rest of the pattern at every
/// position of the text. `give_up` is Redis's skipLongerMatches: once the
/// rest matches nowhere, no earlier `*` can help by matching more.
bool match_star(Cursor c, bool& give_up, int nesting) {
    while (c.at(1) == '*') c.pattern.remove_prefix(1);
    if (c.pattern.size() == 1) return true;
    Cursor rest{c.pattern.substr(1), c.text, c.nocase};
    while (!rest.text.empty()) {
        if (match(rest, give_up, nesting + 1)) return true;
        if (give_up) return false;
        rest.text.remove_prefix(1);
    }
    give_up = true;
    return false;
}

bool match(Cursor c, bool& give_up, int nesting) {
    if (nesting > kMaxNesting) return false;
    while (!c.pattern.empty() && !c.text.empty()) {
        switch (c.pattern[0]) {
            case '*':
                return match_star(c, give_up, nesting);
            case '?':
                break;
            case '[':
                if (!match_set(c)) return false;
                break;
            case '\\':
                if (c.pattern.size() >= 2) c.pattern.remove_prefix(1);
                if (!c.same(c.pattern[0], c.text[0])) return false;
                break;
            default:
                if (!c.same(c.pattern[0], c.text[0])) return false;
                break;
        }
        c.pattern.remove_prefix(1);
        c.text.remove_prefix(1);
        if (c.text.empty()) {
            while (!c.pattern.empty() && c.pattern[0] == '*') c.pattern.remove_prefix(1);
            break;
        }
    }
    return c.pattern.empty() && c.text.empty();
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text, bool nocase) noexcept {
    bool give_up = false;
    return match(Cursor{pattern, text, nocase}, give_up, 0);
}

}  // namespace mini_redis
