// tcp_connect: the first program of "Async in depth", in corio.
//
// The Rust original:
//
//     async fn my_async_fn() {
//         println!("hello from async");
//         let _socket = TcpStream::connect("127.0.0.1:3000").await.unwrap();
//         println!("async TCP operation complete");
//     }
//
//     #[tokio::main]
//     async fn main() {
//         let what_is_this = my_async_fn();
//         // Nothing has been printed yet.
//         what_is_this.await;
//         // Text has been printed and socket has been
//         // established and closed.
//     }
//
// So that it runs anywhere, this program first opens a listener of its own on
// 127.0.0.1 with a port the system picks, and connects to that.
//
// Run: ./tcp_connect
#include <corio/corio.hpp>
#include <corio/net.hpp>
#include <cstdio>
#include <expected>

namespace {

namespace io = corio::io;
namespace net = corio::net;

/// A coroutine: calling it creates the Task and runs none of its body.
/// I/O reports errors as values (io::Result), so where Rust unwraps, this
/// hands the error to the caller.
corio::Task<io::Result<void>> my_async_fn(net::SocketAddr addr) {
    std::puts("hello from async");
    io::Result<net::TcpStream> socket = co_await net::TcpStream::connect(addr);
    if (!socket) co_return std::unexpected(socket.error());
    std::puts("async TCP operation complete");
    co_return io::Result<void>();
    // `socket` is destroyed here, which closes the connection.
}

corio::Task<int> async_main() {
    io::Result<net::TcpListener> listener = net::TcpListener::bind("127.0.0.1:0");
    if (!listener) {
        std::printf("error: cannot listen: %s\n", listener.error().message().c_str());
        co_return 1;
    }
    net::SocketAddr addr = *listener->local_addr();

    corio::Task<io::Result<void>> what_is_this = my_async_fn(addr);
    // Nothing has been printed by my_async_fn yet: a Task is lazy.
    std::puts("my_async_fn() returned a Task; its body has not run yet");

    io::Result<void> result = co_await what_is_this;
    // Text has been printed and the socket has been established and closed.
    if (!result) {
        std::printf("error: connect to %s failed: %s\n", addr.to_string().c_str(), result.error().message().c_str());
        co_return 1;
    }

    // The kernel completed the handshake on the listener's behalf; accept
    // takes that connection off its queue.
    auto accepted = co_await listener->accept();
    if (!accepted) {
        std::printf("error: accept failed: %s\n", accepted.error().message().c_str());
        co_return 1;
    }
    std::printf("the listener accepted the connection from %s\n", accepted->second.to_string().c_str());
    co_return 0;
}

}  // namespace

// corio::run is the `#[tokio::main]` of corio: it builds a runtime, runs the
// task to completion on it and shuts the runtime down.
int main() { return corio::run(async_main()); }
