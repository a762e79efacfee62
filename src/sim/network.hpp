// The simulated network: sockets that are I/O registrations (so PollEvented,
// the readiness API and its wait lists work unchanged) and a queue of
// timed events that carry connection handshakes, TCP segments and UDP
// datagrams between hosts.
//
// Invariants:
// - One direction of a TCP connection is a Pipe: a FIFO whose head alone is
//   scheduled. A segment is delivered only after every segment before it,
//   so order holds through partitions and holds (a blocked head stalls the
//   pipe; repair reschedules the head with a fresh latency).
// - Events fire in (virtual instant, sequence number) order; sequence
//   numbers are given out in the order events are created, which the seed
//   alone decides.
// - A socket registration is freed by the I/O driver once closed; what
//   outlives it (the connection its peer still reads) is shared, and holds
//   only a pointer that closing clears.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "corio/detail/poll_evented.hpp"
#include "corio/net/socket_addr.hpp"
#include "corio/time.hpp"
#include "runtime/io/backend.hpp"

namespace corio::sim::detail {

class World;
class Network;
using HostId = std::uint32_t;

/// Every simulated socket: a registration owned by one host.
class SimSocket : public corio::detail::Registration {
public:
    enum class Kind : std::uint8_t { Listener, Stream, Datagram };

    SimSocket(Kind kind, int fd, Network& net, HostId host, const net::SocketAddr& local);
    SimSocket* sim_socket() noexcept override { return this; }

    Kind kind() const noexcept { return kind_; }
    HostId host() const noexcept { return host_; }
    const net::SocketAddr& local_addr() const noexcept { return local_; }
    std::uint64_t seq() const noexcept { return seq_; }

    /// Its owner closed it (the I/O driver frees it later).
    virtual void on_close() noexcept = 0;
    /// Its host crashed.
    virtual void on_crash() noexcept = 0;

protected:
    /// Makes the readiness bits (below kShutdown) equal `want`, waking the
    /// waiters of bits that appear.
    void show_readiness(std::uint32_t want);

    Network& net_;
    Kind kind_;
    HostId host_;
    net::SocketAddr local_;
    std::uint64_t seq_;
};

struct Connection;

/// A TCP stream end.
class SimStream final : public SimSocket, public corio::detail::StreamOps {
public:
    SimStream(int fd, Network& net, std::shared_ptr<Connection> conn, int side);

    corio::detail::StreamOps* stream_ops() noexcept override { return this; }
    std::optional<io::Result<std::size_t>> read(std::span<std::byte> buf, bool peek) override;
    std::optional<io::Result<std::size_t>> write(std::span<const std::byte> buf) override;
    Poll<io::Result<void>> poll_flush(Context& cx) override;
    io::Result<void> shutdown(int how) override;

    void on_close() noexcept override;
    void on_crash() noexcept override;

    /// Recomputes readable/writable from the connection's state.
    void refresh();
    /// The connect's outcome once it is writable: 0 or the error (SO_ERROR).
    std::error_code take_error() noexcept;
    const net::SocketAddr& peer_addr() const noexcept;

private:
    std::shared_ptr<Connection> conn_;
    int side_;
};

/// A TCP listener: connections whose handshake reached it, waiting for accept.
class SimListener final : public SimSocket {
public:
    /// `bound_ip`: the address it was bound to (0: any of the host's).
    SimListener(int fd, Network& net, HostId host, const net::SocketAddr& local, std::uint32_t bound_ip);
    /// Whether a connection to `target_ip` from host `from` reaches it.
    bool reachable(std::uint32_t target_ip, HostId from) const noexcept;

    /// The next connection as an adoptable descriptor and the peer's
    /// address; nullopt when none waits (readiness cleared).
    std::optional<std::pair<int, net::SocketAddr>> accept();
    void push(std::shared_ptr<Connection> conn);

    void on_close() noexcept override;
    void on_crash() noexcept override;

private:
    void unbind() noexcept;
    std::deque<std::shared_ptr<Connection>> backlog_;
    std::uint32_t bound_ip_;
    bool bound_ = true;
};

/// A UDP socket.
class SimDatagram final : public SimSocket {
public:
    struct Datagram {
        net::SocketAddr from;
        std::string bytes;
    };
    SimDatagram(int fd, Network& net, HostId host, const net::SocketAddr& local, std::uint32_t bound_ip);
    /// Whether a datagram to `target_ip` from host `from` reaches it.
    bool reachable(std::uint32_t target_ip, HostId from) const noexcept;

    /// Sends one datagram to `to` (the peer when connected and `to` is null).
    io::Result<std::size_t> send_to(std::span<const std::byte> buf, const net::SocketAddr* to);
    /// The next datagram (copied, truncated to `buf`), with its sender; with
    /// `peek` it stays queued. nullopt when none waits (readiness cleared).
    std::optional<std::pair<std::size_t, Datagram*>> recv(std::span<std::byte> buf, bool peek, bool& truncated);
    io::Result<void> connect(const net::SocketAddr& peer);
    const std::optional<net::SocketAddr>& peer() const noexcept { return peer_; }
    void deliver(Datagram d);

    void on_close() noexcept override;
    void on_crash() noexcept override;

private:
    void unbind() noexcept;
    std::deque<Datagram> inbox_;
    std::optional<net::SocketAddr> peer_;
    Datagram last_;  // what recv returned last (its sender outlives the call)
    std::uint32_t bound_ip_;
    bool bound_ = true;
};

/// One side of a TCP connection.
struct ConnectionEnd {
    HostId host = 0;
    net::SocketAddr addr;
    SimStream* socket = nullptr;  // null once closed (or not yet accepted)
    std::string inbox;            // received, unread
    std::size_t read_pos = 0;
    bool eof = false;  // the peer's FIN arrived
    bool read_shut = false;
    bool write_shut = false;
    bool closed = false;
    bool established = false;  // the accepting side at accept, the connecting side when the answer arrives
    std::error_code error;     // reset or refused: every operation reports it

    std::size_t unread() const noexcept { return inbox.size() - read_pos; }
};

/// One TCP segment (or the handshake's answer) on its way. A data
/// segment's bytes wait in its pipe's `data`, in order.
struct Segment {
    enum Kind : std::uint8_t { Data, Fin, Accepted };
    Kind kind;
    std::size_t length;  // data bytes
    time::Instant at;
};

/// One direction of a connection: the segments toward one end, in order,
/// and their bytes back to back (one buffer per pipe, not one per segment).
struct Pipe {
    std::deque<Segment> queue;
    std::string data;           // the bytes of the queued data segments, from data_head on
    std::size_t data_head = 0;  // where the first queued segment's bytes start
    time::Instant last_at;      // the latest arrival given out: later ones never overtake it
    bool scheduled = false;

    /// Data bytes queued.
    std::size_t bytes() const noexcept { return data.size() - data_head; }
    /// Takes the first `n` queued bytes.
    std::string_view take(std::size_t n) noexcept {
        std::string_view out(data.data() + data_head, n);
        data_head += n;
        return out;
    }
    /// Forgets the bytes taken (call once what take() returned was used).
    void compact() {
        if (data_head == data.size()) {
            data.clear();
            data_head = 0;
        } else if (data_head > 64 * 1024 && data_head * 2 > data.size()) {
            data.erase(0, data_head);
            data_head = 0;
        }
    }
    void clear() noexcept {
        queue.clear();
        data.clear();
        data_head = 0;
    }
};

struct Connection {
    std::uint64_t id = 0;
    ConnectionEnd ends[2];  // 0: the connecting side, 1: the accepting side
    Pipe toward[2];         // toward[i] carries bytes to ends[i]
    bool dead = false;      // reset: nothing more is delivered
    /// Room the sender `side` has: the window minus what its peer has not read yet.
    std::size_t room(int side) const noexcept;
    /// Resets both ends with `error` and refreshes their sockets.
    void reset(std::error_code error);
};

/// The network: hosts' ports, connections in flight, and the event queue.
class Network {
public:
    explicit Network(World& world);
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;
    ~Network();

    void set_driver(corio::detail::IoDriver* driver) noexcept { driver_ = driver; }
    corio::detail::IoDriver* driver() const noexcept { return driver_; }

    // Sockets, for the calling task's host. Each returns a descriptor that
    // PollEvented::adopt turns into the registration made here.
    io::Result<int> listen(const net::SocketAddr& addr);
    io::Result<int> connect(const net::SocketAddr& addr);
    io::Result<int> bind_udp(const net::SocketAddr& addr);
    /// The registration made for `fd` (the backend's add); null if none.
    corio::detail::Registration* adopt(int fd) noexcept;

    /// The address of host `name`, port `port`; nullopt for an unknown name.
    std::optional<net::SocketAddr> resolve(std::string_view name, std::uint16_t port) const;

    // Events.
    std::optional<time::Instant> next_event() const;
    /// Fires every event due at or before `now`; true if any.
    bool fire_due(time::Instant now);
    /// Schedules `fire` at `at` (never before now).
    void schedule(time::Instant at, std::function<void()> fire);
    /// now + a latency drawn from the builder's range.
    time::Instant arrival();

    // Faults.
    enum class Block : std::uint8_t { None, Stall, Drop };
    void set_partition(HostId a, HostId b, bool on);
    void set_hold(HostId a, HostId b, bool on);
    void crash(HostId host);
    /// How a message from `from` to `to` fares now (TCP stalls under a
    /// partition, UDP is dropped).
    Block block(HostId from, HostId to, bool datagram) const;
    /// Keeps `retry` until the pair is unblocked, then runs it.
    void stall(HostId from, HostId to, std::function<void()> retry);

    // For the sockets.
    World& world() noexcept { return world_; }
    std::uint64_t next_socket_seq() noexcept { return ++socket_seq_; }
    void forget(SimSocket& s) noexcept;
    /// Makes the stream socket of `conn`'s end `side` on that end's host; its descriptor.
    int open_stream(std::shared_ptr<Connection> conn, int side);
    void unbind_listener(HostId host, std::uint16_t port) noexcept;
    void unbind_datagram(HostId host, std::uint16_t port) noexcept;
    /// Sends a segment toward `conn->ends[to]`, after everything sent that way before.
    void send_segment(const std::shared_ptr<Connection>& conn, int to, Segment::Kind kind, std::string_view bytes = {});
    /// Schedules the head of the pipe toward `conn->ends[to]`.
    void schedule_pipe(const std::shared_ptr<Connection>& conn, int to);
    /// Sends a datagram from `from` (of host `host`) to `to`.
    void send_datagram(HostId host, const net::SocketAddr& from, const net::SocketAddr& to, std::string bytes);

private:
    // What fires: the head of a connection's pipe (the common case, no
    // allocation), or a closure (handshakes, datagrams, retries).
    struct Event {
        time::Instant at;
        std::uint64_t seq;
        std::shared_ptr<Connection> conn;
        int to = 0;
        std::function<void()> fire;
    };
    struct Later {
        bool operator()(const Event& a, const Event& b) const noexcept {
            return a.at != b.at ? a.at > b.at : a.seq > b.seq;
        }
    };
    struct PairState {
        bool partitioned = false;
        bool held = false;
        std::vector<std::function<void()>> stalled;
    };
    static std::pair<HostId, HostId> key(HostId a, HostId b) noexcept {
        return a < b ? std::pair{a, b} : std::pair{b, a};
    }
    void unblocked(HostId a, HostId b);
    io::Result<net::SocketAddr> local_for(HostId host, const net::SocketAddr& requested, bool udp);
    struct InFlightDatagram;
    void arrive_datagram(const std::shared_ptr<InFlightDatagram>& d);
    void deliver_pipe(const std::shared_ptr<Connection>& conn, int to);
    void arrive_syn(const std::shared_ptr<Connection>& conn, std::uint32_t from_generation);

    World& world_;
    corio::detail::IoDriver* driver_ = nullptr;
    std::priority_queue<Event, std::vector<Event>, Later> events_;
    std::uint64_t event_seq_ = 0;
    std::uint64_t socket_seq_ = 0;
    std::uint64_t connection_seq_ = 0;
    int next_fd_ = 1 << 28;  // far above real descriptors: a stray system call on one fails
    int add_socket(std::unique_ptr<SimSocket> s);
    std::unordered_map<int, SimSocket*> unadopted_;  // made, not yet registered (looked up, never iterated)
    std::map<std::pair<HostId, HostId>, PairState> pairs_;
};

/// The network of the simulation running on this thread; null outside one.
Network* current_network() noexcept;

/// The simulated socket behind `io`; null when `io` is a real descriptor.
inline SimSocket* sim_socket(const corio::detail::PollEvented& io) noexcept {
    if (current_network() == nullptr || io.registration() == nullptr) return nullptr;
    return static_cast<corio::detail::Registration*>(io.registration())->sim_socket();
}

}  // namespace corio::sim::detail
