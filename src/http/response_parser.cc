// The upstream response head parser (declared in http/parser.h). Like the request parser it does
// not allocate: every view of the Response points into the caller's buffer.
//
// Every Error is a 502 for the proxy. The rules that decide how long the body is (RFC 9112 §6.3)
// are applied strictly: a head that two peers could frame differently is refused, because the
// gateway reuses upstream connections and a misframed response would hand one client's bytes to
// the next request on that connection.
#include <array>
#include <cstring>
#include <limits>

#include "http/chars.h"
#include "http/parser.h"

namespace gw::http {

namespace {

using namespace chars;

ParseResult fail(ParseError& err, std::string_view reason) {
    err.status = 502;
    err.reason = reason;
    return ParseResult::Error;
}

// Calls fn(element, empty) for each OWS-trimmed element of a comma list, empty ones included
// (the caller decides whether those are allowed). Stops and returns false as soon as fn does.
template <class Fn>
bool for_each_element(std::string_view list, Fn&& fn) {
    while (true) {
        const size_t comma = list.find(',');
        if (!fn(trim_ows(list.substr(0, comma)))) return false;
        if (comma == std::string_view::npos) return true;
        list.remove_prefix(comma + 1);
    }
}

// Checks a status line: `s` is the whole line without its CRLF when `complete`, otherwise what
// has arrived of it (without a final CR, which may be the start of the CRLF). On a partial line
// it returns Incomplete where the complete check would need more, so anything refused early is
// refused again once the line is there.
//
//   status-line = HTTP-version SP status-code [ SP reason-phrase ]
//
// (RFC 9112 §4 makes the SP before an empty reason mandatory; "HTTP/1.1 200" is common enough
// in the wild, and unambiguous, to accept.)
ParseResult scan_status_line(std::string_view s, bool complete, Response& out, ParseError& err) {
    const size_t n = s.size();
    auto more = [&]() {
        return complete ? fail(err, "truncated status line") : ParseResult::Incomplete;
    };
    if (complete && n == 0) return fail(err, "empty line before status line");
    constexpr std::string_view kName = "HTTP/";
    for (size_t i = 0; i < kName.size(); ++i) {
        if (i == n) return more();
        if (s[i] != kName[i]) return fail(err, "invalid status line");
    }
    // HTTP-version = "HTTP/" DIGIT "." DIGIT
    if (n <= 5) return more();
    if (!is_digit(s[5])) return fail(err, "invalid HTTP version");
    if (s[5] != '1') return fail(err, "unsupported HTTP version");
    if (n <= 6) return more();
    if (s[6] != '.') return fail(err, "invalid HTTP version");
    if (n <= 7) return more();
    if (!is_digit(s[7])) return fail(err, "invalid HTTP version");
    if (s[7] != '0' && s[7] != '1') return fail(err, "unsupported HTTP version");
    if (n <= 8) return more();
    if (s[8] != ' ') return fail(err, "invalid HTTP version");
    // status-code = 3DIGIT, and only the classes 1xx to 5xx exist (RFC 9110 §15).
    int status = 0;
    for (size_t i = 9; i < 12; ++i) {
        if (i == n) return more();
        if (!is_digit(s[i])) return fail(err, "invalid status code");
        status = status * 10 + (s[i] - '0');
        if (i == 9 && (s[i] < '1' || s[i] > '5')) return fail(err, "status code out of range");
    }
    size_t reason_start = 12;
    if (n > 12) {
        if (s[12] == '\r') return fail(err, "bare CR in status line");
        if (s[12] != ' ') return fail(err, "invalid status code");
        reason_start = 13;
    } else if (!complete) {
        return ParseResult::Incomplete;
    }
    for (size_t i = reason_start; i < n; ++i) {
        if (s[i] == '\r') return fail(err, "bare CR in status line");
        if (!is_text(s[i])) return fail(err, "control character in reason phrase");
    }
    if (!complete) return ParseResult::Incomplete;
    out.version_minor = s[7] - '0';
    out.status = status;
    out.reason = s.substr(reason_start);
    return ParseResult::Complete;
}

// What the headers said, judged at the end once every header has been seen.
struct Facts {
    bool content_length = false;
    uint64_t content_length_value = 0;
    bool te = false;
    bool te_other = false;  // a coding other than chunked
    int te_chunked = 0;
    bool conn_close = false;
    bool conn_keep_alive = false;
    bool conn_names_framing = false;  // Connection lists Content-Length or Transfer-Encoding
    bool upgrade = false;
    bool connection_seen = false;
    std::string_view connection;  // the first Connection field's value
};

// Content-Length = 1*DIGIT, but a recipient may see it repeated, as several fields or as a list
// (RFC 9110 §8.6). Identical values are one value; anything else is an error. Empty elements
// ("5,,5", "5,") are refused rather than skipped: a valid sender never makes them.
ParseResult on_content_length(std::string_view value, Facts& f, ParseError& err) {
    bool conflict = false;
    bool ok = for_each_element(value, [&](std::string_view el) {
        if (el.empty()) return false;
        uint64_t v = 0;
        for (char c : el) {
            if (!is_digit(c)) return false;
            auto d = static_cast<uint64_t>(c - '0');
            if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
            v = v * 10 + d;
        }
        if (f.content_length && v != f.content_length_value) {
            conflict = true;
            return false;
        }
        f.content_length = true;
        f.content_length_value = v;
        return true;
    });
    if (conflict) return fail(err, "conflicting Content-Length");
    if (!ok) return fail(err, "invalid Content-Length");
    return ParseResult::Complete;
}

// transfer-coding = token *( OWS ";" OWS transfer-parameter ). Several fields make one list, in
// order. Only "chunked" alone is accepted in the end (see finish()): the proxy removes
// Transfer-Encoding as hop-by-hop, so a body in another coding (gzip, ...) would reach the client
// labelled as plain bytes; nginx refuses these too.
ParseResult on_transfer_encoding(std::string_view value, Facts& f, ParseError& err) {
    f.te = true;
    bool any = false;
    bool ok = for_each_element(value, [&](std::string_view el) {
        if (el.empty()) return true;  // empty list elements are allowed (RFC 9110 §5.6.1)
        any = true;
        size_t k = 0;
        while (k < el.size() && is_tchar(el[k])) ++k;
        if (k == 0) return false;
        const std::string_view coding = el.substr(0, k);
        const std::string_view params = trim_ows(el.substr(k));
        if (!params.empty() && params[0] != ';') return false;
        if (iequals(coding, "chunked")) {
            if (!params.empty()) return false;  // chunked has no parameters
            ++f.te_chunked;
        } else {
            f.te_other = true;
        }
        return true;
    });
    if (!ok) return fail(err, "invalid Transfer-Encoding");
    if (!any) return fail(err, "empty Transfer-Encoding");
    return ParseResult::Complete;
}

ParseResult on_connection(std::string_view value, Facts& f, ParseError& err) {
    bool ok = for_each_element(value, [&](std::string_view el) {
        if (el.empty()) return true;
        if (!is_token(el)) return false;
        if (iequals(el, "close"))
            f.conn_close = true;
        else if (iequals(el, "keep-alive"))
            f.conn_keep_alive = true;
        else if (iequals(el, "content-length") || iequals(el, "transfer-encoding"))
            f.conn_names_framing = true;
        return true;
    });
    if (!ok) return fail(err, "invalid Connection");
    return ParseResult::Complete;
}

// `framing`: whether Content-Length and Transfer-Encoding decide the body. When they do not
// (HEAD, 1xx, 204, 304) the body is empty whatever they say, and Transfer-Encoding is not looked
// at; Content-Length is still checked (a HEAD or 304 answer's length is passed to the client,
// which may believe it: conflicting or invalid values are an error there too).
ParseResult on_header(const Header& h, bool framing, Facts& f, ParseError& err) {
    switch (h.name.size()) {
        case 7:
            if (iequals(h.name, "upgrade") && !h.value.empty()) f.upgrade = true;
            break;
        case 10:
            if (iequals(h.name, "connection")) {
                if (!f.connection_seen) f.connection = h.value;
                f.connection_seen = true;
                return on_connection(h.value, f, err);
            }
            break;
        case 14:
            if (iequals(h.name, "content-length"))
                return on_content_length(h.value, f, err);
            break;
        case 17:
            if (framing && iequals(h.name, "transfer-encoding"))
                return on_transfer_encoding(h.value, f, err);
            break;
        default:
            break;
    }
    return ParseResult::Complete;
}

// Tokenizes the header lines in [p, end), where `end` is the start of the final empty line. The
// caller has checked that every LF in the range follows a CR and that the range ends with CRLF,
// so every scan below stops at a CR at the latest.
ParseResult parse_headers(std::string_view buf, size_t p, size_t end, size_t max_headers,
                          bool framing, Response& out, Facts& f, ParseError& err) {
    const char* b = buf.data();
    while (p < end) {
        if (is_ows(b[p])) return fail(err, "obsolete line folding");
        const size_t name_start = p;
        while (is_tchar(b[p])) ++p;
        if (b[p] != ':') {
            if (p > name_start && is_ows(b[p])) {
                while (is_ows(b[p])) ++p;
                return fail(err, b[p] == ':' ? "whitespace before colon" : "invalid header name");
            }
            if (b[p] == '\r')
                return fail(err, p == name_start ? "bare CR" : "header without colon");
            return fail(err, "invalid header name");
        }
        if (p == name_start) return fail(err, "empty header name");
        Header h;
        h.name = buf.substr(name_start, p - name_start);
        ++p;
        while (is_ows(b[p])) ++p;
        const size_t value_start = p;
        p = chars::skip_value_text(b, p, end);
        size_t value_end = p;
        while (value_end > value_start && is_ows(b[value_end - 1])) --value_end;
        if (p >= end || b[p] != '\r') return fail(err, "control character in header value");
        if (b[p + 1] != '\n') return fail(err, "bare CR in header");
        p += 2;
        h.value = buf.substr(value_start, value_end - value_start);
        if (out.header_count >= max_headers) return fail(err, "too many headers");
        out.headers[out.header_count++] = h;
        if (on_header(h, framing, f, err) == ParseResult::Error) return ParseResult::Error;
    }
    return ParseResult::Complete;
}

// Body framing (RFC 9112 §6.3), keep-alive (§9.3) and upgrade (RFC 9110 §7.8, §15.2.2).
ParseResult finish(const Facts& f, bool framing, Response& out, ParseError& err) {
    const bool http11 = out.version_minor == 1;
    if (out.status == 101) {
        // Switching protocols without saying to what leaves nobody knowing how to read what
        // follows; and HTTP/1.0 has no 1xx responses at all.
        if (!f.upgrade) return fail(err, "101 without Upgrade");
        if (!http11) return fail(err, "101 in HTTP/1.0");
        out.upgrade = true;
    }

    if (!framing) {
        out.body = ResponseBody::None;
    } else if (f.te) {
        if (f.content_length) return fail(err, "both Transfer-Encoding and Content-Length");
        // RFC 9112 §6.1: HTTP/1.0 with Transfer-Encoding has faulty framing.
        if (!http11) return fail(err, "Transfer-Encoding in HTTP/1.0");
        if (f.te_chunked > 1) return fail(err, "chunked applied twice");
        if (f.te_other) return fail(err, "unsupported Transfer-Encoding");
        out.body = ResponseBody::Chunked;
    } else if (f.content_length) {
        out.body = ResponseBody::ContentLength;
        out.content_length = f.content_length_value;
    } else {
        out.body = ResponseBody::UntilClose;
    }

    if (f.conn_close)
        out.keep_alive = false;
    else
        out.keep_alive = http11 || f.conn_keep_alive;
    // After 101 the connection speaks another protocol; after a body read until close there is
    // no connection left.
    if (out.upgrade || out.body == ResponseBody::UntilClose) out.keep_alive = false;
    // "Connection: content-length" asks the next hop to drop a framing header: a peer that does
    // so misframes everything after this response. The proxy never drops it, but neither
    // connection is trusted with another exchange after such a response.
    if (f.conn_names_framing) {
        out.untrusted_framing = true;
        out.keep_alive = false;
    }
    return ParseResult::Complete;
}

}  // namespace

std::string_view Response::header(std::string_view name) const {
    return chars::find_header(headers, header_count, name);
}

bool split_own_response_head(std::string_view head, bool request_method_head, Response& out) {
    // "HTTP/1.1 200 OK\r\n"
    if (head.size() < 16 || !head.starts_with("HTTP/1.1 ") || !head.ends_with("\r\n\r\n")) return false;
    int status = 0;
    for (size_t i = 9; i < 12; ++i) {
        if (!chars::is_digit(head[i])) return false;
        status = status * 10 + (head[i] - '0');
    }
    size_t eol = head.find("\r\n");
    out.status = status;
    out.version_minor = 1;
    out.reason = eol > 13 ? head.substr(13, eol - 13) : std::string_view();
    out.header_count = 0;
    out.keep_alive = true;
    out.upgrade = out.untrusted_framing = false;
    out.head_length = head.size();
    out.content_length = 0;
    out.connection = {};
    bool has_length = false;
    bool connection_seen = false;
    size_t at = eol + 2;
    while (at < head.size() - 2) {
        size_t end = head.find("\r\n", at);
        size_t colon = head.find(':', at);
        if (end == std::string_view::npos || colon == std::string_view::npos || colon > end ||
            out.header_count == kMaxHeadersHard)
            return false;
        std::string_view value = head.substr(colon + 1, end - colon - 1);
        while (!value.empty() && chars::is_ows(value.front())) value.remove_prefix(1);
        Header& h = out.headers[out.header_count++];
        h.name = head.substr(at, colon - at);
        h.value = value;
        if (!connection_seen && h.name.size() == 10 && chars::iequals(h.name, "connection")) {
            out.connection = value;
            connection_seen = true;
        }
        if (h.name.size() == 14 && chars::iequals(h.name, "content-length")) {
            uint64_t n = 0;
            for (char c : value) {
                if (!chars::is_digit(c)) return false;
                n = n * 10 + static_cast<uint64_t>(c - '0');
            }
            out.content_length = n;
            has_length = true;
        }
        at = end + 2;
    }
    bool bodiless = request_method_head || status < 200 || status == 204 || status == 304;
    out.body = bodiless || !has_length ? ResponseBody::None : ResponseBody::ContentLength;  // (as the parser: 0 too)
    if (bodiless) out.content_length = 0;
    return bodiless || has_length;
}

ParseResult parse_response_head(std::string_view buf, const ParserLimits& limits,
                                bool request_method_head, Response& out, ParseError& err) {
    const size_t n = buf.size();
    const char* b = buf.data();
    // Nothing of a valid head lies beyond max_header_size: never look further, so that a large
    // buffer of body bytes costs no more than a small one.
    const size_t scan_end = n < limits.max_header_size ? n : limits.max_header_size;
    const size_t max_headers =
        limits.max_headers < kMaxHeadersHard ? limits.max_headers : kMaxHeadersHard;
    auto incomplete = [&]() {
        if (n > limits.max_header_size) return fail(err, "response header too large");
        return ParseResult::Incomplete;
    };

    out.status = 0;
    out.version_minor = 1;
    out.reason = {};
    out.header_count = 0;
    out.body = ResponseBody::None;
    out.content_length = 0;
    out.keep_alive = true;
    out.upgrade = false;
    out.untrusted_framing = false;
    out.head_length = 0;
    out.connection = {};

    // No empty lines are skipped before the status line: after a response whose length we
    // believed, stray bytes mean the framing was wrong, and guessing again would be worse.
    const char* lf = static_cast<const char*>(std::memchr(b, '\n', scan_end));
    if (lf == nullptr) {
        std::string_view part = buf.substr(0, scan_end);
        if (!part.empty() && part.back() == '\r') part.remove_suffix(1);
        if (scan_status_line(part, false, out, err) == ParseResult::Error)
            return ParseResult::Error;
        return incomplete();
    }
    size_t q = static_cast<size_t>(lf - b);
    if (q == 0 || b[q - 1] != '\r') return fail(err, "bare LF");
    if (scan_status_line(buf.substr(0, q - 1), true, out, err) == ParseResult::Error)
        return ParseResult::Error;
    const size_t headers_start = q + 1;

    // The end of the head, found with memchr over the LFs; each must follow a CR.
    size_t line_start = headers_start;
    size_t lines = 0;
    while (true) {
        lf = static_cast<const char*>(std::memchr(b + line_start, '\n', scan_end - line_start));
        if (lf == nullptr) return incomplete();
        q = static_cast<size_t>(lf - b);
        if (q == line_start || b[q - 1] != '\r') return fail(err, "bare LF");
        if (q - 1 == line_start) break;  // the empty line: end of the head
        if (++lines > max_headers) return fail(err, "too many headers");
        line_start = q + 1;
    }
    const size_t head_end = q + 1;

    // RFC 9112 §6.3 items 1 and 2: these responses end at the head, whatever the headers say.
    const int s = out.status;
    const bool framing = !request_method_head && s >= 200 && s != 204 && s != 304;
    Facts facts;
    if (parse_headers(buf, headers_start, line_start, max_headers, framing, out, facts, err) ==
        ParseResult::Error)
        return ParseResult::Error;
    if (finish(facts, framing, out, err) == ParseResult::Error) return ParseResult::Error;
    out.connection = facts.connection;
    out.head_length = head_end;
    return ParseResult::Complete;
}

}  // namespace gw::http
