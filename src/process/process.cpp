// corio::process: spawning with posix_spawn, watching exits through pidfds
// registered with the reactor, reaping with waitid(P_PIDFD, WNOHANG), and the
// background reaper that keeps a dropped Child from becoming a zombie.
//
// Invariant: a Child whose pidfd_ is open and whose status_ is empty owns an
// unreaped process; exactly one of wait()/try_wait() (which set status_ and
// close the pidfd) or drop() (which hands the pidfd to a reaper task) ends
// that ownership.
#include "corio/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "corio/io/util.hpp"
#include "corio/select.hpp"

extern char** environ;  // NOLINT: POSIX declares it nowhere in a header

namespace corio::process {
namespace {

using corio::detail::Direction;
using corio::detail::PollEvented;

constexpr idtype_t kPidfdId = static_cast<idtype_t>(3);  // P_PIDFD (linux/wait.h), glibc may lack it

io::Result<void> os_result(int rc) {
    if (rc == 0) return {};
    return std::unexpected(std::error_code(rc, std::generic_category()));
}

/// waitid(P_PIDFD, WNOHANG): the wait status if the process exited (it is
/// then reaped), no value while it runs.
io::Result<std::optional<int>> reap_pidfd(int pidfd) {
    siginfo_t info{};
    for (;;) {
        if (::waitid(kPidfdId, static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG) == 0) break;
        if (errno != EINTR) return io::last_os_error();
    }
    if (info.si_pid == 0) return std::optional<int>();
    switch (info.si_code) {
        case CLD_EXITED:
            return std::optional<int>((info.si_status & 0xff) << 8);
        case CLD_DUMPED:
            return std::optional<int>((info.si_status & 0x7f) | 0x80);
        default:  // CLD_KILLED
            return std::optional<int>(info.si_status & 0x7f);
    }
}

/// write(2) that reports EPIPE without raising SIGPIPE in this process: a
/// pipe has no MSG_NOSIGNAL, so the signal is blocked in this thread for the
/// call and, if the write raised it, taken off the pending set.
ssize_t write_no_sigpipe(int fd, const void* data, std::size_t size) {
    sigset_t pipe_only;
    sigset_t old;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    ssize_t r = ::write(fd, data, size);
    int saved = errno;
    if (!sigismember(&old, SIGPIPE)) {
        if (r < 0 && saved == EPIPE) {
            sigset_t pending;
            sigpending(&pending);
            timespec zero{};
            if (sigismember(&pending, SIGPIPE)) sigtimedwait(&pipe_only, nullptr, &zero);
        }
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    errno = saved;
    return r;
}

/// The pidfd of a dropped, unreaped child, on its runtime: reaps the process
/// once it exits. If the runtime drops the task first, one last try.
struct ReapOnDrop {
    PollEvented pidfd;
    ~ReapOnDrop() {
        if (!pidfd.is_open()) return;
        auto reaped = reap_pidfd(pidfd.fd());  // still running: nobody reaps it (see process.hpp)
        (void)reaped;
    }
};

/// Ready once the process behind `pidfd` exited and was reaped.
class Reaped {
public:
    using Output = void;
    explicit Reaped(PollEvented& pidfd) noexcept : pidfd_(&pidfd) {}
    Poll<void> poll(Context& cx) {
        for (;;) {
            auto* reg = pidfd_->registration();
            if (reg == nullptr) return Ready();
            auto ready = reg->poll_ready(cx, Direction::Read);
            if (ready.is_pending()) return Pending;
            if (ready->ready & corio::detail::readiness::kShutdown) return Ready();
            auto r = reap_pidfd(pidfd_->fd());
            if (!r || r->has_value()) return Ready();  // reaped (or someone else did)
            reg->clear_readiness(*ready);
        }
    }

private:
    PollEvented* pidfd_;
};

Task<void> reap_in_background(PollEvented pidfd) {
    ReapOnDrop owner{std::move(pidfd)};
    co_await Reaped(owner.pidfd);
    owner.pidfd.close();
}

struct StdioPlan {
    int child_fd = -1;   // dup2'ed onto 0/1/2 in the child (closed here afterwards)
    int parent_fd = -1;  // our end of a pipe
};

void close_plan(StdioPlan& p) noexcept {
    if (p.child_fd >= 0) ::close(std::exchange(p.child_fd, -1));
    if (p.parent_fd >= 0) ::close(std::exchange(p.parent_fd, -1));
}

/// Opens what `cfg` asks for stream `target` (0, 1 or 2).
io::Result<StdioPlan> plan_stdio(Stdio cfg, int target) {
    StdioPlan plan;
    switch (cfg.kind()) {
        case Stdio::Kind::Inherit:
            return plan;
        case Stdio::Kind::Null: {
            plan.child_fd = ::open("/dev/null", (target == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
            if (plan.child_fd < 0) return io::last_os_error();
            return plan;
        }
        case Stdio::Kind::Piped: {
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC) != 0) return io::last_os_error();
            bool child_reads = target == 0;
            plan.child_fd = child_reads ? fds[0] : fds[1];
            plan.parent_fd = child_reads ? fds[1] : fds[0];
            ::fcntl(plan.parent_fd, F_SETFL, O_NONBLOCK);
            return plan;
        }
    }
    return plan;
}

/// The child's environment: ours (unless cleared) with the command's changes.
std::vector<std::string> build_env(bool clear, const std::map<std::string, std::optional<std::string>>& changes) {
    std::vector<std::string> env;
    if (!clear) {
        for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
            std::string_view entry(*e);
            auto key = entry.substr(0, entry.find('='));
            if (!changes.contains(std::string(key))) env.emplace_back(entry);
        }
    }
    for (const auto& [key, value] : changes) {
        if (value) env.push_back(key + "=" + *value);
    }
    return env;
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

/// RAII for the posix_spawn attribute and file-action objects.
struct SpawnSetup {
    posix_spawn_file_actions_t actions{};
    posix_spawnattr_t attr{};
    SpawnSetup() {
        posix_spawn_file_actions_init(&actions);
        posix_spawnattr_init(&attr);
        // The child starts with no blocked signal and SIGPIPE at its default
        // (the parent may block signals for signalfd, or ignore SIGPIPE).
        sigset_t none;
        sigset_t pipe_only;
        sigemptyset(&none);
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &pipe_only);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    }
    SpawnSetup(const SpawnSetup&) = delete;
    SpawnSetup& operator=(const SpawnSetup&) = delete;
    ~SpawnSetup() {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
    }
};

}  // namespace

// ---- ExitStatus -------------------------------------------------------------------

std::optional<int> ExitStatus::code() const noexcept {
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    return std::nullopt;
}

std::optional<int> ExitStatus::signal() const noexcept {
    if (WIFSIGNALED(status_)) return WTERMSIG(status_);
    return std::nullopt;
}

bool ExitStatus::core_dumped() const noexcept { return WIFSIGNALED(status_) && WCOREDUMP(status_); }

// ---- PipeEnd ----------------------------------------------------------------------

namespace detail {

io::Result<PipeEnd> PipeEnd::adopt(int fd) {
    auto io = PollEvented::adopt(fd);
    if (!io) return std::unexpected(io.error());
    return PipeEnd(std::move(*io));
}

Poll<io::Result<std::size_t>> PipeEnd::poll_read(Context& cx, std::span<std::byte> buf) {
    int fd = io_.fd();
    return corio::detail::byte_count(
        io_.poll_io(cx, Direction::Read, [&] { return ::read(fd, buf.data(), buf.size()); }, buf.size()));
}

Poll<io::Result<std::size_t>> PipeEnd::poll_write(Context& cx, std::span<const std::byte> buf) {
    int fd = io_.fd();
    return corio::detail::byte_count(
        io_.poll_io(cx, Direction::Write, [&] { return write_no_sigpipe(fd, buf.data(), buf.size()); }, buf.size()));
}

}  // namespace detail

// ---- Child ------------------------------------------------------------------------

Child& Child::operator=(Child&& other) noexcept {
    if (this != &other) {
        drop();
        stdin = std::move(other.stdin);
        stdout = std::move(other.stdout);
        stderr = std::move(other.stderr);
        pid_ = std::exchange(other.pid_, -1);
        pidfd_ = std::move(other.pidfd_);
        status_ = std::exchange(other.status_, std::nullopt);
        runtime_ = std::move(other.runtime_);
        kill_on_drop_ = other.kill_on_drop_;
    }
    return *this;
}

Child::~Child() { drop(); }

void Child::drop() noexcept {
    if (!pidfd_.is_open() || status_) return;
    if (kill_on_drop_) {
        auto killed = start_kill();  // an error here (EPERM?) leaves it running, as without kill_on_drop
        (void)killed;
    }
    auto reaped = reap_pidfd(pidfd_.fd());
    if (!reaped || reaped->has_value()) {
        pidfd_.close();
        return;
    }
    // Still running: a task on the runtime reaps it when it exits.
    try {
        if (runtime_) {
            runtime_->spawn(reap_in_background(std::move(pidfd_)));
            return;
        }
    } catch (const std::bad_alloc&) {
        // No memory for the reaper task: the child stays unreaped (closed below).
        pidfd_.close();
        return;
    }
    pidfd_.close();
}

std::optional<pid_t> Child::id() const noexcept {
    if (status_ || pid_ < 0) return std::nullopt;
    return pid_;
}

io::Result<std::optional<ExitStatus>> Child::reap_if_exited() {
    if (status_) return status_;
    if (!pidfd_.is_open()) return io::error(std::errc::no_child_process);
    auto r = reap_pidfd(pidfd_.fd());
    if (!r) return std::unexpected(r.error());
    if (!r->has_value()) return std::optional<ExitStatus>();
    status_ = ExitStatus::from_raw(**r);
    pidfd_.close();  // the process is gone: its descriptor serves nothing now
    return status_;
}

io::Result<std::optional<ExitStatus>> Child::try_wait() { return reap_if_exited(); }

Poll<io::Result<ExitStatus>> Child::poll_wait(Context& cx) {
    using Out = io::Result<ExitStatus>;
    if (status_) return Ready(Out(*status_));
    if (!corio::detail::poll_proceed(cx)) return Pending;
    for (;;) {
        auto* reg = pidfd_.registration();
        if (reg == nullptr) return Ready(Out(io::error(std::errc::no_child_process)));
        auto ready = reg->poll_ready(cx, Direction::Read);
        if (ready.is_pending()) return Pending;
        if (ready->ready & corio::detail::readiness::kShutdown)
            return Ready(Out(io::error(std::errc::bad_file_descriptor)));
        auto r = reap_if_exited();
        if (!r) return Ready(Out(std::unexpected(r.error())));
        if (r->has_value()) return Ready(Out(**r));
        reg->clear_readiness(*ready);  // not yet: wait for the next event
    }
}

io::Result<void> Child::start_kill() {
    if (status_ || !pidfd_.is_open()) return {};  // reaped: nothing to kill
    if (::syscall(SYS_pidfd_send_signal, pidfd_.fd(), SIGKILL, nullptr, 0) == 0) return {};
    if (errno == ESRCH) return {};  // exited already
    return io::last_os_error();
}

Task<io::Result<ExitStatus>> Child::kill() {
    auto killed = start_kill();
    if (!killed) co_return std::unexpected(killed.error());
    auto status = co_await wait();
    co_return status;
}

// ---- Command ----------------------------------------------------------------------

Command::Command(std::string program) : program_(std::move(program)) {}

Command& Command::arg(std::string_view arg) {
    args_.emplace_back(arg);
    return *this;
}

Command& Command::args(std::span<const std::string> args) {
    args_.insert(args_.end(), args.begin(), args.end());
    return *this;
}

Command& Command::args(std::initializer_list<std::string_view> args) {
    for (auto a : args) args_.emplace_back(a);
    return *this;
}

Command& Command::env(std::string_view key, std::string_view value) {
    env_[std::string(key)] = std::string(value);
    return *this;
}

Command& Command::env_remove(std::string_view key) {
    env_[std::string(key)] = std::nullopt;
    return *this;
}

Command& Command::env_clear() {
    env_clear_ = true;
    env_.clear();
    return *this;
}

Command& Command::current_dir(std::string path) {
    current_dir_ = std::move(path);
    return *this;
}

Command& Command::stdin(Stdio cfg) {
    stdin_ = cfg;
    return *this;
}

Command& Command::stdout(Stdio cfg) {
    stdout_ = cfg;
    return *this;
}

Command& Command::stderr(Stdio cfg) {
    stderr_ = cfg;
    return *this;
}

Command& Command::kill_on_drop(bool kill) {
    kill_on_drop_ = kill;
    return *this;
}

io::Result<Child> Command::spawn() const {
    (void)corio::detail::current_runtime_or_throw("corio::process::Command::spawn");
    if (program_.find('\0') != std::string::npos) return io::error(std::errc::invalid_argument);
    StdioPlan plans[3];
    auto close_all = [&] {
        for (auto& p : plans) close_plan(p);
    };
    const std::optional<Stdio>* cfgs[3] = {&stdin_, &stdout_, &stderr_};
    for (int i = 0; i < 3; ++i) {
        auto plan = plan_stdio(cfgs[i]->value_or(Stdio::inherit()), i);
        if (!plan) {
            close_all();
            return std::unexpected(plan.error());
        }
        plans[i] = *plan;
    }
    SpawnSetup setup;
    for (int i = 0; i < 3; ++i) {
        if (plans[i].child_fd >= 0) posix_spawn_file_actions_adddup2(&setup.actions, plans[i].child_fd, i);
    }
    if (current_dir_) posix_spawn_file_actions_addchdir_np(&setup.actions, current_dir_->c_str());
    std::vector<std::string> argv_strings;
    argv_strings.reserve(args_.size() + 1);
    argv_strings.push_back(program_);
    argv_strings.insert(argv_strings.end(), args_.begin(), args_.end());
    std::vector<std::string> env_strings = build_env(env_clear_, env_);
    auto argv = pointers_to(argv_strings);
    auto envp = pointers_to(env_strings);
    pid_t pid = -1;
    bool search = program_.find('/') == std::string::npos;
    int rc = search ? posix_spawnp(&pid, program_.c_str(), &setup.actions, &setup.attr, argv.data(), envp.data())
                    : posix_spawn(&pid, program_.c_str(), &setup.actions, &setup.attr, argv.data(), envp.data());
    for (auto& p : plans) {
        if (p.child_fd >= 0) ::close(std::exchange(p.child_fd, -1));
    }
    if (rc != 0) {
        close_all();
        return std::unexpected(os_result(rc).error());
    }
    int parent_fds[3] = {plans[0].parent_fd, plans[1].parent_fd, plans[2].parent_fd};
    return adopt_child(pid, parent_fds);
}

io::Result<Child> Command::adopt_child(pid_t pid, const int (&parent_fds)[3]) const {
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
        auto err = io::last_os_error();
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        for (int i = 0; i < 3; ++i) {
            if (parent_fds[i] >= 0) ::close(parent_fds[i]);
        }
        return err;
    }
    auto watched = PollEvented::adopt(pidfd);
    if (!watched) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        for (int i = 0; i < 3; ++i) {
            if (parent_fds[i] >= 0) ::close(parent_fds[i]);
        }
        return std::unexpected(watched.error());
    }
    Child child(pid, std::move(*watched), kill_on_drop_);
    // From here the Child owns the process: an error drops it (and reaps it).
    for (int i = 0; i < 3; ++i) {
        if (parent_fds[i] < 0) continue;
        auto pipe = detail::PipeEnd::adopt(parent_fds[i]);
        for (int j = i + 1; !pipe && j < 3; ++j) {
            if (parent_fds[j] >= 0) ::close(parent_fds[j]);
        }
        if (!pipe) return std::unexpected(pipe.error());
        if (i == 0) child.stdin.emplace(ChildStdin(std::move(*pipe)));
        if (i == 1) child.stdout.emplace(ChildOutput(std::move(*pipe)));
        if (i == 2) child.stderr.emplace(ChildOutput(std::move(*pipe)));
    }
    return child;
}

namespace {

Task<io::Result<void>> drain(std::optional<ChildOutput>& stream, std::string& out) {
    if (!stream) co_return io::Result<void>();
    auto n = co_await io::read_to_end(*stream, out);
    if (!n) co_return std::unexpected(n.error());
    co_return io::Result<void>();
}

}  // namespace

Task<io::Result<Output>> Command::run_for_output(Command cmd) {
    if (!cmd.stdin_) cmd.stdin_ = Stdio::null();
    if (!cmd.stdout_) cmd.stdout_ = Stdio::piped();
    if (!cmd.stderr_) cmd.stderr_ = Stdio::piped();
    auto child = cmd.spawn();
    if (!child) co_return std::unexpected(child.error());
    Output out;
    auto drained = co_await corio::join(drain(child->stdout, out.stdout_bytes), drain(child->stderr, out.stderr_bytes));
    auto status = co_await child->wait();
    if (!status) co_return std::unexpected(status.error());
    if (!std::get<0>(drained)) co_return std::unexpected(std::get<0>(drained).error());
    if (!std::get<1>(drained)) co_return std::unexpected(std::get<1>(drained).error());
    out.status = *status;
    co_return out;
}

Task<io::Result<ExitStatus>> Command::run_for_status(Command cmd) {
    auto child = cmd.spawn();
    if (!child) co_return std::unexpected(child.error());
    child->stdin.reset();
    child->stdout.reset();
    child->stderr.reset();
    auto status = co_await child->wait();
    co_return status;
}

Task<io::Result<Output>> Command::output() const { return run_for_output(*this); }

Task<io::Result<ExitStatus>> Command::status() const { return run_for_status(*this); }

}  // namespace corio::process
