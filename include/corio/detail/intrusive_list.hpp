// The one intrusive list of the library: waiter queues, owned-task lists,
// timer slots, I/O registrations and the like all link their elements
// through it.
//
// An element derives from ListHook<Tag> once per list kind it can be in (the
// tag tells the kinds apart, as Boost.Intrusive's base hooks do) and is
// linked by pointers to hooks; the list is circular around a hook of its
// own, so linking and unlinking never branch on an end, and an element knows
// whether it is linked without asking the list. The list never allocates and
// never owns: an element must be unlinked before it is destroyed, and
// whoever owns a list guards it (a lock, or one thread).
#pragma once

#include <cstddef>
#include <utility>

namespace corio::detail {

/// The links one list kind (`Tag`) needs in an element.
template <class Tag>
class ListHook {
public:
    /// Whether the element is in a list of this kind now (read under the
    /// list's guard).
    bool is_linked() const noexcept { return next_ != nullptr; }

protected:
    // A base of elements only. An element's identity is its address: links
    // are never copied, so a copy starts unlinked and assignment keeps them.
    // (Not CRTP, whatever clang-tidy infers when an element is its own tag:
    // the tag only names the list kind.)
    ListHook() noexcept = default;                   // NOLINT(bugprone-crtp-constructor-accessibility)
    ListHook(const ListHook&) noexcept {}            // NOLINT(bugprone-crtp-constructor-accessibility)
    ListHook& operator=(const ListHook&) noexcept {  // NOLINT(bugprone-unhandled-self-assignment): copies nothing
        return *this;
    }
    ~ListHook() = default;

private:
    template <class T, class U>
    friend class IntrusiveList;

    ListHook* prev_ = nullptr;
    ListHook* next_ = nullptr;
};

/// A doubly linked list of T, which derives from ListHook<Tag>.
template <class T, class Tag = T>
class IntrusiveList {
    using Hook = ListHook<Tag>;

public:
    IntrusiveList() noexcept { head_.prev_ = head_.next_ = &head_; }
    IntrusiveList(const IntrusiveList&) = delete;
    IntrusiveList& operator=(const IntrusiveList&) = delete;

    bool empty() const noexcept { return head_.next_ == &head_; }
    T* front() const noexcept { return empty() ? nullptr : element(head_.next_); }
    T* back() const noexcept { return empty() ? nullptr : element(head_.prev_); }
    /// The element after `e` (linked in this list), or null at the end.
    T* next(const T& e) const noexcept {
        const Hook* n = hook(e).next_;
        return n == &head_ ? nullptr : element(const_cast<Hook*>(n));
    }

    /// Links `e`, which is not linked in a list of this kind.
    void push_back(T& e) noexcept { link_before(&head_, hook(e)); }
    void push_front(T& e) noexcept { link_before(head_.next_, hook(e)); }

    /// Unlinks `e`, which is linked in this list.
    static void remove(T& e) noexcept {
        Hook& h = hook(e);
        h.prev_->next_ = h.next_;
        h.next_->prev_ = h.prev_;
        h.prev_ = h.next_ = nullptr;
    }

    /// Puts `to` (not linked) in the place of `from` (linked), which leaves.
    static void replace(T& from, T& to) noexcept {
        Hook& f = hook(from);
        Hook& t = hook(to);
        t.prev_ = f.prev_;
        t.next_ = f.next_;
        t.prev_->next_ = &t;
        t.next_->prev_ = &t;
        f.prev_ = f.next_ = nullptr;
    }

    /// Unlinks and returns the first element, or null.
    T* pop_front() noexcept {
        T* e = front();
        if (e != nullptr) remove(*e);
        return e;
    }

    /// Calls `fn(e)` for each element, front to back. `fn` may unlink `e`
    /// (only `e`).
    template <class Fn>
    void for_each(Fn&& fn) {
        for (Hook* h = head_.next_; h != &head_;) {
            Hook* after = h->next_;
            fn(*element(h));
            h = after;
        }
    }

private:
    static Hook& hook(T& e) noexcept { return static_cast<Hook&>(e); }
    static const Hook& hook(const T& e) noexcept { return static_cast<const Hook&>(e); }
    static T* element(Hook* h) noexcept { return static_cast<T*>(h); }

    static void link_before(Hook* at, Hook& h) noexcept {
        h.prev_ = at->prev_;
        h.next_ = at;
        at->prev_->next_ = &h;
        at->prev_ = &h;
    }

    Hook head_;
};

}  // namespace corio::detail
