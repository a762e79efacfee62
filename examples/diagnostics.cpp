// diagnostics: what every task waits for, and which task holds a worker.
//
// A small server-shaped program: a few named "connection" tasks wait on a
// channel, a "ticker" sleeps, and one "report" task makes the classic mistake
// of calling a blocking function inside async code. The stall detector
// reports it while it is still stuck, with the worker thread's backtrace;
// then the program prints a dump of every task with its await chain.
//
// Run: ./diagnostics
// (Or register Builder::dump_on_signal(SIGUSR1) in your own program and
// `kill -USR1 <pid>` it whenever you want a dump.)
#include <chrono>
#include <corio/corio.hpp>
#include <cstdio>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;

corio::Task<void> read_request(corio::sync::mpsc::Receiver<std::string>& inbox) {
    auto message = co_await inbox.recv();  // the connections wait here
    (void)message;
}

corio::Task<void> connection(corio::sync::mpsc::Receiver<std::string> inbox) {
    for (;;) co_await read_request(inbox);
}

corio::Task<void> ticker() {
    for (;;) co_await corio::time::sleep(10s);
}

corio::Task<void> report() {
    // Wrong: a blocking call inside a task holds its worker for 300 ms.
    std::this_thread::sleep_for(300ms);
    co_return;
}

corio::Task<void> main_task() {
    std::vector<corio::sync::mpsc::Sender<std::string>> senders;
    for (int i = 0; i < 3; ++i) {
        auto [tx, rx] = corio::sync::mpsc::channel<std::string>(16);
        senders.push_back(std::move(tx));
        corio::task::Builder().name("conn 10.0.0." + std::to_string(i + 1) + ":5123").spawn(connection(std::move(rx)));
    }
    corio::task::Builder().name("ticker").spawn(ticker());
    co_await corio::task::Builder().name("report").spawn(report());

    std::printf("%s", corio::Handle::current().dump().to_string().c_str());
    std::printf("diagnostics: done\n");
}

}  // namespace

int main() {
    // The default stall handler writes to stderr; this one prints to stdout
    // so the example's output reads in order.
    auto rt = corio::Builder::new_multi_thread()
                  .worker_threads(2)
                  .stall_threshold(100ms)
                  .on_stall([](const corio::diag::StallReport& r) {
                      std::printf("%s", r.to_string().c_str());
                      std::fflush(stdout);
                  })
                  .build();
    rt.block_on(main_task());
}
