// The simulation's one source of randomness: xoshiro256** seeded through
// splitmix64, so any 64-bit seed (0 included) gives a well-mixed state.
//
// Invariant: the run draws from it in an order fixed by the seed alone, so
// two runs with one seed see the same numbers at the same events.
#pragma once

#include <cstdint>

namespace corio::sim::detail {

__extension__ using Uint128 = unsigned __int128;  // GCC and Clang have it; -Wpedantic asks to be told

class Random {
public:
    explicit Random(std::uint64_t seed) noexcept {
        for (std::uint64_t& word : s_) word = splitmix(seed);
    }

    std::uint64_t next() noexcept {
        std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    /// Uniform in [0, n), n >= 1 (the multiply-shift reduction: no division).
    std::uint64_t below(std::uint64_t n) noexcept {
        return static_cast<std::uint64_t>((static_cast<Uint128>(next()) * n) >> 64);
    }
    /// Uniform in [lo, hi].
    std::int64_t between(std::int64_t lo, std::int64_t hi) noexcept {
        return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
    }
    /// True with probability p.
    bool chance(double p) noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    static std::uint64_t splitmix(std::uint64_t& x) noexcept {
        std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }

    std::uint64_t s_[4];
};

}  // namespace corio::sim::detail
