// corio::fs through io_uring: the calls that have a ring form (openat,
// statx, read, write, close), chained in a coroutine, each operation a
// RingOp submitted to the runtime's UringBackend (Backend::submit_one_shot).
//
// Invariant: a RingOp owns every buffer its submission names (the path, the
// data, the statx result) and is reference counted: the awaiting future
// holds one reference and the ring another from submission to completion,
// so a future dropped while the kernel works frees nothing the kernel uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "corio/fs/metadata.hpp"
#include "corio/io/core.hpp"
#include "corio/task.hpp"

namespace corio::fs::ring {

using Path = std::filesystem::path;

/// True when the current runtime's backend runs one-shot ring operations.
bool available() noexcept;

Task<io::Result<std::vector<std::byte>>> read(Path path);
Task<io::Result<void>> write(Path path, std::vector<std::byte> data);
Task<io::Result<Metadata>> stat(Path path, bool follow);
Task<io::Result<bool>> try_exists(Path path);

}  // namespace corio::fs::ring
