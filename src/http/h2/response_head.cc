#include "http/h2/response_head.h"

#include "http/chars.h"

#include <cstring>

namespace gw::http::h2 {

namespace {

void add(FieldList& out, std::string_view name, std::string_view value) {
    // Offsets first: `storage` may move while it grows; the pointers are set at the end.
    size_t at = out.storage.size();
    out.storage.append(name);
    char* p = out.storage.data() + at;
    chars::lower_in_place(p, name.size());
    nghttp2_nv nv{};
    // A value new in every response (the request id) is not put in the HPACK table: it would
    // only push out what repeats (content-type, server), and nghttp2 searches the table for it.
    nv.flags = name.size() == 12 && memcmp(p, "x-request-id", 12) == 0 ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE;
    out.storage.append(value);  // (`p` may move)
    nv.name = reinterpret_cast<uint8_t*>(at);  // an offset until fix_pointers()
    nv.namelen = name.size();
    nv.value = reinterpret_cast<uint8_t*>(at + name.size());
    nv.valuelen = value.size();
    out.nv.push_back(nv);
}

void fix_pointers(FieldList& out) {
    uint8_t* base = reinterpret_cast<uint8_t*>(out.storage.data());
    for (nghttp2_nv& nv : out.nv) {
        nv.name = base + reinterpret_cast<size_t>(nv.name);
        nv.value = base + reinterpret_cast<size_t>(nv.value);
    }
}

// One "name: value" line; false when it has no colon or an empty name.
bool split_line(std::string_view line, std::string_view& name, std::string_view& value) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    name = line.substr(0, colon);
    value = chars::trim_ows(line.substr(colon + 1));
    return true;
}

}  // namespace

bool is_connection_specific(std::string_view n, std::string_view value) {
    using chars::iequals;
    switch (n.size()) {  // (by length first: most fields are none of these)
        case 2: return iequals(n, "te") && !iequals(value, "trailers");
        case 7: return iequals(n, "upgrade");
        case 10: return iequals(n, "connection") || iequals(n, "keep-alive");
        case 16: return iequals(n, "proxy-connection");
        case 17: return iequals(n, "transfer-encoding");
        default: return false;
    }
}

void HeadBuilder::status(int status) {
    out_.clear();
    status_ = status;
    has_length_ = false;
    length_ = 0;
    http1_bytes_ = 19;  // "HTTP/1.1 NNN OK\r\n" and the blank line
    char code[3] = {static_cast<char>('0' + status / 100 % 10), static_cast<char>('0' + status / 10 % 10),
                    static_cast<char>('0' + status % 10)};
    add(out_, ":status", {code, 3});
}

bool HeadBuilder::field(std::string_view name, std::string_view value) {
    http1_bytes_ += name.size() + value.size() + 4;
    if (name.size() == 17 && chars::iequals(name, "transfer-encoding")) return true;  // the caller says chunked
    if (is_connection_specific(name, value)) return true;
    if (name.size() == 14 && chars::iequals(name, "content-length")) {
        uint64_t n = 0;
        if (value.empty() || value.size() > 19) return false;
        for (char c : value) {
            if (c < '0' || c > '9') return false;
            n = n * 10 + static_cast<uint64_t>(c - '0');
        }
        has_length_ = true;
        length_ = n;
    }
    add(out_, name, value);
    return true;
}

bool HeadBuilder::lines(std::string_view lines) {
    size_t pos = 0;
    while (pos < lines.size()) {
        size_t end = lines.find("\r\n", pos);
        if (end == std::string_view::npos) end = lines.size();
        std::string_view name, value;
        if (!split_line(lines.substr(pos, end - pos), name, value) || !field(name, value)) return false;
        pos = end + 2;
    }
    return true;
}

void HeadBuilder::finish(bool head_request, bool chunked, ResponseBody& framing, uint64_t& content_length) {
    content_length = length_;
    if (head_request || status_ < 200 || status_ == 204 || status_ == 304)
        framing = ResponseBody::None;
    else if (chunked)
        framing = ResponseBody::Chunked;
    else if (has_length_)
        framing = ResponseBody::ContentLength;
    else
        framing = ResponseBody::UntilClose;
    fix_pointers(out_);
}

bool split_head(std::string_view head, bool head_request, int& status, ResponseBody& framing, uint64_t& content_length,
                FieldList& out) {
    out.clear();
    out.storage.reserve(head.size());  // (no more than the head: its names and values)
    framing = ResponseBody::UntilClose;
    content_length = 0;
    // "HTTP/1.x NNN reason\r\n"
    if (head.size() < 14 || head.substr(0, 7) != "HTTP/1." || head[8] != ' ' || (head[12] != ' ' && head[12] != '\r'))
        return false;
    status = 0;
    for (size_t i = 9; i < 12; ++i) {
        if (head[i] < '0' || head[i] > '9') return false;
        status = status * 10 + (head[i] - '0');
    }
    if (status < 100 || status > 599) return false;
    size_t eol = head.find("\r\n");
    if (eol == std::string_view::npos) return false;
    HeadBuilder b(out);
    b.status(status);
    bool chunked = false;
    size_t pos = eol + 2;
    for (;;) {
        size_t end = head.find("\r\n", pos);
        if (end == std::string_view::npos) return false;
        if (end == pos) break;  // the blank line
        std::string_view name, value;
        if (!split_line(head.substr(pos, end - pos), name, value)) return false;
        pos = end + 2;
        if (name.size() == 17 && chars::iequals(name, "transfer-encoding"))
            chunked = true;  // (the gateway sends only "chunked")
        if (!b.field(name, value)) return false;
    }
    b.finish(head_request, chunked, framing, content_length);
    return true;
}

void split_trailers(std::string_view section, FieldList& out) {
    out.clear();
    size_t pos = 0;
    while (pos < section.size()) {
        size_t end = section.find("\r\n", pos);
        if (end == std::string_view::npos) end = section.size();
        std::string_view name, value;
        if (end > pos && split_line(section.substr(pos, end - pos), name, value)) {
            using chars::iequals;
            // RFC 9110 6.5.1: no framing, routing, request modifiers, authentication, control
            // data or payload processing fields in trailers.
            bool forbidden = is_connection_specific(name, value) || iequals(name, "te") ||
                             iequals(name, "content-length") || iequals(name, "content-encoding") ||
                             iequals(name, "content-type") || iequals(name, "content-range") ||
                             iequals(name, "host") || iequals(name, "trailer") || iequals(name, "set-cookie") ||
                             iequals(name, "authorization") || iequals(name, "www-authenticate") ||
                             iequals(name, "cache-control") || iequals(name, "expires") || iequals(name, "age") ||
                             iequals(name, "location") || iequals(name, "vary") || iequals(name, "date") ||
                             name.front() == ':';
            if (!forbidden) add(out, name, value);
        }
        pos = end + 2;
    }
    fix_pointers(out);
}

}  // namespace gw::http::h2
