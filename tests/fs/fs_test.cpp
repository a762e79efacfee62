// Tests of <corio/fs.hpp>: the free functions and read_dir. Round trips,
// metadata and links, the errors with their std::errc (missing file,
// permission denied, a directory where a file was expected, no space, a
// path holding NUL), remove_dir_all never following a link out of the tree,
// and read_dir across several batches, dropped midway, on a worker pool.
// Every test works in its own mkdtemp directory. Runs in corio_io_tests, so
// on both I/O backends.
#include "corio/fs.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "corio/io/util.hpp"
#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/task/join_set.hpp"
#include "support/co_assert.hpp"
#include "support/poll.hpp"
#include "support/run_bounded.hpp"
#include "support/temp_dir.hpp"

namespace corio::fs {
namespace {

using namespace std::chrono_literals;

constexpr test::RunBounded run_bounded{10s};
constexpr auto run_multi = test::RunBounded::multi_thread(20s, 2);

Task<void> write_then_read_round_trips() {
    test::TempDir dir("corio-fs");
    CO_ASSERT_TRUE(dir.ok());
    auto path = dir.file("a.txt");
    auto w = co_await fs::write(path, std::string_view("hello, file"));
    CO_ASSERT_OK(w);
    auto text = co_await fs::read_to_string(path);
    CO_ASSERT_OK(text);
    EXPECT_EQ(*text, "hello, file");
    auto bytes = co_await fs::read(path);
    CO_ASSERT_OK(bytes);
    EXPECT_EQ(bytes->size(), 11u);
    auto empty = co_await fs::write(path, std::string_view());
    CO_ASSERT_OK(empty);
    auto none = co_await fs::read(path);
    CO_ASSERT_OK(none);
    EXPECT_TRUE(none->empty());
}
TEST(Fs, WriteThenReadRoundTrips) { run_bounded(write_then_read_round_trips()); }

Task<void> errors_carry_the_right_errc() {
    test::TempDir dir("corio-fs");
    CO_ASSERT_TRUE(dir.ok());
    auto missing = co_await fs::read(dir.file("missing"));
    CO_ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error(), std::errc::no_such_file_or_directory);
    auto a_dir = co_await fs::read(dir.path());
    CO_ASSERT_FALSE(a_dir.has_value());
    EXPECT_EQ(a_dir.error(), std::errc::is_a_directory);
    auto nul = co_await fs::read(Path(std::string("bad\0name", 8)));
    CO_ASSERT_FALSE(nul.has_value());
    EXPECT_EQ(nul.error(), std::errc::invalid_argument);
    auto full = co_await fs::write("/dev/full", std::string_view("no room"));
    CO_ASSERT_FALSE(full.has_value());
    EXPECT_EQ(full.error(), std::errc::no_space_on_device);
    auto not_dir = co_await fs::create_dir(dir.file("missing/child"));
    CO_ASSERT_FALSE(not_dir.has_value());
    EXPECT_EQ(not_dir.error(), std::errc::no_such_file_or_directory);
    if (::geteuid() != 0) {  // root reads anything
        auto locked = dir.file("locked");
        auto w = co_await fs::write(locked, std::string_view("secret"));
        CO_ASSERT_OK(w);
        auto chmod = co_await fs::set_permissions(locked, Permissions::from_mode(0));
        CO_ASSERT_OK(chmod);
        auto denied = co_await fs::read(locked);
        CO_ASSERT_FALSE(denied.has_value());
        EXPECT_EQ(denied.error(), std::errc::permission_denied);
    }
}
TEST(Fs, ErrorsCarryTheRightErrc) { run_bounded(errors_carry_the_right_errc()); }

Task<void> directories_are_made_and_removed() {
    test::TempDir dir("corio-fs");
    CO_ASSERT_TRUE(dir.ok());
    auto deep = dir.file("a/b/c");
    auto made = co_await fs::create_dir_all(deep);
    CO_ASSERT_OK(made);
    auto again = co_await fs::create_dir_all(deep);
    CO_ASSERT_OK(again);
    auto exists = co_await fs::create_dir(deep);
    CO_ASSERT_FALSE(exists.has_value());
    EXPECT_EQ(exists.error(), std::errc::file_exists);
    auto w = co_await fs::write(dir.file("a/file"), std::string_view("x"));
    CO_ASSERT_OK(w);
    auto over_file = co_await fs::create_dir_all(dir.file("a/file/sub"));
    CO_ASSERT_FALSE(over_file.has_value());
    auto not_empty = co_await fs::remove_dir(dir.file("a"));
    CO_ASSERT_FALSE(not_empty.has_value());
    EXPECT_EQ(not_empty.error(), std::errc::directory_not_empty);
    auto md = co_await fs::metadata(deep);
    CO_ASSERT_OK(md);
    EXPECT_TRUE(md->is_dir());
    auto rm_c = co_await fs::remove_dir(deep);
    CO_ASSERT_OK(rm_c);
    auto gone = co_await fs::try_exists(deep);
    CO_ASSERT_OK(gone);
    EXPECT_FALSE(*gone);
    auto rm_all = co_await fs::remove_dir_all(dir.file("a"));
    CO_ASSERT_OK(rm_all);
    auto a_gone = co_await fs::try_exists(dir.file("a"));
    CO_ASSERT_OK(a_gone);
    EXPECT_FALSE(*a_gone);
}
TEST(Fs, DirectoriesAreMadeAndRemoved) { run_bounded(directories_are_made_and_removed()); }

Task<void> remove_dir_all_never_follows_a_symlink_out_of_the_tree() {
    test::TempDir dir("corio-fs");
    CO_ASSERT_TRUE(dir.ok());
    auto outside = dir.file("outside");
    auto made = co_await fs::create_dir(outside);
    CO_ASSERT_OK(made);
    auto keep = co_await fs::write(dir.file("outside/keep.txt"), std::string_view("keep me"));
    CO_ASSERT_OK(keep);
    auto tree = co_await fs::create_dir_all(dir.file("tree/sub"));
    CO_ASSERT_OK(tree);
    auto link = co_await fs::symlink(outside, dir.file("tree/sub/escape"));
    CO_ASSERT_OK(link);
    auto file_link = co_await fs::symlink(dir.file("outside/keep.txt"), dir.file("tree/file_link"));
    CO_ASSERT_OK(file_link);
    auto removed = co_await fs::remove_dir_all(dir.file("tree"));
    CO_ASSERT_OK(removed);
    auto still = co_await fs::read_to_string(dir.file("outside/keep.txt"));
    CO_ASSERT_OK(still);
    EXPECT_EQ(*still, "keep me");
    auto tree_gone = co_await fs::try_exists(dir.file("tree"));
    CO_ASSERT_OK(tree_gone);
    EXPECT_FALSE(*tree_gone);
    // A path that is itself a link to a directory: the link goes, the directory stays.
    auto top = co_await fs::symlink(outside, dir.file("top_link"));
    CO_ASSERT_OK(top);
    auto removed_link = co_await fs::remove_dir_all(dir.file("top_link"));
    CO_ASSERT_OK(removed_link);
    auto kept = co_await fs::try_exists(dir.file("outside/keep.txt"));
    CO_ASSERT_OK(kept);
    EXPECT_TRUE(*kept);
}
TEST(Fs, RemoveDirAllNeverFollowsASymlinkOutOfTheTree) {
    run_bounded(remove_dir_all_never_follows_a_symlink_out_of_the_tree());
}

Task<void> links_metadata_and_names() {
    test::TempDir dir("corio-fs");
    CO_ASSERT_TRUE(dir.ok());
    auto file = dir.file("f");
    auto w = co_await fs::write(file, std::string_view("12345"));
    CO_ASSERT_OK(w);
    auto hard = co_await fs::hard_link(file, dir.file("h"));
    CO_ASSERT_OK(hard);
    auto soft = co_await fs::symlink("f", dir.file("s"));
    CO_ASSERT_OK(soft);
    auto md = co_await fs::metadata(dir.file("s"));  // followed
    CO_ASSERT_OK(md);
    EXPECT_TRUE(md->is_file());
    EXPECT_EQ(md->len(), 5u);
    EXPECT_EQ(md->nlink(), 2u);
    auto lmd = co_await fs::symlink_metadata(dir.file("s"));
    CO_ASSERT_OK(lmd);
    EXPECT_TRUE(lmd->is_symlink());
    auto target = co_await fs::read_link(dir.file("s"));
    CO_ASSERT_OK(target);
    EXPECT_EQ(*target, Path("f"));
    auto canon = co_await fs::canonicalize(dir.file("s"));
    auto real = co_await fs::canonicalize(file);
    CO_ASSERT_OK(canon);
    CO_ASSERT_OK(real);
    EXPECT_EQ(*canon, *real);
    auto dangling = co_await fs::symlink("nowhere", dir.file("d"));
    CO_ASSERT_OK(dangling);
    auto exists = co_await fs::try_exists(dir.file("d"));
    CO_ASSERT_OK(exists);
    EXPECT_FALSE(*exists);
    auto perms = co_await fs::set_permissions(file, Permissions::from_mode(0640));
    CO_ASSERT_OK(perms);
    auto after = co_await fs::metadata(file);
    CO_ASSERT_OK(after);
    EXPECT_EQ(after->permissions().mode(), 0640u);
    auto copied = co_await fs::copy(file, dir.file("c"));
    CO_ASSERT_OK(copied);
    EXPECT_EQ(*copied, 5u);
    auto cmd = co_await fs::metadata(dir.file("c"));
    CO_ASSERT_OK(cmd);
    EXPECT_EQ(cmd->permissions().mode(), 0640u);
    auto moved = co_await fs::rename(dir.file("c"), dir.file("m"));
    CO_ASSERT_OK(moved);
    auto text = co_await fs::read_to_string(dir.file("m"));
    CO_ASSERT_OK(text);
    EXPECT_EQ(*text, "12345");
    auto rm = co_await fs::remove_file(dir.file("m"));
    CO_ASSERT_OK(rm);
    auto rm_again = co_await fs::remove_file(dir.file("m"));
    CO_ASSERT_FALSE(rm_again.has_value());
    EXPECT_EQ(rm_again.error(), std::errc::no_such_file_or_directory);
}
TEST(Fs, LinksMetadataAndNames) { run_bounded(links_metadata_and_names()); }

Task<void> read_dir_lists_every_entry_across_batches() {
    test::TempDir dir("corio-fs");
    CO_ASSERT_TRUE(dir.ok());
    constexpr int kFiles = 3 * static_cast<int>(kReadDirBatch) + 7;
    std::set<std::string> expected;
    for (int i = 0; i < kFiles; ++i) {
        std::string name = "f" + std::to_string(i);
        auto w = co_await fs::write(dir.file(name), std::string_view(name));
        CO_ASSERT_OK(w);
        expected.insert(name);
    }
    auto sub = co_await fs::create_dir(dir.file("sub"));
    CO_ASSERT_OK(sub);
    expected.insert("sub");
    auto rd = co_await fs::read_dir(dir.path());
    CO_ASSERT_OK(rd);
    std::set<std::string> seen;
    for (;;) {
        auto entry = co_await rd->next();
        if (!entry) break;
        CO_ASSERT_OK(*entry);
        const DirEntry& e = **entry;
        seen.insert(e.file_name());
        EXPECT_EQ(e.path(), dir.path() / e.file_name());
        auto type = e.file_type();
        CO_ASSERT_OK(type);
        EXPECT_EQ(type->is_dir(), e.file_name() == "sub");
        auto md = e.metadata();
        CO_ASSERT_OK(md);
        if (e.file_name() != "sub") {
            EXPECT_EQ(md->len(), e.file_name().size());
        }
    }
    EXPECT_EQ(seen, expected);
    auto after_end = co_await rd->next_entry();
    CO_ASSERT_OK(after_end);
    EXPECT_FALSE(after_end->has_value());
}
TEST(Fs, ReadDirListsEveryEntryAcrossBatches) { run_bounded(read_dir_lists_every_entry_across_batches()); }

Task<void> read_dir_errors_and_early_drop() {
    test::TempDir dir("corio-fs");
    CO_ASSERT_TRUE(dir.ok());
    auto missing = co_await fs::read_dir(dir.file("missing"));
    CO_ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error(), std::errc::no_such_file_or_directory);
    auto w = co_await fs::write(dir.file("file"), std::string_view("x"));
    CO_ASSERT_OK(w);
    auto not_dir = co_await fs::read_dir(dir.file("file"));
    CO_ASSERT_FALSE(not_dir.has_value());
    EXPECT_EQ(not_dir.error(), std::errc::not_a_directory);
    for (int i = 0; i < 600; ++i) {
        auto f = co_await fs::write(dir.file("g" + std::to_string(i)), std::string_view("y"));
        CO_ASSERT_OK(f);
    }
    {
        auto rd = co_await fs::read_dir(dir.path());
        CO_ASSERT_OK(rd);
        auto first = co_await rd->next_entry();  // starts the next batch, then drops it in flight
        CO_ASSERT_OK(first);
        CO_ASSERT_TRUE(first->has_value());
    }
    auto empty_dir = co_await fs::create_dir(dir.file("empty"));
    CO_ASSERT_OK(empty_dir);
    auto rd = co_await fs::read_dir(dir.file("empty"));
    CO_ASSERT_OK(rd);
    auto none = co_await rd->next();
    EXPECT_FALSE(none.has_value());
}
TEST(Fs, ReadDirErrorsAndEarlyDrop) { run_bounded(read_dir_errors_and_early_drop()); }

Task<void> files_in_memory_file_systems_read_the_same() {
    test::TempDir dir("corio-fs", "/dev/shm");  // tmpfs: no RWF_NOWAIT there
    if (!dir.ok()) co_return;                   // no /dev/shm on this machine
    std::string body(10000, 'm');
    auto w = co_await fs::write(dir.file("m"), std::string_view(body));
    CO_ASSERT_OK(w);
    auto text = co_await fs::read_to_string(dir.file("m"));
    CO_ASSERT_OK(text);
    EXPECT_EQ(*text, body);
    auto f = co_await File::open(dir.file("m"));
    CO_ASSERT_OK(f);
    std::string via_file;
    auto n = co_await io::read_to_end(*f, via_file);
    CO_ASSERT_OK(n);
    EXPECT_EQ(via_file, body);
}
TEST(Fs, FilesInMemoryFileSystemsReadTheSame) { run_bounded(files_in_memory_file_systems_read_the_same()); }

Task<void> calls_dropped_in_flight_free_nothing_in_use() {
    test::TempDir dir("corio-fs");
    CO_ASSERT_TRUE(dir.ok());
    std::string big(1 << 20, 'q');
    auto w = co_await fs::write(dir.file("big"), std::string_view(big));
    CO_ASSERT_OK(w);
    for (int i = 0; i < 20; ++i) {
        auto read = fs::read(dir.file("big"));
        (void)test::poll_once(read);  // started (on the pool, or in the ring), then dropped
        auto stat = fs::metadata(dir.file("big"));
        (void)test::poll_once(stat);
        auto write = fs::write(dir.file("w" + std::to_string(i)), std::string_view(big));
        (void)test::poll_once(write);
    }
    auto back = co_await fs::read_to_string(dir.file("big"));
    CO_ASSERT_OK(back);
    EXPECT_EQ(*back, big);
}
TEST(Fs, CallsDroppedInFlightFreeNothingInUse) { run_bounded(calls_dropped_in_flight_free_nothing_in_use()); }

Task<io::Result<std::size_t>> read_size(Path path) {
    auto bytes = co_await fs::read(std::move(path));
    if (!bytes) co_return std::unexpected(bytes.error());
    co_return bytes->size();
}

Task<void> many_concurrent_reads_on_worker_threads() {
    test::TempDir dir("corio-fs");
    CO_ASSERT_TRUE(dir.ok());
    for (int i = 0; i < 100; ++i) {
        std::string body(static_cast<std::size_t>(i) * 10, 'r');
        auto w = co_await fs::write(dir.file(std::to_string(i)), std::string_view(body));
        CO_ASSERT_OK(w);
    }
    task::JoinSet<io::Result<std::size_t>> set;
    for (int i = 0; i < 100; ++i) set.spawn(read_size(dir.file(std::to_string(i))));
    std::size_t total = 0;
    for (;;) {
        auto joined = co_await set.join_next();
        if (!joined) break;
        auto n = std::move(*joined).value();
        CO_ASSERT_OK(n);
        total += *n;
    }
    EXPECT_EQ(total, 10u * (99 * 100 / 2));
}
TEST(Fs, ManyConcurrentReadsOnWorkerThreads) { run_multi(many_concurrent_reads_on_worker_threads()); }

}  // namespace
}  // namespace corio::fs
