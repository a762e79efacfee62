// Framing (DESIGN.md section 10; Tokio's "Framing" chapter): the Decoder /
// Encoder concepts over codec::BytesMut, Framed / FramedRead / FramedWrite,
// and the codecs LinesCodec, LengthDelimitedCodec and BytesCodec.
//
//   codec::Framed framed(std::move(socket), codec::LinesCodec(1024));
//   while (auto line = co_await stream::next(framed)) {
//       if (!*line) break;                       // an I/O or codec error
//       co_await sink::send(framed, **line);     // echo it back
//   }
#pragma once

#include "corio/codec/buffer.hpp"
#include "corio/codec/bytes_codec.hpp"
#include "corio/codec/framed.hpp"
#include "corio/codec/length_delimited.hpp"
#include "corio/codec/lines_codec.hpp"
#include "corio/sink.hpp"
#include "corio/stream/core.hpp"
