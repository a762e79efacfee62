// Running one test on both schedulers: a fixture base parameterised by Flavor
// whose build() makes a current_thread runtime or a multi-thread one with
// kMultiThreadWorkers workers, the two values, and the generators that name
// them in the test names. A test file derives its own named fixture:
//   class MutexOnRuntime : public test::RuntimeFlavorTest {};
//   INSTANTIATE_TEST_SUITE_P(Runtimes, MutexOnRuntime, test::all_flavors(), test::flavor_name);
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <string>

#include "corio/runtime.hpp"

namespace corio::test {

/// The scheduler a parameterised test runs on.
enum class Flavor { CurrentThread, MultiThread };

/// How many workers the multi-thread runtime of RuntimeFlavorTest::build() has.
inline constexpr std::size_t kMultiThreadWorkers = 4;

/// Base of a fixture parameterised by Flavor.
class RuntimeFlavorTest : public ::testing::TestWithParam<Flavor> {
protected:
    /// A new runtime of the parameter's flavour: current_thread, or multi-thread
    /// with kMultiThreadWorkers workers.
    Runtime build() const {
        if (GetParam() == Flavor::CurrentThread) return Builder::new_current_thread().build();
        return Builder::new_multi_thread().worker_threads(kMultiThreadWorkers).build();
    }
};

/// Both flavours, current_thread first: the values for INSTANTIATE_TEST_SUITE_P.
inline auto all_flavors() { return ::testing::Values(Flavor::CurrentThread, Flavor::MultiThread); }

/// The parameter name of a flavour in a test name: "CurrentThread" or "MultiThread".
inline std::string flavor_name(const ::testing::TestParamInfo<Flavor>& info) {
    return info.param == Flavor::CurrentThread ? "CurrentThread" : "MultiThread";
}

/// Like flavor_name, with the worker count: "CurrentThread" or "MultiThread4Workers".
inline std::string flavor_name_with_workers(const ::testing::TestParamInfo<Flavor>& info) {
    if (info.param == Flavor::CurrentThread) return "CurrentThread";
    return "MultiThread" + std::to_string(kMultiThreadWorkers) + "Workers";
}

}  // namespace corio::test
