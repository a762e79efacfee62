// Recycling allocator for coroutine frames and task cells.
//
// Invariant: a block on a thread's free list for class c is exactly
// (c + 1) * kGranule bytes, came from this allocator, and is not in use. Free
// lists are thread-local (no lock on the hot path) and capped: a full list,
// or a thread's leftovers when it exits, moves as one batch to a global pool
// (mutex), from which any thread whose own list is empty takes a batch. Memory is
// carved from chunks that are kept forever in a global list, so every block
// stays reachable and leak checkers stay quiet.
#include "corio/detail/frame_alloc.hpp"

#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "corio/detail/sync.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORIO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CORIO_ASAN 1
#endif

#ifdef CORIO_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace corio::detail {
namespace {

constexpr std::size_t kGranule = 16;
constexpr std::size_t kClasses = 64;  // blocks up to 1 KiB are recycled
constexpr std::size_t kMaxRecycled = kGranule * kClasses;
constexpr std::size_t kFirstChunk = 64 * 1024;
// Chunks double per thread up to this size; chunks this big are 2 MiB
// aligned and backed by transparent huge pages where the kernel allows it,
// so a thread that allocates many frames takes one page fault per 2 MiB
// instead of one per 4 KiB (page faults dominated a cold spawn burst).
constexpr std::size_t kHugeChunk = 2 * 1024 * 1024;

struct FreeBlock {
    FreeBlock* next;
};

void poison(void* block, std::size_t size) noexcept {
#ifdef CORIO_ASAN
    ASAN_POISON_MEMORY_REGION(block, size);
#else
    (void)block;
    (void)size;
#endif
}

void unpoison(void* block, std::size_t size) noexcept {
#ifdef CORIO_ASAN
    ASAN_UNPOISON_MEMORY_REGION(block, size);
#else
    (void)block;
    (void)size;
#endif
}

// A run of free blocks of one class, handed between threads as a whole.
struct Batch {
    FreeBlock* head = nullptr;
    std::uint32_t count = 0;
};

struct GlobalPool {
    corio::detail::Mutex mutex;
    std::vector<void*> chunks;                         // kept forever: every block stays reachable
    std::array<std::vector<Batch>, kClasses> batches;  // spilled by threads or left by exited ones
    corio::detail::Atomic<std::uint64_t> nonempty{0};  // bit c set: batches[c] may be non-empty

    void put(std::size_t cls, Batch batch) {
        std::lock_guard lock(mutex);
        batches[cls].push_back(batch);
        nonempty.fetch_or(std::uint64_t{1} << cls, std::memory_order_relaxed);  // a hint, re-checked under the mutex
    }

    Batch take(std::size_t cls) {
        if (!(nonempty.load(std::memory_order_relaxed) & (std::uint64_t{1} << cls))) return {};
        std::lock_guard lock(mutex);
        auto& list = batches[cls];
        if (list.empty()) return {};
        Batch b = list.back();
        list.pop_back();
        if (list.empty()) nonempty.fetch_and(~(std::uint64_t{1} << cls), std::memory_order_relaxed);
        return b;
    }
};

GlobalPool& global_pool() {
    static auto* pool = new GlobalPool;  // never destroyed: threads may free blocks during static destruction
    return *pool;
}

// A thread keeps at most this many free blocks per class; beyond that its
// whole list moves to the global pool, where threads that allocate more than
// they free (a spawner feeding another thread's runtime) pick it up. Without
// the cap such a pair grows without bound: one side only carves, the other
// only collects.
constexpr std::uint32_t kLocalLimit = 256;

class ThreadCache {
public:
    ~ThreadCache() {
        GlobalPool& pool = global_pool();
        for (std::size_t c = 0; c < kClasses; ++c) {
            if (lists_[c].count != 0) pool.put(c, std::exchange(lists_[c], Batch{}));
        }
        exited_ = true;
    }

    void* allocate(std::size_t cls) {
        std::size_t size = (cls + 1) * kGranule;
        Batch& list = lists_[cls];
        if (list.head == nullptr) list = global_pool().take(cls);
        if (FreeBlock* block = list.head) {
            unpoison(block, size);
            list.head = block->next;
            --list.count;
            return block;
        }
        return carve(size);
    }

    void deallocate(void* p, std::size_t cls) noexcept {
        Batch& list = lists_[cls];
        if (list.count >= kLocalLimit) global_pool().put(cls, std::exchange(list, Batch{}));
        auto* block = static_cast<FreeBlock*>(p);
        block->next = list.head;
        list.head = block;
        ++list.count;
        poison(block, (cls + 1) * kGranule);
    }

    bool exited() const noexcept { return exited_; }

private:
    void* carve(std::size_t size) {
        if (static_cast<std::size_t>(end_ - cursor_) < size) {
            std::size_t chunk_size = next_chunk_;
            if (next_chunk_ < kHugeChunk) next_chunk_ *= 2;
            void* chunk = allocate_chunk(chunk_size);
            {
                GlobalPool& pool = global_pool();
                std::lock_guard lock(pool.mutex);
                pool.chunks.push_back(chunk);
            }
            cursor_ = static_cast<std::byte*>(chunk);
            end_ = cursor_ + chunk_size;
        }
        void* block = cursor_;
        cursor_ += size;
        return block;
    }

    static void* allocate_chunk(std::size_t size) {
        if (size < kHugeChunk) return ::operator new(size);
        // Over-map by one huge page so an aligned 2 MiB window fits, then trim.
        std::size_t span = size + kHugeChunk;
        void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) throw std::bad_alloc();
        auto base = reinterpret_cast<std::uintptr_t>(raw);
        std::uintptr_t aligned = (base + kHugeChunk - 1) & ~(kHugeChunk - 1);
        if (aligned > base) ::munmap(raw, aligned - base);
        std::uintptr_t end = aligned + size;
        if (base + span > end) ::munmap(reinterpret_cast<void*>(end), base + span - end);
        // A hint, failure is harmless. With THP defrag=madvise the first fault may compact memory
        // synchronously (seen: rare stalls of tens of ms); without it a cold burst of frames paid
        // one fault per 4 KiB, ~60 ns per spawned task on this VM.
        ::madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
        return reinterpret_cast<void*>(aligned);
    }

    std::array<Batch, kClasses> lists_{};
    std::byte* cursor_ = nullptr;
    std::byte* end_ = nullptr;
    std::size_t next_chunk_ = kFirstChunk;
    bool exited_ = false;
};

thread_local ThreadCache cache;

std::size_t size_class(std::size_t size) noexcept { return (size + kGranule - 1) / kGranule - 1; }

}  // namespace

void* frame_allocate(std::size_t size) {
    if (size == 0) size = 1;
    if (size > kMaxRecycled) return ::operator new(size);
    return cache.allocate(size_class(size));
}

void frame_deallocate(void* block, std::size_t size) noexcept {
    if (size == 0) size = 1;
    if (size > kMaxRecycled) {
        ::operator delete(block);
        return;
    }
    if (cache.exited()) {  // a late free during this thread's teardown: park it in the pool
        auto* free_block = static_cast<FreeBlock*>(block);
        free_block->next = nullptr;
        poison(free_block, (size_class(size) + 1) * kGranule);
        global_pool().put(size_class(size), Batch{free_block, 1});
        return;
    }
    cache.deallocate(block, size_class(size));
}

}  // namespace corio::detail
