// libFuzzer target for the RESP codec (frame.hpp). For any input, parse()
// and parse_command() (its words read as a Frame) must not crash, must
// consume no more than they were given, and any frame they return must
// survive encode -> parse unchanged and
// parse the same from exactly the bytes it consumed. A frame split at any
// point must read as Incomplete up to its last byte.
//
//   mini_redis_fuzz_frame -max_total_time=60 examples/mini_redis/tests/fuzz_corpus
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "frame.hpp"

namespace {

using mini_redis::Parsed;
using mini_redis::ParseResult;

void check(bool ok) {
    if (!ok) std::abort();
}

/// parse_command(b, args) with its words as a Frame (an Array of Bulk
/// strings), so requests are checked like frames. The same CommandArgs is
/// reused for every call, as a server does.
ParseResult command_of(std::string_view b) {
    static mini_redis::CommandArgs args;
    mini_redis::CommandResult r = mini_redis::parse_command(b, args);
    if (auto* e = std::get_if<mini_redis::ProtocolError>(&r)) return *e;
    if (std::holds_alternative<mini_redis::Incomplete>(r)) return mini_redis::Incomplete{};
    std::size_t consumed = std::get<mini_redis::ParsedCommand>(r).consumed;
    // A RESP request's words lie within the bytes consumed (inline quoted
    // words live in the CommandArgs' scratch buffer instead).
    std::vector<std::string> words;
    for (std::string_view w : args.words()) {
        if (b[0] == '*') check(w.data() >= b.data() && w.data() + w.size() <= b.data() + consumed);
        words.emplace_back(w);
    }
    return Parsed{mini_redis::Frame::command(std::move(words)), consumed};
}

void check_frame_of(std::string_view input, bool as_command) {
    auto parse = [as_command](std::string_view b) { return as_command ? command_of(b) : mini_redis::parse(b); };
    ParseResult r = parse(input);
    const auto* p = std::get_if<Parsed>(&r);
    if (p == nullptr) return;
    check(p->consumed > 0 && p->consumed <= input.size());

    std::string again;
    mini_redis::encode(p->frame, again);
    ParseResult r2 = parse(again);
    const auto* p2 = std::get_if<Parsed>(&r2);
    check(p2 != nullptr && p2->frame == p->frame && p2->consumed == again.size());

    ParseResult r3 = parse(input.substr(0, p->consumed));
    const auto* p3 = std::get_if<Parsed>(&r3);
    check(p3 != nullptr && p3->frame == p->frame);

    // Every strict prefix of the re-encoded frame is Incomplete.
    for (std::size_t k = 0; k < again.size(); k += 1 + again.size() / 64) {
        check(std::holds_alternative<mini_redis::Incomplete>(parse(std::string_view(again).substr(0, k))));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    check_frame_of(input, false);
    check_frame_of(input, true);
    return 0;
}
