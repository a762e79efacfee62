// Compiled (never run) by check.cmake with -Werror=unused-result: every line
// marked `// DROP` discards a corio future, and the compiler must reject
// each of those lines, and no other. So no future type loses its
// [[nodiscard]] without this test failing.
#include <chrono>
#include <corio/corio.hpp>
#include <corio/task/task_tracker.hpp>
#include <cstddef>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
namespace io = corio::io;
namespace net = corio::net;
namespace task = corio::task;
namespace time_ = corio::time;

corio::Task<int> answer() { co_return 42; }

struct HandWritten {
    using Output = std::expected<int, int>;
    corio::Poll<Output> poll(corio::Context&) { return corio::Ready(Output(1)); }
};

void drop_everything(net::TcpStream& stream, net::TcpListener& listener, net::UdpSocket& udp,
                     net::UnixListener& unix_listener, std::span<std::byte> buf, std::span<const std::byte> bytes,
                     std::string& line) {
    answer();                                            // DROP Task
    time_::sleep(1ms);                                   // DROP Sleep
    time_::sleep_until(time_::Instant::now());           // DROP Sleep (until)
    time_::timeout(1s, answer());                        // DROP Timeout
    time_::timeout_at(time_::Instant::now(), answer());  // DROP Timeout (at)
    auto ticks = time_::interval(1s);
    ticks.tick();            // DROP Interval::tick
    task::yield_now();       // DROP YieldNow
    task::consume_budget();  // DROP ConsumeBudget

    corio::join(answer(), answer());                                   // DROP join
    corio::try_join(HandWritten{});                                    // DROP try_join (any future)
    corio::select(answer(), answer());                                 // DROP select
    corio::select_biased(answer(), answer());                          // DROP select_biased
    corio::select_with(corio::on(answer(), [](int v) { return v; }));  // DROP select_with

    corio::CancellationToken token;
    token.cancelled();                    // DROP CancellationToken::cancelled
    token.run_until_cancelled(answer());  // DROP run_until_cancelled

    auto [tx, rx] = corio::sync::mpsc::channel<int>(4);
    tx.send(1);              // DROP mpsc send
    tx.reserve();            // DROP mpsc reserve
    tx.send_timeout(1, 1s);  // DROP mpsc send_timeout
    tx.closed();             // DROP mpsc Sender::closed
    rx.recv();               // DROP mpsc recv
    auto [utx, urx] = corio::sync::mpsc::unbounded_channel<int>();
    urx.recv();  // DROP unbounded recv
    auto [otx, orx] = corio::sync::oneshot::channel<int>();
    otx.closed();  // DROP oneshot closed
    auto [btx, brx] = corio::sync::broadcast::channel<int>(4);
    brx.recv();  // DROP broadcast recv
    auto [wtx, wrx] = corio::sync::watch::channel<int>(0);
    wrx.changed();  // DROP watch changed
    wtx.closed();   // DROP watch closed

    corio::sync::Mutex<int> mutex(0);
    mutex.lock();  // DROP Mutex::lock
    corio::sync::RwLock<int> rwlock(0);
    rwlock.read();   // DROP RwLock::read
    rwlock.write();  // DROP RwLock::write
    corio::sync::Semaphore sem(1);
    sem.acquire();                                                                       // DROP Semaphore::acquire
    corio::sync::Semaphore::acquire_owned(std::make_shared<corio::sync::Semaphore>(1));  // DROP acquire_owned
    corio::sync::Notify notify;
    notify.notified();  // DROP Notify::notified
    corio::sync::Barrier barrier(2);
    barrier.wait();  // DROP Barrier::wait
    corio::sync::OnceCell<int> cell;
    cell.get_or_init([] { return answer(); });  // DROP OnceCell::get_or_init

    task::JoinSet<int> set;
    set.join_next();  // DROP JoinSet::join_next
    set.shutdown();   // DROP JoinSet::shutdown
    task::TaskTracker tracker;
    tracker.wait();                  // DROP TaskTracker::wait
    tracker.track_future(answer());  // DROP TaskTracker::track_future
    task::LocalSet local;
    local.run_until(answer());  // DROP LocalSet::run_until

    net::TcpStream::connect("127.0.0.1:1");  // DROP TcpStream::connect
    listener.accept();                       // DROP TcpListener::accept
    stream.read(buf);                        // DROP TcpStream::read
    stream.write(bytes);                     // DROP TcpStream::write
    udp.send_to(bytes, "127.0.0.1:1");       // DROP UdpSocket::send_to
    udp.recv_from(buf);                      // DROP UdpSocket::recv_from
    unix_listener.accept();                  // DROP UnixListener::accept
    stream.readable();                       // DROP TcpStream::readable
    stream.writable();                       // DROP TcpStream::writable
    stream.ready(io::Interest::Readable);    // DROP TcpStream::ready
    udp.readable();                          // DROP UdpSocket::readable
    net::lookup_host("localhost:80");        // DROP lookup_host
    io::read_exact(stream, buf);             // DROP io::read_exact
    io::write_all(stream, "text");           // DROP io::write_all
    io::shutdown(stream);                    // DROP io::shutdown
    io::BufReader<net::TcpStream> reader{net::TcpStream(std::move(stream))};
    reader.read_line(line);   // DROP BufReader::read_line
    corio::signal::ctrl_c();  // DROP signal::ctrl_c
}

// Stream consumers and sink operations are futures too.
void drop_stream_and_sink_futures() {
    auto numbers = corio::stream::iter(std::vector<int>{1, 2});
    corio::stream::next(numbers);                                         // DROP stream::next
    corio::stream::collect<std::vector<int>>(numbers);                    // DROP stream::collect
    corio::stream::fold(numbers, 0, [](int a, int b) { return a + b; });  // DROP stream::fold
    corio::stream::for_each(numbers, [](int) {});                         // DROP stream::for_each
    corio::stream::count(numbers);                                        // DROP stream::count
    auto [a, b] = io::duplex(64);
    corio::codec::Framed framed(std::move(a), corio::codec::LinesCodec());
    corio::sink::send(framed, std::string("x"));                           // DROP sink::send
    corio::sink::send_all(framed, corio::stream::once(std::string("y")));  // DROP sink::send_all
    corio::sink::flush(framed);                                            // DROP sink::flush
    corio::sink::close(framed);                                            // DROP sink::close
}

// The one future that may be dropped: a JoinHandle detaches its task.
void keep_silent_on_spawn() {
    corio::spawn(answer());
    task::TaskTracker tracker;
    tracker.spawn(answer());
    task::spawn_blocking([] { return 1; });
    corio::spawn(answer()).abort_handle();
}
