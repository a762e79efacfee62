// corio::process: child processes, as Tokio's tokio::process.
//
// A Command describes a program to run; spawn() starts it with posix_spawn
// (glibc's is clone(CLONE_VM | CLONE_VFORK): no copy of a large parent's
// address space) and returns a Child. The child's exit is watched through a
// pidfd (pidfd_open) registered with the runtime's reactor, on epoll and
// io_uring alike; corio installs no SIGCHLD handler and never calls
// waitpid(-1), so it neither steals nor is confused by other children.
//
// No zombies: a Child reaps its process when wait() or try_wait() sees it
// exit. A Child dropped before that hands its pidfd to a small task on its
// runtime that reaps the process once it exits (killing it first when
// kill_on_drop was set). When the runtime itself shuts down, such tasks are
// dropped: a child still running then keeps running and is reaped by no one
// (it becomes a zombie once it exits, until this process exits), as in Tokio.
//
// Errors are io::Result values, never exceptions; spawning a program that
// does not exist is an error (no_such_file_or_directory), not a child that
// exits 127.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "corio/detail/poll_evented.hpp"
#include "corio/future.hpp"
#include "corio/io/core.hpp"
#include "corio/runtime.hpp"
#include "corio/task.hpp"

namespace corio::process {

/// What a child's standard stream is connected to.
class Stdio {
public:
    enum class Kind : std::uint8_t { Inherit, Piped, Null };

    /// A new pipe; the parent's end is Child::stdin / stdout / stderr.
    static Stdio piped() noexcept { return Stdio(Kind::Piped); }
    /// /dev/null.
    static Stdio null() noexcept { return Stdio(Kind::Null); }
    /// The parent's own stream.
    static Stdio inherit() noexcept { return Stdio(Kind::Inherit); }

    Kind kind() const noexcept { return kind_; }

private:
    explicit Stdio(Kind kind) noexcept : kind_(kind) {}
    Kind kind_;
};

/// How a child ended: it exited with a code, or a signal killed it.
class ExitStatus {
public:
    /// From a wait status as waitpid(2) reports it.
    static ExitStatus from_raw(int wait_status) noexcept { return ExitStatus(wait_status); }

    /// Exited with code 0.
    bool success() const noexcept { return code() == 0; }
    /// The exit code, if it exited (no value when a signal killed it).
    std::optional<int> code() const noexcept;
    /// The signal that killed it, if one did.
    std::optional<int> signal() const noexcept;
    /// It was killed by a signal and dumped core.
    bool core_dumped() const noexcept;
    /// The wait status (see waitpid(2)).
    int raw() const noexcept { return status_; }

    bool operator==(const ExitStatus&) const noexcept = default;

private:
    explicit ExitStatus(int status) noexcept : status_(status) {}
    int status_;
};

/// What Command::output() collects.
struct Output {
    ExitStatus status = ExitStatus::from_raw(0);
    std::string stdout_bytes;  ///< everything the child wrote to its standard output
    std::string stderr_bytes;  ///< everything it wrote to its standard error
};

namespace detail {

/// The parent's end of a pipe to a child: non-blocking, registered with the
/// reactor, read and written with read(2) / write(2) (a pipe is no socket,
/// so the io_uring backend serves it by readiness too).
class PipeEnd {
public:
    PipeEnd() noexcept = default;
    /// Registers `fd` (non-blocking, owned) with the current runtime.
    static io::Result<PipeEnd> adopt(int fd);

    Poll<io::Result<std::size_t>> poll_read(Context& cx, std::span<std::byte> buf);
    /// EPIPE (std::errc::broken_pipe) once the child closed its end; never SIGPIPE.
    Poll<io::Result<std::size_t>> poll_write(Context& cx, std::span<const std::byte> buf);
    int fd() const noexcept { return io_.fd(); }
    /// Closes the pipe (the child reads end of stream, or gets EPIPE).
    void close() noexcept { io_.close(); }

private:
    explicit PipeEnd(corio::detail::PollEvented io) noexcept : io_(std::move(io)) {}
    corio::detail::PollEvented io_;
};

}  // namespace detail

/// The parent's end of a child's standard input. AsyncWrite. Dropping it
/// (or poll_shutdown) closes the pipe, so the child reads end of stream.
/// Writing after the child closed its end is std::errc::broken_pipe; the
/// parent never receives SIGPIPE for it.
class ChildStdin {
public:
    Poll<io::Result<std::size_t>> poll_write(Context& cx, std::span<const std::byte> buf) {
        return pipe_.poll_write(cx, buf);
    }
    /// Ready at once: a pipe has no buffer of ours.
    Poll<io::Result<void>> poll_flush(Context&) { return Ready(io::Result<void>()); }
    /// Closes the pipe.
    Poll<io::Result<void>> poll_shutdown(Context&) {
        pipe_.close();
        return Ready(io::Result<void>());
    }
    int native_handle() const noexcept { return pipe_.fd(); }

private:
    friend class Command;
    explicit ChildStdin(detail::PipeEnd pipe) noexcept : pipe_(std::move(pipe)) {}
    detail::PipeEnd pipe_;
};

/// The parent's end of a child's standard output or error. AsyncRead; 0 at
/// end of stream (the child, and any process it passed the pipe on to, closed it).
class ChildOutput {
public:
    Poll<io::Result<std::size_t>> poll_read(Context& cx, std::span<std::byte> buf) { return pipe_.poll_read(cx, buf); }
    int native_handle() const noexcept { return pipe_.fd(); }

private:
    friend class Command;
    explicit ChildOutput(detail::PipeEnd pipe) noexcept : pipe_(std::move(pipe)) {}
    detail::PipeEnd pipe_;
};
using ChildStdout = ChildOutput;
using ChildStderr = ChildOutput;

static_assert(io::AsyncWrite<ChildStdin> && io::AsyncRead<ChildStdout>);

/// A spawned child process. Move-only. Its stdin / stdout / stderr members
/// hold the pipes requested with Stdio::piped() (take them with std::move).
///
/// Dropping a Child does not kill it (unless Command::kill_on_drop), and
/// leaves no zombie: see the header comment.
class Child {
public:
    Child(Child&&) noexcept = default;
    Child& operator=(Child&&) noexcept;
    ~Child();

    /// The process id; no value once the child was reaped (the id may then
    /// belong to another process).
    std::optional<pid_t> id() const noexcept;

    /// Waits for the child to exit and reaps it; its status. Closes stdin
    /// first (as Tokio does), so a child reading it sees end of stream.
    /// Later calls return the same status at once. The Child must outlive
    /// the future. Cancellation-safe: dropping it loses nothing.
    auto wait() {
        stdin.reset();
        return WaitFuture(*this);
    }

    /// The exit status if the child has exited (reaping it), no value while
    /// it runs. Never waits.
    io::Result<std::optional<ExitStatus>> try_wait();

    /// Sends SIGKILL without waiting. Harmless (success) once the child has
    /// exited or been reaped.
    io::Result<void> start_kill();

    /// Sends SIGKILL and waits for the child to exit; its status is then
    /// what wait() returns. Harmless on a child that already exited.
    Task<io::Result<ExitStatus>> kill();

    /// wait() for hand-written futures.
    Poll<io::Result<ExitStatus>> poll_wait(Context& cx);

    std::optional<ChildStdin> stdin;
    std::optional<ChildStdout> stdout;
    std::optional<ChildStderr> stderr;

    /// The future of wait().
    class CORIO_NODISCARD_FUTURE WaitFuture {
    public:
        using Output = io::Result<ExitStatus>;
        explicit WaitFuture(Child& child) noexcept : child_(&child) {}
        Poll<Output> poll(Context& cx) { return child_->poll_wait(cx); }

    private:
        Child* child_;
    };

private:
    friend class Command;
    Child(pid_t pid, corio::detail::PollEvented pidfd, bool kill_on_drop) noexcept
        : pid_(pid), pidfd_(std::move(pidfd)), runtime_(Handle::try_current()), kill_on_drop_(kill_on_drop) {}
    /// Reaps the child if it exited: its status, or no value while it runs.
    io::Result<std::optional<ExitStatus>> reap_if_exited();
    void drop() noexcept;

    pid_t pid_ = -1;
    corio::detail::PollEvented pidfd_;  // readable once the process exited
    std::optional<ExitStatus> status_;  // set once reaped
    std::optional<Handle> runtime_;     // the runtime whose reactor watches pidfd_: a dropped child's reaper runs there
    bool kill_on_drop_ = false;
};

/// A program to run, with its arguments, environment, working directory and
/// standard streams: a builder (each setter returns *this).
class Command {
public:
    /// Runs `program`: a path, or a name searched in PATH.
    explicit Command(std::string program);

    Command& arg(std::string_view arg);
    Command& args(std::span<const std::string> args);
    Command& args(std::initializer_list<std::string_view> args);
    /// Sets a variable in the child's environment.
    Command& env(std::string_view key, std::string_view value);
    /// Removes a variable from the child's environment.
    Command& env_remove(std::string_view key);
    /// Starts the child's environment empty (then env() adds to it).
    Command& env_clear();
    /// The child's working directory (a missing one makes spawn() fail).
    Command& current_dir(std::string path);
    /// Standard streams: inherited by default for spawn() and status();
    /// output() pipes stdout and stderr and gives stdin /dev/null.
    Command& stdin(Stdio cfg);
    Command& stdout(Stdio cfg);
    Command& stderr(Stdio cfg);
    /// Kill the child (SIGKILL) when its Child is dropped before it was reaped.
    Command& kill_on_drop(bool kill);

    /// Starts the child. Errors: no_such_file_or_directory (no such program,
    /// or no such current_dir), permission_denied (not executable),
    /// too_many_files_open, and the like. Inside a runtime only (outside,
    /// std::logic_error).
    io::Result<Child> spawn() const;

    /// Runs the child to its end, with stdout and stderr collected (stdin
    /// /dev/null unless set): its status and output. Not cancellation-safe
    /// in the sense that dropping it drops the Child (which is reaped, or
    /// killed with kill_on_drop).
    Task<io::Result<Output>> output() const;

    /// Runs the child to its end (streams inherited unless set); its status.
    Task<io::Result<ExitStatus>> status() const;

    const std::string& get_program() const noexcept { return program_; }
    const std::vector<std::string>& get_args() const noexcept { return args_; }

private:
    /// Watches the spawned `pid` and wraps our pipe ends (-1: none) into a Child.
    io::Result<Child> adopt_child(pid_t pid, const int (&parent_fds)[3]) const;
    static Task<io::Result<Output>> run_for_output(Command cmd);
    static Task<io::Result<ExitStatus>> run_for_status(Command cmd);

    std::string program_;
    std::vector<std::string> args_;
    std::map<std::string, std::optional<std::string>> env_;  // no value: removed
    bool env_clear_ = false;
    std::optional<std::string> current_dir_;
    std::optional<Stdio> stdin_;
    std::optional<Stdio> stdout_;
    std::optional<Stdio> stderr_;
    bool kill_on_drop_ = false;
};

}  // namespace corio::process
