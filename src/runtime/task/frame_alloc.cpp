// Recycling allocator for coroutine frames and task cells.
//
// Invariant: a block on a thread's free list for class c is exactly
// c * kGranule bytes, came from this allocator, and is not in use. Free lists
// are thread-local (no lock on the hot path); a thread's leftovers go to a
// global pool, guarded by a mutex, when the thread exits, and are taken back
// from there by any thread whose own list for that class is empty. Memory is
// carved from chunks that are kept forever in a global list, so every block
// stays reachable and leak checkers stay quiet.
#include "corio/detail/frame_alloc.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>

#include <sys/mman.h>
#include <vector>

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

struct GlobalPool {
    std::mutex mutex;
    std::vector<void*> chunks;                  // kept forever: every block stays reachable
    std::array<FreeBlock*, kClasses> lists{};   // blocks left by exited threads
    std::atomic<bool> has_blocks{false};        // cheap check before taking the mutex
};

GlobalPool& global_pool() {
    static auto* pool = new GlobalPool;  // never destroyed: threads may free blocks during static destruction
    return *pool;
}

class ThreadCache {
public:
    ~ThreadCache() {
        GlobalPool& pool = global_pool();
        std::lock_guard lock(pool.mutex);
        bool any = false;
        for (std::size_t c = 0; c < kClasses; ++c) {
            while (FreeBlock* block = lists_[c]) {
                unpoison(block, sizeof(FreeBlock));
                lists_[c] = block->next;
                block->next = pool.lists[c];
                pool.lists[c] = block;
                poison(block, (c + 1) * kGranule);
                any = true;
            }
        }
        if (any) pool.has_blocks.store(true, std::memory_order_relaxed);  // read under the mutex
        exited_ = true;
    }

    void* allocate(std::size_t cls) {
        std::size_t size = (cls + 1) * kGranule;
        if (FreeBlock* block = lists_[cls]) {
            unpoison(block, size);
            lists_[cls] = block->next;
            return block;
        }
        if (void* block = take_from_pool(cls)) {
            unpoison(block, size);
            return block;
        }
        return carve(size);
    }

    void deallocate(void* p, std::size_t cls) noexcept {
        auto* block = static_cast<FreeBlock*>(p);
        block->next = lists_[cls];
        lists_[cls] = block;
        poison(block, (cls + 1) * kGranule);
    }

    bool exited() const noexcept { return exited_; }

private:
    static void* take_from_pool(std::size_t cls) {
        GlobalPool& pool = global_pool();
        if (!pool.has_blocks.load(std::memory_order_relaxed)) return nullptr;  // a stale false only costs a carve
        std::lock_guard lock(pool.mutex);
        FreeBlock* block = pool.lists[cls];
        if (block == nullptr) return nullptr;
        unpoison(block, sizeof(FreeBlock));
        pool.lists[cls] = block->next;
        return block;
    }

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

    std::array<FreeBlock*, kClasses> lists_{};
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
        GlobalPool& pool = global_pool();
        std::lock_guard lock(pool.mutex);
        auto* free_block = static_cast<FreeBlock*>(block);
        std::size_t cls = size_class(size);
        free_block->next = pool.lists[cls];
        pool.lists[cls] = free_block;
        pool.has_blocks.store(true, std::memory_order_relaxed);
        return;
    }
    cache.deallocate(block, size_class(size));
}

}  // namespace corio::detail
