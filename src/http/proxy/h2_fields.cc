#include "http/proxy/h2_fields.h"

#include "http/chars.h"
#include "http/grpc/routes.h"
#include "http/response.h"

namespace gw::http::proxy {

namespace {

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
    nghttp2_nv nv;
    nv.name = reinterpret_cast<uint8_t*>(const_cast<char*>(name.data()));
    nv.namelen = name.size();
    nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(value.data()));
    nv.valuelen = value.size();
    nv.flags = NGHTTP2_NV_FLAG_NONE;
    return nv;
}

bool dropped(std::string_view lower_name) {
    return lower_name == "connection" || lower_name == "keep-alive" || lower_name == "proxy-connection" ||
           lower_name == "transfer-encoding" || lower_name == "upgrade" || lower_name == "te" ||
           lower_name == "expect" || lower_name == "host";
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

}  // namespace

bool te_has_trailers(std::string_view te) {
    while (!te.empty()) {
        size_t comma = te.find(',');
        std::string_view item = te.substr(0, comma);
        size_t semi = item.find(';');
        if (chars::iequals(trim(item.substr(0, semi)), "trailers")) return true;
        if (comma == std::string_view::npos) break;
        te.remove_prefix(comma + 1);
    }
    return false;
}

bool head_to_nv(std::string_view head, std::string_view scheme, bool te_trailers, std::string& storage,
                std::vector<nghttp2_nv>& nva) {
    storage.assign(head);
    nva.clear();
    std::string_view s(storage);
    size_t eol = s.find("\r\n");
    if (eol == std::string_view::npos) return false;
    std::string_view line = s.substr(0, eol);
    size_t sp1 = line.find(' ');
    size_t sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 <= sp1) return false;
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    nva.push_back(make_nv(":method", method));
    nva.push_back(make_nv(":scheme", scheme));
    nva.push_back(make_nv(":authority", {}));  // set from Host below
    nva.push_back(make_nv(":path", target));
    bool authority = false;
    size_t pos = eol + 2;
    for (;;) {
        size_t end = s.find("\r\n", pos);
        if (end == std::string_view::npos) return false;
        if (end == pos) break;  // the final CRLF
        size_t colon = s.find(':', pos);
        if (colon == std::string_view::npos || colon >= end || colon == pos) return false;
        for (size_t i = pos; i < colon; ++i) storage[i] = chars::ascii_lower(storage[i]);
        std::string_view name = s.substr(pos, colon - pos);
        std::string_view value = trim(s.substr(colon + 1, end - colon - 1));
        if (name == "host") {
            if (!authority) nva[2] = make_nv(":authority", value);
            authority = true;
        } else if (!dropped(name)) {
            // gRPC over HTTP/2 needs "te: trailers" (a gRPC-Web request translated to gRPC
            // has none of its own).
            if (name == "content-type" && is_grpc_content_type(value)) te_trailers = true;
            nva.push_back(make_nv(name, value));
        }
        pos = end + 2;
    }
    if (!authority) nva.erase(nva.begin() + 2);
    if (te_trailers) nva.push_back(make_nv("te", "trailers"));
    return true;
}

int status_value(std::string_view v) {
    int st = 0;
    if (v.empty() || v.size() > 3) return 1000;
    for (char c : v) {
        if (c < '0' || c > '9') return 1000;
        st = st * 10 + (c - '0');
    }
    return st;
}

void append_field(std::string& lines, std::string_view name, std::string_view value) {
    if (name.empty() || name.front() == ':') return;
    lines.append(name);
    lines += ": ";
    lines.append(value);
    lines += "\r\n";
}

bool h2_response(int status, std::string_view lines, bool request_method_head, std::string& head, Response& out) {
    if (status < 100 || status > 999) return false;
    head = "HTTP/1.1 ";
    head += std::to_string(status);
    head += ' ';
    head += reason_phrase(status);  // HTTP/2 has none: the standard one for the client
    head += "\r\n";
    head.append(lines);
    head += "\r\n";
    ParserLimits limits;
    limits.max_header_size = head.size() + 1;
    limits.max_headers = kMaxHeadersHard;
    ParseError err;
    if (parse_response_head(head, limits, request_method_head, out, err) != ParseResult::Complete) return false;
    if (out.body == ResponseBody::UntilClose) out.body = ResponseBody::Chunked;
    out.keep_alive = true;
    return true;
}

}  // namespace gw::http::proxy
