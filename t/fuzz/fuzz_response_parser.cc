// libFuzzer target for the upstream response-head parser (src/http/response_parser.cc).
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
//           t/fuzz/fuzz_response_parser.cc src/http/parser.cc src/http/response_parser.cc
//           -o fuzz_response
//   ./fuzz_response -max_len=16384 -max_total_time=120 CORPUS_COPY t/fuzz/corpus/response
//
// -max_len=16384: heads go up to the upstream buffer (16 KiB), not libFuzzer's default 4 KiB.
// (make fuzz-run does this for every target: t/fuzz/run.)
//
// The whole input is parsed as a response head, to a GET and to a HEAD request, with the default
// limits and with small limits derived from the input, and the results are checked against
// invariants with __builtin_trap(). After a complete head the rest is parsed again from its
// offset (an interim 1xx followed by the final response, or pipelined responses), and a chunked
// body is run through the ChunkedDecoder.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "http/parser.h"

using namespace gw::http;
using namespace fuzz;

namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

bool is_tchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    for (char t : std::string_view("!#$%&'*+-.^_`|~"))
        if (c == t) return true;
    return false;
}

bool is_text(char c) {
    auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
}

// Response is big (kMaxHeadersHard headers): keep the instances out of the stack frame.
Response g_resp;
Response g_head_resp;
Response g_other;

void check_complete(std::string_view in, const ParserLimits& lim, bool head, const Response& r) {
    const size_t h = r.head_length;
    CHECK(h >= 16 && h <= in.size() && h <= lim.max_header_size);  // "HTTP/1.1 200\r\n\r\n"
    CHECK(in.substr(h - 4, 4) == "\r\n\r\n");
    CHECK(in.substr(0, 7) == "HTTP/1.");
    const std::string_view headv = in.substr(0, h);
    CHECK(r.status >= 100 && r.status <= 599);
    CHECK(r.version_minor == 0 || r.version_minor == 1);
    CHECK(within(r.reason, headv));
    for (char c : r.reason) CHECK(is_text(c));
    const size_t max_headers =
        lim.max_headers < kMaxHeadersHard ? lim.max_headers : kMaxHeadersHard;
    CHECK(r.header_count <= max_headers);
    for (size_t i = 0; i < r.header_count; ++i) {
        const Header& hd = r.headers[i];
        CHECK(within(hd.name, headv) && within(hd.value, headv));
        CHECK(!hd.name.empty());
        for (char c : hd.name) CHECK(is_tchar(c));
        if (!hd.value.empty()) CHECK(!is_ows(hd.value.front()) && !is_ows(hd.value.back()));
        for (char c : hd.value) CHECK(is_text(c));
    }
    const int s = r.status;
    const bool bodiless = head || s < 200 || s == 204 || s == 304;
    if (bodiless) CHECK(r.body == ResponseBody::None);
    if (!bodiless) CHECK(r.body != ResponseBody::None);
    if (r.body == ResponseBody::Chunked) {
        CHECK(r.version_minor == 1);
        CHECK(r.header("content-length").data() == nullptr);
        CHECK(!r.header("transfer-encoding").empty());
    }
    if (r.body == ResponseBody::ContentLength) {
        CHECK(r.header("content-length").data() != nullptr);
        CHECK(r.header("transfer-encoding").data() == nullptr);
    } else {
        CHECK(r.content_length == 0);
    }
    if (r.body == ResponseBody::UntilClose) CHECK(!r.keep_alive);
    if (r.upgrade) CHECK(s == 101 && r.version_minor == 1 && !r.keep_alive);
    if (s == 101) CHECK(r.upgrade && !r.header("upgrade").empty());
    if (r.keep_alive && r.version_minor == 0) CHECK(r.header("connection").data() != nullptr);
}

void check_error(const ParseError& err) {
    CHECK(err.status == 502);
    CHECK(!err.reason.empty());
}

// Runs a chunked body through the decoder the way the proxy would, and checks the basics.
void check_chunked(std::string_view body) {
    ChunkedDecoder dec;
    size_t done = 0;
    size_t trailer_before = 0;
    uint64_t bytes = 0;
    while (done < body.size()) {
        size_t used = SIZE_MAX;
        std::string_view data;
        ParseError err;
        auto st = dec.feed(body.substr(done), used, data, err);
        CHECK(used <= body.size() - done);
        CHECK(within(data, body.substr(done, used)));
        bytes += data.size();
        done += used;
        CHECK(dec.body_size() == bytes);
        // The trailer section (dropped by the proxy) is the tail of what was consumed, and
        // after Done it ends with the CRLF that the proxy keeps.
        CHECK(dec.trailer_bytes() <= done);
        if (dec.trailer_bytes() > 0) CHECK(dec.trailer_bytes() - trailer_before <= used);
        trailer_before = dec.trailer_bytes();
        if (dec.trailer_bytes() > 0) CHECK(data.empty() || data.end() <= body.data() + done - dec.trailer_bytes());
        if (st == ChunkedDecoder::Status::Done)
            CHECK(dec.trailer_bytes() >= 2 && body.substr(done - 2, 2) == "\r\n");
        if (st != ChunkedDecoder::Status::NeedMore) break;
        CHECK(used > 0);
    }
}

ParseResult run(std::string_view in, const ParserLimits& lim, uint64_t seed, int depth) {
    ParseError err;
    const ParseResult res = parse_response_head(in, lim, false, g_resp, err);
    ParseError herr;
    const ParseResult hres = parse_response_head(in, lim, true, g_head_resp, herr);
    // To a HEAD request, the same head parses the same way, but with no body; and errors do not
    // depend on it except for the framing rules that HEAD switches off.
    if (res == ParseResult::Complete) CHECK(hres == ParseResult::Complete);
    if (res == ParseResult::Incomplete) CHECK(hres == ParseResult::Incomplete);
    if (hres == ParseResult::Error) CHECK(res == ParseResult::Error);
    Rng rng{seed | 1};

    if (res == ParseResult::Error) check_error(err);
    if (hres == ParseResult::Error) check_error(herr);
    if (hres == ParseResult::Complete) {
        check_complete(in, lim, true, g_head_resp);
        CHECK(g_head_resp.body == ResponseBody::None);
    }
    if (res == ParseResult::Incomplete) CHECK(in.size() <= lim.max_header_size);

    if (res == ParseResult::Complete) {
        check_complete(in, lim, false, g_resp);
        const Response& r = g_resp;
        const size_t h = r.head_length;
        CHECK(g_head_resp.head_length == h && g_head_resp.status == r.status);
        CHECK(g_head_resp.header_count == r.header_count);
        CHECK(g_head_resp.upgrade == r.upgrade);
        // The head alone parses to the same response...
        ParseError err2;
        CHECK(parse_response_head(in.substr(0, h), lim, false, g_other, err2) ==
              ParseResult::Complete);
        CHECK(g_other.head_length == h && g_other.status == r.status);
        CHECK(g_other.reason.data() == r.reason.data() && g_other.reason == r.reason);
        CHECK(g_other.body == r.body && g_other.keep_alive == r.keep_alive);
        CHECK(g_other.content_length == r.content_length);
        // ...and shorter prefixes are Incomplete.
        for (int i = 0; i < 6; ++i) {
            size_t len = i == 0 ? h - 1 : static_cast<size_t>(rng.next() % h);
            CHECK(parse_response_head(in.substr(0, len), lim, false, g_other, err2) ==
                  ParseResult::Incomplete);
        }
        const ResponseBody body = r.body;
        const uint64_t cl = r.content_length;
        std::string_view rest = in.substr(h);
        if (body == ResponseBody::Chunked) check_chunked(rest);
        // What follows the head: after a 1xx or a body-less response, the next response head;
        // after a Content-Length body, the next one too (pipelining on a kept-alive connection).
        if (depth < 3) {
            if (body == ResponseBody::None && !r.upgrade)
                run(rest, lim, seed >> 3, depth + 1);
            else if (body == ResponseBody::ContentLength && cl <= rest.size())
                run(rest.substr(static_cast<size_t>(cl)), lim, seed >> 3, depth + 1);
        }
        return res;
    }

    // A prefix of an Incomplete input is Incomplete; a prefix of an Error input is not Complete.
    for (int i = 0; i < 6 && !in.empty(); ++i) {
        size_t len = static_cast<size_t>(rng.next() % in.size());
        ParseError err2;
        ParseResult r2 = parse_response_head(in.substr(0, len), lim, false, g_other, err2);
        if (res == ParseResult::Incomplete)
            CHECK(r2 == ParseResult::Incomplete);
        else
            CHECK(r2 != ParseResult::Complete);
    }
    return res;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const uint64_t seed = fnv1a(in);

    run(in, ParserLimits{}, seed, 0);

    // Small limits reach the size and count errors, including the early ones on partial heads.
    ParserLimits tight;
    tight.max_header_size = 16 + seed % 512;
    tight.max_headers = (seed >> 20) % 16 == 0 ? 100000 : (seed >> 20) % 16;
    run(in, tight, seed >> 1, 0);
    return 0;
}
