// What a suspended task is waiting for, written without allocating (so the
// stall monitor can record it from a signal handler on the stalled thread).
//
// A future that wants a better line than its type name in dumps defines
//     void describe(corio::detail::DescribeSink& out) const;
// writing, e.g., `out << "time::sleep (" << ms << " ms left)"`. It must only
// read its own fields (never lock, never follow a pointer that another
// thread may free), since it can run while the future is being polled.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <source_location>
#include <string_view>
#include <type_traits>

namespace corio::detail {

/// A fixed-capacity text buffer; what does not fit is cut off.
class DescribeSink {
public:
    DescribeSink(char* buf, std::size_t cap) noexcept : buf_(buf), cap_(cap) {}

    DescribeSink& operator<<(std::string_view s) noexcept {
        std::size_t n = s.size() < cap_ - len_ ? s.size() : cap_ - len_;
        for (std::size_t i = 0; i < n; ++i) buf_[len_ + i] = s[i];
        len_ += n;
        return *this;
    }
    DescribeSink& operator<<(const char* s) noexcept { return *this << std::string_view(s); }
    template <class I>
        requires std::is_integral_v<I>
    DescribeSink& operator<<(I v) noexcept {
        char tmp[24];
        auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
        return *this << std::string_view(tmp, static_cast<std::size_t>(r.ptr - tmp));
    }
    std::string_view view() const noexcept { return {buf_, len_}; }
    std::size_t size() const noexcept { return len_; }

private:
    char* buf_;
    std::size_t cap_;
    std::size_t len_ = 0;
};

template <class F>
concept Describable = requires(const F& f, DescribeSink& out) { f.describe(out); };

/// The type's name as the compiler spells it ("corio::time::Sleep").
template <class T>
constexpr std::string_view type_name() noexcept {
    std::string_view p = __PRETTY_FUNCTION__;
#if defined(__clang__)
    std::string_view key = "T = ";
    std::size_t start = p.find(key) + key.size();
    std::size_t end = p.rfind(']');
#else
    std::string_view key = "T = ";
    std::size_t start = p.find(key) + key.size();
    std::size_t end = p.find(';', start);
    if (end == std::string_view::npos) end = p.rfind(']');
#endif
    return p.substr(start, end - start);
}

/// Writes a type's name the short way: without "corio::" and "detail::",
/// and with template arguments left out ("sync::mpsc::ReceiverBase<…>::Recv").
inline void write_short_type_name(std::string_view name, DescribeSink& out) noexcept {
    int depth = 0;
    std::size_t i = 0;
    while (i < name.size()) {
        char c = name[i];
        if (c == '<') {
            if (depth++ == 0) out << "<…>";
            ++i;
            continue;
        }
        if (c == '>') {
            --depth;
            ++i;
            continue;
        }
        if (depth > 0) {
            ++i;
            continue;
        }
        std::string_view rest = name.substr(i);
        if (rest.starts_with("corio::")) {
            i += 7;
        } else if (rest.starts_with("detail::")) {
            i += 8;
        } else {
            // Copy up to the end of this name segment in one go.
            std::size_t end = rest.find_first_of("<>:");
            if (end == std::string_view::npos) end = rest.size();
            if (end == 0) end = 1;
            out << rest.substr(0, end);
            i += end;
        }
    }
}

template <class F>
void describe_future(const F& f, DescribeSink& out) noexcept {
    if constexpr (Describable<F>) {
        f.describe(out);
    } else {
        write_short_type_name(type_name<F>(), out);
    }
}

/// One level of a task's await chain.
struct ChainLevel {
    std::source_location where;  // the co_await; empty for a root that is not a Task
    std::uint16_t what_len = 0;  // length of `what` (0: awaiting a child Task)
    char what[118];
};

/// A task's await chain, root first, in a fixed buffer.
struct ChainBuffer {
    static constexpr std::size_t kMaxLevels = 32;
    ChainLevel levels[kMaxLevels];
    std::size_t depth = 0;
    std::size_t skipped = 0;     // levels left out in the middle of a deeper chain
    bool started = true;         // false: a Task not yet polled
    std::uint32_t now_ms = 0;    // the reader's clock (a dump reads it once)
    bool busy_measured = false;  // the runtime times polls (enable_metrics_histograms)

    ChainLevel* add() noexcept {
        if (depth == kMaxLevels) return nullptr;
        ChainLevel* l = &levels[depth++];
        l->where = std::source_location();
        l->what_len = 0;
        return l;
    }
};

/// Writes `f`'s await chain: its own (a Task, or a wrapper that forwards to
/// one: `void describe_chain(ChainBuffer&) const noexcept`), else one level
/// saying what `f` is.
template <class F>
void describe_chain_of(const F& f, ChainBuffer& out) noexcept {
    if constexpr (requires { f.describe_chain(out); }) {
        f.describe_chain(out);
    } else if (ChainLevel* level = out.add()) {
        DescribeSink sink(level->what, sizeof level->what);
        describe_future(f, sink);
        level->what_len = static_cast<std::uint16_t>(sink.size());
    }
}

}  // namespace corio::detail
