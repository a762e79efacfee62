// Everything corio offers, in one include.
#pragma once

#include "corio/cancel.hpp"
#include "corio/fs.hpp"
#include "corio/future.hpp"
#include "corio/io.hpp"
#include "corio/net.hpp"
#include "corio/process.hpp"
#include "corio/runtime.hpp"
#include "corio/select.hpp"
#include "corio/signal.hpp"
#include "corio/sync.hpp"
#include "corio/task.hpp"
#include "corio/task/join_set.hpp"
#include "corio/task/local_set.hpp"
#include "corio/task/task_local.hpp"
#include "corio/task/task_tracker.hpp"
#include "corio/time.hpp"
