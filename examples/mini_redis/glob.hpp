// Redis's glob-style patterns (KEYS, SCAN MATCH, PSUBSCRIBE): `*` any run
// of bytes, `?` any one byte, `[abc]` `[^abc]` `[a-z]` one byte of (or not
// of) a set, `\x` the byte x itself. Matching is on bytes, and follows
// Redis's stringmatchlen() exactly, quirks included: an unclosed `[` set
// ends at the end of the pattern, a range may be written backwards (`[z-a]`),
// a trailing backslash matches a backslash, the empty text matches only the
// empty pattern (glob_match("*", "") is false: Redis's KEYS and SCAN treat
// the pattern "*" as "every key" before matching), and a pattern nested more
// than 1000 `*` deep matches nothing.
#pragma once

#include <string_view>

namespace mini_redis {

/// Whether `text` matches the glob `pattern` (bytes; case-sensitive unless
/// `nocase`, which folds ASCII letters as Redis's nocase mode does).
bool glob_match(std::string_view pattern, std::string_view text, bool nocase = false) noexcept;

}  // namespace mini_redis
