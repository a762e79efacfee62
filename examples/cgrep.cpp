// cgrep: a recursive, concurrent grep. Walks a directory tree with
// fs::read_dir (entries come in batches, with their metadata, so the walk
// costs one trip to the blocking pool per batch, not per file) and searches
// the files in a JoinSet, at most 16 at a time. Prints each match as
// path:line:text, a file's matches together. (corio-cgrep-marker: the CTest
// of this example searches for that word.)
//
// Run: ./cgrep PATTERN [DIR]
#include <corio/corio.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

constexpr std::size_t kFilesAtOnce = 16;

/// The matching lines of one file, formatted; nothing for a file that
/// cannot be read.
corio::Task<std::string> search_file(std::filesystem::path path, std::string pattern) {
    auto text = co_await corio::fs::read_to_string(path);
    std::string out;
    if (!text) co_return out;
    std::string_view rest = *text;
    for (std::size_t line_no = 1; !rest.empty(); ++line_no) {
        std::size_t end = rest.find('\n');
        std::string_view line = rest.substr(0, end);
        if (line.find(pattern) != std::string_view::npos) {
            out += path.string() + ":" + std::to_string(line_no) + ":" + std::string(line) + "\n";
        }
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
    }
    co_return out;
}

corio::Task<std::size_t> print_one(corio::task::JoinSet<std::string>& set) {
    auto done = co_await set.join_next();
    if (!done || !*done) co_return 0;
    const std::string& matches = **done;
    std::fputs(matches.c_str(), stdout);
    co_return matches.empty() ? 0 : 1;
}

corio::Task<int> cgrep(std::string pattern, std::filesystem::path root) {
    corio::task::JoinSet<std::string> set;
    std::size_t files_matched = 0;
    std::vector<std::filesystem::path> dirs{std::move(root)};
    while (!dirs.empty()) {
        std::filesystem::path dir = std::move(dirs.back());
        dirs.pop_back();
        auto entries = co_await corio::fs::read_dir(dir);
        if (!entries) {
            std::fprintf(stderr, "cgrep: %s: %s\n", dir.c_str(), entries.error().message().c_str());
            continue;
        }
        for (;;) {
            auto entry = co_await entries->next_entry();
            if (!entry || !entry->has_value()) break;
            auto type = (*entry)->file_type();
            if (!type) continue;
            if (type->is_dir()) {
                dirs.push_back((*entry)->path());
            } else if (type->is_file()) {
                if (set.len() >= kFilesAtOnce) files_matched += co_await print_one(set);
                set.spawn(search_file((*entry)->path(), pattern));
            }
        }
    }
    while (set.len() != 0) files_matched += co_await print_one(set);
    std::fprintf(stderr, "cgrep: %zu file(s) matched\n", files_matched);
    co_return files_matched == 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: cgrep PATTERN [DIR]\n");
        return 2;
    }
    return corio::run(cgrep(argv[1], argc > 2 ? argv[2] : "."));
}
