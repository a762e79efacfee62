// Choosing the I/O backend: Builder::io_backend, CORIO_IO_BACKEND, and the
// silent fall-back to epoll where io_uring is forbidden (a seccomp filter, as
// container runtimes install).
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdlib>
#include <optional>
#include <string>
#include <system_error>

#include "corio/corio.hpp"

namespace {

using namespace corio;

/// Sets CORIO_IO_BACKEND for the scope (or unsets it), restoring it after.
class ScopedBackendEnv {
public:
    explicit ScopedBackendEnv(const char* value) {
        if (const char* old = std::getenv("CORIO_IO_BACKEND")) saved_ = old;
        if (value != nullptr) {
            ::setenv("CORIO_IO_BACKEND", value, 1);
        } else {
            ::unsetenv("CORIO_IO_BACKEND");
        }
    }
    ~ScopedBackendEnv() {
        if (saved_) {
            ::setenv("CORIO_IO_BACKEND", saved_->c_str(), 1);
        } else {
            ::unsetenv("CORIO_IO_BACKEND");
        }
    }
    ScopedBackendEnv(const ScopedBackendEnv&) = delete;
    ScopedBackendEnv& operator=(const ScopedBackendEnv&) = delete;

private:
    std::optional<std::string> saved_;
};

bool io_uring_available() {
    try {
        auto rt = Builder::new_current_thread().io_backend(IoBackend::IoUring).build();
        return true;
    } catch (const std::system_error&) {
        return false;
    }
}

/// One TCP round trip on `rt`: the backend serves real sockets.
bool echo_once(Runtime& rt) {
    return rt.block_on([]() -> Task<bool> {
        auto listener = net::TcpListener::bind("127.0.0.1:0");
        if (!listener) co_return false;
        auto addr = listener->local_addr();
        if (!addr) co_return false;
        JoinHandle<io::Result<net::TcpStream>> connecting = spawn(net::TcpStream::connect(*addr));
        auto accepted = co_await listener->accept();
        auto client = co_await connecting;
        if (!accepted || !client) co_return false;
        auto written = co_await client->write_all(std::string_view("ping"));
        if (!written) co_return false;
        std::array<std::byte, 4> buf{};
        auto read = co_await accepted->first.read_exact(buf);
        co_return read.has_value() && std::string(reinterpret_cast<const char*>(buf.data()), 4) == "ping";
    }());
}

TEST(IoBackend, AnExplicitEpollIsWhatTheRuntimeUses) {
    ScopedBackendEnv env("io_uring");  // the environment overrides Auto only
    auto rt = Builder::new_current_thread().io_backend(IoBackend::Epoll).build();
    EXPECT_EQ(rt.handle().io_backend(), IoBackend::Epoll);
    EXPECT_TRUE(echo_once(rt));
}

TEST(IoBackend, AnExplicitIoUringIsWhatTheRuntimeUsesWhereTheKernelHasIt) {
    if (!io_uring_available()) GTEST_SKIP() << "no io_uring here";
    ScopedBackendEnv env("epoll");
    auto rt = Builder::new_multi_thread().worker_threads(2).io_backend(IoBackend::IoUring).build();
    EXPECT_EQ(rt.handle().io_backend(), IoBackend::IoUring);
    EXPECT_TRUE(echo_once(rt));
}

TEST(IoBackend, TheEnvironmentChoosesForAuto) {
    {
        ScopedBackendEnv env("epoll");
        auto rt = Builder::new_current_thread().build();
        EXPECT_EQ(rt.handle().io_backend(), IoBackend::Epoll);
    }
    if (io_uring_available()) {
        ScopedBackendEnv env("io_uring");
        auto rt = Builder::new_current_thread().build();
        EXPECT_EQ(rt.handle().io_backend(), IoBackend::IoUring);
    }
}

TEST(IoBackend, AutoNeverReportsAuto) {
    ScopedBackendEnv env(nullptr);
    auto rt = Builder::new_current_thread().build();
    EXPECT_NE(rt.handle().io_backend(), IoBackend::Auto);
    EXPECT_EQ(rt.handle().io_backend(), io_uring_available() ? IoBackend::IoUring : IoBackend::Epoll);
}

TEST(IoBackend, NamesPrintAsUsersSpellThem) {
    EXPECT_EQ(to_string(IoBackend::Auto), "auto");
    EXPECT_EQ(to_string(IoBackend::Epoll), "epoll");
    EXPECT_EQ(to_string(IoBackend::IoUring), "io_uring");
}

/// Makes io_uring_setup fail with EPERM in this process, as a container's
/// seccomp profile does.
bool forbid_io_uring() {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
    return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

/// In a child process (the filter cannot be removed): Auto falls back to
/// epoll silently and works; an explicit io_uring throws std::system_error.
int child_under_seccomp() {
    if (!forbid_io_uring()) return 2;
    ScopedBackendEnv env(nullptr);
    auto rt = Builder::new_current_thread().build();
    if (rt.handle().io_backend() != IoBackend::Epoll) return 3;
    if (!echo_once(rt)) return 4;
    {
        ScopedBackendEnv uring("io_uring");  // even asked for by the environment: Auto still falls back
        auto again = Builder::new_current_thread().build();
        if (again.handle().io_backend() != IoBackend::Epoll) return 5;
    }
    try {
        auto explicit_rt = Builder::new_current_thread().io_backend(IoBackend::IoUring).build();
        return 6;
    } catch (const std::system_error& e) {
        if (e.code() != std::errc::operation_not_permitted) return 7;
    }
    return 0;
}

TEST(IoBackend, AutoFallsBackToEpollSilentlyWhereSeccompForbidsIoUring) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ::_exit(child_under_seccomp());
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "the child died";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "2: no filter, 3: not epoll, 4: echo failed, 5: env beat the fallback, "
                                         "6: explicit io_uring built, 7: wrong error";
}

}  // namespace
