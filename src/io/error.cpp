#include <string>

#include "corio/io/core.hpp"

namespace corio::io {
namespace {
class IoCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "corio.io"; }
    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::unexpected_eof:
                return "unexpected end of stream";
            case errc::write_zero:
                return "write accepted no bytes";
            case errc::host_not_found:
                return "host not found";
            case errc::resolver_failure:
                return "name resolution failed";
        }
        return "unknown corio.io error";
    }
};
}  // namespace

const std::error_category& io_category() noexcept {
    static const IoCategory category;
    return category;
}
}  // namespace corio::io
