#include <cerrno>
#include <system_error>

#include "runtime/io/backend.hpp"

namespace corio::detail {

std::unique_ptr<Backend> make_uring_backend() {
    throw std::system_error(ENOSYS, std::generic_category(), "corio: io_uring backend not built yet");
}

}  // namespace corio::detail
