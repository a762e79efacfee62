// CancellationToken: a cheap, copyable, thread-safe signal that work should
// stop, arranged in a tree (a child is cancelled with its parent), plus the
// futures that wait for it.
//
// Layout and invariants:
// - A token is a pointer to a refcounted node. Tokens, child nodes (through
//   their parent pointer) and pending `cancelled()` futures each hold one
//   reference; the last one to go unlinks the node from its parent and frees
//   it, so a long-lived parent never accumulates dead children.
// - All the nodes of one tree share one mutex, the root's (a node keeps its
//   ancestors alive through its parent reference, so the root outlives every
//   descendant). It guards the child links, the waiter lists and the writes
//   of the `cancelled` flags; `is_cancelled()` reads the flag without it.
// - A cancelled node's descendants are all cancelled: cancel() marks the
//   whole subtree under the lock, and a child made from a cancelled token
//   starts cancelled and detached.
// - Waiters are intrusive list entries inside the `cancelled()` futures. A
//   canceller unlinks them and takes their wakers under the lock, and wakes
//   them after releasing it (in batches), so a waker never runs under the
//   tree's lock; a future destroyed mid-wait unlinks itself under the lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "corio/detail/coop.hpp"
#include "corio/detail/intrusive_list.hpp"
#include "corio/detail/sync.hpp"
#include "corio/detail/wake_list.hpp"
#include "corio/future.hpp"
#include "corio/select.hpp"

namespace corio {

namespace detail {

/// A waiting `cancelled()` future's entry in its node's list. Every field is
/// guarded by the tree's mutex.
struct CancelWaiter : ListHook<CancelWaiter> {
    Waker waker;
    // Written under the tree lock; also read without it by the owning
    // Cancelled's re-poll fast path (see Cancelled::poll).
    corio::detail::Atomic<bool> linked{false};
};

/// One token's shared state: a node of the cancellation tree.
class CancelNode {
public:
    /// A fresh root (refcount 1).
    static CancelNode* make_root() { return new CancelNode(nullptr); }

    /// A child of `parent` (refcount 1): linked below it, or cancelled and
    /// detached when `parent` is already cancelled.
    static CancelNode* make_child(CancelNode* parent) {
        auto* child = new CancelNode(nullptr);
        if (parent->cancelled_.load(std::memory_order_acquire)) {
            child->cancelled_.store(true, std::memory_order_relaxed);  // not shared yet
            return child;
        }
        std::lock_guard lock(parent->root_->mutex_);
        // relaxed: under the tree lock, which every write of the flag holds.
        if (parent->cancelled_.load(std::memory_order_relaxed)) {
            child->cancelled_.store(true, std::memory_order_relaxed);  // not shared yet
            return child;
        }
        ref(parent);
        child->parent_ = parent;
        child->root_ = parent->root_;
        child->next_sibling_ = parent->first_child_;
        if (parent->first_child_ != nullptr) parent->first_child_->prev_sibling_ = child;
        parent->first_child_ = child;
        ++parent->child_count_;
        return child;
    }

    /// Takes one more reference; the caller must already hold one.
    static void ref(CancelNode* node) noexcept {
        // relaxed: the caller already holds a reference, so the node cannot go away meanwhile.
        node->refs_.fetch_add(1, std::memory_order_relaxed);
    }

    /// Drops a reference; the last one unlinks the node from its parent and
    /// frees it, then drops the node's reference to its parent (iteratively).
    static void unref(CancelNode* node) noexcept {
        while (node != nullptr) {
            // acq_rel: the last holder must see every write the others made before letting go.
            if (node->refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
            CancelNode* parent = node->parent_;
            if (parent != nullptr) {
                std::lock_guard lock(node->root_->mutex_);
                parent->unlink_child(node);
            }
            delete node;
            node = parent;
        }
    }

    /// True once this node was cancelled (lock-free).
    bool is_cancelled() const noexcept {
        // acquire: pairs with the release store in cancel(), so what the
        // canceller wrote before cancelling is visible to whoever sees it.
        return cancelled_.load(std::memory_order_acquire);
    }

    /// Cancels this node and its whole subtree, then wakes every waiter of
    /// the subtree (outside the lock, in batches).
    void cancel() {
        if (is_cancelled()) return;
        {
            std::lock_guard lock(root_->mutex_);
            // relaxed: under the tree lock, which every write of the flag holds.
            if (cancelled_.load(std::memory_order_relaxed)) return;
            for (CancelNode* n = this; n != nullptr;) {
                if (n->cancelled_.load(std::memory_order_relaxed)) {
                    n = next_skipping_subtree(n);  // its subtree is cancelled already
                    continue;
                }
                n->cancelled_.store(true, std::memory_order_release);  // see is_cancelled()
                n = next_preorder(n);
            }
        }
        wake_subtree();
    }

    /// Children currently linked below this node (a diagnostic).
    std::size_t child_count() const {
        std::lock_guard lock(root_->mutex_);
        return child_count_;
    }

    /// Registers `waiter` (or refreshes its waker); false when the node is
    /// already cancelled (then nothing is registered).
    bool register_waiter(CancelWaiter& waiter, const Waker& waker) {
        Waker replaced;  // dropped after the lock: dropping a waker must never run under it
        std::lock_guard lock(root_->mutex_);
        if (cancelled_.load(std::memory_order_relaxed)) return false;  // relaxed: under the tree lock
        if (!waiter.waker.will_wake(waker)) {
            replaced = std::exchange(waiter.waker, waker);
        }
        if (!waiter.linked.load(std::memory_order_relaxed)) {      // relaxed: under the tree lock
            waiter.linked.store(true, std::memory_order_relaxed);  // relaxed: only the owner reads it unlocked
            waiters_.push_front(waiter);
        }
        return true;
    }

    /// Unlinks `waiter` if a canceller has not taken it already.
    void deregister_waiter(CancelWaiter& waiter) noexcept {
        std::lock_guard lock(root_->mutex_);
        if (waiter.linked.load(std::memory_order_relaxed)) unlink_waiter(waiter);  // relaxed: under the tree lock
    }

    /// Puts `to` in the list where `from` was (a future moved while registered).
    void move_waiter(CancelWaiter& from, CancelWaiter& to) noexcept {
        std::lock_guard lock(root_->mutex_);
        to.waker = std::move(from.waker);
        if (!from.linked.load(std::memory_order_relaxed)) return;  // relaxed: under the tree lock
        to.linked.store(true, std::memory_order_relaxed);
        IntrusiveList<CancelWaiter>::replace(from, to);
        from.linked.store(false, std::memory_order_relaxed);
    }

private:
    explicit CancelNode(CancelNode* parent) noexcept : root_(this), parent_(parent) {}

    void unlink_child(CancelNode* child) noexcept {
        if (child->prev_sibling_ != nullptr) {
            child->prev_sibling_->next_sibling_ = child->next_sibling_;
        } else {
            first_child_ = child->next_sibling_;
        }
        if (child->next_sibling_ != nullptr) child->next_sibling_->prev_sibling_ = child->prev_sibling_;
        --child_count_;
    }

    void unlink_waiter(CancelWaiter& waiter) noexcept {
        IntrusiveList<CancelWaiter>::remove(waiter);
        // release: the owner's unlocked fast path that sees false takes the
        // lock, and so sees the cancellation and the waker taken.
        waiter.linked.store(false, std::memory_order_release);
    }

    // Pre-order walk of the subtree rooted at `this`, without a stack.
    CancelNode* next_preorder(CancelNode* n) const noexcept {
        if (n->first_child_ != nullptr) return n->first_child_;
        return next_skipping_subtree(n);
    }
    CancelNode* next_skipping_subtree(CancelNode* n) const noexcept {
        while (n != this) {
            if (n->next_sibling_ != nullptr) return n->next_sibling_;
            n = n->parent_;
        }
        return nullptr;
    }

    // Takes up to a WakeList's worth of wakers off the subtree's waiter lists
    // under the lock and wakes them after it, until no waiter is left. The
    // walk starts afresh for each batch: nodes may have been freed while unlocked.
    void wake_subtree() {
        WakeList batch;
        for (;;) {
            {
                std::lock_guard lock(root_->mutex_);
                for (CancelNode* n = this; n != nullptr && !batch.full(); n = next_preorder(n)) {
                    while (!n->waiters_.empty() && !batch.full()) {
                        CancelWaiter& waiter = *n->waiters_.front();
                        batch.push(std::move(waiter.waker));
                        n->unlink_waiter(waiter);
                    }
                }
            }
            bool more = batch.full();
            batch.wake_all();
            if (!more) return;
        }
    }

    corio::detail::Atomic<std::size_t> refs_{1};
    corio::detail::Atomic<bool> cancelled_{false};  // written under the tree lock only
    CancelNode* root_;                              // whose mutex_ guards the fields below; never changes
    CancelNode* parent_;                            // a counted reference; never changes
    corio::detail::Mutex mutex_;                    // the tree's lock, when this node is the root
    CancelNode* first_child_ = nullptr;
    CancelNode* prev_sibling_ = nullptr;
    CancelNode* next_sibling_ = nullptr;
    std::size_t child_count_ = 0;
    IntrusiveList<CancelWaiter> waiters_;
};

}  // namespace detail

class DropGuard;
template <class A>
class RunUntilCancelled;

/// The future of CancellationToken::cancelled(): ready once the token is
/// cancelled (at once if it already is).
///
/// Cancellation-safe: dropping it mid-wait unlinks it and loses nothing. It
/// may be polled again after Ready (it stays ready), so a long-lived one can
/// be raced repeatedly in a select loop. It keeps the token's state alive.
class CORIO_NODISCARD_FUTURE Cancelled {
public:
    using Output = void;

    explicit Cancelled(detail::CancelNode* node) noexcept : node_(node) { detail::CancelNode::ref(node_); }
    Cancelled(Cancelled&& other) noexcept
        : node_(std::exchange(other.node_, nullptr)),
          registered_(other.registered_),
          registered_waker_(other.registered_waker_) {
        if (registered_) node_->move_waiter(other.waiter_, waiter_);
        other.registered_ = false;
    }
    Cancelled& operator=(Cancelled&&) = delete;
    ~Cancelled() {
        if (node_ == nullptr) return;
        if (registered_) node_->deregister_waiter(waiter_);
        detail::CancelNode::unref(node_);
    }

    /// Ready once cancelled; otherwise stores the waker and stays Pending.
    /// Throws std::logic_error when moved from.
    Poll<void> poll(Context& cx) {
        if (node_ == nullptr) throw std::logic_error("corio: polled a moved-from Cancelled");
        if (!detail::poll_proceed(cx)) return Pending;
        if (node_->is_cancelled()) return Ready();
        // Re-polled with the waker already registered and still linked: no
        // lock. A cancel that comes after the check above has not unlinked
        // the waiter yet, so it will wake that same waker.
        if (registered_ && same_waker(cx.waker()) && waiter_.linked.load(std::memory_order_acquire)) return Pending;
        if (!node_->register_waiter(waiter_, cx.waker())) return Ready();
        registered_ = true;
        registered_waker_ = cx.waker().as_raw();
        return Pending;
    }

private:
    bool same_waker(const Waker& waker) const noexcept {
        const RawWaker& raw = waker.as_raw();
        return raw.data == registered_waker_.data && raw.vtable == registered_waker_.vtable;
    }

    detail::CancelNode* node_;
    detail::CancelWaiter waiter_;
    bool registered_ = false;                      // waiter_ was linked once: the destructor must check under the lock
    RawWaker registered_waker_{nullptr, nullptr};  // which waker waiter_ holds; compared, never called
};

/// A signal that work should stop, shared by every copy.
///
/// Cheap to copy (one atomic increment); safe to use from any thread.
/// `cancel()` wakes every task awaiting `cancelled()` on this token or on any
/// of its descendants, on whatever runtime or thread they run. A moved-from
/// token may only be assigned to or destroyed.
class CancellationToken {
public:
    /// A new, uncancelled root token.
    CancellationToken() : node_(detail::CancelNode::make_root()) {}
    CancellationToken(const CancellationToken& other) noexcept : node_(other.node_) {
        if (node_ != nullptr) detail::CancelNode::ref(node_);
    }
    CancellationToken(CancellationToken&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
    CancellationToken& operator=(CancellationToken other) noexcept {
        std::swap(node_, other.node_);
        return *this;
    }
    ~CancellationToken() {
        if (node_ != nullptr) detail::CancelNode::unref(node_);
    }

    /// Cancels this token and every token derived from it with child_token()
    /// (not its parent or siblings), and wakes all their waiters. Idempotent;
    /// lock-free once cancelled.
    void cancel() const { node_->cancel(); }

    /// True once this token (or an ancestor) was cancelled. Lock-free.
    bool is_cancelled() const noexcept { return node_->is_cancelled(); }

    /// A future that completes once the token is cancelled; see Cancelled.
    Cancelled cancelled() const noexcept { return Cancelled(node_); }

    /// A new token cancelled when this one is (and on its own cancel(),
    /// which does not reach this token or its other children). Starts
    /// cancelled when this one already is. Dropping every copy of the child
    /// unlinks it from this token. Allocates one node.
    CancellationToken child_token() const { return CancellationToken(detail::CancelNode::make_child(node_)); }

    /// A guard that cancels this token when destroyed, unless disarmed.
    DropGuard drop_guard() const;

    /// Runs `fut` until the token is cancelled: its output (std::monostate
    /// for void) in an optional, or std::nullopt once cancelled, `fut` then
    /// being dropped. Cancellation is checked first on every poll. Owns an
    /// rvalue `fut`, borrows an lvalue one (as select() does).
    template <class F>
        requires detail::CombinatorArg<F>
    RunUntilCancelled<F> run_until_cancelled(F&& fut) const {
        return RunUntilCancelled<F>(cancelled(), std::forward<F>(fut));
    }

    /// How many child nodes are linked below this token (a diagnostic: a
    /// child unlinks itself when its last copy is dropped).
    std::size_t child_count() const { return node_->child_count(); }

private:
    explicit CancellationToken(detail::CancelNode* adopted) noexcept : node_(adopted) {}

    detail::CancelNode* node_;
};

/// Cancels its token when destroyed, unless `disarm()` took the token back.
class [[nodiscard]] DropGuard {
public:
    explicit DropGuard(CancellationToken token) noexcept : token_(std::move(token)) {}
    DropGuard(DropGuard&& other) noexcept : token_(std::move(other.token_)) { other.token_.reset(); }
    DropGuard& operator=(DropGuard&&) = delete;
    ~DropGuard() {
        if (token_.has_value()) token_->cancel();
    }

    /// Returns the token without cancelling it; the guard then does nothing.
    /// Throws std::logic_error when already disarmed.
    CancellationToken disarm() {
        if (!token_.has_value()) throw std::logic_error("corio: DropGuard disarmed twice");
        CancellationToken token = std::move(*token_);
        token_.reset();
        return token;
    }

private:
    std::optional<CancellationToken> token_;
};

inline DropGuard CancellationToken::drop_guard() const { return DropGuard(*this); }

/// The future of CancellationToken::run_until_cancelled(): the inner
/// future's output (std::monostate for void) or std::nullopt once the token
/// was cancelled, the inner future then destroyed at once. Cancellation-safe
/// exactly when the inner future is.
template <class A>
class CORIO_NODISCARD_FUTURE RunUntilCancelled {
    using Value = typename detail::Branch<A>::Output;

public:
    using Output = std::optional<Value>;

    RunUntilCancelled(Cancelled cancelled, A&& fut) : cancelled_(std::move(cancelled)), branch_(std::forward<A>(fut)) {}

    /// Rethrows the inner future's exception; throws std::logic_error when
    /// polled after Ready.
    Poll<Output> poll(Context& cx) {
        if (finished_) throw std::logic_error("corio: run_until_cancelled polled after it completed");
        if (cancelled_.poll(cx).is_ready()) {
            finish();
            return Poll<Output>(std::in_place);
        }
        auto p = branch_.poll(cx);
        if (p.is_pending()) return Pending;
        finish();
        return Poll<Output>(std::in_place, std::in_place, std::move(p).take());
    }

private:
    void finish() noexcept {
        finished_ = true;
        branch_.drop();
    }

    Cancelled cancelled_;
    detail::Branch<A> branch_;
    bool finished_ = false;
};

}  // namespace corio
