// detail::IntrusiveList: the one list every waiter queue, owned-task list,
// timer slot and registration list of the library links through.
#include "corio/detail/intrusive_list.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using corio::detail::IntrusiveList;
using corio::detail::ListHook;

struct ByAge {};
struct ByName {};

// An element in two list kinds at once.
struct Item : ListHook<ByAge>, ListHook<ByName> {
    explicit Item(int v) : value(v) {}
    int value;
};

template <class Tag>
std::vector<int> values(IntrusiveList<Item, Tag>& list) {
    std::vector<int> out;
    list.for_each([&](Item& i) { out.push_back(i.value); });
    return out;
}

TEST(IntrusiveList, StartsEmptyAndKeepsOrderAtBothEnds) {
    IntrusiveList<Item, ByAge> list;
    EXPECT_TRUE(list.empty());
    EXPECT_EQ(list.front(), nullptr);
    EXPECT_EQ(list.back(), nullptr);
    EXPECT_EQ(list.pop_front(), nullptr);
    Item a(1), b(2), c(3);
    list.push_back(b);
    list.push_back(c);
    list.push_front(a);
    EXPECT_EQ(values(list), (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(list.front(), &a);
    EXPECT_EQ(list.back(), &c);
    EXPECT_EQ(list.next(a), &b);
    EXPECT_EQ(list.next(c), nullptr);
    EXPECT_EQ(list.pop_front(), &a);
    EXPECT_EQ(list.pop_front(), &b);
    EXPECT_EQ(list.pop_front(), &c);
    EXPECT_TRUE(list.empty());
}

TEST(IntrusiveList, AnElementKnowsWhetherItIsLinked) {
    IntrusiveList<Item, ByAge> list;
    Item a(1);
    EXPECT_FALSE(a.ListHook<ByAge>::is_linked());
    list.push_back(a);
    EXPECT_TRUE(a.ListHook<ByAge>::is_linked());
    EXPECT_FALSE(a.ListHook<ByName>::is_linked()) << "each list kind has its own links";
    IntrusiveList<Item, ByAge>::remove(a);
    EXPECT_FALSE(a.ListHook<ByAge>::is_linked());
    EXPECT_TRUE(list.empty());
}

TEST(IntrusiveList, RemovesFromTheMiddleAndTheEnds) {
    IntrusiveList<Item, ByAge> list;
    Item a(1), b(2), c(3), d(4);
    for (Item* i : {&a, &b, &c, &d}) list.push_back(*i);
    IntrusiveList<Item, ByAge>::remove(b);
    EXPECT_EQ(values(list), (std::vector<int>{1, 3, 4}));
    IntrusiveList<Item, ByAge>::remove(a);
    IntrusiveList<Item, ByAge>::remove(d);
    EXPECT_EQ(values(list), (std::vector<int>{3}));
    EXPECT_EQ(list.front(), &c);
    EXPECT_EQ(list.back(), &c);
}

TEST(IntrusiveList, ReplacePutsANewElementInTheOldOnesPlace) {
    IntrusiveList<Item, ByAge> list;
    Item a(1), b(2), c(3), moved(20);
    for (Item* i : {&a, &b, &c}) list.push_back(*i);
    IntrusiveList<Item, ByAge>::replace(b, moved);
    EXPECT_EQ(values(list), (std::vector<int>{1, 20, 3}));
    EXPECT_FALSE(b.ListHook<ByAge>::is_linked());
    EXPECT_TRUE(moved.ListHook<ByAge>::is_linked());
}

TEST(IntrusiveList, ForEachMayUnlinkTheCurrentElement) {
    IntrusiveList<Item, ByAge> list;
    Item a(1), b(2), c(3), d(4);
    for (Item* i : {&a, &b, &c, &d}) list.push_back(*i);
    list.for_each([](Item& i) {
        if (i.value % 2 == 0) IntrusiveList<Item, ByAge>::remove(i);
    });
    EXPECT_EQ(values(list), (std::vector<int>{1, 3}));
}

TEST(IntrusiveList, OneElementSitsInTwoListKindsIndependently) {
    IntrusiveList<Item, ByAge> by_age;
    IntrusiveList<Item, ByName> by_name;
    Item a(1), b(2);
    by_age.push_back(a);
    by_age.push_back(b);
    by_name.push_back(b);
    by_name.push_back(a);
    EXPECT_EQ(values(by_age), (std::vector<int>{1, 2}));
    EXPECT_EQ(values(by_name), (std::vector<int>{2, 1}));
    IntrusiveList<Item, ByName>::remove(b);
    EXPECT_EQ(values(by_age), (std::vector<int>{1, 2}));
    EXPECT_EQ(values(by_name), (std::vector<int>{1}));
}

TEST(IntrusiveList, CopyingAnElementCopiesNoLinks) {
    IntrusiveList<Item, ByAge> list;
    Item a(1);
    list.push_back(a);
    Item copy = a;
    EXPECT_FALSE(copy.ListHook<ByAge>::is_linked());
    EXPECT_EQ(values(list), (std::vector<int>{1}));
}

}  // namespace
