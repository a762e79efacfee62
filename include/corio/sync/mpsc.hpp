// mpsc: multi-producer, single-consumer channels, bounded and unbounded.
//
// The public entry point: include this header. The pieces, split by concern
// as Tokio's sync/mpsc/ is:
//
//   mpsc/error.hpp                  the errors of both kinds (SendError, TrySendError, Closed, ...)
//   mpsc/bounded.hpp                channel<T>(cap): Sender, Receiver, Permit
//   mpsc/unbounded.hpp              unbounded_channel<T>(): UnboundedSender, UnboundedReceiver
//   mpsc/detail/chan.hpp            ChanBase: the receiver's parking protocol, the counts, the waiter list
//   mpsc/detail/bounded_chan.hpp    BoundedChan: the ring of slots and the packed permit word
//   mpsc/detail/unbounded_chan.hpp  UnboundedChan: Vyukov's intrusive MPSC list
//   mpsc/detail/sender_base.hpp     SenderBase, ClosedFuture: what both senders share
//   mpsc/detail/receiver_base.hpp   ReceiverBase, poll_recv: what both receivers share
//
// Invariant: values left in a channel when the receiver and every sender are
// gone are destroyed exactly once, when the channel is freed (the receiver's
// drop destroys those already in it).
#pragma once

#include "corio/sync/mpsc/bounded.hpp"
#include "corio/sync/mpsc/error.hpp"
#include "corio/sync/mpsc/unbounded.hpp"
