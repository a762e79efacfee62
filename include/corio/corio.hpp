// Everything corio offers, in one include.
#pragma once

#include "corio/future.hpp"
#include "corio/io.hpp"
#include "corio/io_util.hpp"
#include "corio/net.hpp"
#include "corio/runtime.hpp"
#include "corio/signal.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "corio/task/local_set.hpp"
