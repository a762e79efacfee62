// The I/O module in one include: io::Result and the AsyncRead / AsyncWrite
// concepts (io/core.hpp), and the utilities built on them: io::read /
// read_exact / read_to_end / write_all / copy / copy_bidirectional,
// BufReader, BufWriter, duplex and split; and io::Interest / io::Readiness,
// what the sockets' readiness API (readable(), ready()) waits for and reports.
//
// Each io/ header includes io/core.hpp only (never another io/ facility
// header, nor this one), so any of them may be included on its own.
#pragma once

#include "corio/io/async_fd.hpp"
#include "corio/io/buf_reader.hpp"
#include "corio/io/buf_writer.hpp"
#include "corio/io/core.hpp"
#include "corio/io/duplex.hpp"
#include "corio/io/ready.hpp"
#include "corio/io/split.hpp"
#include "corio/io/util.hpp"
