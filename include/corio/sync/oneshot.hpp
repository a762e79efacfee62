// oneshot: a channel that carries one value from one Sender to one Receiver.
//
// One allocation per channel: a shared cell holding one atomic state word,
// the value slot and one waker per side. No lock anywhere; every transition
// is a single CAS or fetch_or on the state word:
//
//   RX_TASK_SET  rx_data/rx_vtable hold the Receiver's waker (a reference
//                the cell owns); the Receiver clears it to rewrite them and
//                bumps RX_GEN when it sets it again
//   RX_TAKEN     the Sender took that reference with its completing CAS
//                (it read the waker before, and the CAS proves RX_GEN did
//                not move) and wakes it by value: no release step after
//                waking, no waker left to drop when the cell is freed
//   TX_TASK_SET  tx_waker holds the waker of Sender::closed(); while set
//                only the Receiver may read it
//   COMPLETE     the Sender is done: it sent (VALUE) or was dropped
//   VALUE        the slot holds a value (set with COMPLETE, cleared by the
//                Receiver that takes it)
//   CLOSED       the Receiver closed or was dropped; a Sender that sees it
//                before COMPLETE keeps its value
//   TX_GONE      the Sender handle released the cell
//   RX_GONE      the Receiver released the cell
//
// Whoever sets the second of TX_GONE / RX_GONE frees the cell, destroying a
// value still in it: a value is destroyed exactly once.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/detail/frame_alloc.hpp"
#include "corio/detail/sync.hpp"
#include "corio/future.hpp"

namespace corio::sync::oneshot {

/// The error of awaiting a Receiver whose Sender was dropped without
/// sending (or which was closed before a value arrived).
struct RecvError {
    friend bool operator==(RecvError, RecvError) noexcept = default;
};

/// Why Receiver::try_recv returned no value.
enum class TryRecvError {
    Empty,   ///< nothing sent yet; the Sender is still alive
    Closed,  ///< the Sender was dropped without sending, the channel was closed, or the value was taken
};

template <class T>
class Sender;
template <class T>
class Receiver;

template <class T>
std::pair<Sender<T>, Receiver<T>> channel();

namespace detail {

namespace bits {
inline constexpr std::uint32_t kRxTaskSet = 1u << 0;
inline constexpr std::uint32_t kTxTaskSet = 1u << 1;
inline constexpr std::uint32_t kComplete = 1u << 2;
inline constexpr std::uint32_t kValue = 1u << 3;
inline constexpr std::uint32_t kClosed = 1u << 4;
inline constexpr std::uint32_t kTxGone = 1u << 5;
inline constexpr std::uint32_t kRxGone = 1u << 6;
inline constexpr std::uint32_t kRxTaken = 1u << 7;
inline constexpr std::uint32_t kRxGenOne = 1u << 8;  // bits 8..31: RX_GEN
}  // namespace bits

template <class T>
struct Cell {
    corio::detail::Atomic<std::uint32_t> state{0};
    // The Receiver's waker, as raw parts: atomics because the Sender reads
    // them speculatively before the CAS that validates the read.
    corio::detail::Atomic<const void*> rx_data{nullptr};
    corio::detail::Atomic<const RawWakerVTable*> rx_vtable{nullptr};
    Waker tx_waker;
    union {
        T value;
    };

    Cell() noexcept {}
    Cell(const Cell&) = delete;
    Cell& operator=(const Cell&) = delete;
    ~Cell() {}

    static Cell* allocate() { return new (corio::detail::frame_allocate(sizeof(Cell))) Cell(); }

    /// Frees the cell; `last` is the state the final release saw (VALUE says
    /// whether the slot still holds a value).
    static void destroy(Cell* cell, std::uint32_t last) noexcept {
        if (last & bits::kValue) cell->value.~T();
        if ((last & bits::kRxTaskSet) && !(last & bits::kRxTaken)) cell->drop_rx_waker();
        cell->~Cell();
        corio::detail::frame_deallocate(cell, sizeof(Cell));
    }

    /// Sets `gone` (TX_GONE or RX_GONE), clearing `clear`, and frees the
    /// cell when the other side has released it too.
    void release(std::uint32_t gone, std::uint32_t clear = 0) noexcept {
        // acq_rel: the last releaser must see every write of the other side
        // (the value slot, the wakers) before it destroys them.
        std::uint32_t prev = state.fetch_xor(gone | clear, std::memory_order_acq_rel);
        if (prev & (bits::kTxGone | bits::kRxGone)) destroy(this, (prev ^ clear) | gone);
    }

    /// The Sender finishes: publishes the value (when `with_value`) unless the
    /// Receiver closed first, wakes the Receiver and releases the Sender's
    /// hold. False when the Receiver had closed first: then nothing was
    /// published, the Sender still holds the cell and must release it after
    /// taking its value back out of the slot.
    bool complete(bool with_value) noexcept {
        const std::uint32_t add = bits::kComplete | bits::kTxGone | (with_value ? bits::kValue : 0);
        // acquire: a RX_TASK_SET seen here publishes the waker's parts.
        std::uint32_t cur = state.load(std::memory_order_acquire);
        for (;;) {
            if (cur & bits::kClosed) return false;
            RawWaker raw{};
            std::uint32_t next = cur | add;
            if (cur & bits::kRxTaskSet) {
                // relaxed: validated by the CAS below (RX_GEN unchanged means
                // the parts were not rewritten since the acquire above).
                raw = RawWaker{rx_data.load(std::memory_order_relaxed), rx_vtable.load(std::memory_order_relaxed)};
                next |= bits::kRxTaken;
            }
            // acq_rel: release the value to the Receiver; acquire the waker
            // parts again on failure.
            if (state.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
                if (cur & bits::kRxGone) {
                    destroy(this, next);
                } else if (cur & bits::kRxTaskSet) {
                    Waker::from_raw(raw).wake();  // the reference is ours now
                }
                return true;
            }
        }
    }

    /// Receiver side: stores a clone of `waker` as the Receiver's waker,
    /// unless the stored one wakes the same task. Returns the state after;
    /// COMPLETE or CLOSED in it mean the outcome is decided.
    std::uint32_t register_rx(const Waker& waker) {
        constexpr std::uint32_t done = bits::kComplete | bits::kClosed;
        std::uint32_t cur = state.load(std::memory_order_acquire);
        if (cur & done) return cur;
        if (cur & bits::kRxTaskSet) {
            const RawWaker& w = waker.as_raw();
            // relaxed: only this side writes them.
            if (rx_data.load(std::memory_order_relaxed) == w.data &&
                rx_vtable.load(std::memory_order_relaxed) == w.vtable)
                return cur;
            // acq_rel: take the parts back; acquire a concurrent completion.
            cur = state.fetch_and(~bits::kRxTaskSet, std::memory_order_acq_rel);
            if (cur & done) {
                if (!(cur & bits::kRxTaken)) drop_rx_waker();  // cleared above: ours to drop
                return cur;
            }
            drop_rx_waker();
        }
        RawWaker fresh = Waker(waker).into_raw();
        // relaxed: published by the fetch_add below.
        rx_data.store(fresh.data, std::memory_order_relaxed);
        rx_vtable.store(fresh.vtable, std::memory_order_relaxed);
        // RX_TASK_SET is clear: adding sets it and bumps RX_GEN in one step.
        // acq_rel: release the parts; acquire a concurrent completion.
        return state.fetch_add(bits::kRxTaskSet + bits::kRxGenOne, std::memory_order_acq_rel) + bits::kRxTaskSet +
               bits::kRxGenOne;
    }

    // Drops the stored Receiver waker (owned by the cell).
    void drop_rx_waker() noexcept {
        // relaxed: the caller owns the parts (by the protocol above).
        (void)Waker::from_raw(
            RawWaker{rx_data.load(std::memory_order_relaxed), rx_vtable.load(std::memory_order_relaxed)});
    }

    /// Receiver side: marks CLOSED and wakes a pending Sender::closed().
    /// Returns the state before.
    std::uint32_t close() noexcept {
        // acq_rel: acquire the closed() waker; release CLOSED to the Sender.
        std::uint32_t prev = state.fetch_or(bits::kClosed, std::memory_order_acq_rel);
        if ((prev & bits::kTxTaskSet) && !(prev & bits::kComplete)) tx_waker.wake_by_ref();
        return prev;
    }

    /// Stores `waker` in `slot` under the `task_set` flag (the protocol of the
    /// header comment). Returns the state after; if `done` is set in it the
    /// caller is finished and must not wait.
    std::uint32_t register_waker(Waker& slot, std::uint32_t task_set, std::uint32_t done, const Waker& waker) {
        std::uint32_t cur = state.load(std::memory_order_acquire);
        if (cur & done) return cur;
        if (cur & task_set) {
            if (slot.will_wake(waker)) return cur;
            // Take the slot back to rewrite it.
            // acq_rel: acquire a concurrent `done` transition along with its data.
            cur = state.fetch_and(~task_set, std::memory_order_acq_rel);
            // The other side finished and may be reading the slot: leave it.
            if (cur & done) return cur;
        }
        slot.clone_from(waker);
        // acq_rel: release the slot write; acquire a concurrent `done`.
        return state.fetch_or(task_set, std::memory_order_acq_rel) | task_set;
    }
};

}  // namespace detail

/// The sending half of a oneshot channel. Move-only; dropping it without
/// sending tells the Receiver (its await yields RecvError).
template <class T>
class Sender {
public:
    Sender() noexcept = default;
    Sender(Sender&& other) noexcept : cell_(std::exchange(other.cell_, nullptr)) {}
    Sender& operator=(Sender&& other) noexcept {
        if (this != &other) {
            reset();
            cell_ = std::exchange(other.cell_, nullptr);
        }
        return *this;
    }
    Sender(const Sender&) = delete;
    Sender& operator=(const Sender&) = delete;
    ~Sender() { reset(); }

    /// Sends `value` and gives up the channel (this Sender becomes empty).
    /// Never waits. Returns the value back, as the error, when the Receiver
    /// was dropped or closed. Throws std::logic_error on an empty Sender
    /// (moved from, or already used).
    std::expected<void, T> send(T value) {
        if (cell_ == nullptr) throw std::logic_error("corio::oneshot::Sender::send on an empty Sender");
        // relaxed: CLOSED is re-checked by complete()'s CAS; this only skips
        // a useless move into the slot when the Receiver is long gone.
        if (cell_->state.load(std::memory_order_relaxed) & detail::bits::kClosed) {
            reset();
            return std::unexpected(std::move(value));
        }
        ::new (static_cast<void*>(&cell_->value)) T(std::move(value));  // may throw: the Sender is still intact
        detail::Cell<T>* cell = std::exchange(cell_, nullptr);
        if (cell->complete(true)) return {};
        // Closed first: the Receiver never reads the slot; take the value back.
        std::expected<void, T> back(std::unexpect, std::move(cell->value));
        cell->value.~T();
        cell->release(detail::bits::kTxGone);
        return back;
    }

    /// True once the Receiver was dropped or closed (a send would fail).
    /// False for an empty Sender.
    bool is_closed() const noexcept {
        // acquire: pairs with the Receiver's close.
        return cell_ != nullptr && (cell_->state.load(std::memory_order_acquire) & detail::bits::kClosed) != 0;
    }

    /// The future of closed().
    class CORIO_NODISCARD_FUTURE Closed {
    public:
        using Output = void;
        explicit Closed(Sender& sender) noexcept : sender_(&sender) {}
        Poll<void> poll(Context& cx) {
            detail::Cell<T>* cell = sender_->cell_;
            if (cell == nullptr) return Ready();
            if (!corio::detail::poll_proceed(cx)) return Pending;
            std::uint32_t s =
                cell->register_waker(cell->tx_waker, detail::bits::kTxTaskSet, detail::bits::kClosed, cx.waker());
            if (s & detail::bits::kClosed) return Ready();
            return Pending;
        }

    private:
        Sender* sender_;
    };

    /// Completes once the Receiver is dropped or closed (at once for an empty
    /// Sender). Cancellation-safe: dropping it loses nothing. The Sender must
    /// outlive the future.
    Closed closed() noexcept { return Closed(*this); }

    /// False for a default-constructed, moved-from or used Sender.
    bool valid() const noexcept { return cell_ != nullptr; }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>();
    explicit Sender(detail::Cell<T>* cell) noexcept : cell_(cell) {}
    void reset() noexcept {
        if (cell_ == nullptr) return;
        detail::Cell<T>* cell = std::exchange(cell_, nullptr);
        if (!cell->complete(false)) cell->release(detail::bits::kTxGone);
    }

    detail::Cell<T>* cell_ = nullptr;
};

/// The receiving half of a oneshot channel, itself a Future: awaiting it
/// yields the value, or RecvError when the Sender was dropped without
/// sending (or close() was called before a value came). Move-only.
///
/// Cancellation-safe: dropping a pending await loses nothing (the Receiver
/// itself still holds the channel). Dropping the Receiver closes the channel
/// and destroys a value that was sent but not received. Awaiting it again
/// after it completed throws std::logic_error.
template <class T>
class CORIO_NODISCARD_FUTURE Receiver {
public:
    using Output = std::expected<T, RecvError>;

    Receiver() noexcept = default;
    Receiver(Receiver&& other) noexcept : cell_(std::exchange(other.cell_, nullptr)) {}
    Receiver& operator=(Receiver&& other) noexcept {
        if (this != &other) {
            reset();
            cell_ = std::exchange(other.cell_, nullptr);
        }
        return *this;
    }
    Receiver(const Receiver&) = delete;
    Receiver& operator=(const Receiver&) = delete;
    ~Receiver() { reset(); }

    Poll<Output> poll(Context& cx) {
        if (cell_ == nullptr) throw std::logic_error("corio::oneshot::Receiver polled after it completed");
        if (!corio::detail::poll_proceed(cx)) return Pending;
        std::uint32_t s = cell_->state.load(std::memory_order_acquire);  // acquire: a COMPLETE publishes the value
        if (!(s & (detail::bits::kComplete | detail::bits::kClosed))) {
            s = cell_->register_rx(cx.waker());
            if (!(s & (detail::bits::kComplete | detail::bits::kClosed))) return Pending;
        }
        return Ready(finish(s));
    }

    /// The value, if it has arrived (the Receiver is then used up); otherwise
    /// Empty while the Sender is alive, or Closed when it was dropped without
    /// sending, the channel was closed, or the value was already taken.
    std::expected<T, TryRecvError> try_recv() {
        if (cell_ == nullptr) return std::unexpected(TryRecvError::Closed);
        std::uint32_t s = cell_->state.load(std::memory_order_acquire);  // acquire: a COMPLETE publishes the value
        if (s & detail::bits::kValue) return take(s);
        if (s & (detail::bits::kComplete | detail::bits::kClosed)) return std::unexpected(TryRecvError::Closed);
        return std::unexpected(TryRecvError::Empty);
    }

    /// Closes the channel without dropping the Receiver: a later send fails
    /// and gives its value back, Sender::closed() completes. A value sent
    /// before the close can still be received.
    void close() noexcept {
        if (cell_ != nullptr) cell_->close();
    }

    /// False for a default-constructed or moved-from Receiver, or once the
    /// value (or the error) was received.
    bool valid() const noexcept { return cell_ != nullptr; }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>();
    explicit Receiver(detail::Cell<T>* cell) noexcept : cell_(cell) {}

    // s has COMPLETE or CLOSED: the outcome is decided.
    Output finish(std::uint32_t s) {
        if (s & detail::bits::kValue) return Output(std::in_place, take(s));
        // COMPLETE without VALUE (the Sender is done) or CLOSED (a late
        // Sender sees it and keeps its value): nothing more can arrive.
        detail::Cell<T>* cell = std::exchange(cell_, nullptr);
        if (s & detail::bits::kTxGone) {
            detail::Cell<T>::destroy(cell, s);  // the Sender is gone: the cell is ours alone
        } else {
            cell->release(detail::bits::kRxGone);
        }
        return std::unexpected(RecvError{});
    }

    // Moves the value out and releases the cell (clearing VALUE in the same
    // step). `s` is the state seen with acquire; it has VALUE. When it also
    // has TX_GONE the Sender has let go for good, so the cell is freed
    // without another atomic step.
    T take(std::uint32_t s) {
        detail::Cell<T>* cell = std::exchange(cell_, nullptr);
        struct Release {
            detail::Cell<T>* cell;
            std::uint32_t s;
            ~Release() {
                cell->value.~T();
                if (s & detail::bits::kTxGone) {
                    detail::Cell<T>::destroy(cell, s & ~detail::bits::kValue);
                } else {
                    cell->release(detail::bits::kRxGone, detail::bits::kValue);
                }
            }
        } release{cell, s};
        return T(std::move(cell->value));  // built before `release` runs
    }

    void reset() noexcept {
        if (cell_ == nullptr) return;
        detail::Cell<T>* cell = std::exchange(cell_, nullptr);
        cell->close();
        cell->release(detail::bits::kRxGone);
    }

    detail::Cell<T>* cell_ = nullptr;
};

/// Creates a oneshot channel: one allocation holding the value slot and both
/// wakers. Throws std::bad_alloc.
template <class T>
std::pair<Sender<T>, Receiver<T>> channel() {
    auto* cell = detail::Cell<T>::allocate();
    return {Sender<T>(cell), Receiver<T>(cell)};
}

static_assert(Future<Receiver<int>>);
static_assert(Future<Sender<int>::Closed>);

}  // namespace corio::sync::oneshot
