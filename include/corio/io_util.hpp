// The I/O utilities in one include: io::read / read_exact / read_to_end /
// write_all / copy / copy_bidirectional, BufReader, BufWriter, duplex and
// split. (<corio/io.hpp> includes them too.)
#pragma once

#include "corio/io.hpp"
#include "corio/io/buf_reader.hpp"
#include "corio/io/buf_writer.hpp"
#include "corio/io/duplex.hpp"
#include "corio/io/split.hpp"
#include "corio/io/util.hpp"

namespace corio::io {

static_assert(AsyncRead<DuplexStream> && AsyncWrite<DuplexStream>);
static_assert(AsyncRead<BufReader<DuplexStream>> && AsyncWrite<BufReader<DuplexStream>>);
static_assert(AsyncRead<BufWriter<DuplexStream>> && AsyncWrite<BufWriter<DuplexStream>>);
static_assert(AsyncRead<BufReader<BufWriter<DuplexStream>>> && AsyncWrite<BufReader<BufWriter<DuplexStream>>>);
static_assert(AsyncRead<ReadHalf<DuplexStream>> && !AsyncWrite<ReadHalf<DuplexStream>>);
static_assert(AsyncWrite<WriteHalf<DuplexStream>> && !AsyncRead<WriteHalf<DuplexStream>>);
static_assert(Future<CopyFuture<ReadHalf<DuplexStream>, BufWriter<DuplexStream>>>);
static_assert(Future<CopyBidirectionalFuture<DuplexStream, BufReader<DuplexStream>>>);
static_assert(Future<NextLineFuture<BufReader<DuplexStream>&>>);
static_assert(Future<ReadUntilFuture<BufReader<DuplexStream>, std::string>>);
static_assert(Future<ReadToEndFuture<DuplexStream, std::string>>);

}  // namespace corio::io
