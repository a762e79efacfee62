// ASSERT_* return from the enclosing function, which a coroutine cannot do:
// these make the same checks and end the coroutine with co_return.
#pragma once

#include <gtest/gtest.h>

#define CO_ASSERT_TRUE(cond)                                \
    do {                                                    \
        if (!(cond)) {                                      \
            ADD_FAILURE() << "Assertion failed: " << #cond; \
            co_return;                                      \
        }                                                   \
    } while (false)
#define CO_ASSERT_FALSE(cond) CO_ASSERT_TRUE(!(cond))
