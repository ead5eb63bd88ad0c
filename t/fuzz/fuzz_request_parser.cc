// libFuzzer target for the request-head parser and the chunked decoder (src/http/parser.cc).
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
//           t/fuzz/fuzz_request_parser.cc src/http/parser.cc -o fuzz
//   ./fuzz -max_len=16384 -max_total_time=120 CORPUS_COPY t/fuzz/corpus/request
//
// -max_len=16384: heads go up to the real limit (http.max_header_size, 16 KiB), not libFuzzer's
// default 4 KiB. (make fuzz-run does this for every target: t/fuzz/run.)
//
// The whole input is parsed as a request head, once with the default limits and once with small
// limits derived from the input, and the results are checked against invariants with
// __builtin_trap(). When the head is complete and chunked, the rest is decoded twice, in one go
// and in random-sized pieces, and both runs must agree byte for byte.
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

// Request is big (kMaxHeadersHard headers): keep the instances out of the stack frame.
Request g_req;
Request g_prefix_req;

void check_complete(std::string_view in, const ParserLimits& lim, const Request& r) {
    const size_t h = r.head_length;
    CHECK(h >= 4 && h <= in.size() && h <= lim.max_header_size);
    CHECK(in.substr(h - 4, 4) == "\r\n\r\n");
    const std::string_view head = in.substr(0, h);
    for (std::string_view v : {r.method, r.target, r.path, r.query, r.host}) CHECK(within(v, head));
    CHECK(!r.method.empty());
    for (char c : r.method) CHECK(is_tchar(c));
    CHECK(!r.target.empty() && r.target.size() <= lim.max_uri_size);
    for (char c : r.target) CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
    CHECK(within(r.path, r.target) && within(r.query, r.target));
    CHECK(r.version_minor == 0 || r.version_minor == 1);
    const size_t max_headers =
        lim.max_headers < kMaxHeadersHard ? lim.max_headers : kMaxHeadersHard;
    CHECK(r.header_count <= max_headers);
    for (size_t i = 0; i < r.header_count; ++i) {
        const Header& hd = r.headers[i];
        CHECK(within(hd.name, head) && within(hd.value, head));
        CHECK(!hd.name.empty());
        for (char c : hd.name) CHECK(is_tchar(c));
        if (!hd.value.empty()) CHECK(!is_ows(hd.value.front()) && !is_ows(hd.value.back()));
        for (char c : hd.value) CHECK(c != '\r' && c != '\n' && c != '\0');
        CHECK(r.header(hd.name).data() != nullptr || hd.value.empty());
    }
    if (r.version_minor == 1) CHECK(!r.host.empty() && !r.header("host").empty());
    if (r.body == BodyKind::Chunked) {
        CHECK(r.version_minor == 1);
        CHECK(r.header("content-length").empty() && !r.header("transfer-encoding").empty());
    }
    if (r.body == BodyKind::ContentLength) CHECK(!r.header("content-length").empty());
    if (r.body != BodyKind::ContentLength) CHECK(r.content_length == 0);
    if (r.upgrade || r.expect_continue) CHECK(r.version_minor == 1);
}

void check_head_error(const ParseError& err) {
    const int s = err.status;
    CHECK(s == 400 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505);
    CHECK(!err.reason.empty());
}

struct BodyRun {
    ChunkedDecoder::Status status = ChunkedDecoder::Status::NeedMore;
    size_t consumed = 0;
    uint64_t bytes = 0;
    uint64_t sum = 0;  // order-sensitive checksum of the data
    int err_status = 0;
};

// Decodes `body`, revealing it `piece()` bytes at a time (all of it when piece is null), and
// calls feed again on what is left while the decoder keeps returning data, like a connection.
template <class Piece>
BodyRun decode(std::string_view body, uint64_t max_body, Piece&& piece) {
    ChunkedDecoder dec;
    dec.set_max_body(max_body);
    BodyRun run;
    size_t avail = 0;
    while (true) {
        size_t step = piece();
        avail = (step == 0 || body.size() - avail < step) ? body.size() : avail + step;
        while (run.consumed < avail) {
            const std::string_view in = body.substr(run.consumed, avail - run.consumed);
            size_t used = SIZE_MAX;
            std::string_view data = "not set";
            ParseError err;
            run.status = dec.feed(in, used, data, err);
            CHECK(used <= in.size());
            CHECK(within(data, in.substr(0, used)));
            for (unsigned char c : data) run.sum = run.sum * 31 + c;
            run.bytes += data.size();
            run.consumed += used;
            CHECK(dec.body_size() == run.bytes);
            if (max_body != 0) CHECK(run.bytes <= max_body);
            if (run.status == ChunkedDecoder::Status::Error) {
                CHECK(err.status == 400 || err.status == 413 || err.status == 431);
                CHECK(!err.reason.empty());
                run.err_status = err.status;
                // Errors are sticky.
                ParseError again;
                CHECK(dec.feed(body.substr(run.consumed), used, data, again) ==
                      ChunkedDecoder::Status::Error);
                CHECK(again.status == err.status);
                return run;
            }
            if (run.status == ChunkedDecoder::Status::Done) {
                // The body ends with the CRLF of the last-chunk section, and nothing after it
                // was taken.
                CHECK(run.consumed >= 5);
                CHECK(body.substr(run.consumed - 2, 2) == "\r\n");
                CHECK(dec.feed(body.substr(run.consumed), used, data, err) ==
                      ChunkedDecoder::Status::Done);
                CHECK(used == 0 && data.empty());
                return run;
            }
            // NeedMore: either all of `in` was taken, or data came back and more is pending;
            // either way some progress was made.
            CHECK(used == in.size() || !data.empty());
            CHECK(used > 0);
        }
        if (avail == body.size()) return run;
    }
}

void check_chunked(std::string_view body, uint64_t seed) {
    Rng rng{seed | 1};
    const uint64_t max_body = (seed & 3) == 0 ? (seed >> 8) % 64 : 0;
    BodyRun whole = decode(body, max_body, [] { return size_t{0}; });
    BodyRun pieces = decode(body, max_body, [&] {
        uint64_t r = rng.next();
        return static_cast<size_t>((r & 7) == 0 ? 1 + (r >> 3) % 256 : 1 + (r >> 3) % 4);
    });
    CHECK(whole.status == pieces.status);
    CHECK(whole.consumed == pieces.consumed);
    CHECK(whole.bytes == pieces.bytes);
    CHECK(whole.sum == pieces.sum);
    CHECK(whole.err_status == pieces.err_status);
    if (whole.status == ChunkedDecoder::Status::NeedMore) CHECK(whole.consumed == body.size());
}

void run(std::string_view in, const ParserLimits& lim, uint64_t seed) {
    ParseError err;
    const ParseResult res = parse_request_head(in, lim, g_req, err);
    Rng rng{seed | 1};

    if (res == ParseResult::Complete) {
        check_complete(in, lim, g_req);
        const size_t h = g_req.head_length;
        // The head alone parses to the same request...
        ParseError err2;
        CHECK(parse_request_head(in.substr(0, h), lim, g_prefix_req, err2) ==
              ParseResult::Complete);
        CHECK(g_prefix_req.head_length == h);
        CHECK(g_prefix_req.method.data() == g_req.method.data());
        CHECK(g_prefix_req.target == g_req.target && g_prefix_req.host == g_req.host);
        CHECK(g_prefix_req.header_count == g_req.header_count);
        CHECK(g_prefix_req.body == g_req.body && g_prefix_req.keep_alive == g_req.keep_alive);
        // ...and every shorter prefix is Incomplete: never an error, never complete.
        for (int i = 0; i < 6; ++i) {
            size_t len = i == 0 ? h - 1 : static_cast<size_t>(rng.next() % h);
            CHECK(parse_request_head(in.substr(0, len), lim, g_prefix_req, err2) ==
                  ParseResult::Incomplete);
        }
        if (g_req.body == BodyKind::Chunked) check_chunked(in.substr(h), seed);
        return;
    }

    if (res == ParseResult::Incomplete) {
        CHECK(in.size() <= lim.max_header_size);
    } else {
        check_head_error(err);
    }
    // A prefix of an Incomplete input is Incomplete; a prefix of an Error input is not Complete
    // (if it were, the longer input would be Complete too).
    for (int i = 0; i < 6 && !in.empty(); ++i) {
        size_t len = static_cast<size_t>(rng.next() % in.size());
        ParseError err2;
        ParseResult r2 = parse_request_head(in.substr(0, len), lim, g_prefix_req, err2);
        if (res == ParseResult::Incomplete)
            CHECK(r2 == ParseResult::Incomplete);
        else
            CHECK(r2 != ParseResult::Complete);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const uint64_t seed = fnv1a(in);

    run(in, ParserLimits{}, seed);

    // Small limits reach the 414 and 431 paths, including the early ones on partial heads.
    ParserLimits tight;
    tight.max_header_size = 16 + seed % 512;
    tight.max_uri_size = (seed >> 12) % 96;
    tight.max_headers = (seed >> 20) % 16 == 0 ? 100000 : (seed >> 20) % 16;
    run(in, tight, seed >> 1);
    return 0;
}
