// libFuzzer target for the TextWriter (src/core/text_writer.h), which writes every access log
// line and every header value made from variables, escaping on the way in.
//
//   make fuzz && objs/fuzz_text_writer -max_total_time=300 CORPUS_COPY t/fuzz/corpus/text_writer
//
// The input is cut into pieces of sizes drawn from a generator seeded by the input, each written
// in a mode drawn the same way (as is, header, log, JSON; directly, or written as it is and then
// escaped with escape_since, as templates do), through a StringWriter whose 512-byte window the
// pieces cross. Invariant, checked with __builtin_trap(): the result is exactly what the
// std::string escapers (core/text_escape.h) give for the same pieces, and a truncate() to a
// mark taken before the last piece gives the text before it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/text_escape.h"
#include "core/text_writer.h"
#include "fuzz_common.h"

namespace {

using Escape = gw::TextWriter::Escape;

void expected_append(std::string& out, std::string_view s, Escape e) {
    switch (e) {
        case Escape::None: out += s; break;
        case Escape::Header:
            for (char c : s)
                if (c != '\r' && c != '\n' && c != '\0') out += c;
            break;
        case Escape::Log: gw::append_log_escaped(out, s); break;
        case Escape::Json: gw::append_json_escaped_text(out, s); break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    fuzz::Rng rng{fuzz::fnv1a(in) | 1};
    std::string got = "prefix:", want = "prefix:";
    uint64_t last_mark = 0;
    std::string before_last = want;
    {
        gw::StringWriter w(got);
        while (!in.empty()) {
            size_t n = std::min<size_t>(in.size(), rng.next() % 700);
            std::string_view piece = in.substr(0, n);
            in.remove_prefix(n);
            Escape e = static_cast<Escape>(rng.next() % 4);
            last_mark = w.size();
            before_last = want;
            if (rng.next() % 2) {
                w.set_escape(e);
                w.append(piece);
                w.set_escape(Escape::None);
            } else {
                w.append(piece);
                w.escape_since(last_mark, e);
            }
            expected_append(want, piece, e);
            CHECK(w.size() + 7 == want.size());
        }
        w.finish();
        CHECK(got == want);
        w.truncate(last_mark);
    }
    CHECK(got == before_last);
    return 0;
}
