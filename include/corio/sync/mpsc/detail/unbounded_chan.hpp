// mpsc unbounded channel state: UnboundedChan, the list behind
// unbounded_channel<T>().
//
// Vyukov's intrusive MPSC list, one node per message: a send is one
// allocation, one exchange of the tail and one seq_cst link store (then
// ChanBase's Dekker check of the parked receiver).
//
// Invariant: `head_` is the receiver's sentinel, a node whose value was
// consumed (or never existed); every node after it holds one value, which
// is destroyed exactly once: by the receive that takes it, or when the
// channel is freed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "corio/detail/sync.hpp"
#include "corio/detail/wake_list.hpp"
#include "corio/sync/mpsc/detail/chan.hpp"

namespace corio::sync::mpsc::detail {

template <class T>
struct Node {
    corio::detail::Atomic<Node*> next{nullptr};
    union {
        T value;
    };
    Node() noexcept {}
    ~Node() {}
};

template <class T>
class UnboundedChan final : public ChanBase {
public:
    UnboundedChan() : head_(new Node<T>()) { tail_.store(head_, std::memory_order_relaxed); }
    ~UnboundedChan() {
        // Every handle is gone: the list is complete. head_ is the consumed sentinel node.
        Node<T>* n = head_;
        Node<T>* next = n->next.load(std::memory_order_relaxed);
        delete n;
        while (next != nullptr) {
            n = next;
            next = n->next.load(std::memory_order_relaxed);
            n->value.~T();
            delete n;
        }
    }

    static constexpr std::uint32_t kRxClosed = 1;
    static constexpr std::uint32_t kTxClosed = 2;

    bool rx_closed() const noexcept { return (flags_.load(std::memory_order_acquire) & kRxClosed) != 0; }

    /// Appends `value` (false when the receiver is closed: the value is untouched).
    bool push(T& value) {
        if (rx_closed()) return false;
        auto* node = new Node<T>();
        try {
            ::new (static_cast<void*>(&node->value)) T(std::move(value));
        } catch (...) {
            delete node;
            throw;
        }
        // acq_rel: order our node's construction before its link; take the predecessor.
        Node<T>* prev = tail_.exchange(node, std::memory_order_acq_rel);
        prev->next.store(node, std::memory_order_seq_cst);  // seq_cst: publishes, and Dekker with park_rx
        notify_rx();
        return true;
    }

    std::optional<T> try_pop(std::memory_order order) noexcept(std::is_nothrow_move_constructible_v<T>) {
        Node<T>* next = head_->next.load(order);
        if (next == nullptr) return std::nullopt;
        std::optional<T> out(std::move(next->value));
        next->value.~T();
        delete head_;
        head_ = next;
        return out;
    }

    bool drained_and_closed(std::memory_order order) const noexcept {
        // The flags first: the last sender closes after its pushes, so once
        // the close is seen its pushes are too. Read the other way round, a
        // list seen empty before those pushes and a close seen after them
        // would end the stream with values still in it.
        if ((flags_.load(order) & (kRxClosed | kTxClosed)) == 0) return false;
        if (head_->next.load(order) != nullptr) return false;
        return tail_.load(order) == head_;  // else a push is between its exchange and its link
    }

    std::size_t len() const noexcept {
        std::size_t n = 0;
        // acquire: each link publishes its node.
        for (Node<T>* p = head_->next.load(std::memory_order_acquire); p != nullptr;
             p = p->next.load(std::memory_order_acquire))
            ++n;
        return n;
    }

    void close() {
        flags_.fetch_or(kRxClosed, std::memory_order_acq_rel);  // acq_rel: senders that see it see what came before
        corio::detail::WakeList batch;
        {
            std::unique_lock lock(lock_);
            close_waiters_locked(batch, lock);
        }
        batch.wake_all();
    }

    void close_tx() {
        flags_.fetch_or(kTxClosed, std::memory_order_seq_cst);  // seq_cst: Dekker with park_rx
        notify_rx();
    }

private:
    alignas(64) corio::detail::Atomic<Node<T>*> tail_;
    corio::detail::Atomic<std::uint32_t> flags_{0};
    alignas(64) Node<T>* head_;  // the receiver's sentinel node: its value was consumed (or never existed)
};

}  // namespace corio::sync::mpsc::detail
