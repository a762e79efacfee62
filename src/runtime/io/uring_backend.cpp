// The io_uring backend (DESIGN section 7).
//
// One ring per driver; submissions are queued in the ring and handed to the
// kernel with the driver's wait, one io_uring_enter per turn (a submission
// made while another thread waits in the ring is handed over at once).
//
// Two ways a registration is served:
// - Readiness (listeners, UDP, connect, pipes, eventfds): a multishot poll
//   armed at registration reports every readiness change, as an
//   edge-triggered epoll registration does; the operations run their system
//   calls as on epoll.
// - Byte streams (TcpStream, UnixStream, from their first read or write; the
//   poll is cancelled then): a multishot receive fills provided buffers; their completions wait in the
//   registration, chained by buffer id, until a read takes them, so a dropped
//   read loses nothing. Writes are copied into the registration (at most
//   kMaxUnsent bytes queued) and sent by one send in flight at a time, so a
//   dropped write future never leaves the kernel reading the caller's buffer.
// - One-shot operations (corio::fs's openat, statx, read, write): a
//   OneShotOp fills its own entry and is completed with the result; it is
//   not a registration, and its owner keeps it alive until then.
//
// Lifetime: every submission that refers to a registration counts in its
// `inflight`; it is freed (by the driver, after removal) only when that is
// zero. Closing a stream with bytes still queued closes the descriptor once
// they are sent, as the kernel does with its own socket buffer.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "corio/detail/wait_list.hpp"
#include "runtime/io/backend.hpp"
#include "runtime/io/uring.hpp"

namespace corio::detail {
namespace {

constexpr unsigned kSqEntries = 1024;
constexpr unsigned kCqEntries = 16384;
constexpr unsigned kBufferCount = 4096;  // provided receive buffers (a power of two)
constexpr unsigned kBufferSize = 4096;
constexpr std::uint16_t kBufferGroup = 0;
constexpr unsigned kMaxHeld = 32;              // received buffers a stream holds before its receive pauses
constexpr std::size_t kMaxUnsent = 64 * 1024;  // bytes a stream queues before writes wait
constexpr std::uint32_t kNoBuffer = ~0u;
constexpr unsigned kFileSlots = 1024;  // fixed files for streams closed with sends still in flight

// user_data: a registration's address (a OneShotOp's for kOneShot) with the operation in the low bits.
// kSlotClosed carries a fixed-file slot number instead of an address.
enum Op : std::uint64_t { kPoll = 1, kOneShot = 2, kRecv = 3, kSend = 4, kIgnore = 5, kWake = 6, kSlotClosed = 7 };
constexpr std::uint64_t kOpMask = 7;

constexpr std::uint32_t kReadBits = readiness::kReadable | readiness::kReadClosed | readiness::kError;
constexpr std::uint32_t kWriteBits = readiness::kWritable | readiness::kWriteClosed | readiness::kError;
// What a wait for received bytes asks (kError comes with either direction).
constexpr std::uint32_t kWantsRead = readiness::kReadable | readiness::kReadClosed;

std::uint32_t readiness_of_poll(int revents) noexcept {
    std::uint32_t bits = 0;
    if (revents & (POLLIN | POLLPRI)) bits |= readiness::kReadable;
    if (revents & POLLOUT) bits |= readiness::kWritable;
    if (revents & POLLRDHUP) bits |= readiness::kReadClosed | readiness::kReadable;
    if (revents & POLLHUP) bits |= readiness::kReadClosed | readiness::kWriteClosed;
    if (revents & POLLERR) bits |= readiness::kError;
    return bits;
}

std::error_code os_error(int err) { return {err, std::generic_category()}; }

class UringBackend;

/// The backend whose submissions this thread flushes itself (a worker's).
thread_local const UringBackend* flushing_thread = nullptr;

class UringRegistration final : public Registration, public StreamOps {
public:
    UringRegistration(int fd, IoDriver* driver, UringBackend& backend) noexcept
        : Registration(fd, driver), backend_(backend) {}

    StreamOps* stream_ops() noexcept override { return this; }

    std::optional<io::Result<std::size_t>> read(std::span<std::byte> buf, bool peek) override;
    std::optional<io::Result<std::size_t>> write(std::span<const std::byte> buf) override;
    Poll<io::Result<void>> poll_flush(Context& cx) override;
    io::Result<void> shutdown(int how) override;

    // Backend side.
    /// Arms the multishot poll (at registration).
    void watch() {
        std::lock_guard lock(lock_);
        arm_poll_locked();
    }
    void on_poll(int res, std::uint32_t flags);
    void on_recv(int res, std::uint32_t flags);
    void on_send(int res);
    void remove() noexcept;
    void rearm_after_starving();
    bool releasable() noexcept {
        std::lock_guard lock(lock_);
        return inflight_ == 0 && fd_closed_;
    }

    UringRegistration* starved_next = nullptr;  // the backend's starved list, guarded by its buffer lock
    bool starved = false;                       // guarded by the backend's buffer lock

protected:
    void on_pending(std::uint32_t mask) override;

private:
    std::uint64_t user_data(Op op) const noexcept { return reinterpret_cast<std::uint64_t>(this) | op; }
    void become_stream_locked();
    void arm_poll_locked();
    void arm_recv_locked();
    void cancel_locked(Op op);
    void start_send_locked();
    void send_rest_locked();
    void give_back_all_locked() noexcept;
    void close_fd_locked() noexcept;
    /// For a multishot completion: true while the operation stays armed;
    /// once it ended, counts it out of those in flight and clears `armed`.
    bool still_armed_locked(std::uint32_t flags, bool& armed) noexcept;

    UringBackend& backend_;
    SpinLock lock_;  // guards everything below
    unsigned inflight_ = 0;
    bool removed_ = false;
    bool fd_closed_ = false;
    bool stream_ = false;
    bool poll_armed_ = false;
    bool recv_armed_ = false;
    bool recv_paused_ = false;  // a cancel was sent: the stream holds kMaxHeld buffers
    // Received: buffers chained by id (see UringBackend::Chunk), the first
    // partly consumed.
    std::uint32_t head_ = kNoBuffer;
    std::uint32_t tail_ = kNoBuffer;
    std::uint32_t head_offset_ = 0;
    unsigned held_ = 0;
    bool eof_ = false;
    int recv_error_ = 0;
    // Sending: `sending_` is in flight (from `sent_`), `queued_` waits for it.
    std::vector<std::byte> sending_;
    std::vector<std::byte> queued_;
    std::size_t sent_ = 0;
    bool send_inflight_ = false;
    int send_error_ = 0;
    bool write_shut_ = false;  // shutdown(SHUT_WR) asked: writes fail
    int file_slot_ = -1;       // closed with sends in flight: they go through this fixed file
    bool shutdown_when_drained_ = false;
    bool close_when_drained_ = false;
    Waker flusher_;
};

class UringBackend final : public Backend {
public:
    /// `single_thread`: one thread enters the ring (a current_thread
    /// runtime), so the kernel need not interrupt it to post completions: it
    /// posts them when the thread enters (IORING_SETUP_COOP_TASKRUN). With
    /// several workers a completion may belong to one asleep elsewhere.
    explicit UringBackend(bool single_thread)
        : ring_(kSqEntries, kCqEntries, single_thread ? IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG : 0) {
        check_kernel();
        buffers_ = std::make_unique<uring::BufferRing>(ring_, kBufferGroup, kBufferCount, kBufferSize);
        chunks_ = std::make_unique<Chunk[]>(kBufferCount);
        if (ring_.register_file_slots(kFileSlots)) {
            for (unsigned slot = kFileSlots; slot-- > 0;) free_slots_.push_back(slot);
        }
        // Blocking: io_uring returns EAGAIN instead of waiting on an O_NONBLOCK file.
        wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
        if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "corio: eventfd");
        arm_wake();
    }
    ~UringBackend() override {
        buffers_.reset();
        ::close(wake_fd_);
    }

    IoBackend kind() const noexcept override { return IoBackend::IoUring; }

    io::Result<Registration*> add(int fd, IoDriver* owner) override {
        auto* reg = new UringRegistration(fd, owner, *this);
        reg->watch();
        return reg;
    }

    void remove(Registration& reg) noexcept override {
        auto& r = static_cast<UringRegistration&>(reg);
        r.remove();
        std::lock_guard lock(buffer_lock_);
        if (r.starved) unstarve_locked(r);
    }

    bool releasable(const Registration& reg) const noexcept override {
        return const_cast<UringRegistration&>(static_cast<const UringRegistration&>(reg)).releasable();
    }

    bool turn(int timeout_ms) override;

    void wake() noexcept override {
        std::uint64_t one = 1;
        ssize_t written = ::write(wake_fd_, &one, sizeof one);
        (void)written;
    }

    void shutdown() noexcept override;

    void take_flush_duty() noexcept override { flushing_thread = this; }

    bool submit_one_shot(OneShotOp& op) override {
        submit([&](io_uring_sqe& sqe) {
            op.fill(sqe);
            sqe.user_data = reinterpret_cast<std::uint64_t>(&op) | kOneShot;
        });
        return true;
    }

    /// Hands everything queued to the kernel now (a system call).
    void submit_queued() noexcept {
        std::lock_guard lock(sq_lock_);
        enter_queued_locked();
    }

    void flush() noexcept override {
        std::lock_guard lock(sq_lock_);
        if (waiting_) enter_queued_locked();
    }

    /// Fills one submission entry with `fill` and queues it; hands the queue
    /// to the kernel at once when it is full, or when a turn is waiting in
    /// it and this thread has no flush duty (see Backend::take_flush_duty).
    /// `counted`: the entry's completion will decrement ops_in_flight_.
    template <class Fill>
    void submit(Fill&& fill, bool counted = true) {
        std::lock_guard lock(sq_lock_);
        io_uring_sqe* sqe = ring_.get_sqe();
        while (sqe == nullptr) {  // full: back-pressure, the kernel takes what is queued
            int r = enter_queued_locked();
            if (r == -EBUSY || r == -EAGAIN) std::this_thread::yield();  // completions first: the driver reaps them
            sqe = ring_.get_sqe();
        }
        fill(*sqe);
        if (counted) ops_in_flight_.fetch_add(1, std::memory_order_relaxed);
        if (waiting_ && flushing_thread != this) enter_queued_locked();
    }

    // Provided buffers.
    std::byte* buffer(std::uint32_t id) const noexcept { return buffers_->data(id); }
    /// What the holder of a received buffer knows of it: how many bytes it
    /// holds and the next buffer of the same stream. Touched only under the
    /// holder's lock; relaxed atomics because a buffer passes from one holder
    /// to the next through the kernel, an ordering the sanitizers cannot see.
    struct Chunk {
        Atomic<std::uint32_t> len{0};
        Atomic<std::uint32_t> next{kNoBuffer};
        std::uint32_t size() const noexcept { return len.load(std::memory_order_relaxed); }
        std::uint32_t following() const noexcept { return next.load(std::memory_order_relaxed); }
        void set(std::uint32_t n, std::uint32_t after) noexcept {
            len.store(n, std::memory_order_relaxed);
            next.store(after, std::memory_order_relaxed);
        }
        void link(std::uint32_t after) noexcept { next.store(after, std::memory_order_relaxed); }
    };
    Chunk& chunk(std::uint32_t id) noexcept { return chunks_[id]; }
    void give_back(std::uint32_t id) noexcept {
        std::lock_guard lock(buffer_lock_);
        buffers_->give_back(id);
        buffers_returned_ = true;
    }
    void starve(UringRegistration& reg) {
        std::lock_guard lock(buffer_lock_);
        if (reg.starved) return;
        reg.starved = true;
        reg.starved_next = starved_;
        starved_ = &reg;
    }
    void op_done() noexcept { ops_in_flight_.fetch_sub(1, std::memory_order_relaxed); }

    /// A fixed-file slot now holding the file `fd` refers to, or -1 (none
    /// free, or the kernel has no fixed files).
    int hold_file(int fd) noexcept {
        unsigned slot;
        {
            std::lock_guard lock(buffer_lock_);
            if (free_slots_.empty()) return -1;
            slot = free_slots_.back();
            free_slots_.pop_back();
        }
        if (ring_.set_file_slot(slot, fd)) return static_cast<int>(slot);
        std::lock_guard lock(buffer_lock_);
        free_slots_.push_back(slot);
        return -1;
    }
    /// Empties `slot` (asynchronously); it is free again once that completes.
    void release_file(int slot) {
        submit(
            [slot](io_uring_sqe& sqe) {
                sqe.opcode = IORING_OP_CLOSE;
                sqe.file_index = static_cast<std::uint32_t>(slot) + 1;
                sqe.user_data = (static_cast<std::uint64_t>(slot) << 3) | kSlotClosed;
            },
            false);
    }

private:
    /// Publishes the queued entries and hands them to the kernel (with
    /// sq_lock_ held); an enter also brings in completions that overflowed.
    /// What io_uring_enter returned, 0 when there was nothing to do.
    int enter_queued_locked() noexcept {
        unsigned n = ring_.flush();
        if (n == 0 && !ring_.cq_overflowed() && !ring_.taskrun_pending()) return 0;
        return ring_.enter(n, 0, -1);
    }

    static void check_kernel() {
        // Multishot receive into a provided-buffer ring needs Linux 6.0.
        utsname u{};
        int major = 0;
        int minor = 0;
        if (::uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2 || major < 6) {
            throw std::system_error(ENOSYS, std::generic_category(), "corio: io_uring backend needs Linux 6.0");
        }
    }

    void arm_wake() {
        submit(
            [this](io_uring_sqe& sqe) {
                sqe.opcode = IORING_OP_READ;
                sqe.fd = wake_fd_;
                sqe.addr = reinterpret_cast<std::uint64_t>(&wake_value_);
                sqe.len = sizeof wake_value_;
                sqe.user_data = kWake;
            },
            false);
    }

    void unstarve_locked(UringRegistration& reg) noexcept {
        for (UringRegistration** p = &starved_; *p != nullptr; p = &(*p)->starved_next) {
            if (*p == &reg) {
                *p = reg.starved_next;
                break;
            }
        }
        reg.starved = false;
        reg.starved_next = nullptr;
    }

    void rearm_starved() {
        UringRegistration* list;
        {
            std::lock_guard lock(buffer_lock_);
            if (!buffers_returned_) return;  // none came back: they would starve again at once
            buffers_returned_ = false;
            list = std::exchange(starved_, nullptr);
            for (UringRegistration* r = list; r != nullptr; r = r->starved_next) r->starved = false;
        }
        while (list != nullptr) {
            UringRegistration* next = std::exchange(list->starved_next, nullptr);
            list->rearm_after_starving();
            list = next;
        }
    }

    bool dispatch(const uring::Completion& cqe);
    bool reap();

    uring::Ring ring_;
    std::unique_ptr<uring::BufferRing> buffers_;
    std::unique_ptr<Chunk[]> chunks_;  // per buffer id
    SpinLock sq_lock_;
    bool waiting_ = false;  // guarded by sq_lock_: a turn waits in the ring
    SpinLock buffer_lock_;
    UringRegistration* starved_ = nullptr;  // guarded by buffer_lock_
    bool buffers_returned_ = false;         // since the starved list was last served; guarded by buffer_lock_
    std::vector<unsigned> free_slots_;      // fixed-file slots; guarded by buffer_lock_
    Atomic<std::size_t> ops_in_flight_{0};
    bool shut_down_ = false;  // driver thread only
    int wake_fd_ = -1;
    std::uint64_t wake_value_ = 0;  // the kernel writes it: read by nobody
};

// ---- registration ---------------------------------------------------------------

void UringRegistration::on_pending(std::uint32_t mask) {
    std::lock_guard lock(lock_);
    if (removed_) return;
    if (stream_) {
        if (mask & kWantsRead) arm_recv_locked();
        return;  // writable follows the send queue: its completions set it
    }
    if (!poll_armed_) arm_poll_locked();  // it ended (see on_poll): watch again
}

void UringRegistration::arm_poll_locked() {
    poll_armed_ = true;
    ++inflight_;
    backend_.submit([&](io_uring_sqe& sqe) {
        sqe.opcode = IORING_OP_POLL_ADD;
        sqe.fd = fd();
        sqe.len = IORING_POLL_ADD_MULTI;
        sqe.poll32_events = POLLIN | POLLPRI | POLLRDHUP | POLLOUT;
        sqe.user_data = user_data(kPoll);
    });
}

bool UringRegistration::still_armed_locked(std::uint32_t flags, bool& armed) noexcept {
    if (flags & IORING_CQE_F_MORE) return true;
    backend_.op_done();
    --inflight_;
    armed = false;
    return false;
}

void UringRegistration::on_poll(int res, std::uint32_t flags) {
    bool more;
    std::uint32_t bits = 0;
    {
        std::lock_guard lock(lock_);
        more = still_armed_locked(flags, poll_armed_);
        if (removed_ || stream_) return;  // a stream's bits follow its queues
        // An error: the poll ended under us (cancelled: the submitting thread
        // exited); the waiters look again, and their wait arms a new poll.
        if (res >= 0) bits = readiness_of_poll(res);
    }
    if (bits != 0) {
        set_readiness(bits);
    } else if (!more) {
        wake(kReadBits | kWriteBits);
    }
}

void UringRegistration::become_stream_locked() {
    if (stream_) return;
    stream_ = true;
    if (poll_armed_) cancel_locked(kPoll);
    // From now on the read bits mean "received bytes wait here", and the
    // write bits "room in the send queue".
    remove_bits(readiness::kReadable | readiness::kReadClosed | readiness::kError);
    add_bits(readiness::kWritable);
}

void UringRegistration::arm_recv_locked() {
    if (recv_armed_ || eof_ || recv_error_ != 0 || removed_ || held_ >= kMaxHeld) return;
    recv_armed_ = true;
    recv_paused_ = false;
    ++inflight_;
    backend_.submit([&](io_uring_sqe& sqe) {
        sqe.opcode = IORING_OP_RECV;
        sqe.fd = fd();
        sqe.ioprio = IORING_RECV_MULTISHOT;
        sqe.flags = IOSQE_BUFFER_SELECT;
        sqe.buf_group = kBufferGroup;
        sqe.user_data = user_data(kRecv);
    });
}

void UringRegistration::cancel_locked(Op op) {
    backend_.submit(
        [&](io_uring_sqe& sqe) {
            sqe.opcode = IORING_OP_ASYNC_CANCEL;
            sqe.addr = user_data(op);
            sqe.user_data = kIgnore;
        },
        false);
}

void UringRegistration::on_recv(int res, std::uint32_t flags) {
    std::uint32_t bits = 0;
    {
        std::lock_guard lock(lock_);
        bool more = still_armed_locked(flags, recv_armed_);
        if (res > 0) {
            auto id = static_cast<std::uint32_t>(flags >> IORING_CQE_BUFFER_SHIFT);
            if (removed_) {
                backend_.give_back(id);
                return;
            }
            backend_.chunk(id).set(static_cast<std::uint32_t>(res), kNoBuffer);
            if (tail_ == kNoBuffer) {
                head_ = id;
                head_offset_ = 0;
            } else {
                backend_.chunk(tail_).link(id);
            }
            tail_ = id;
            ++held_;
            if (more && held_ >= kMaxHeld && !recv_paused_) {
                recv_paused_ = true;  // the reader is slow: stop taking buffers from the others
                cancel_locked(kRecv);
            }
            bits = readiness::kReadable;
        } else if (removed_) {
            return;
        } else if (res == 0) {
            eof_ = true;
            bits = readiness::kReadable | readiness::kReadClosed;
        } else if (res == -ENOBUFS) {
            // Every buffer is taken: the data waits in the socket; the receive
            // is armed again when buffers come back (UringBackend::turn).
            backend_.starve(*this);
        } else if (res != -ECANCELED) {
            recv_error_ = -res;
            bits = readiness::kReadable | readiness::kError;
        }
        // The receive ended (our pause, a cancel because the submitting
        // thread exited, a full completion queue): arm it again unless the
        // stream holds enough or is done; read() arms it once it drains.
        if (!more && res != -ENOBUFS) arm_recv_locked();
        if (bits != 0) add_bits(bits);  // under the lock: ordered with read()'s remove_bits
    }
    if (bits != 0) wake(bits);
}

void UringRegistration::rearm_after_starving() {
    bool wake_reader;
    {
        std::lock_guard lock(lock_);
        if (removed_) return;
        wake_reader = head_ == kNoBuffer;
    }
    if (wake_reader) wake(kReadBits);  // its next wait arms the receive again
}

std::optional<io::Result<std::size_t>> UringRegistration::read(std::span<std::byte> buf, bool peek) {
    std::lock_guard lock(lock_);
    become_stream_locked();
    if (head_ != kNoBuffer) {
        std::size_t n = 0;
        std::uint32_t id = head_;
        std::uint32_t offset = head_offset_;
        while (n < buf.size() && id != kNoBuffer) {
            auto& c = backend_.chunk(id);
            std::size_t take = std::min<std::size_t>(buf.size() - n, c.size() - offset);
            std::memcpy(buf.data() + n, backend_.buffer(id) + offset, take);
            n += take;
            offset += static_cast<std::uint32_t>(take);
            if (offset < c.size()) break;
            std::uint32_t next = c.following();
            if (!peek) {
                backend_.give_back(id);
                --held_;
            }
            id = next;
            offset = 0;
        }
        if (!peek) {
            head_ = id;
            head_offset_ = offset;
            if (id == kNoBuffer) {
                tail_ = kNoBuffer;
                if (!eof_ && recv_error_ == 0) remove_bits(readiness::kReadable);
                arm_recv_locked();  // keep the receive going (after a pause, or if it ended)
            }
        }
        return io::Result<std::size_t>(n);
    }
    if (recv_error_ != 0) {
        int err = recv_error_;
        if (!peek) {
            recv_error_ = 0;
            eof_ = true;  // as the kernel does: after the error, end of stream
        }
        return io::Result<std::size_t>(std::unexpected(os_error(err)));
    }
    if (eof_) return io::Result<std::size_t>(0);
    if (buf.empty()) return io::Result<std::size_t>(0);
    remove_bits(readiness::kReadable);
    return std::nullopt;
}

std::optional<io::Result<std::size_t>> UringRegistration::write(std::span<const std::byte> buf) {
    std::lock_guard lock(lock_);
    become_stream_locked();
    if (send_error_ != 0) return io::Result<std::size_t>(std::unexpected(os_error(send_error_)));
    if (write_shut_) return io::Result<std::size_t>(std::unexpected(os_error(EPIPE)));
    if (buf.empty()) return io::Result<std::size_t>(0);
    std::size_t unsent = queued_.size() + (sending_.size() - sent_);
    if (unsent >= kMaxUnsent) {
        remove_bits(readiness::kWritable);
        return std::nullopt;
    }
    std::size_t n = std::min(buf.size(), kMaxUnsent - unsent);
    queued_.insert(queued_.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    if (!send_inflight_) start_send_locked();
    return io::Result<std::size_t>(n);
}

void UringRegistration::start_send_locked() {
    sending_.swap(queued_);
    queued_.clear();
    sent_ = 0;
    send_inflight_ = true;
    send_rest_locked();
}

void UringRegistration::send_rest_locked() {
    ++inflight_;
    backend_.submit([&](io_uring_sqe& sqe) {
        sqe.opcode = IORING_OP_SEND;
        sqe.fd = file_slot_ >= 0 ? file_slot_ : fd();
        if (file_slot_ >= 0) sqe.flags = IOSQE_FIXED_FILE;
        sqe.addr = reinterpret_cast<std::uint64_t>(sending_.data() + sent_);
        sqe.len = static_cast<std::uint32_t>(sending_.size() - sent_);
        sqe.msg_flags = MSG_NOSIGNAL;
        sqe.user_data = user_data(kSend);
    });
}

void UringRegistration::on_send(int res) {
    backend_.op_done();
    Waker flusher;
    std::uint32_t bits = readiness::kWritable;
    bool removed;
    {
        std::lock_guard lock(lock_);
        --inflight_;
        if (res >= 0) {
            sent_ += static_cast<std::size_t>(res);
            if (sent_ < sending_.size() && res > 0) {
                send_rest_locked();  // a short send: the rest, in order
                return;
            }
            if (sent_ < sending_.size()) send_error_ = EPIPE;  // accepted nothing
        } else if (res != -ECANCELED || !removed_) {
            send_error_ = -res;
        }
        if (send_error_ != 0) {
            queued_.clear();
            bits |= readiness::kError;
        }
        sending_.clear();
        sent_ = 0;
        if (!queued_.empty()) {
            start_send_locked();
        } else {
            send_inflight_ = false;
            if (shutdown_when_drained_ && !fd_closed_) ::shutdown(fd(), SHUT_WR);
            shutdown_when_drained_ = false;  // with the descriptor closed, the close below sends the FIN
            if (close_when_drained_) close_fd_locked();
            if (file_slot_ >= 0) backend_.release_file(std::exchange(file_slot_, -1));
            flusher = std::move(flusher_);
        }
        removed = removed_;
        if (!removed) add_bits(bits);
    }
    if (!removed) wake(bits);
    std::move(flusher).wake();
}

Poll<io::Result<void>> UringRegistration::poll_flush(Context& cx) {
    std::lock_guard lock(lock_);
    if (send_error_ != 0) return Ready(io::Result<void>(std::unexpected(os_error(send_error_))));
    if (!send_inflight_) return Ready(io::Result<void>());
    flusher_.clone_from(cx.waker());
    return Pending;
}

io::Result<void> UringRegistration::shutdown(int how) {
    std::lock_guard lock(lock_);
    become_stream_locked();
    if (how == SHUT_RD || !send_inflight_) {
        if (how != SHUT_RD) write_shut_ = true;
        if (::shutdown(fd(), how) < 0) return io::last_os_error();
        return {};
    }
    // Bytes are queued: the write side goes after them.
    if (how == SHUT_RDWR && ::shutdown(fd(), SHUT_RD) < 0) return io::last_os_error();
    write_shut_ = true;
    shutdown_when_drained_ = true;
    return {};
}

void UringRegistration::give_back_all_locked() noexcept {
    for (std::uint32_t id = head_; id != kNoBuffer;) {
        std::uint32_t next = backend_.chunk(id).following();
        backend_.give_back(id);
        id = next;
    }
    head_ = tail_ = kNoBuffer;
    held_ = 0;
}

void UringRegistration::close_fd_locked() noexcept {
    if (fd_closed_) return;
    fd_closed_ = true;
    ::close(fd());
}

void UringRegistration::remove() noexcept {
    std::lock_guard lock(lock_);
    removed_ = true;
    // In-flight operations hold the file open: cancel the ones that wait;
    // a send in flight finishes (and sends what is queued after it).
    if (recv_armed_) cancel_locked(kRecv);
    if (poll_armed_) cancel_locked(kPoll);
    if (held_ != 0) {
        // Received bytes nobody read: closing such a socket resets the
        // connection (the kernel's rule; here the bytes sit in our buffers,
        // so say it with SO_LINGER {1, 0}). What waits to be sent goes too.
        linger reset{1, 0};
        ::setsockopt(fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        queued_.clear();
        if (send_inflight_) {
            backend_.submit_queued();  // it names the descriptor: the kernel takes it before the close
            cancel_locked(kSend);
        }
        give_back_all_locked();
        close_fd_locked();
        return;
    }
    // A send in flight finishes, and what is queued behind it follows, as
    // the kernel sends its own buffer after close(2); the descriptor is
    // freed at once (the file stays in a fixed slot until they are sent),
    // or, with no slot free, once they are sent.
    if (send_inflight_) {
        file_slot_ = backend_.hold_file(fd());
        if (file_slot_ < 0) {
            close_when_drained_ = true;
            return;
        }
        // The send may still wait in the submission queue, naming the
        // descriptor: the kernel must take it (and the file) before we close.
        backend_.submit_queued();
    }
    close_fd_locked();
}

// ---- backend ----------------------------------------------------------------------

bool UringBackend::dispatch(const uring::Completion& cqe) {
    auto op = static_cast<Op>(cqe.user_data & kOpMask);
    auto* reg = reinterpret_cast<UringRegistration*>(cqe.user_data & ~kOpMask);
    switch (op) {
        case kWake:
            if (!shut_down_) arm_wake();  // also after a cancel: the submitting thread may have exited
            return false;
        case kPoll:
            reg->on_poll(cqe.res, cqe.flags);
            return true;
        case kRecv:
            reg->on_recv(cqe.res, cqe.flags);
            return true;
        case kSend:
            reg->on_send(cqe.res);
            return true;
        case kOneShot:
            op_done();
            reinterpret_cast<OneShotOp*>(cqe.user_data & ~kOpMask)->complete(cqe.res);
            return true;
        case kSlotClosed: {
            std::lock_guard lock(buffer_lock_);
            free_slots_.push_back(static_cast<unsigned>(cqe.user_data >> 3));
            return false;
        }
        case kIgnore:
            break;
    }
    return false;
}

bool UringBackend::reap() {
    bool io_events = false;
    uring::Completion batch[256];
    for (;;) {
        unsigned n = ring_.take(batch, 256);
        for (unsigned i = 0; i < n; ++i) io_events |= dispatch(batch[i]);
        if (n == 256) continue;
        if (!ring_.cq_overflowed()) return io_events;
        // The kernel kept completions that did not fit: an enter brings them in.
        std::lock_guard lock(sq_lock_);
        (void)enter_queued_locked();
    }
}

bool UringBackend::turn(int timeout_ms) {
    rearm_starved();
    unsigned to_submit;
    {
        std::lock_guard lock(sq_lock_);
        to_submit = ring_.flush();
        waiting_ = timeout_ms != 0 && !ring_.cq_ready();
    }
    if (waiting_) {  // only this thread writes it
        long long ns = timeout_ms < 0 ? -1 : static_cast<long long>(timeout_ms) * 1'000'000;
        (void)ring_.enter(to_submit, 1, ns);  // -ETIME, -EINTR: look at what came anyway
        std::lock_guard lock(sq_lock_);
        waiting_ = false;
    } else {
        std::lock_guard lock(sq_lock_);
        (void)enter_queued_locked();
    }
    return reap();
}

void UringBackend::shutdown() noexcept {
    // Cancel everything in flight and wait (briefly) for the completions, so
    // no operation refers to a registration or a buffer once we are gone.
    shut_down_ = true;
    submit(
        [](io_uring_sqe& sqe) {
            sqe.opcode = IORING_OP_ASYNC_CANCEL;
            sqe.cancel_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
            sqe.user_data = kIgnore;
        },
        false);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (ops_in_flight_.load(std::memory_order_relaxed) != 0 && std::chrono::steady_clock::now() < deadline) {
        turn(10);
    }
}

}  // namespace

std::unique_ptr<Backend> make_uring_backend(bool single_thread) {
    return std::make_unique<UringBackend>(single_thread);
}

}  // namespace corio::detail
