// Streams: the Stream concept, AsyncGenerator, and stream:: sources,
// adapters and consumers (DESIGN.md section 10; Tokio's "Streams" chapter).
//
//   AsyncGenerator<int> numbers() { for (int i = 0;; ++i) co_yield i; }
//   auto evens = numbers() | stream::filter([](int v) { return v % 2 == 0; })
//                          | stream::take(3);
//   while (auto v = co_await stream::next(evens)) use(*v);
#pragma once

#include "corio/stream/adapters.hpp"
#include "corio/stream/channels.hpp"
#include "corio/stream/consumers.hpp"
#include "corio/stream/core.hpp"
#include "corio/stream/generator.hpp"
#include "corio/stream/sources.hpp"
#include "corio/stream/timed.hpp"
