// task::Id: the identity of a spawned task, and task::id() / try_id().
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>

namespace corio::task {

/// Identifies a spawned task: unique in the process and never reused (ids
/// come from one 64-bit counter). Printed as "task 42".
class Id {
public:
    constexpr explicit Id(std::uint64_t value) noexcept : value_(value) {}
    constexpr std::uint64_t value() const noexcept { return value_; }
    friend constexpr bool operator==(Id, Id) noexcept = default;
    friend constexpr std::strong_ordering operator<=>(Id, Id) noexcept = default;

private:
    std::uint64_t value_;
};

/// "task 42".
std::string to_string(Id id);

template <class CharT, class Traits>
std::basic_ostream<CharT, Traits>& operator<<(std::basic_ostream<CharT, Traits>& os, Id id) {
    return os << "task " << id.value();
}

/// The id of the task running on this thread. Throws std::logic_error
/// outside a task (block_on's own future is not a task, as in Tokio).
Id id();

/// The id of the task running on this thread, if any.
std::optional<Id> try_id() noexcept;

}  // namespace corio::task

template <>
struct std::hash<corio::task::Id> {
    std::size_t operator()(corio::task::Id id) const noexcept { return std::hash<std::uint64_t>{}(id.value()); }
};
