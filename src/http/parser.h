// A strict HTTP/1.1 request parser. It does not allocate: every view points into the caller's
// buffer, which must stay unchanged while the Request is used.
//
// Strictness follows nginx and HAProxy, and goes beyond them where cheap: a message that could be
// read two ways by two servers (request smuggling) is rejected, never "repaired".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gw::http {

struct Header {
    std::string_view name;   // as sent (case preserved); compare case-insensitively
    std::string_view value;  // leading and trailing SP/HTAB removed
};

enum class BodyKind : uint8_t { None, ContentLength, Chunked };

constexpr size_t kMaxHeadersHard = 256;  // upper bound of ParserLimits::max_headers

struct Request {
    std::string_view method;   // token, case-sensitive ("GET")
    std::string_view target;   // request-target as sent ("/a/b?x=1", "*", "http://h/p")
    std::string_view path;     // target without the query (origin-form), or the path of absolute-form
    std::string_view query;    // after '?', without it; empty if none
    int version_minor = 1;     // HTTP/1.<minor>; only 1.0 and 1.1 are accepted
    bool http2 = false;        // an HTTP/2 stream's request (h2/server_stream.cc; version_minor 1)
    size_t header_count = 0;

    // Derived from the headers while parsing:
    std::string_view host;     // Host header value (or the authority of an absolute-form target)
    BodyKind body = BodyKind::None;
    uint64_t content_length = 0;  // when body == ContentLength
    bool keep_alive = true;    // HTTP/1.1 default unless "Connection: close"; 1.0 needs keep-alive
    bool expect_continue = false;  // "Expect: 100-continue"
    bool upgrade = false;      // "Connection: upgrade" with an Upgrade header
    size_t head_length = 0;    // bytes of the request line and headers including the final CRLFCRLF

    // Last, so that the few entries a request uses share a page with the fields above.
    Header headers[kMaxHeadersHard];

    // Case-insensitive lookup of the first header with this name; empty view if absent.
    std::string_view header(std::string_view name) const;
    // The value of cookie `name` in the (first) Cookie header, or empty.
    std::string_view cookie(std::string_view name) const;
};

struct ParserLimits {
    size_t max_header_size = 16 * 1024;  // whole head (request line + headers) -> 431
    size_t max_uri_size = 8 * 1024;      // request-target -> 414
    size_t max_headers = 100;            // header count -> 431 (capped at kMaxHeadersHard)
};

enum class ParseResult : uint8_t { Complete, Incomplete, Error };

struct ParseError {
    // 400, 413 (chunked body), 414, 417 (Expect), 431, 501 (unknown transfer-coding), 505 (version)
    int status = 400;
    std::string_view reason;      // short static text for the log, e.g. "bare LF in header"
};

// Parses the request head at the start of `buf`. Returns Incomplete when more bytes are needed
// (and the limits are not yet exceeded: a head that is already too long is an Error even if
// incomplete), Complete with `out` filled and out.head_length set, or Error with `err` set.
ParseResult parse_request_head(std::string_view buf, const ParserLimits& limits, Request& out,
                               ParseError& err);

// Incremental decoder of a chunked body. Feed it bytes as they arrive; it reports the data bytes
// and when the body (including trailers) has ended. Chunk extensions are skipped; trailers are
// validated and skipped.
class ChunkedDecoder {
  public:
    enum class Status : uint8_t { NeedMore, Done, Error };

    // Consumes a prefix of `in`. Sets `consumed` (bytes of `in` used) and `data` (a view into `in`
    // of body data found, possibly empty; call again with the rest of `in` to get more).
    // After Done, `consumed` excludes bytes after the body (they belong to the next request).
    Status feed(std::string_view in, size_t& consumed, std::string_view& data, ParseError& err);

    uint64_t body_size() const { return total_; }
    // Bytes of the trailer section consumed so far (0 before the last chunk; after Done, the
    // whole section including its final CRLF; after an Error, those before the bad byte).
    // They are the last ones consumed.
    size_t trailer_bytes() const { return trailer_bytes_; }
    void reset() { *this = ChunkedDecoder{}; }
    void set_max_body(uint64_t max) { max_body_ = max; }  // 0 = unlimited; beyond -> Error 413

  private:
    // SizeBws: whitespace after the size, before ';' or CR. Failed: sticky after an Error.
    enum class State : uint8_t { Size, SizeBws, SizeExt, SizeLf, Data, DataCr, DataLf, Trailer,
                                 TrailerLf, TrailerLine, TrailerLineLf, Finished, Failed };
    State state_ = State::Size;
    uint64_t chunk_left_ = 0;
    uint64_t total_ = 0;
    uint64_t max_body_ = 0;
    size_t size_digits_ = 0;
    size_t line_bytes_ = 0;      // of the current chunk-size line (size and extensions)
    size_t trailer_bytes_ = 0;
    bool trailer_value_ = false;  // in a trailer line, past the ':'
    ParseError err_;              // repeated by feed() after an Error
};

// ---------------------------------------------------------------------------------------------
// Upstream response head (src/http/response_parser.cc)
//
// The same strictness as the request parser, pointed the other way: what an upstream sends is
// parsed before any of it reaches the client, and a head that could be framed two ways is an
// Error (which the proxy turns into 502), never "repaired".

// How the body after a response head is delimited (RFC 9112 §6.3).
enum class ResponseBody : uint8_t { None, ContentLength, Chunked, UntilClose };

struct Response {
    int status = 0;                 // 100..599
    int version_minor = 1;          // HTTP/1.0 or 1.1 only
    std::string_view reason;        // reason-phrase as sent, possibly empty
    size_t header_count = 0;
    ResponseBody body = ResponseBody::None;
    uint64_t content_length = 0;    // when body == ContentLength, else 0
    bool keep_alive = true;         // the upstream connection may be reused after this response
    bool upgrade = false;           // 101 with Upgrade (then keep_alive is false: no more HTTP)
    bool untrusted_framing = false; // Connection named a framing header (then keep_alive is false)
    size_t head_length = 0;         // status line and headers including the final CRLFCRLF
    std::string_view connection;    // the first Connection field's value (the proxy's hop-by-hop list)

    // Case-insensitive lookup of the first header with this name; empty view if absent.
    std::string_view header(std::string_view name) const;

    // Last, so that the few entries a response uses share a page with the fields above.
    Header headers[kMaxHeadersHard];
};

// Parses the response head at the start of `buf`, like parse_request_head: Incomplete when more
// bytes are needed (an Error instead once the head is longer than limits.max_header_size),
// Complete with `out` filled, or Error with err.status = 502 and err.reason saying why.
// `request_method_head`: the request was HEAD (no body whatever the headers say).
// A 1xx other than 101 is interim: the final response follows at buf.substr(out.head_length).
ParseResult parse_response_head(std::string_view buf, const ParserLimits& limits,
                                bool request_method_head, Response& out, ParseError& err);

// A head the gateway wrote itself (a cache's stored response: its fields were an upstream's,
// parsed by parse_response_head when they arrived, and its framing is one Content-Length):
// split into `out` without validating it again - the status line, "name: value" lines, the
// blank line. False when it is not of that shape (then parse it with parse_response_head).
bool split_own_response_head(std::string_view head, bool request_method_head, Response& out);

}  // namespace gw::http
