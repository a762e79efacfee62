// Which I/O backend a runtime's driver uses (DESIGN section 7).
#pragma once

#include <string_view>

namespace corio {

/// The I/O backend of a runtime. `Auto` picks io_uring where the kernel
/// offers what corio needs and epoll otherwise; `CORIO_IO_BACKEND=epoll` or
/// `=io_uring` in the environment overrides `Auto` (never an explicit choice).
enum class IoBackend { Auto, Epoll, IoUring, Sim };

/// "auto", "epoll", "io_uring" or "sim" (the simulated network of
/// corio::sim, which only a simulation uses: a Builder asking for it throws).
constexpr std::string_view to_string(IoBackend b) noexcept {
    switch (b) {
        case IoBackend::Epoll:
            return "epoll";
        case IoBackend::IoUring:
            return "io_uring";
        case IoBackend::Sim:
            return "sim";
        case IoBackend::Auto:
            break;
    }
    return "auto";
}

}  // namespace corio
