// Tests of <corio/fs/file.hpp>: fs::File and fs::OpenOptions. Large
// sequential reads and writes through the read-ahead buffer, seeks and a
// write after a read (the offset moved back over what was read ahead),
// set_len, sync, metadata, open modes and their errors, a write error
// (ENOSPC) reported by flush, and a file truncated while it is read.
// Runs in corio_io_tests, so on both I/O backends.
#include "corio/fs/file.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "corio/fs.hpp"
#include "corio/io/util.hpp"
#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "support/co_assert.hpp"
#include "support/run_bounded.hpp"
#include "support/temp_dir.hpp"

namespace corio::fs {
namespace {

using namespace std::chrono_literals;

constexpr test::RunBounded run_bounded{20s};

/// Everything `f` reads, in 64 KiB reads.
Task<io::Result<std::vector<std::byte>>> read_all(File& f) {
    std::vector<std::byte> back;
    std::vector<std::byte> buf(64 * 1024);
    for (;;) {
        auto n = co_await io::read(f, std::span<std::byte>(buf));
        if (!n) co_return std::unexpected(n.error());
        if (*n == 0) co_return back;
        back.insert(back.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
    }
}

std::vector<std::byte> pattern(std::size_t n) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 7 + i / 251) & 0xff);
    return v;
}

/// Drops `path`'s pages from the page cache, so reads of it take the
/// blocking pool's path (with read-ahead) instead of the cached fast path.
void evict(const Path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
}

Task<void> large_write_then_read_round_trips() {
    test::TempDir dir("corio-file");
    CO_ASSERT_TRUE(dir.ok());
    auto data = pattern(5 * 1024 * 1024 + 123);
    {
        auto f = co_await File::create(dir.file("big"));
        CO_ASSERT_OK(f);
        auto w = co_await io::write_all(*f, std::span<const std::byte>(data));
        CO_ASSERT_OK(w);
        auto flushed = co_await io::flush(*f);
        CO_ASSERT_OK(flushed);
        auto md = co_await f->metadata();
        CO_ASSERT_OK(md);
        EXPECT_EQ(md->len(), data.size());
    }
    for (bool cached : {true, false}) {
        if (!cached) evict(dir.file("big"));
        auto f = co_await File::open(dir.file("big"));
        CO_ASSERT_OK(f);
        auto back = co_await read_all(*f);
        CO_ASSERT_OK(back);
        EXPECT_TRUE(*back == data) << (cached ? "cached" : "evicted");
    }
}
TEST(File, LargeWriteThenReadRoundTrips) { run_bounded(large_write_then_read_round_trips()); }

Task<void> a_write_after_a_read_lands_after_the_bytes_read() {
    test::TempDir dir("corio-file");
    CO_ASSERT_TRUE(dir.ok());
    auto w = co_await fs::write(dir.file("f"), std::string_view("0123456789"));
    CO_ASSERT_OK(w);
    auto f = co_await File::options().read(true).write(true).open(dir.file("f"));
    CO_ASSERT_OK(f);
    std::array<std::byte, 3> three{};
    auto n = co_await io::read_exact(*f, std::span<std::byte>(three));  // the file read ahead beyond these
    CO_ASSERT_OK(n);
    auto wrote = co_await io::write_all(*f, std::string_view("abc"));
    CO_ASSERT_OK(wrote);
    auto rest = co_await io::read_exact(*f, std::span<std::byte>(three));
    CO_ASSERT_OK(rest);
    EXPECT_EQ(static_cast<char>(three[0]), '6');
    auto flushed = co_await io::flush(*f);
    CO_ASSERT_OK(flushed);
    auto text = co_await fs::read_to_string(dir.file("f"));
    CO_ASSERT_OK(text);
    EXPECT_EQ(*text, "012abc6789");
}
TEST(File, AWriteAfterAReadLandsAfterTheBytesRead) { run_bounded(a_write_after_a_read_lands_after_the_bytes_read()); }

Task<void> a_write_after_a_read_ahead_lands_at_the_logical_offset() {
    test::TempDir dir("corio-file");
    CO_ASSERT_TRUE(dir.ok());
    auto data = pattern(4 * 1024 * 1024);
    auto w = co_await fs::write(dir.file("f"), std::span<const std::byte>(data));
    CO_ASSERT_OK(w);
    evict(dir.file("f"));  // through the pool, with read-ahead
    auto f = co_await File::options().read(true).write(true).open(dir.file("f"));
    CO_ASSERT_OK(f);
    std::vector<std::byte> buf(100 * 1024);  // past the first chunk: a read-ahead is in flight or done
    auto r = co_await io::read_exact(*f, std::span<std::byte>(buf));
    CO_ASSERT_OK(r);
    EXPECT_TRUE(std::equal(buf.begin(), buf.end(), data.begin()));
    auto wrote = co_await io::write_all(*f, std::string_view("XYZ"));
    CO_ASSERT_OK(wrote);
    auto at = co_await f->seek(SeekFrom::current(0));
    CO_ASSERT_OK(at);
    EXPECT_EQ(*at, 100u * 1024 + 3);
    auto back = co_await fs::read(dir.file("f"));
    CO_ASSERT_OK(back);
    CO_ASSERT_TRUE(back->size() == data.size());
    EXPECT_EQ(static_cast<char>((*back)[100 * 1024]), 'X');
    EXPECT_EQ(static_cast<char>((*back)[100 * 1024 + 2]), 'Z');
    EXPECT_EQ((*back)[100 * 1024 + 3], data[100 * 1024 + 3]);
}
TEST(File, AWriteAfterAReadAheadLandsAtTheLogicalOffset) {
    run_bounded(a_write_after_a_read_ahead_lands_at_the_logical_offset());
}

Task<void> seek_set_len_and_sync() {
    test::TempDir dir("corio-file");
    CO_ASSERT_TRUE(dir.ok());
    auto w = co_await fs::write(dir.file("f"), std::string_view("hello world"));
    CO_ASSERT_OK(w);
    auto f = co_await File::options().read(true).write(true).open(dir.file("f"));
    CO_ASSERT_OK(f);
    std::string first;
    std::array<std::byte, 5> five{};
    auto r = co_await io::read_exact(*f, std::span<std::byte>(five));
    CO_ASSERT_OK(r);
    auto at = co_await f->seek(SeekFrom::current(1));  // logical offset 5, not where the read-ahead left the kernel
    CO_ASSERT_OK(at);
    EXPECT_EQ(*at, 6u);
    auto r2 = co_await io::read_exact(*f, std::span<std::byte>(five));
    CO_ASSERT_OK(r2);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(five.data()), 5), "world");
    auto end = co_await f->seek(SeekFrom::end(-5));
    CO_ASSERT_OK(end);
    EXPECT_EQ(*end, 6u);
    auto start = co_await f->seek(SeekFrom::start(0));
    CO_ASSERT_OK(start);
    EXPECT_EQ(*start, 0u);
    auto cut = co_await f->set_len(5);
    CO_ASSERT_OK(cut);
    auto synced = co_await f->sync_all();
    CO_ASSERT_OK(synced);
    auto data_synced = co_await f->sync_data();
    CO_ASSERT_OK(data_synced);
    auto md = co_await f->metadata();
    CO_ASSERT_OK(md);
    EXPECT_EQ(md->len(), 5u);
    std::string all;
    auto n = co_await io::read_to_end(*f, all);
    CO_ASSERT_OK(n);
    EXPECT_EQ(all, "hello");
}
TEST(File, SeekSetLenAndSync) { run_bounded(seek_set_len_and_sync()); }

Task<void> open_modes_and_their_errors() {
    test::TempDir dir("corio-file");
    CO_ASSERT_TRUE(dir.ok());
    auto missing = co_await File::open(dir.file("missing"));
    CO_ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error(), std::errc::no_such_file_or_directory);
    auto none = co_await File::options().open(dir.file("x"));
    CO_ASSERT_FALSE(none.has_value());
    EXPECT_EQ(none.error(), std::errc::invalid_argument);
    auto made = co_await File::options().write(true).create_new(true).open(dir.file("x"));
    CO_ASSERT_OK(made);
    auto again = co_await File::options().write(true).create_new(true).open(dir.file("x"));
    CO_ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error(), std::errc::file_exists);
    auto dir_write = co_await File::create(dir.path());
    CO_ASSERT_FALSE(dir_write.has_value());
    EXPECT_EQ(dir_write.error(), std::errc::is_a_directory);
    {
        auto a = co_await File::options().append(true).open(dir.file("x"));
        CO_ASSERT_OK(a);
        auto w1 = co_await io::write_all(*a, std::string_view("one "));
        auto w2 = co_await io::write_all(*a, std::string_view("two"));
        CO_ASSERT_OK(w1);
        CO_ASSERT_OK(w2);
        auto fl = co_await io::flush(*a);
        CO_ASSERT_OK(fl);
    }
    auto text = co_await fs::read_to_string(dir.file("x"));
    CO_ASSERT_OK(text);
    EXPECT_EQ(*text, "one two");
}
TEST(File, OpenModesAndTheirErrors) { run_bounded(open_modes_and_their_errors()); }

Task<void> a_full_disk_is_reported_by_flush() {
    auto f = co_await File::options().write(true).open("/dev/full");
    CO_ASSERT_OK(f);
    auto w = co_await io::write_all(*f, std::string_view("no room here"));
    CO_ASSERT_OK(w);  // taken into the buffer
    auto flushed = co_await io::flush(*f);
    CO_ASSERT_FALSE(flushed.has_value());
    EXPECT_EQ(flushed.error(), std::errc::no_space_on_device);
}
TEST(File, AFullDiskIsReportedByFlush) { run_bounded(a_full_disk_is_reported_by_flush()); }

Task<void> a_file_truncated_while_read_ends_early() {
    test::TempDir dir("corio-file");
    CO_ASSERT_TRUE(dir.ok());
    auto data = pattern(4 * 1024 * 1024);
    auto w = co_await fs::write(dir.file("t"), std::span<const std::byte>(data));
    CO_ASSERT_OK(w);
    auto f = co_await File::open(dir.file("t"));
    CO_ASSERT_OK(f);
    std::vector<std::byte> buf(64 * 1024);
    auto first = co_await io::read(*f, std::span<std::byte>(buf));
    CO_ASSERT_OK(first);
    CO_ASSERT_TRUE(::truncate(dir.file("t").c_str(), 100 * 1024) == 0);
    std::size_t total = *first;
    for (;;) {
        auto n = co_await io::read(*f, std::span<std::byte>(buf));
        CO_ASSERT_OK(n);
        if (*n == 0) break;
        total += *n;
    }
    // What was read ahead before the cut may still arrive; never more than the file held.
    EXPECT_LE(total, data.size());
    EXPECT_GE(total, 100u * 1024);
}
TEST(File, AFileTruncatedWhileReadEndsEarly) { run_bounded(a_file_truncated_while_read_ends_early()); }

Task<void> a_file_dropped_with_a_write_in_flight_still_writes_it() {
    test::TempDir dir("corio-file");
    CO_ASSERT_TRUE(dir.ok());
    auto data = pattern(1024 * 1024);
    {
        auto f = co_await File::create(dir.file("d"));
        CO_ASSERT_OK(f);
        auto w = co_await io::write(*f, std::span<const std::byte>(data));
        CO_ASSERT_OK(w);
        EXPECT_EQ(*w, data.size());
    }  // dropped before the write ended
    for (int i = 0; i < 1000; ++i) {
        auto md = co_await fs::metadata(dir.file("d"));
        CO_ASSERT_OK(md);
        if (md->len() == data.size()) break;
        co_await time::sleep(1ms);
    }
    auto back = co_await fs::read(dir.file("d"));
    CO_ASSERT_OK(back);
    EXPECT_TRUE(*back == data);
}
TEST(File, AFileDroppedWithAWriteInFlightStillWritesIt) {
    run_bounded(a_file_dropped_with_a_write_in_flight_still_writes_it());
}

}  // namespace
}  // namespace corio::fs
