// The stream of a listener's accepted connections (TcpListener::incoming(),
// UnixListener::incoming()).
#pragma once

#include <optional>
#include <utility>

#include "corio/future.hpp"
#include "corio/io/core.hpp"

namespace corio::net::detail {

/// A corio::Stream that never ends: each accepted `Stream`, or an accept
/// error as an error item. Borrows the listener.
template <class Listener, class Stream>
class Incoming {
public:
    using Item = io::Result<Stream>;
    explicit Incoming(Listener& listener) noexcept : listener_(&listener) {}
    Poll<std::optional<Item>> poll_next(Context& cx) {
        auto r = listener_->poll_accept(cx);
        if (r.is_pending()) return Pending;
        if (!*r) return Ready(std::optional<Item>(std::in_place, std::unexpect, r->error()));
        return Ready(std::optional<Item>(std::in_place, std::move((*r)->first)));
    }

private:
    Listener* listener_;
};

}  // namespace corio::net::detail
