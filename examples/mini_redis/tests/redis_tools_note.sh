#!/usr/bin/env bash
# Run by CTest after the tests (CTEST_CUSTOM_POST_TEST): when redis-cli or
# redis-benchmark is missing, the mini_redis tests that drive the real tools
# were skipped, and without redis-server the tests that compare replies with
# Redis's (tests/compat) were; say so, and how to run them.
#   redis_tools_note.sh TOOL_TESTS COMPAT_TESTS
tool_tests=${1:-0}
compat_tests=${2:-0}
missing=()
for tool in redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo
    if ((${#missing[@]} == 2)); then what="redis-cli and redis-benchmark are"; else what="${missing[0]} is"; fi
    echo "note: $tool_tests mini_redis tests were skipped because $what not installed."
    echo "      To run them: sudo apt-get install -y redis-tools, then run the same test command again."
fi
if ! command -v redis-server >/dev/null 2>&1 || ((${#missing[@]})); then
    echo
    echo "note: $compat_tests tests that compare mini-redis's replies with redis-server's were skipped."
    echo "      To run them: sudo apt-get install -y redis-server redis-tools, then run the same test command again."
fi
exit 0
