// A thin in-tree wrapper over the io_uring system calls (no liburing): the
// mapped submission and completion rings and a provided-buffer ring. Not
// thread-safe: the backend serialises access. (No registered ring fd: it is
// per thread, and every worker of a runtime may enter the ring.)
#pragma once

#include <linux/io_uring.h>

#include <cstddef>
#include <cstdint>

namespace corio::detail::uring {

/// One completion, copied out of the ring (io_uring_cqe itself ends in a
/// flexible array, so it cannot be an array element in C++).
struct Completion {
    std::uint64_t user_data;
    std::int32_t res;
    std::uint32_t flags;
};

/// io_uring_setup with `sq_entries` submission and `cq_entries` completion
/// entries, the rings mapped. Throws std::system_error when the kernel
/// refuses (ENOSYS, EPERM from the sysctl or a seccomp filter, ...).
class Ring {
public:
    /// `flags`: more IORING_SETUP_ flags.
    Ring(unsigned sq_entries, unsigned cq_entries, unsigned flags = 0);
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;
    ~Ring();

    /// The next free submission entry, zeroed; null when the queue is full.
    io_uring_sqe* get_sqe() noexcept;
    /// Publishes the filled entries to the kernel (no system call) and
    /// returns how many it has not consumed yet (what an enter() submits).
    unsigned flush() noexcept;
    /// io_uring_enter: submits `to_submit`, waits for `min_complete`
    /// completions (bounded by `timeout_ns` >= 0). -errno on error.
    int enter(unsigned to_submit, unsigned min_complete, long long timeout_ns) noexcept;
    /// Copies up to `max` posted completions into `out` and releases their
    /// slots (so handling them may post more); returns how many.
    unsigned take(Completion* out, unsigned max) noexcept {
        unsigned head = *cq_head_;
        unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
        unsigned n = 0;
        for (; head != tail && n < max; ++head, ++n) {
            const io_uring_cqe& c = cqes_[head & cq_mask_];
            out[n] = Completion{c.user_data, c.res, c.flags};
        }
        __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
        return n;
    }
    /// True when completions wait in the completion ring.
    bool cq_ready() const noexcept { return *cq_head_ != __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE); }
    /// True when the kernel holds completions that did not fit (to flush with an enter).
    bool cq_overflowed() const noexcept {
        return (__atomic_load_n(sq_flags_, __ATOMIC_RELAXED) & IORING_SQ_CQ_OVERFLOW) != 0;
    }
    /// True when the kernel has completions to post once we enter
    /// (IORING_SETUP_TASKRUN_FLAG).
    bool taskrun_pending() const noexcept {
        return (__atomic_load_n(sq_flags_, __ATOMIC_RELAXED) & IORING_SQ_TASKRUN) != 0;
    }
    int fd() const noexcept { return fd_; }

    /// Registers a table of `count` empty fixed-file slots (Linux 5.19).
    bool register_file_slots(unsigned count) noexcept;
    /// Puts the file `fd` refers to into fixed slot `slot` (a system call);
    /// operations with IOSQE_FIXED_FILE then reach it after `fd` is closed.
    bool set_file_slot(unsigned slot, int fd) noexcept;

private:
    int fd_ = -1;
    void* sq_map_ = nullptr;
    std::size_t sq_map_size_ = 0;
    void* cq_map_ = nullptr;
    std::size_t cq_map_size_ = 0;
    io_uring_sqe* sqes_ = nullptr;
    std::size_t sqes_size_ = 0;
    unsigned* sq_head_ = nullptr;
    unsigned* sq_tail_ = nullptr;
    unsigned* sq_flags_ = nullptr;
    unsigned* sq_array_ = nullptr;
    unsigned sq_mask_ = 0;
    unsigned sq_entries_ = 0;
    unsigned* cq_head_ = nullptr;
    unsigned* cq_tail_ = nullptr;
    io_uring_cqe* cqes_ = nullptr;
    unsigned cq_mask_ = 0;
    unsigned sqe_tail_ = 0;  // next entry to fill
};

/// A ring of `count` provided buffers of `size` bytes each (a power of two
/// count), registered as buffer group `group` of `ring`. Buffer ids are
/// 0..count-1; the kernel picks one per completion of a buffer-select
/// receive, and give_back returns it.
class BufferRing {
public:
    BufferRing(Ring& ring, std::uint16_t group, unsigned count, unsigned size);
    BufferRing(const BufferRing&) = delete;
    BufferRing& operator=(const BufferRing&) = delete;
    ~BufferRing();

    std::byte* data(unsigned id) const noexcept { return slab_ + static_cast<std::size_t>(id) * size_; }
    unsigned size() const noexcept { return size_; }
    unsigned count() const noexcept { return count_; }
    std::uint16_t group() const noexcept { return group_; }
    /// Hands buffer `id` back to the kernel.
    void give_back(unsigned id) noexcept;

private:
    Ring& ring_;
    std::uint16_t group_;
    unsigned count_;
    unsigned size_;
    io_uring_buf_ring* br_ = nullptr;
    std::size_t br_size_ = 0;
    std::byte* slab_ = nullptr;
    std::size_t slab_size_ = 0;
    std::uint16_t tail_ = 0;
};

}  // namespace corio::detail::uring
