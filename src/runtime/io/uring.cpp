#include "runtime/io/uring.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace corio::detail::uring {
namespace {

[[noreturn]] void fail(int err, const char* what) { throw std::system_error(err, std::generic_category(), what); }

int sys_setup(unsigned entries, io_uring_params* p) {
    return static_cast<int>(::syscall(__NR_io_uring_setup, entries, p));
}

int sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags, void* arg, std::size_t argsz) {
    return static_cast<int>(::syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz));
}

int sys_register(int fd, unsigned op, void* arg, unsigned nr) {
    return static_cast<int>(::syscall(__NR_io_uring_register, fd, op, arg, nr));
}

template <class T>
T* at(void* base, unsigned offset) {
    return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

}  // namespace

Ring::Ring(unsigned sq_entries, unsigned cq_entries, unsigned flags) {
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL | flags;
    p.cq_entries = cq_entries;
    fd_ = sys_setup(sq_entries, &p);
    if (fd_ < 0) fail(errno, "corio: io_uring_setup");
    // What corio relies on: one mmap for both rings, no dropped completions,
    // timeouts on enter (all since 5.11; the opcodes are probed by the backend).
    constexpr unsigned kNeeded = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG;
    if ((p.features & kNeeded) != kNeeded) {
        ::close(fd_);
        fail(ENOSYS, "corio: io_uring lacks single mmap, nodrop or ext_arg");
    }
    sq_map_size_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    cq_map_size_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    if (cq_map_size_ > sq_map_size_) sq_map_size_ = cq_map_size_;
    sq_map_ = ::mmap(nullptr, sq_map_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQ_RING);
    if (sq_map_ == MAP_FAILED) {
        int err = errno;
        ::close(fd_);
        fail(err, "corio: mmap io_uring");
    }
    cq_map_ = sq_map_;  // IORING_FEAT_SINGLE_MMAP
    sqes_size_ = p.sq_entries * sizeof(io_uring_sqe);
    void* sqes = ::mmap(nullptr, sqes_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) {
        int err = errno;
        ::munmap(sq_map_, sq_map_size_);
        ::close(fd_);
        fail(err, "corio: mmap io_uring entries");
    }
    sqes_ = static_cast<io_uring_sqe*>(sqes);
    sq_head_ = at<unsigned>(sq_map_, p.sq_off.head);
    sq_tail_ = at<unsigned>(sq_map_, p.sq_off.tail);
    sq_flags_ = at<unsigned>(sq_map_, p.sq_off.flags);
    sq_array_ = at<unsigned>(sq_map_, p.sq_off.array);
    sq_mask_ = *at<unsigned>(sq_map_, p.sq_off.ring_mask);
    sq_entries_ = *at<unsigned>(sq_map_, p.sq_off.ring_entries);
    cq_head_ = at<unsigned>(cq_map_, p.cq_off.head);
    cq_tail_ = at<unsigned>(cq_map_, p.cq_off.tail);
    cqes_ = at<io_uring_cqe>(cq_map_, p.cq_off.cqes);
    cq_mask_ = *at<unsigned>(cq_map_, p.cq_off.ring_mask);
    sqe_tail_ = *sq_tail_;
    // The identity map from ring slots to entries, set once.
    for (unsigned i = 0; i < sq_entries_; ++i) sq_array_[i] = i;
}

Ring::~Ring() {
    ::munmap(sqes_, sqes_size_);
    ::munmap(sq_map_, sq_map_size_);
    ::close(fd_);
}

io_uring_sqe* Ring::get_sqe() noexcept {
    unsigned head = __atomic_load_n(sq_head_, __ATOMIC_ACQUIRE);
    if (sqe_tail_ - head >= sq_entries_) return nullptr;
    io_uring_sqe* sqe = &sqes_[sqe_tail_ & sq_mask_];
    ++sqe_tail_;
    std::memset(sqe, 0, sizeof *sqe);
    return sqe;
}

unsigned Ring::flush() noexcept {
    // release: the kernel that reads the new tail sees the filled entries.
    __atomic_store_n(sq_tail_, sqe_tail_, __ATOMIC_RELEASE);
    return sqe_tail_ - __atomic_load_n(sq_head_, __ATOMIC_ACQUIRE);
}

int Ring::enter(unsigned to_submit, unsigned min_complete, long long timeout_ns) noexcept {
    unsigned flags = 0;
    io_uring_getevents_arg arg{};
    __kernel_timespec ts{};
    if (min_complete > 0 || cq_overflowed() || taskrun_pending()) flags |= IORING_ENTER_GETEVENTS;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1'000'000'000;
        ts.tv_nsec = timeout_ns % 1'000'000'000;
        arg.ts = reinterpret_cast<std::uint64_t>(&ts);
    }
    flags |= IORING_ENTER_EXT_ARG;
    int r = sys_enter(fd_, to_submit, min_complete, flags, &arg, sizeof arg);
    return r < 0 ? -errno : r;
}

bool Ring::register_file_slots(unsigned count) noexcept {
    io_uring_rsrc_register reg{};
    reg.nr = count;
    reg.flags = IORING_RSRC_REGISTER_SPARSE;
    return sys_register(fd_, IORING_REGISTER_FILES2, &reg, sizeof reg) == 0;
}

bool Ring::set_file_slot(unsigned slot, int fd) noexcept {
    io_uring_rsrc_update2 update{};
    update.offset = slot;
    update.data = reinterpret_cast<std::uint64_t>(&fd);
    update.nr = 1;
    return sys_register(fd_, IORING_REGISTER_FILES_UPDATE2, &update, sizeof update) == 1;
}

BufferRing::BufferRing(Ring& ring, std::uint16_t group, unsigned count, unsigned size)
    : ring_(ring), group_(group), count_(count), size_(size) {
    br_size_ = count * sizeof(io_uring_buf);
    void* br = ::mmap(nullptr, br_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED) fail(errno, "corio: mmap buffer ring");
    br_ = static_cast<io_uring_buf_ring*>(br);
    slab_size_ = static_cast<std::size_t>(count) * size;
    void* slab = ::mmap(nullptr, slab_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slab == MAP_FAILED) {
        int err = errno;
        ::munmap(br_, br_size_);
        fail(err, "corio: mmap receive buffers");
    }
    slab_ = static_cast<std::byte*>(slab);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(br_);
    reg.ring_entries = count;
    reg.bgid = group;
    if (sys_register(ring.fd(), IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        int err = errno;
        ::munmap(slab_, slab_size_);
        ::munmap(br_, br_size_);
        fail(err, "corio: register buffer ring");
    }
    for (unsigned id = 0; id < count; ++id) give_back(id);
}

BufferRing::~BufferRing() {
    io_uring_buf_reg reg{};
    reg.bgid = group_;
    sys_register(ring_.fd(), IORING_UNREGISTER_PBUF_RING, &reg, 1);
    ::munmap(slab_, slab_size_);
    ::munmap(br_, br_size_);
}

void BufferRing::give_back(unsigned id) noexcept {
    // Not br_->bufs: in C++ the kernel header's flexible-array wrapper puts
    // it 8 bytes in (its empty struct has size 1); the entries start at 0.
    io_uring_buf& b = reinterpret_cast<io_uring_buf*>(br_)[tail_ & (count_ - 1)];
    b.addr = reinterpret_cast<std::uint64_t>(data(id));
    b.len = size_;
    b.bid = static_cast<std::uint16_t>(id);
    ++tail_;
    // release: the kernel that reads the new tail sees the entry.
    __atomic_store_n(&br_->tail, tail_, __ATOMIC_RELEASE);
}

}  // namespace corio::detail::uring
