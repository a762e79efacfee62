// Setting a signal's disposition for one test: SignalDisposition installs a
// handler (SIG_DFL, SIG_IGN or a function) and puts the one it replaced back
// when it goes out of scope, so a test that must not, or must, die of
// SIGPIPE leaves the process as it found it.
#pragma once

#include <signal.h>

namespace corio::test {

/// Sets a signal's disposition for its lifetime, restoring it after.
class SignalDisposition {
public:
    SignalDisposition(int sig, void (*handler)(int)) : sig_(sig) {
        struct sigaction act{};
        act.sa_handler = handler;
        ::sigemptyset(&act.sa_mask);
        ::sigaction(sig_, &act, &saved_);
    }
    SignalDisposition(const SignalDisposition&) = delete;
    SignalDisposition& operator=(const SignalDisposition&) = delete;
    ~SignalDisposition() { ::sigaction(sig_, &saved_, nullptr); }

private:
    int sig_;
    struct sigaction saved_{};
};

}  // namespace corio::test
