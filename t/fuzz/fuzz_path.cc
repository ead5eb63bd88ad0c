// libFuzzer target for request-path normalisation (src/http/path.cc).
//
//   make fuzz && objs/fuzz_path -max_len=8192 -max_total_time=300 CORPUS_COPY t/fuzz/corpus/path
//
// The first byte picks the options (escaped_slashes, merge_slashes); the rest, after a leading
// '/', is the path. Invariants, checked with __builtin_trap():
//   - the quick check never lies: a path it calls plain comes out of the full algorithm unchanged;
//   - a normalised path starts with '/', and normalising it again changes nothing (idempotent);
//   - it has no dot segment ("/./", "/../", or a final "/." or "/.."), and with merge_slashes no
//     "//"; with escaped_slashes other than keep, no "%2F" or "%5C", and no raw '\' ever;
//   - it never climbs above the root: the number of ".." segments removed never exceeds the
//     segments before them (checked by construction: a result exists only if it did not);
//   - every '%' in it starts an upper-case encoding of a byte that is not unreserved, and it is
//     never longer than three times the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "http/path.h"

using namespace gw::http;

namespace {

bool is_unreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int upper_hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool has_dot_segment(std::string_view p) {
    if (p.find("/./") != std::string_view::npos || p.find("/../") != std::string_view::npos) return true;
    return p.ends_with("/.") || p.ends_with("/..");
}

void check_output(std::string_view in, std::string_view out, const PathOptions& opt) {
    CHECK(!out.empty() && out[0] == '/');
    CHECK(out.size() <= 3 * in.size() + 1);
    CHECK(!has_dot_segment(out));
    if (opt.merge_slashes) CHECK(out.find("//") == std::string_view::npos);
    CHECK(out.find('\\') == std::string_view::npos);
    for (size_t i = 0; i < out.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(out[i]);
        CHECK(c >= 0x20 && c != 0x7f);
        if (c != '%') continue;
        CHECK(i + 2 < out.size());
        int hi = upper_hex(out[i + 1]), lo = upper_hex(out[i + 2]);
        CHECK(hi >= 0 && lo >= 0);
        unsigned char v = static_cast<unsigned char>(hi * 16 + lo);
        CHECK(!is_unreserved(v) && v >= 0x20 && v != 0x7f);
        if (v == '/' || v == '\\') CHECK(opt.escaped_slashes == EscapedSlashes::Keep);
        i += 2;
    }
    // Idempotent, by both entry points.
    std::string again;
    std::string_view reason;
    PathVerdict v = normalize_path_full(out, opt, again, reason);
    CHECK(v == PathVerdict::Normalized && again == out);
    v = normalize_path(out, opt, again, reason);
    CHECK(v != PathVerdict::Invalid);
    if (v == PathVerdict::Normalized) CHECK(again == out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    PathOptions opt;
    opt.escaped_slashes = static_cast<EscapedSlashes>(data[0] % 3);
    opt.merge_slashes = (data[0] & 4) == 0;
    std::string in = "/";
    in.append(reinterpret_cast<const char*>(data) + 1, size - 1);
    // The request parser lets no space, control character, '#' or '?' into a path.
    for (unsigned char c : in)
        if (c <= 0x20 || c == 0x7f || c == '#' || c == '?') return 0;

    std::string out;
    std::string_view reason;
    PathVerdict full = normalize_path_full(in, opt, out, reason);
    if (full == PathVerdict::Invalid) {
        CHECK(!reason.empty());
        CHECK(!path_is_plain(in));  // what the quick check passes is always valid
        return 0;
    }
    CHECK(full == PathVerdict::Normalized);
    if (path_is_plain(in)) CHECK(out == in);
    check_output(in, out, opt);

    std::string quick;
    PathVerdict v = normalize_path(in, opt, quick, reason);
    CHECK(v != PathVerdict::Invalid);
    CHECK((v == PathVerdict::Unchanged ? in : quick) == out);
    return 0;
}
