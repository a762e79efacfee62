// Task ids (corio/detail/task_header.hpp): each thread takes them in blocks
// of kTaskIdBlock, which the multi-thread owned list shards by.
#include "corio/detail/task_header.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <thread>

namespace corio::detail {
namespace {

TEST(TaskIds, BlocksStartAtOneAndHoldKTaskIdBlockIds) {
    EXPECT_EQ(task_id_block(1), 0u);
    EXPECT_EQ(task_id_block(kTaskIdBlock), 0u);
    EXPECT_EQ(task_id_block(kTaskIdBlock + 1), 1u);
    EXPECT_EQ(task_id_block(2 * kTaskIdBlock), 1u);
}

TEST(TaskIds, OneThreadsIdsComeFromWholeBlocksAndAreNeverZero) {
    std::set<std::uint64_t> blocks;
    std::uint64_t previous = 0;
    for (std::uint64_t i = 0; i < 3 * kTaskIdBlock; ++i) {
        std::uint64_t id = next_task_id();
        ASSERT_NE(id, 0u);
        if (previous != 0 && task_id_block(id) == task_id_block(previous)) {
            EXPECT_EQ(id, previous + 1);  // within a block, consecutive
        } else {
            EXPECT_EQ(blocks.count(task_id_block(id)), 0u);  // a fresh block
            blocks.insert(task_id_block(id));
        }
        previous = id;
    }
    EXPECT_GE(blocks.size(), 3u);
    EXPECT_LE(blocks.size(), 4u);
}

TEST(TaskIds, TwoThreadsNeverShareABlock) {
    std::set<std::uint64_t> mine;
    std::set<std::uint64_t> theirs;
    for (int i = 0; i < 2000; ++i) mine.insert(task_id_block(next_task_id()));
    std::thread other([&] {
        for (int i = 0; i < 2000; ++i) theirs.insert(task_id_block(next_task_id()));
    });
    other.join();
    for (std::uint64_t b : theirs) EXPECT_EQ(mine.count(b), 0u);
}

}  // namespace
}  // namespace corio::detail
