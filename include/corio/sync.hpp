// Synchronisation primitives and channels for tasks (DESIGN.md section 5):
// Mutex, RwLock, Semaphore, Notify, Barrier, OnceCell, and the oneshot, mpsc,
// broadcast and watch channels. Every awaiting operation says in its comment
// whether it is cancellation-safe.
#pragma once

#include "corio/sync/barrier.hpp"
#include "corio/sync/broadcast.hpp"
#include "corio/sync/mpsc.hpp"
#include "corio/sync/mutex.hpp"
#include "corio/sync/notify.hpp"
#include "corio/sync/once_cell.hpp"
#include "corio/sync/oneshot.hpp"
#include "corio/sync/rwlock.hpp"
#include "corio/sync/semaphore.hpp"
#include "corio/sync/watch.hpp"
