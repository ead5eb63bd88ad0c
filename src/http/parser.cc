#include "http/parser.h"

#include "http/chars.h"

#include <array>
#include <cstring>
#include <limits>

namespace gw::http {

namespace {

using namespace chars;

// Methods are case-sensitive and every registered one is upper-case, so, as nginx does, a method
// is upper-case letters, '-' and '_' only: "delete" must not slip past a `methods: [DELETE]`
// condition while a backend treats it as DELETE.
inline bool is_method_char(char c) { return (c >= 'A' && c <= 'Z') || c == '-' || c == '_'; }

// Request-target: visible characters; obs-text (>= 0x80) is let through like nginx does.
inline bool is_target_char(char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;
}

bool istarts_with(std::string_view s, std::string_view lower) {
    return s.size() >= lower.size() && iequals(s.substr(0, lower.size()), lower);
}

ParseResult fail(ParseError& err, int status, std::string_view reason) {
    err.status = status;
    err.reason = reason;
    return ParseResult::Error;
}

// Calls fn(element) for each non-empty, OWS-trimmed element of a comma list (RFC 9110 §5.6.1:
// empty elements are ignored). Stops and returns false as soon as fn does.
template <class Fn>
bool for_each_element(std::string_view list, Fn&& fn) {
    while (true) {
        size_t comma = list.find(',');
        std::string_view el = trim_ows(list.substr(0, comma));
        if (!el.empty() && !fn(el)) return false;
        if (comma == std::string_view::npos) return true;
        list.remove_prefix(comma + 1);
    }
}

// uri-host [ ":" port ], stricter than RFC 3986: reg-name limited to ALPHA DIGIT - . _ ~ (no
// pct-encoding, no sub-delims, no userinfo), IP-literal limited to hex digits, ':' and '.', and
// a port, when present, must be 1-5 digits <= 65535. Anything a backend could split differently
// ('/', '@', ',', spaces) is out.
bool valid_authority(std::string_view s, bool require_port) {
    if (s.empty()) return false;
    size_t i = 0;
    if (s[0] == '[') {
        i = 1;
        while (i < s.size() && (has(s[i], kHex) || s[i] == ':' || s[i] == '.')) ++i;
        if (i == 1 || i >= s.size() || s[i] != ']') return false;
        ++i;
    } else {
        while (i < s.size() && has(s[i], kHost)) ++i;
        if (i == 0) return false;
    }
    if (i == s.size()) return !require_port;
    if (s[i] != ':') return false;
    std::string_view port = s.substr(i + 1);
    if (port.empty() || port.size() > 5) return false;
    uint32_t v = 0;
    for (char c : port) {
        if (!has(c, kDigit)) return false;
        v = v * 10 + static_cast<uint32_t>(c - '0');
    }
    return v <= 65535;
}

// Splits "path?query" of origin-form or of the part after an absolute-form authority.
void split_query(std::string_view s, Request& out) {
    size_t q = s.find('?');
    if (q == std::string_view::npos) {
        out.path = s;
        out.query = {};
    } else {
        out.path = s.substr(0, q);
        out.query = s.substr(q + 1);
    }
}

// Classifies the request-target (RFC 9112 §3.2) and fills path, query and, for absolute-form and
// authority-form, host.
ParseResult parse_target(Request& out, ParseError& err) {
    std::string_view t = out.target;
    // A fragment is never sent (RFC 9110 §4.2.4); seeing one means the client or an
    // intermediary is confused, and servers disagree on where the path ends.
    if (t.find('#') != std::string_view::npos) return fail(err, 400, "fragment in request target");
    const bool connect = out.method == "CONNECT";
    if (connect) {
        // CONNECT takes authority-form and nothing else, and the port is mandatory (§3.2.3).
        if (!valid_authority(t, true)) return fail(err, 400, "invalid CONNECT target");
        out.host = t;
        return ParseResult::Complete;
    }
    if (t[0] == '/') {
        split_query(t, out);
        return ParseResult::Complete;
    }
    if (t[0] == '*') {
        if (t.size() != 1 || out.method != "OPTIONS")
            return fail(err, 400, "asterisk-form only with OPTIONS");
        out.path = t;
        return ParseResult::Complete;
    }
    size_t scheme_len = 0;
    if (istarts_with(t, "http://"))
        scheme_len = 7;
    else if (istarts_with(t, "https://"))
        scheme_len = 8;
    else
        return fail(err, 400, "invalid request target");
    std::string_view rest = t.substr(scheme_len);
    size_t end = 0;
    while (end < rest.size() && rest[end] != '/' && rest[end] != '?') ++end;
    std::string_view authority = rest.substr(0, end);
    if (!valid_authority(authority, false)) return fail(err, 400, "invalid host in request target");
    out.host = authority;
    split_query(rest.substr(end), out);
    // An empty path means "/" (RFC 9112 §3.2.1). Views must stay inside the caller's buffer, and
    // the last '/' of "://" is exactly that string.
    if (out.path.empty()) out.path = t.substr(scheme_len - 1, 1);
    return ParseResult::Complete;
}

// method SP request-target SP HTTP-version, `line` without its CRLF.
ParseResult parse_request_line(std::string_view line, const ParserLimits& limits, Request& out,
                               ParseError& err) {
    const size_t n = line.size();
    size_t i = 0;
    while (i < n && is_method_char(line[i])) ++i;
    if (i == 0 || i == n || line[i] != ' ') return fail(err, 400, "invalid method");
    out.method = line.substr(0, i);

    const size_t t0 = ++i;
    while (i < n && is_target_char(line[i])) ++i;
    if (i - t0 > limits.max_uri_size) return fail(err, 414, "request target too long");
    if (i == t0) return fail(err, 400, "empty request target");
    if (i == n || line[i] != ' ') return fail(err, 400, "invalid character in request target");
    out.target = line.substr(t0, i - t0);

    std::string_view v = line.substr(i + 1);
    if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !has(v[5], kDigit) || v[6] != '.' ||
        !has(v[7], kDigit))
        return fail(err, 400, "invalid HTTP version");
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return fail(err, 505, "unsupported HTTP version");
    out.version_minor = v[7] - '0';
    out.http2 = false;
    return parse_target(out, err);
}

// Checks the start of a request line that has not ended yet, so that a hopeless one is refused
// now rather than after max_header_size bytes. Everything rejected here is also rejected once the
// line is complete.
ParseResult check_partial_request_line(std::string_view part, const ParserLimits& limits,
                                       ParseError& err) {
    const size_t n = part.size();
    size_t i = 0;
    while (i < n && is_method_char(part[i])) ++i;
    if (i == n) return ParseResult::Incomplete;
    if (i == 0 || part[i] != ' ') return fail(err, 400, "invalid method");
    const size_t t0 = ++i;
    while (i < n && is_target_char(part[i])) ++i;
    if (i - t0 > limits.max_uri_size) return fail(err, 414, "request target too long");
    if (i == n) return ParseResult::Incomplete;
    if (i == t0) return fail(err, 400, "empty request target");
    if (part[i] != ' ') return fail(err, 400, "invalid character in request target");
    return ParseResult::Incomplete;
}

// What the headers said, gathered during the single tokenizing pass and judged at the end, once
// every header has been seen (several rules involve two headers).
struct HeaderFacts {
    bool host = false;
    bool content_length = false;
    bool te = false;
    bool te_last_chunked = false;
    bool te_other = false;  // a coding other than chunked
    int te_chunked = 0;
    bool conn_close = false;
    bool conn_keep_alive = false;
    bool conn_upgrade = false;
    bool upgrade = false;
    bool expect_continue = false;
    bool expect_other = false;
    std::string_view host_value;
    uint64_t content_length_value = 0;
};

ParseResult on_transfer_encoding(std::string_view value, HeaderFacts& f, ParseError& err) {
    f.te = true;
    // A Transfer-Encoding field without any coding is refused even next to a valid one: peers
    // disagree on whether such a field counts, which is what smuggling feeds on.
    bool any = false;
    bool ok = for_each_element(value, [&](std::string_view el) {
        any = true;
        size_t k = 0;
        while (k < el.size() && is_tchar(el[k])) ++k;
        if (k == 0) return false;
        std::string_view coding = el.substr(0, k);
        std::string_view params = trim_ows(el.substr(k));
        if (!params.empty() && params[0] != ';') return false;
        if (iequals(coding, "chunked")) {
            if (!params.empty()) return false;  // chunked has no parameters
            ++f.te_chunked;
            f.te_last_chunked = true;
        } else {
            f.te_other = true;
            f.te_last_chunked = false;
        }
        return true;
    });
    if (!ok) return fail(err, 400, "invalid Transfer-Encoding");
    if (!any) return fail(err, 400, "empty Transfer-Encoding");
    return ParseResult::Complete;
}

ParseResult on_connection(std::string_view value, HeaderFacts& f, ParseError& err) {
    bool ok = for_each_element(value, [&](std::string_view el) {
        if (!is_token(el)) return false;
        if (iequals(el, "close"))
            f.conn_close = true;
        else if (iequals(el, "keep-alive"))
            f.conn_keep_alive = true;
        else if (iequals(el, "upgrade"))
            f.conn_upgrade = true;
        return true;
    });
    if (!ok) return fail(err, 400, "invalid Connection");
    return ParseResult::Complete;
}

// Records the headers the parser itself must understand. Names are matched by length first so
// that most headers cost one switch.
ParseResult on_header(const Header& h, HeaderFacts& f, ParseError& err) {
    switch (h.name.size()) {
        case 4:
            if (iequals(h.name, "host")) {
                if (f.host) return fail(err, 400, "duplicate Host");
                if (!valid_authority(h.value, false)) return fail(err, 400, "invalid Host");
                f.host = true;
                f.host_value = h.value;
            }
            break;
        case 6:
            if (iequals(h.name, "expect")) {
                if (iequals(h.value, "100-continue"))
                    f.expect_continue = true;
                else
                    f.expect_other = true;
            }
            break;
        case 7:
            if (iequals(h.name, "upgrade") && !h.value.empty()) f.upgrade = true;
            break;
        case 10:
            if (iequals(h.name, "connection")) return on_connection(h.value, f, err);
            break;
        case 14:
            if (iequals(h.name, "content-length")) {
                // Even an identical second value is refused: some peers take the first, some
                // the last, some add them up.
                if (f.content_length) return fail(err, 400, "duplicate Content-Length");
                if (h.value.empty()) return fail(err, 400, "invalid Content-Length");
                uint64_t v = 0;
                for (char c : h.value) {
                    if (!has(c, kDigit)) return fail(err, 400, "invalid Content-Length");
                    auto d = static_cast<uint64_t>(c - '0');
                    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10)
                        return fail(err, 400, "Content-Length overflow");
                    v = v * 10 + d;
                }
                f.content_length = true;
                f.content_length_value = v;
            }
            break;
        case 17:
            if (iequals(h.name, "transfer-encoding")) return on_transfer_encoding(h.value, f, err);
            break;
        default:
            break;
    }
    return ParseResult::Complete;
}

// Tokenizes the header lines in [p, end), where `end` is the start of the final empty line. The
// caller has checked that every LF in the range is preceded by CR and that the range ends with
// CRLF, so each scan below stops at a CR at the latest.
ParseResult parse_headers(std::string_view buf, size_t p, size_t end, size_t max_headers,
                          Request& out, HeaderFacts& f, ParseError& err) {
    const char* b = buf.data();
    while (p < end) {
        if (is_ows(b[p])) return fail(err, 400, "obsolete line folding");
        const size_t name_start = p;
        while (p < end && is_tchar(b[p])) ++p;
        if (b[p] != ':') {
            if (p > name_start && is_ows(b[p])) return fail(err, 400, "whitespace before colon");
            if (b[p] == '\r')
                return fail(err, 400, p == name_start ? "bare CR" : "header without colon");
            return fail(err, 400, "invalid header name");
        }
        if (p == name_start) return fail(err, 400, "empty header name");
        Header h;
        h.name = buf.substr(name_start, p - name_start);
        ++p;
        while (p < end && is_ows(b[p])) ++p;
        const size_t value_start = p;
        p = chars::skip_value_text(b, p, end);
        size_t value_end = p;
        while (value_end > value_start && is_ows(b[value_end - 1])) --value_end;
        if (p >= end || b[p] != '\r') return fail(err, 400, "control character in header value");
        if (b[p + 1] != '\n') return fail(err, 400, "bare CR in header");
        p += 2;
        h.value = buf.substr(value_start, value_end - value_start);
        if (out.header_count >= max_headers) return fail(err, 431, "too many headers");
        out.headers[out.header_count++] = h;
        if (on_header(h, f, err) == ParseResult::Error) return ParseResult::Error;
    }
    return ParseResult::Complete;
}

// Rules that involve several headers or the version (RFC 9112 §6, RFC 9110 §7.2, §7.6.1,
// §10.1.1).
ParseResult finish(const HeaderFacts& f, Request& out, ParseError& err) {
    const bool http11 = out.version_minor == 1;
    if (http11 && !f.host) return fail(err, 400, "missing Host");
    // The target's authority wins over Host (RFC 9112 §3.2.2); parse_target set it already.
    if (out.host.empty()) out.host = f.host_value;

    if (f.te) {
        if (f.content_length) return fail(err, 400, "both Transfer-Encoding and Content-Length");
        if (!http11) return fail(err, 400, "Transfer-Encoding in HTTP/1.0");
        if (f.te_chunked > 1) return fail(err, 400, "chunked applied twice");
        if (f.te_chunked == 1 && !f.te_last_chunked) return fail(err, 400, "chunked not last");
        if (f.te_other) return fail(err, 501, "unsupported transfer coding");
        out.body = BodyKind::Chunked;
    } else if (f.content_length) {
        out.body = BodyKind::ContentLength;
        out.content_length = f.content_length_value;
    }

    if (f.conn_close)
        out.keep_alive = false;
    else
        out.keep_alive = http11 || f.conn_keep_alive;
    // A server must ignore Upgrade in HTTP/1.0 (RFC 9110 §7.8) and 100-continue too (§10.1.1).
    out.upgrade = http11 && f.conn_upgrade && f.upgrade;
    if (f.expect_other) return fail(err, 417, "unsupported expectation");
    out.expect_continue = http11 && f.expect_continue;
    return ParseResult::Complete;
}

}  // namespace

std::string_view Request::cookie(std::string_view name) const {
    std::string_view cookies = header("cookie");
    while (!cookies.empty()) {
        size_t semi = cookies.find(';');
        std::string_view c = cookies.substr(0, semi);
        while (!c.empty() && c.front() == ' ') c.remove_prefix(1);
        if (c.size() > name.size() && c.starts_with(name) && c[name.size()] == '=')
            return c.substr(name.size() + 1);
        if (semi == std::string_view::npos) break;
        cookies.remove_prefix(semi + 1);
    }
    return {};
}

std::string_view Request::header(std::string_view name) const {
    return chars::find_header(headers, header_count, name);
}

ParseResult parse_request_head(std::string_view buf, const ParserLimits& limits, Request& out,
                               ParseError& err) {
    const size_t n = buf.size();
    const char* b = buf.data();
    // Nothing of a valid head lies beyond max_header_size, so never look further: a large
    // buffer of pipelined data costs no more than a small one.
    const size_t scan_end = n < limits.max_header_size ? n : limits.max_header_size;
    const size_t max_headers =
        limits.max_headers < kMaxHeadersHard ? limits.max_headers : kMaxHeadersHard;
    auto incomplete = [&]() {
        if (n > limits.max_header_size) return fail(err, 431, "request header too large");
        return ParseResult::Incomplete;
    };

    // Empty lines before the request line are skipped (RFC 9112 §2.2), but only as CRLF.
    size_t pos = 0;
    while (true) {
        if (pos >= scan_end) return incomplete();
        if (b[pos] == '\n') return fail(err, 400, "bare LF");
        if (b[pos] != '\r') break;
        if (pos + 1 >= scan_end) return incomplete();
        if (b[pos + 1] != '\n') return fail(err, 400, "bare CR");
        pos += 2;
    }

    // Find the end of the head with memchr over the LFs only; the byte-by-byte tokenizing runs
    // once, when the head is all there. Each LF is checked for its CR here so that a bare LF is
    // refused as soon as it arrives.
    const char* lf = static_cast<const char*>(std::memchr(b + pos, '\n', scan_end - pos));
    if (lf == nullptr) {
        if (check_partial_request_line(buf.substr(pos, scan_end - pos), limits, err) ==
            ParseResult::Error)
            return ParseResult::Error;
        return incomplete();
    }
    size_t q = static_cast<size_t>(lf - b);
    if (b[q - 1] != '\r') return fail(err, 400, "bare LF");
    // The request line is checked as soon as it is complete, even if the headers are not.
    out.header_count = 0;
    out.host = {};
    out.path = {};
    out.query = {};
    if (parse_request_line(buf.substr(pos, q - 1 - pos), limits, out, err) == ParseResult::Error)
        return ParseResult::Error;
    const size_t headers_start = q + 1;

    size_t line_start = headers_start;
    size_t lines = 0;
    while (true) {
        lf = static_cast<const char*>(std::memchr(b + line_start, '\n', scan_end - line_start));
        if (lf == nullptr) return incomplete();
        q = static_cast<size_t>(lf - b);
        if (q == line_start || b[q - 1] != '\r') return fail(err, 400, "bare LF");
        if (q - 1 == line_start) break;  // the empty line: end of the head
        if (++lines > max_headers) return fail(err, 431, "too many headers");
        line_start = q + 1;
    }
    const size_t head_end = q + 1;  // <= scan_end <= max_header_size

    out.body = BodyKind::None;
    out.content_length = 0;
    out.keep_alive = true;
    out.expect_continue = false;
    out.upgrade = false;
    out.head_length = 0;
    HeaderFacts facts;
    if (parse_headers(buf, headers_start, line_start, max_headers, out, facts, err) ==
        ParseResult::Error)
        return ParseResult::Error;
    if (finish(facts, out, err) == ParseResult::Error) return ParseResult::Error;
    out.head_length = head_end;
    return ParseResult::Complete;
}

// ---- chunked body (RFC 9112 §7.1) ----

namespace {
constexpr size_t kMaxChunkSizeDigits = 16;   // 16 hex digits fill a uint64_t exactly
constexpr size_t kMaxChunkLineBytes = 4096;  // size + extensions of one chunk line
constexpr size_t kMaxTrailerBytes = 8192;    // whole trailer section

inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

ChunkedDecoder::Status ChunkedDecoder::feed(std::string_view in, size_t& consumed,
                                            std::string_view& data, ParseError& err) {
    consumed = 0;
    data = {};
    if (state_ == State::Finished) return Status::Done;
    if (state_ == State::Failed) {
        err = err_;
        return Status::Error;
    }
    const size_t n = in.size();
    size_t i = 0;
    auto error = [&](int status, std::string_view reason) {
        state_ = State::Failed;
        err_.status = status;
        err_.reason = reason;
        err = err_;
        consumed = i;  // `data` keeps what came before the error, matching body_size()
        return Status::Error;
    };

    while (i < n) {
        const char c = in[i];
        switch (state_) {
            case State::Size: {
                int d = hex_value(c);
                if (d >= 0) {
                    if (++size_digits_ > kMaxChunkSizeDigits)
                        return error(400, "chunk size too long");
                    chunk_left_ = (chunk_left_ << 4) | static_cast<uint64_t>(d);
                    // Digits only ever make the size larger, so the limit can be applied now.
                    if (max_body_ != 0 && chunk_left_ > max_body_ - total_)
                        return error(413, "chunked body too large");
                } else if (size_digits_ == 0) {
                    return error(400, "invalid chunk size");
                } else if (c == '\r') {
                    state_ = State::SizeLf;
                } else if (c == ';') {
                    state_ = State::SizeExt;
                } else if (is_ows(c)) {
                    state_ = State::SizeBws;  // BWS before ';' (RFC 9112 §7.1.1)
                } else {
                    return error(400, "invalid chunk size");
                }
                if (c != '\r' && ++line_bytes_ > kMaxChunkLineBytes)
                    return error(400, "chunk line too long");
                ++i;
                break;
            }
            case State::SizeBws:
                // Only more whitespace, an extension or the end may follow: "5 5" must not
                // become 5 here and 0x55 elsewhere.
                if (c == ';')
                    state_ = State::SizeExt;
                else if (c == '\r')
                    state_ = State::SizeLf;
                else if (!is_ows(c))
                    return error(400, "invalid chunk size");
                if (c != '\r' && ++line_bytes_ > kMaxChunkLineBytes)
                    return error(400, "chunk line too long");
                ++i;
                break;
            case State::SizeExt:
                // Extensions are ignored, but no CTL may hide in them.
                if (c == '\r')
                    state_ = State::SizeLf;
                else if (c == '\n')
                    return error(400, "bare LF in chunk line");
                else if (has(c, kValueBad))
                    return error(400, "control character in chunk extension");
                if (c != '\r' && ++line_bytes_ > kMaxChunkLineBytes)
                    return error(400, "chunk line too long");
                ++i;
                break;
            case State::SizeLf:
                if (c != '\n') return error(400, "bare CR in chunk line");
                ++i;
                size_digits_ = 0;
                line_bytes_ = 0;
                if (chunk_left_ == 0) {
                    state_ = State::Trailer;
                } else {
                    if (chunk_left_ > std::numeric_limits<uint64_t>::max() - total_)
                        return error(400, "chunked body size overflow");
                    state_ = State::Data;
                }
                break;
            case State::Data: {
                // One data view per call: the caller comes back with the rest.
                if (!data.empty()) {
                    consumed = i;
                    return Status::NeedMore;
                }
                size_t take = n - i;
                if (take > chunk_left_) take = static_cast<size_t>(chunk_left_);
                data = in.substr(i, take);
                i += take;
                chunk_left_ -= take;
                total_ += take;
                if (chunk_left_ == 0) state_ = State::DataCr;
                break;
            }
            case State::DataCr:
                if (c != '\r') return error(400, "missing CRLF after chunk data");
                state_ = State::DataLf;
                ++i;
                break;
            case State::DataLf:
                if (c != '\n') return error(400, "missing CRLF after chunk data");
                state_ = State::Size;
                ++i;
                break;
            case State::Trailer:
            case State::TrailerLine:
            case State::TrailerLineLf:
            case State::TrailerLf:
                // Counted once the byte is accepted, so that trailer_bytes() is always what
                // was consumed of the section.
                if (trailer_bytes_ >= kMaxTrailerBytes)
                    return error(431, "trailer section too large");
                if (state_ == State::Trailer) {
                    // Start of a trailer line, or of the empty line that ends the body.
                    if (c == '\r')
                        state_ = State::TrailerLf;
                    else if (is_ows(c))
                        return error(400, "obsolete line folding in trailer");
                    else if (is_tchar(c)) {
                        state_ = State::TrailerLine;
                        trailer_value_ = false;
                    } else
                        return error(400, "invalid trailer name");
                } else if (state_ == State::TrailerLine) {
                    if (!trailer_value_) {
                        if (c == ':')
                            trailer_value_ = true;
                        else if (!is_tchar(c))
                            return error(400, "invalid trailer name");
                    } else if (c == '\r') {
                        state_ = State::TrailerLineLf;
                    } else if (has(c, kValueBad)) {
                        return error(400, "control character in trailer");
                    }
                } else if (state_ == State::TrailerLineLf) {
                    if (c != '\n') return error(400, "bare CR in trailer");
                    state_ = State::Trailer;
                } else {
                    if (c != '\n') return error(400, "bare CR in trailer");
                    state_ = State::Finished;
                    ++trailer_bytes_;
                    consumed = i + 1;
                    return Status::Done;
                }
                ++trailer_bytes_;
                ++i;
                break;
            case State::Finished:
            case State::Failed:
                return error(400, "chunked decoder misuse");  // not reached: handled above
        }
    }
    consumed = i;
    return Status::NeedMore;
}

}  // namespace gw::http
