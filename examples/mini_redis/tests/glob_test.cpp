// glob_match (glob.hpp) against what redis-server 7.0's KEYS answered for
// the same pattern and key.
#include "glob.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mini_redis {
namespace {

TEST(GlobMatch, StarAndQuestionMarkMatchAnyRunAndAnyOneByte) {
    EXPECT_TRUE(glob_match("h*o", "hello"));
    EXPECT_TRUE(glob_match("h*o", "ho"));
    EXPECT_TRUE(glob_match("h?llo", "hallo"));
    EXPECT_FALSE(glob_match("h?llo", "hllo"));
    EXPECT_TRUE(glob_match("news.*", "news.sport"));
    EXPECT_FALSE(glob_match("news.*", "news"));
    EXPECT_TRUE(glob_match("**a**", "bab"));
}

TEST(GlobMatch, SetsRangesAndNegatedSetsMatchOneByte) {
    EXPECT_TRUE(glob_match("h[ae]llo", "hello"));
    EXPECT_FALSE(glob_match("h[ae]llo", "hillo"));
    EXPECT_TRUE(glob_match("h[^e]llo", "hallo"));
    EXPECT_FALSE(glob_match("h[^e]llo", "hello"));
    EXPECT_TRUE(glob_match("h[a-b]llo", "hbllo"));
    EXPECT_TRUE(glob_match("[z-a]", "m")) << "a backward range is swapped";
    EXPECT_TRUE(glob_match("[a-", "-")) << "an unclosed set ends with the pattern";
    EXPECT_TRUE(glob_match("[\\]]", "]"));
}

TEST(GlobMatch, ABackslashMatchesTheNextByteItself) {
    EXPECT_TRUE(glob_match("a\\*", "a*"));
    EXPECT_FALSE(glob_match("a\\*", "ab"));
    EXPECT_TRUE(glob_match("\\", "\\")) << "a trailing backslash is a backslash";
}

TEST(GlobMatch, TheEmptyTextMatchesOnlyTheEmptyPatternAsInRedis) {
    EXPECT_TRUE(glob_match("", ""));
    EXPECT_FALSE(glob_match("*", ""));
    EXPECT_FALSE(glob_match("", "a"));
}

TEST(GlobMatch, ManyStarsAgainstALongTextFailFast) {
    std::string pattern;
    for (int i = 0; i < 30; ++i) pattern += "a*";
    pattern += "b";
    EXPECT_FALSE(glob_match(pattern, std::string(10000, 'a')));
}

TEST(GlobMatch, NocaseFoldsLetters) {
    EXPECT_TRUE(glob_match("H[A-C]*", "hbx", true));
    EXPECT_FALSE(glob_match("H[A-C]*", "hbx"));
}

}  // namespace
}  // namespace mini_redis
