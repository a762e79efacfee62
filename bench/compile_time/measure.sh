#!/usr/bin/env bash
# How long a corio user waits for the compiler: compiles user_program.cpp (a
# 99-line program using most of corio) with GCC and Clang at -O2, without and
# with a precompiled <corio/corio.hpp>, and prints the median of N runs.
#   bench/compile_time/measure.sh [N=5] [LIBCORIO=build/release/libcorio.a]
# Run it on a quiet machine; bench/RESULTS.md records the numbers.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${1:-5}"
lib="${2:-$root/build/release/libcorio.a}"
src="$root/bench/compile_time/user_program.cpp"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
seconds() {  # seconds the command takes, to 0.01 s
    local start end
    start=$(date +%s.%N); "$@" >/dev/null; end=$(date +%s.%N)
    echo "$start $end" | awk '{printf "%.2f\n", $2 - $1}'
}
time_median() { for _ in $(seq "$runs"); do seconds "$@"; done | median; }

printf '%-10s %-26s %8s\n' compiler case "seconds"
for cxx in g++ clang++-19; do
    command -v "$cxx" >/dev/null || continue
    flags=(-std=c++23 -O2 -DNDEBUG -I"$root/include")
    printf '%-10s %-26s %8s\n' "$cxx" "compile (no PCH)" "$(time_median "$cxx" "${flags[@]}" -c "$src" -o "$work/u.o")"
    if [[ -f "$lib" && "$cxx" == g++ ]]; then
        printf '%-10s %-26s %8s\n' "$cxx" "compile + link (no PCH)" \
            "$(time_median "$cxx" "${flags[@]}" "$src" -o "$work/u" "$lib" -pthread)"
    fi
    # The precompiled-header recipe (what target_precompile_headers does).
    # GCC looks for corio.hpp.gch beside the header it finds first, so the
    # precompiled copy sits in a folder searched before include/.
    mkdir -p "$work/pch/$cxx/corio"
    if [[ "$cxx" == g++ ]]; then
        "$cxx" "${flags[@]}" -x c++-header "$root/include/corio/corio.hpp" -o "$work/pch/$cxx/corio/corio.hpp.gch" 2>/dev/null
        cp "$root/include/corio/corio.hpp" "$work/pch/$cxx/corio/corio.hpp"
        pch=(-I"$work/pch/$cxx" -Winvalid-pch -include corio/corio.hpp)
    else
        "$cxx" "${flags[@]}" -x c++-header "$root/include/corio/corio.hpp" -o "$work/pch/$cxx/corio.pch" 2>/dev/null
        pch=(-include-pch "$work/pch/$cxx/corio.pch")
    fi
    printf '%-10s %-26s %8s\n' "$cxx" "compile (PCH)" "$(time_median "$cxx" "${pch[@]}" "${flags[@]}" -c "$src" -o "$work/u.o")"
done
