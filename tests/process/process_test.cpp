// Tests of <corio/process.hpp>: Command, Child and ExitStatus. Exit codes and
// signals, output collection, piped stdin and stdout in both directions at
// once, environment and working directory, the error paths (a missing
// program, a missing directory, a child that closed its input), kill and
// try_wait, and that no child is left a zombie, also when dropped unwaited.
// Runs in corio_io_tests, so on both I/O backends.
#include "corio/process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "corio/io/util.hpp"
#include "corio/runtime.hpp"
#include "corio/select.hpp"
#include "corio/task.hpp"
#include "corio/task/join_set.hpp"
#include "corio/time.hpp"
#include "support/co_assert.hpp"
#include "support/run_bounded.hpp"

namespace corio::process {
namespace {

using namespace std::chrono_literals;

constexpr test::RunBounded run_bounded{10s};
constexpr auto run_multi = test::RunBounded::multi_thread(10s, 2);

/// True once `pid` is no child of ours any more (reaped, by us or a reaper).
bool reaped(pid_t pid) {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

/// True while `pid` runs (not exited, not reaped).
bool running(pid_t pid) {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

/// Waits (polling each millisecond; the test's bound ends a hang) until every pid is reaped.
Task<void> until_reaped(std::vector<pid_t> pids) {
    for (pid_t pid : pids) {
        while (!reaped(pid)) co_await time::sleep(1ms);
    }
}

Task<void> output_collects_stdout_and_the_exit_code() {
    auto out = co_await Command("echo").arg("hello").arg("world").output();
    CO_ASSERT_OK(out);
    EXPECT_TRUE(out->status.success());
    EXPECT_EQ(out->status.code(), 0);
    EXPECT_EQ(out->stdout_bytes, "hello world\n");
    EXPECT_EQ(out->stderr_bytes, "");
}
TEST(Process, OutputCollectsStdoutAndTheExitCode) { run_bounded(output_collects_stdout_and_the_exit_code()); }

Task<void> output_collects_stderr_and_a_failing_code() {
    Command cmd("sh");
    cmd.arg("-c").arg("echo oops >&2; exit 3");
    auto out = co_await cmd.output();
    CO_ASSERT_OK(out);
    EXPECT_FALSE(out->status.success());
    EXPECT_EQ(out->status.code(), 3);
    EXPECT_EQ(out->status.signal(), std::nullopt);
    EXPECT_EQ(out->stderr_bytes, "oops\n");
}
TEST(Process, OutputCollectsStderrAndAFailingCode) { run_bounded(output_collects_stderr_and_a_failing_code()); }

Task<void> status_reports_a_killing_signal() {
    Command cmd("sh");
    cmd.arg("-c").arg("kill -TERM $$");
    auto status = co_await cmd.status();
    CO_ASSERT_OK(status);
    EXPECT_FALSE(status->success());
    EXPECT_EQ(status->code(), std::nullopt);
    EXPECT_EQ(status->signal(), SIGTERM);
}
TEST(Process, StatusReportsAKillingSignal) { run_bounded(status_reports_a_killing_signal()); }

Task<void> a_missing_program_is_an_error_not_exit_127() {
    auto child = Command("corio-no-such-program-xyz").spawn();
    CO_ASSERT_FALSE(child.has_value());
    EXPECT_EQ(child.error(), std::errc::no_such_file_or_directory);
    auto by_path = Command("/nonexistent/corio/prog").status();
    auto status = co_await std::move(by_path);
    CO_ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error(), std::errc::no_such_file_or_directory);
}
TEST(Process, AMissingProgramIsAnErrorNotExit127) { run_bounded(a_missing_program_is_an_error_not_exit_127()); }

Task<void> a_missing_current_dir_is_an_error() {
    auto child = Command("true").current_dir("/nonexistent/corio/dir").spawn();
    CO_ASSERT_FALSE(child.has_value());
    EXPECT_EQ(child.error(), std::errc::no_such_file_or_directory);
    co_return;
}
TEST(Process, AMissingCurrentDirIsAnError) { run_bounded(a_missing_current_dir_is_an_error()); }

Task<void> current_dir_and_env_reach_the_child() {
    auto dir = std::filesystem::canonical(std::filesystem::temp_directory_path()).string();
    ::setenv("CORIO_PROCESS_TEST_GONE", "parent", 1);
    Command cmd("sh");
    cmd.arg("-c")
        .arg("pwd; echo \"$CORIO_A\"; echo \"${CORIO_PROCESS_TEST_GONE:-unset}\"")
        .current_dir(dir)
        .env("CORIO_A", "alpha")
        .env_remove("CORIO_PROCESS_TEST_GONE");
    auto out = co_await cmd.output();
    CO_ASSERT_OK(out);
    EXPECT_EQ(out->stdout_bytes, dir + "\nalpha\nunset\n");
    Command bare("/bin/sh");
    bare.arg("-c").arg("echo \"${HOME:-nohome}$CORIO_B\"").env_clear().env("CORIO_B", "!");
    auto cleared = co_await bare.output();
    CO_ASSERT_OK(cleared);
    EXPECT_EQ(cleared->stdout_bytes, "nohome!\n");
    ::unsetenv("CORIO_PROCESS_TEST_GONE");
}
TEST(Process, CurrentDirAndEnvReachTheChild) { run_bounded(current_dir_and_env_reach_the_child()); }

Task<void> piped_stdin_round_trips_through_cat() {
    auto child = Command("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn();
    CO_ASSERT_OK(child);
    CO_ASSERT_TRUE(child->id().has_value());
    auto in = std::move(*child->stdin);
    child->stdin.reset();
    auto wrote = co_await io::write_all(in, std::string_view("through the pipe"));
    CO_ASSERT_OK(wrote);
    {
        auto closed = std::move(in);
    }  // end of stream for cat
    std::string text;
    auto n = co_await io::read_to_end(*child->stdout, text);
    CO_ASSERT_OK(n);
    EXPECT_EQ(text, "through the pipe");
    auto status = co_await child->wait();
    CO_ASSERT_OK(status);
    EXPECT_TRUE(status->success());
    EXPECT_EQ(child->id(), std::nullopt);  // reaped
}
TEST(Process, PipedStdinRoundTripsThroughCat) { run_bounded(piped_stdin_round_trips_through_cat()); }

Task<io::Result<void>> write_then_close(ChildStdin in, std::size_t bytes) {
    std::string chunk(64 * 1024, 'z');
    std::size_t done = 0;
    while (done < bytes) {
        std::size_t n = std::min(chunk.size(), bytes - done);
        auto w = co_await io::write_all(in, std::string_view(chunk).substr(0, n));
        if (!w) co_return w;
        done += n;
    }
    co_return io::Result<void>();
}

Task<io::Result<std::size_t>> count_bytes(ChildStdout& out) {
    std::vector<std::byte> buf(64 * 1024);
    std::size_t total = 0;
    for (;;) {
        auto n = co_await io::read(out, std::span<std::byte>(buf));
        if (!n) co_return std::unexpected(n.error());
        if (*n == 0) co_return total;
        total += *n;
    }
}

Task<void> ten_megabytes_each_way_do_not_deadlock() {
    constexpr std::size_t kBytes = 10 * 1024 * 1024;
    auto child = Command("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn();
    CO_ASSERT_OK(child);
    auto in = std::move(*child->stdin);
    child->stdin.reset();
    auto [wrote, read] = co_await corio::join(write_then_close(std::move(in), kBytes), count_bytes(*child->stdout));
    CO_ASSERT_OK(wrote);
    CO_ASSERT_OK(read);
    EXPECT_EQ(*read, kBytes);
    auto status = co_await child->wait();
    CO_ASSERT_OK(status);
    EXPECT_TRUE(status->success());
}
TEST(Process, TenMegabytesEachWayDoNotDeadlock) { run_bounded(ten_megabytes_each_way_do_not_deadlock()); }

Task<void> writing_to_a_child_that_closed_its_input_is_broken_pipe() {
    auto child = Command("head").arg("-c").arg("1").stdin(Stdio::piped()).stdout(Stdio::null()).spawn();
    CO_ASSERT_OK(child);
    std::string chunk(64 * 1024, 'p');
    io::Result<void> w;
    for (int i = 0; i < 10000 && w; ++i) w = co_await io::write_all(*child->stdin, std::string_view(chunk));
    CO_ASSERT_FALSE(w.has_value());
    EXPECT_EQ(w.error(), std::errc::broken_pipe);
    auto status = co_await child->wait();  // and this process is still alive (no SIGPIPE)
    CO_ASSERT_OK(status);
    EXPECT_TRUE(status->success());
}
TEST(Process, WritingToAChildThatClosedItsInputIsBrokenPipe) {
    run_bounded(writing_to_a_child_that_closed_its_input_is_broken_pipe());
}

Task<void> kill_ends_a_running_child_and_is_harmless_afterwards() {
    auto child = Command("sleep").arg("100").spawn();
    CO_ASSERT_OK(child);
    auto early = child->try_wait();
    CO_ASSERT_OK(early);
    EXPECT_EQ(*early, std::nullopt);
    auto status = co_await child->kill();
    CO_ASSERT_OK(status);
    EXPECT_EQ(status->signal(), SIGKILL);
    EXPECT_TRUE(child->start_kill().has_value());  // reaped already: harmless
    auto again = co_await child->kill();
    CO_ASSERT_OK(again);
    EXPECT_EQ(*again, *status);
    auto waited = co_await child->wait();
    CO_ASSERT_OK(waited);
    EXPECT_EQ(*waited, *status);
}
TEST(Process, KillEndsARunningChildAndIsHarmlessAfterwards) {
    run_bounded(kill_ends_a_running_child_and_is_harmless_afterwards());
}

Task<void> dropped_children_leave_no_zombie() {
    std::vector<pid_t> pids;
    for (int i = 0; i < 200; ++i) {
        auto child = Command("true").spawn();
        CO_ASSERT_OK(child);
        pids.push_back(*child->id());
    }  // each dropped unwaited
    co_await until_reaped(std::move(pids));
}
TEST(Process, TwoHundredDroppedChildrenLeaveNoZombie) { run_bounded(dropped_children_leave_no_zombie()); }

Task<void> kill_on_drop_kills_and_reaps() {
    auto child = Command("sleep").arg("100").kill_on_drop(true).spawn();
    CO_ASSERT_OK(child);
    pid_t pid = *child->id();
    {
        auto gone = std::move(*child);
    }
    std::vector<pid_t> pids{pid};
    co_await until_reaped(std::move(pids));
}
TEST(Process, KillOnDropKillsAndReaps) { run_bounded(kill_on_drop_kills_and_reaps()); }

Task<void> a_dropped_running_child_keeps_running_and_is_reaped_when_it_exits() {
    auto child = Command("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn();
    CO_ASSERT_OK(child);
    pid_t pid = *child->id();
    auto in = std::move(*child->stdin);
    child->stdin.reset();
    {
        auto gone = std::move(*child);
    }
    EXPECT_TRUE(running(pid));
    {
        auto closed = std::move(in);
    }  // cat sees end of stream and exits
    std::vector<pid_t> pids{pid};
    co_await until_reaped(std::move(pids));
}
TEST(Process, ADroppedRunningChildKeepsRunningAndIsReapedWhenItExits) {
    run_bounded(a_dropped_running_child_keeps_running_and_is_reaped_when_it_exits());
}

/// Spawns `sleep 100` (with or without kill_on_drop), reports its pid, then
/// waits for it, so the runtime's shutdown drops the Child mid-wait.
Task<void> sleep_until_shutdown(bool kill_on_drop, pid_t* pid) {
    auto child = Command("sleep").arg("100").kill_on_drop(kill_on_drop).spawn();
    if (!child) co_return;
    *pid = *child->id();
    auto status = co_await child->wait();
    (void)status;
}

/// Runs sleep_until_shutdown on a runtime that is then destroyed; the child's pid.
pid_t shut_down_with_a_sleeping_child(bool kill_on_drop) {
    pid_t pid = -1;
    {
        Runtime rt = Builder::new_current_thread().build();
        auto waiter = rt.spawn(sleep_until_shutdown(kill_on_drop, &pid));
        rt.block_on([](pid_t* pid) -> Task<void> {
            while (*pid < 0) co_await task::yield_now();
        }(&pid));
    }  // shutdown: the waiting task and its Child are dropped
    return pid;
}

TEST(Process, RuntimeShutdownKillsChildrenWithKillOnDrop) {
    pid_t pid = shut_down_with_a_sleeping_child(true);
    ASSERT_GT(pid, 0);
    int status = 0;
    pid_t waited = ::waitpid(pid, &status, 0);
    if (waited < 0) {  // reaped already, by the dropped Child's last try: it was gone by then
        EXPECT_EQ(errno, ECHILD);
        return;
    }
    EXPECT_EQ(waited, pid);  // killed; the runtime was gone before it could reap
    EXPECT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST(Process, RuntimeShutdownLeavesOtherChildrenRunning) {
    pid_t pid = shut_down_with_a_sleeping_child(false);
    ASSERT_GT(pid, 0);
    EXPECT_TRUE(running(pid));  // documented: it keeps running, and nobody reaps it
    ::kill(pid, SIGKILL);
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
}

Task<void> children_are_awaited_across_worker_threads() {
    task::JoinSet<io::Result<ExitStatus>> set;
    Command cmd("sh");
    cmd.arg("-c").arg("exit 7");
    for (int i = 0; i < 16; ++i) set.spawn(cmd.status());
    int seen = 0;
    for (;;) {
        auto joined = co_await set.join_next();
        if (!joined) break;
        auto status = std::move(*joined).value();
        CO_ASSERT_OK(status);
        EXPECT_EQ(status->code(), 7);
        ++seen;
    }
    EXPECT_EQ(seen, 16);
}
TEST(Process, ChildrenAreAwaitedAcrossWorkerThreads) { run_multi(children_are_awaited_across_worker_threads()); }

}  // namespace
}  // namespace corio::process
