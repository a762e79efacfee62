// ASSERT_* for coroutines. GoogleTest's ASSERT_* return from the enclosing
// function, which a coroutine cannot do; CO_ASSERT_* make the same checks,
// record a failure with ADD_FAILURE and end the coroutine with co_return.
// Macros because only a macro can co_return from its caller.
#pragma once

#include <gtest/gtest.h>

/// Ends the coroutine (co_return) with a failure when `cond` is false.
#define CO_ASSERT_TRUE(cond)                                \
    do {                                                    \
        if (!(cond)) {                                      \
            ADD_FAILURE() << "Assertion failed: " << #cond; \
            co_return;                                      \
        }                                                   \
    } while (false)

/// Ends the coroutine (co_return) with a failure when `cond` is true.
#define CO_ASSERT_FALSE(cond) CO_ASSERT_TRUE(!(cond))

/// Ends the coroutine (co_return) with a failure naming the error when
/// `result` (an io::Result or other std::expected with an error_code) holds
/// an error. `result` is evaluated once.
#define CO_ASSERT_OK(result)                                                                \
    do {                                                                                    \
        auto&& co_assert_result_ = (result);                                                \
        if (!co_assert_result_) {                                                           \
            ADD_FAILURE() << #result << " failed: " << co_assert_result_.error().message(); \
            co_return;                                                                      \
        }                                                                                   \
    } while (false)
