#include "sim/network.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "runtime/io/io_driver.hpp"
#include "sim/world.hpp"

namespace corio::sim::detail {
namespace {

namespace rd = corio::detail::readiness;

constexpr std::size_t kWindow = 256 * 1024;  // bytes a sender may have unread at its peer
constexpr std::uint32_t kLoopback = 0x7f000001;

std::uint32_t ipv4_of(const net::SocketAddr& a) noexcept {
    if (!a.is_ipv4()) return 0;
    return ntohl(reinterpret_cast<const sockaddr_in*>(a.as_sockaddr())->sin_addr.s_addr);
}

net::SocketAddr make_addr(std::uint32_t ip, std::uint16_t port) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(ip);
    return *net::SocketAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
}

std::error_code errc(std::errc e) { return std::make_error_code(e); }

// A socket bound to one address is reached only through it; one bound to
// loopback only from its own host.
bool reaches(std::uint32_t bound_ip, std::uint32_t target_ip, bool same_host) noexcept {
    if (bound_ip == 0) return true;
    if (bound_ip == kLoopback) return same_host && target_ip == kLoopback;
    return target_ip == bound_ip;
}

}  // namespace

// ---- SimSocket -------------------------------------------------------------------

SimSocket::SimSocket(Kind kind, int fd, Network& net, HostId host, const net::SocketAddr& local)
    : Registration(fd, net.driver()), net_(net), kind_(kind), host_(host), local_(local), seq_(net.next_socket_seq()) {}

void SimSocket::show_readiness(std::uint32_t want) {
    constexpr std::uint32_t kAll = rd::kReadable | rd::kWritable | rd::kReadClosed | rd::kWriteClosed | rd::kError;
    std::uint32_t have = current(kAll).ready;
    if (std::uint32_t gone = have & ~want & kAll) remove_bits(gone);
    if (std::uint32_t added = want & ~have & kAll) set_readiness(added);
}

// ---- Connection ------------------------------------------------------------------

std::size_t Connection::room(int side) const noexcept {
    int peer = 1 - side;
    std::size_t used = toward[peer].bytes() + ends[peer].unread();
    return used >= kWindow ? 0 : kWindow - used;
}

void Connection::reset(std::error_code error) {
    if (dead) return;
    dead = true;
    for (int i = 0; i < 2; ++i) {
        toward[i].clear();
        if (!ends[i].error) ends[i].error = error;
    }
    for (ConnectionEnd& e : ends) {
        if (e.socket != nullptr) e.socket->refresh();
    }
}

// ---- SimStream -------------------------------------------------------------------

SimStream::SimStream(int fd, Network& net, std::shared_ptr<Connection> conn, int side)
    : SimSocket(Kind::Stream, fd, net, conn->ends[side].host, conn->ends[side].addr),
      conn_(std::move(conn)),
      side_(side) {
    conn_->ends[side_].socket = this;
}

void SimStream::refresh() {
    const ConnectionEnd& me = conn_->ends[side_];
    std::uint32_t want = 0;
    if (me.error) {
        want = rd::kReadable | rd::kWritable | rd::kError | rd::kReadClosed | rd::kWriteClosed;
    } else if (me.established) {
        if (me.unread() > 0 || me.eof || me.read_shut) want |= rd::kReadable;
        if (me.eof) want |= rd::kReadClosed;
        if (me.write_shut || conn_->room(side_) > 0) want |= rd::kWritable;
    }
    show_readiness(want);
}

std::optional<io::Result<std::size_t>> SimStream::read(std::span<std::byte> buf, bool peek) {
    ConnectionEnd& me = conn_->ends[side_];
    std::optional<io::Result<std::size_t>> out;
    if (me.unread() > 0) {
        std::size_t n = std::min(buf.size(), me.unread());
        std::memcpy(buf.data(), me.inbox.data() + me.read_pos, n);
        if (!peek) {
            me.read_pos += n;
            if (me.read_pos == me.inbox.size()) {
                me.inbox.clear();
                me.read_pos = 0;
            }
        }
        out = n;
    } else if (me.error) {
        out = io::Result<std::size_t>(std::unexpected(me.error));
    } else if (me.eof || me.read_shut) {
        out = std::size_t{0};
    }
    refresh();
    // Reading made room for the peer's writes.
    if (SimStream* peer = conn_->ends[1 - side_].socket; peer != nullptr && !peek) peer->refresh();
    return out;
}

std::optional<io::Result<std::size_t>> SimStream::write(std::span<const std::byte> buf) {
    ConnectionEnd& me = conn_->ends[side_];
    if (me.error) return io::Result<std::size_t>(std::unexpected(me.error));
    if (me.write_shut) return io::Result<std::size_t>(io::error(std::errc::broken_pipe));
    if (buf.empty()) return std::size_t{0};
    std::size_t n = std::min(buf.size(), conn_->room(side_));
    if (n == 0) {
        refresh();
        return std::nullopt;
    }
    net_.send_segment(conn_, 1 - side_, Segment::Data, std::string_view(reinterpret_cast<const char*>(buf.data()), n));
    refresh();
    return n;
}

Poll<io::Result<void>> SimStream::poll_flush(Context&) {
    const ConnectionEnd& me = conn_->ends[side_];
    if (me.error) return Ready(io::Result<void>(std::unexpected(me.error)));
    return Ready(io::Result<void>());
}

io::Result<void> SimStream::shutdown(int how) {
    ConnectionEnd& me = conn_->ends[side_];
    if (me.error) return std::unexpected(me.error);
    if (how == SHUT_RD || how == SHUT_RDWR) me.read_shut = true;
    if ((how == SHUT_WR || how == SHUT_RDWR) && !me.write_shut) {
        me.write_shut = true;
        net_.send_segment(conn_, 1 - side_, Segment::Fin);
    }
    refresh();
    return {};
}

void SimStream::on_close() noexcept {
    ConnectionEnd& me = conn_->ends[side_];
    me.socket = nullptr;
    me.closed = true;
    bool unread = me.unread() > 0;
    me.inbox.clear();
    me.read_pos = 0;
    if (unread || !me.established) {
        // As Linux: closing with unread input sends a reset; so does dropping a connect midway.
        conn_->reset(errc(std::errc::connection_reset));
    } else if (!conn_->dead && !me.write_shut && !me.error) {
        me.write_shut = true;
        net_.send_segment(conn_, 1 - side_, Segment::Fin);
    }
    net_.forget(*this);
}

void SimStream::on_crash() noexcept { conn_->reset(errc(std::errc::connection_reset)); }

std::error_code SimStream::take_error() noexcept { return conn_->ends[side_].error; }

const net::SocketAddr& SimStream::peer_addr() const noexcept { return conn_->ends[1 - side_].addr; }

// ---- SimListener -----------------------------------------------------------------

SimListener::SimListener(int fd, Network& net, HostId host, const net::SocketAddr& local, std::uint32_t bound_ip)
    : SimSocket(Kind::Listener, fd, net, host, local), bound_ip_(bound_ip) {}

bool SimListener::reachable(std::uint32_t target_ip, HostId from) const noexcept {
    return reaches(bound_ip_, target_ip, from == host_);
}

void SimListener::push(std::shared_ptr<Connection> conn) {
    backlog_.push_back(std::move(conn));
    show_readiness(rd::kReadable);
}

std::optional<std::pair<int, net::SocketAddr>> SimListener::accept() {
    while (!backlog_.empty()) {
        std::shared_ptr<Connection> conn = std::move(backlog_.front());
        backlog_.pop_front();
        if (conn->dead) continue;  // the client went away before we took it
        net::SocketAddr peer = conn->ends[0].addr;
        int fd = net_.open_stream(std::move(conn), 1);
        if (backlog_.empty()) show_readiness(0);
        return std::pair{fd, peer};
    }
    show_readiness(0);
    return std::nullopt;
}

void SimListener::unbind() noexcept {
    if (!bound_) return;
    bound_ = false;
    net_.unbind_listener(host_, local_.port());
    while (!backlog_.empty()) {
        backlog_.front()->reset(errc(std::errc::connection_reset));
        backlog_.pop_front();
    }
}

void SimListener::on_close() noexcept {
    unbind();
    net_.forget(*this);
}

void SimListener::on_crash() noexcept { unbind(); }

}  // namespace corio::sim::detail

namespace corio::sim::detail {

// ---- SimDatagram -----------------------------------------------------------------

SimDatagram::SimDatagram(int fd, Network& net, HostId host, const net::SocketAddr& local, std::uint32_t bound_ip)
    : SimSocket(Kind::Datagram, fd, net, host, local), bound_ip_(bound_ip) {
    show_readiness(rd::kWritable);
}

bool SimDatagram::reachable(std::uint32_t target_ip, HostId from) const noexcept {
    return reaches(bound_ip_, target_ip, from == host_);
}

io::Result<std::size_t> SimDatagram::send_to(std::span<const std::byte> buf, const net::SocketAddr* to) {
    if (!bound_) return io::error(std::errc::bad_file_descriptor);
    if (to == nullptr) {
        if (!peer_) return io::error(std::errc::not_connected);
        to = &*peer_;
    }
    if (!to->is_ipv4()) return io::error(std::errc::address_family_not_supported);
    net_.send_datagram(host_, local_, *to, std::string(reinterpret_cast<const char*>(buf.data()), buf.size()));
    return buf.size();
}

std::optional<std::pair<std::size_t, SimDatagram::Datagram*>> SimDatagram::recv(std::span<std::byte> buf, bool peek,
                                                                                bool& truncated) {
    if (inbox_.empty()) {
        show_readiness(rd::kWritable);
        return std::nullopt;
    }
    Datagram& d = inbox_.front();
    std::size_t n = std::min(buf.size(), d.bytes.size());
    truncated = n < d.bytes.size();
    std::memcpy(buf.data(), d.bytes.data(), n);
    if (peek) return std::pair{n, &d};
    last_ = std::move(d);
    inbox_.pop_front();
    if (inbox_.empty()) show_readiness(rd::kWritable);
    return std::pair{n, &last_};
}

io::Result<void> SimDatagram::connect(const net::SocketAddr& peer) {
    if (!peer.is_ipv4()) return io::error(std::errc::address_family_not_supported);
    peer_ = peer;
    // Datagrams from others that were already queued are dropped, as connect(2) filters.
    std::erase_if(inbox_, [&](const Datagram& d) { return !(d.from == peer); });
    if (inbox_.empty()) show_readiness(rd::kWritable);
    return {};
}

void SimDatagram::deliver(Datagram d) {
    if (peer_ && !(d.from == *peer_)) return;
    inbox_.push_back(std::move(d));
    show_readiness(rd::kWritable | rd::kReadable);
}

void SimDatagram::unbind() noexcept {
    if (!bound_) return;
    bound_ = false;
    net_.unbind_datagram(host_, local_.port());
    inbox_.clear();
}

void SimDatagram::on_close() noexcept {
    unbind();
    net_.forget(*this);
}

void SimDatagram::on_crash() noexcept { unbind(); }

// ---- Network: sockets ------------------------------------------------------------

Network::Network(World& world) : world_(world) {}

Network::~Network() {
    for (auto& [fd, s] : unadopted_) delete s;  // order is irrelevant: each is only freed
}

int Network::add_socket(std::unique_ptr<SimSocket> s) {
    int fd = s->fd();
    world_.host(s->host()).sockets.emplace(s->seq(), s.get());
    unadopted_.emplace(fd, s.release());
    return fd;
}

corio::detail::Registration* Network::adopt(int fd) noexcept {
    auto it = unadopted_.find(fd);
    if (it == unadopted_.end()) return nullptr;
    SimSocket* s = it->second;
    unadopted_.erase(it);
    return s;
}

void Network::forget(SimSocket& s) noexcept { world_.host(s.host()).sockets.erase(s.seq()); }

int Network::open_stream(std::shared_ptr<Connection> conn, int side) {
    int fd = next_fd_++;
    return add_socket(std::make_unique<SimStream>(fd, *this, std::move(conn), side));
}

io::Result<net::SocketAddr> Network::local_for(HostId id, const net::SocketAddr& requested, bool udp) {
    Host& host = world_.host(id);
    if (!requested.is_ipv4()) return io::error(std::errc::address_family_not_supported);
    std::uint32_t ip = ipv4_of(requested);
    if (ip != 0 && ip != host.ip && ip != kLoopback) return io::error(std::errc::address_not_available);
    std::uint16_t port = requested.port();
    auto taken = [&](std::uint16_t p) { return udp ? host.datagrams.contains(p) : host.listeners.contains(p); };
    if (port == 0) {
        do {
            port = host.next_port;
            host.next_port = host.next_port == 65535 ? 49152 : host.next_port + 1;
        } while (taken(port));
    } else if (taken(port)) {
        return io::error(std::errc::address_in_use);
    }
    return make_addr(ip == kLoopback ? kLoopback : host.ip, port);
}

io::Result<int> Network::listen(const net::SocketAddr& addr) {
    HostId id = world_.current_host();
    auto local = local_for(id, addr, false);
    if (!local) return std::unexpected(local.error());
    int fd = next_fd_++;
    auto listener = std::make_unique<SimListener>(fd, *this, id, *local, ipv4_of(addr));
    world_.host(id).listeners.emplace(local->port(), listener.get());
    world_.record("{h} listens on port {n}", id, local->port());
    return add_socket(std::move(listener));
}

io::Result<int> Network::bind_udp(const net::SocketAddr& addr) {
    HostId id = world_.current_host();
    auto local = local_for(id, addr, true);
    if (!local) return std::unexpected(local.error());
    int fd = next_fd_++;
    auto socket = std::make_unique<SimDatagram>(fd, *this, id, *local, ipv4_of(addr));
    world_.host(id).datagrams.emplace(local->port(), socket.get());
    return add_socket(std::move(socket));
}

void Network::unbind_listener(HostId host, std::uint16_t port) noexcept { world_.host(host).listeners.erase(port); }
void Network::unbind_datagram(HostId host, std::uint16_t port) noexcept { world_.host(host).datagrams.erase(port); }

std::optional<net::SocketAddr> Network::resolve(std::string_view name, std::uint16_t port) const {
    if (name == "localhost") return make_addr(kLoopback, port);
    auto id = world_.find_host(name);
    if (!id) return std::nullopt;
    return make_addr(world_.host(*id).ip, port);
}

// ---- Network: TCP ----------------------------------------------------------------

io::Result<int> Network::connect(const net::SocketAddr& addr) {
    HostId from = world_.current_host();
    if (!addr.is_ipv4()) return io::error(std::errc::address_family_not_supported);
    std::uint32_t ip = ipv4_of(addr);
    std::optional<HostId> to = ip == kLoopback ? std::optional<HostId>(from) : world_.host_by_ip(ip);
    if (!to) return io::error(std::errc::host_unreachable);
    Host& me = world_.host(from);
    auto conn = std::make_shared<Connection>();
    conn->id = ++connection_seq_;
    conn->ends[0].host = from;
    std::uint16_t port = me.next_port;
    me.next_port = me.next_port == 65535 ? 49152 : me.next_port + 1;
    conn->ends[0].addr = make_addr(ip == kLoopback ? kLoopback : me.ip, port);
    conn->ends[1].host = *to;
    conn->ends[1].addr = addr;
    world_.record("{h} connects to {h}", from, *to);
    int fd = open_stream(conn, 0);
    std::uint32_t generation = me.generation;
    schedule(arrival(), [this, conn, generation] { arrive_syn(conn, generation); });
    return fd;
}

// The handshake reaches the listening host: a waiting listener takes the
// connection and answers through the pipe back (so the answer precedes any
// data the server writes); otherwise the connect is refused.
void Network::arrive_syn(const std::shared_ptr<Connection>& conn, std::uint32_t from_generation) {
    HostId from = conn->ends[0].host;
    HostId to = conn->ends[1].host;
    if (conn->dead) return;
    if (!world_.host(from).up || world_.host(from).generation != from_generation) return;
    if (block(from, to, false) != Block::None) {
        stall(from, to, [this, conn, from_generation] {
            schedule(arrival(), [this, conn, from_generation] { arrive_syn(conn, from_generation); });
        });
        return;
    }
    Host& server = world_.host(to);
    auto it = server.listeners.find(conn->ends[1].addr.port());
    if (!server.up || it == server.listeners.end() || !it->second->reachable(ipv4_of(conn->ends[1].addr), from)) {
        world_.record("{h}: connection refused by {h}", from, to);
        schedule(arrival(), [conn] { conn->reset(std::make_error_code(std::errc::connection_refused)); });
        return;
    }
    world_.record("{h}: connection accepted by {h}", from, to);
    conn->ends[1].established = true;
    it->second->push(conn);
    send_segment(conn, 0, Segment::Accepted);  // ahead of anything the server writes
}

void Network::send_segment(const std::shared_ptr<Connection>& conn, int to, Segment::Kind kind,
                           std::string_view bytes) {
    Pipe& pipe = conn->toward[to];
    time::Instant at = std::max(arrival(), pipe.last_at);  // never ahead of what was sent before it
    pipe.last_at = at;
    pipe.data.append(bytes);
    pipe.queue.push_back(Segment{kind, bytes.size(), at});
    schedule_pipe(conn, to);
}

void Network::schedule_pipe(const std::shared_ptr<Connection>& conn, int to) {
    Pipe& pipe = conn->toward[to];
    if (pipe.scheduled || pipe.queue.empty()) return;
    pipe.scheduled = true;
    time::Instant at = std::max(pipe.queue.front().at, world_.now());
    events_.push(Event{at, ++event_seq_, conn, to, {}});
}

void Network::deliver_pipe(const std::shared_ptr<Connection>& conn, int to) {
    Pipe& pipe = conn->toward[to];
    pipe.scheduled = false;
    if (conn->dead || pipe.queue.empty()) return;
    HostId from_host = conn->ends[1 - to].host;
    HostId to_host = conn->ends[to].host;
    if (block(from_host, to_host, false) != Block::None) {
        pipe.scheduled = true;  // the stalled head stays the only one scheduled
        stall(from_host, to_host, [this, conn, to] {
            Pipe& p = conn->toward[to];
            p.scheduled = false;
            if (!p.queue.empty()) p.queue.front().at = arrival();
            schedule_pipe(conn, to);
        });
        return;
    }
    Segment seg = pipe.queue.front();
    pipe.queue.pop_front();
    ConnectionEnd& end = conn->ends[to];
    switch (seg.kind) {
        case Segment::Accepted:
            end.established = true;
            world_.record("connection {n} established", conn->id);
            break;
        case Segment::Fin:
            end.eof = true;
            world_.record("connection {n}: end of stream reaches side {n}", conn->id, static_cast<std::uint64_t>(to));
            break;
        case Segment::Data: {
            std::string_view bytes = pipe.take(seg.length);
            world_.record("connection {n}: {n} bytes delivered", conn->id, seg.length);
            if (end.closed) {
                // Data for a closed socket: the peer learns of it by a reset.
                conn->reset(std::make_error_code(std::errc::connection_reset));
                return;
            }
            if (!end.read_shut) end.inbox += bytes;
            pipe.compact();
            break;
        }
    }
    for (ConnectionEnd& e : conn->ends) {
        if (e.socket != nullptr) e.socket->refresh();
    }
    if (!pipe.queue.empty()) {
        Segment& next = pipe.queue.front();
        if (next.at < world_.now()) next.at = world_.now();
        schedule_pipe(conn, to);
    }
}

// ---- Network: UDP ----------------------------------------------------------------

struct Network::InFlightDatagram {
    HostId from_host;
    HostId to_host;
    std::uint32_t generation;  // the sender's life it was sent in
    net::SocketAddr from;
    net::SocketAddr to;
    std::string bytes;
};

void Network::send_datagram(HostId host, const net::SocketAddr& from, const net::SocketAddr& to, std::string bytes) {
    std::uint32_t ip = ipv4_of(to);
    std::optional<HostId> dest = ip == kLoopback ? std::optional<HostId>(host) : world_.host_by_ip(ip);
    bool lost = world_.config().udp_loss > 0 && world_.random().chance(world_.config().udp_loss);
    if (!dest || lost) {
        world_.record(lost ? "{h}: datagram to port {n} lost" : "{h}: datagram to port {n} has no route", host,
                      to.port());
        return;
    }
    auto d = std::make_shared<InFlightDatagram>(
        InFlightDatagram{host, *dest, world_.host(host).generation, from, to, std::move(bytes)});
    schedule(arrival(), [this, d] { arrive_datagram(d); });
}

void Network::arrive_datagram(const std::shared_ptr<InFlightDatagram>& d) {
    Host& sender = world_.host(d->from_host);
    if (!sender.up || sender.generation != d->generation) return;  // lost with its host
    switch (block(d->from_host, d->to_host, true)) {
        case Block::Drop:
            world_.record("{h} -> {h}: datagram dropped by the partition", d->from_host, d->to_host);
            return;
        case Block::Stall:
            stall(d->from_host, d->to_host, [this, d] { schedule(arrival(), [this, d] { arrive_datagram(d); }); });
            return;
        case Block::None:
            break;
    }
    Host& receiver = world_.host(d->to_host);
    auto it = receiver.datagrams.find(d->to.port());
    if (!receiver.up || it == receiver.datagrams.end() || !it->second->reachable(ipv4_of(d->to), d->from_host)) {
        return;
    }
    world_.record("{h} -> {h}: datagram delivered", d->from_host, d->to_host);
    it->second->deliver(SimDatagram::Datagram{d->from, d->bytes});
}

// ---- Network: events and faults --------------------------------------------------

time::Instant Network::arrival() {
    const auto& cfg = world_.config();
    auto ns = world_.random().between(cfg.latency_min.count(), cfg.latency_max.count());
    return world_.now() + std::chrono::nanoseconds(ns);
}

void Network::schedule(time::Instant at, std::function<void()> fire) {
    if (at < world_.now()) at = world_.now();
    events_.push(Event{at, ++event_seq_, nullptr, 0, std::move(fire)});
}

std::optional<time::Instant> Network::next_event() const {
    if (events_.empty()) return std::nullopt;
    return events_.top().at;
}

bool Network::fire_due(time::Instant now) {
    bool any = false;
    while (!events_.empty() && events_.top().at <= now) {
        // Moved out before it runs: firing may schedule (and so reorder the heap).
        Event& top = const_cast<Event&>(events_.top());  // moved from, then popped at once
        std::shared_ptr<Connection> conn = std::move(top.conn);
        int to = top.to;
        std::function<void()> fire = std::move(top.fire);
        events_.pop();
        if (conn) {
            deliver_pipe(conn, to);
        } else {
            fire();
        }
        any = true;
    }
    return any;
}

Network::Block Network::block(HostId from, HostId to, bool datagram) const {
    if (from == to) return Block::None;
    auto it = pairs_.find(key(from, to));
    if (it == pairs_.end()) return Block::None;
    if (it->second.partitioned) return datagram ? Block::Drop : Block::Stall;
    return it->second.held ? Block::Stall : Block::None;
}

void Network::stall(HostId from, HostId to, std::function<void()> retry) {
    pairs_[key(from, to)].stalled.push_back(std::move(retry));
}

void Network::set_partition(HostId a, HostId b, bool on) {
    pairs_[key(a, b)].partitioned = on;
    world_.record(on ? "partition {h} <-> {h}" : "repair {h} <-> {h}", a, b);
    if (!on) unblocked(a, b);
}

void Network::set_hold(HostId a, HostId b, bool on) {
    pairs_[key(a, b)].held = on;
    world_.record(on ? "hold {h} <-> {h}" : "release {h} <-> {h}", a, b);
    if (!on) unblocked(a, b);
}

void Network::unblocked(HostId a, HostId b) {
    PairState& p = pairs_[key(a, b)];
    if (p.partitioned || p.held) return;
    std::vector<std::function<void()>> stalled = std::move(p.stalled);
    p.stalled.clear();
    for (auto& retry : stalled) retry();
}

void Network::crash(HostId id) {
    Host& host = world_.host(id);
    // Copied first: resetting a connection can close nothing, but be safe
    // against a socket leaving the map while we walk it.
    std::vector<SimSocket*> sockets;
    sockets.reserve(host.sockets.size());
    for (auto& [seq, s] : host.sockets) sockets.push_back(s);
    for (SimSocket* s : sockets) s->on_crash();
}

}  // namespace corio::sim::detail
