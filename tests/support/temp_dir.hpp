// A fresh temporary directory per test (mkdtemp under the system's temporary
// directory), removed with everything in it when the test ends.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace corio::test {

/// A fresh directory (mkdtemp) removed with everything in it at the end.
class TempDir {
public:
    /// Under `base` (the system's temporary directory by default).
    explicit TempDir(std::string_view prefix = "corio",
                     const std::filesystem::path& base = std::filesystem::temp_directory_path()) {
        std::string pattern = (base / (std::string(prefix) + "-XXXXXX")).string();
        if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ignored;
        if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
    }
    bool ok() const noexcept { return !path_.empty(); }
    const std::filesystem::path& path() const noexcept { return path_; }
    /// `name` inside the directory.
    std::filesystem::path file(std::string_view name) const { return path_ / std::string(name); }

private:
    std::filesystem::path path_;
};

}  // namespace corio::test
