// The HTTP/2 codec takes responses as the rest of the gateway writes them - HTTP/1.1 bytes: a
// head, then a body framed by Content-Length, chunked (with a trailer section) or by its end
// (exchange.h, the proxy) - and sends them as HEADERS, DATA and trailing HEADERS frames. This
// is the reading side of that: a head split into lower-case fields without the ones HTTP/2
// forbids (RFC 9113 8.2.2), and the body unframed.
//
// The heads are the gateway's own (the fields of an upstream's response were checked by the
// response parser when they arrived), so splitting trusts their shape; a head that is not of
// that shape is an error (the stream is reset), never guessed at.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"

namespace gw::http::h2 {

// Fields for nghttp2: `nv` points into `storage` (names lower-cased), valid until the next reset.
struct FieldList {
    std::string storage;
    std::vector<nghttp2_nv> nv;
    void clear() {
        storage.clear();
        nv.clear();
    }
};

// A response head built field by field into a FieldList: lower-case names, the fields HTTP/2
// forbids dropped, the body's framing worked out. split_head() uses it on HTTP/1 bytes; the
// proxy's heads come through it directly (ResponseFieldSink).
class HeadBuilder {
  public:
    explicit HeadBuilder(FieldList& out) : out_(out) {}
    void status(int status);  // first
    // False when the field is malformed (a Content-Length that is not a number).
    bool field(std::string_view name, std::string_view value);
    // "name: value\r\n" lines (the last CRLF may be missing); false on a line without a name.
    bool lines(std::string_view lines);
    // Done: how the body is framed (a response to HEAD, 1xx, 204 and 304 has none) and its
    // length for ResponseBody::ContentLength; the pointers in `out` are set.
    void finish(bool head_request, bool chunked, ResponseBody& framing, uint64_t& content_length);
    int status_code() const { return status_; }
    uint64_t http1_bytes() const { return http1_bytes_; }  // about what HTTP/1.1 bytes it would be

  private:
    FieldList& out_;
    int status_ = 0;
    bool has_length_ = false;
    uint64_t length_ = 0;
    uint64_t http1_bytes_ = 0;
};

// True for fields an HTTP/2 message must not carry (connection-specific: Connection,
// Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade; TE other than "trailers").
bool is_connection_specific(std::string_view lower_name, std::string_view value);

// Splits an HTTP/1.1 response head (status line, fields, CRLF CRLF) into `status` and `out`
// (":status" first). False when it is not of that shape. `framing` says how the body after it
// is delimited; `content_length` is set for ResponseBody::ContentLength. A response to HEAD,
// 1xx, 204 and 304 has no body whatever the fields say.
bool split_head(std::string_view head, bool head_request, int& status, ResponseBody& framing,
                uint64_t& content_length, FieldList& out);

// A chunked trailer section ("name: value\r\n"... without the final CRLF, or with it) as
// fields; fields a trailer may not carry (framing, routing, authentication, connection-specific
// ones, pseudo-fields) are dropped.
void split_trailers(std::string_view section, FieldList& out);

}  // namespace gw::http::h2
