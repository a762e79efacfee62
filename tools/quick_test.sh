#!/usr/bin/env bash
# Build and run a few test files against the library, without the whole suite:
#   tools/quick_test.sh tests/sync/mutex_test.cpp [more tests...] [-- gtest args]
# SAN=tsan|asan builds with Clang 19 and that sanitizer; default is GCC -O1 -g
# -Werror like the gcc preset. The library is built once per flavour under
# /tmp/corio-quick/<tree>/<flavour>; extra src/*.cpp files given on the command line
# are compiled into the test binary (for code not yet in a library build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
san="${SAN:-none}"
case "$san" in
  none) cxx=g++; flags="-O1 -g -Wall -Wextra -Wpedantic -Werror -Wno-maybe-uninitialized"; preset=gcc ;;
  tsan) cxx=clang++-19; flags="-O1 -g -fsanitize=thread"; preset=tsan ;;
  asan) cxx=clang++-19; flags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"; preset=asan ;;
  *) echo "SAN must be tsan, asan or unset" >&2; exit 2 ;;
esac
# One build per work tree (git worktrees of this repo each get their own).
tree_id="$(printf %s "$root" | cksum | cut -d" " -f1)"
lib_dir="/tmp/corio-quick/$tree_id/$san"
srcs=(); args=()
while (($#)); do
  if [[ "$1" == "--" ]]; then shift; args=("$@"); break; fi
  srcs+=("$1"); shift
done
((${#srcs[@]})) || { echo "usage: $0 TEST.cpp... [-- gtest args]" >&2; exit 2; }
# Serialise library builds between concurrent callers.
mkdir -p /tmp/corio-quick
(
  flock 9
  cmake --preset "$preset" -S "$root" -B "$lib_dir" -DCORIO_BUILD_TESTS=OFF -DCORIO_BUILD_EXAMPLES=OFF \
        -DCORIO_BUILD_BENCH=OFF >/dev/null
  cmake --build "$lib_dir" --target corio >/dev/null
) 9>"/tmp/corio-quick/$tree_id.lock"
shopt -s nullglob
support=("$root"/tests/support/*.cpp)
name="$(basename "${srcs[0]}" .cpp)"
out="$lib_dir/bin/$name"
mkdir -p "$lib_dir/bin"
$cxx -std=c++23 $flags -foptimize-sibling-calls -I"$root/include" -I"$root/src" -I"$root/tests" \
    "${srcs[@]}" "${support[@]}" -o "$out" "$lib_dir/libcorio.a" -lgtest -lgtest_main -lgmock -pthread 2>&1 \
  || exit 1
exec "$out" "${args[@]}"
