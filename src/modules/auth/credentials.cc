#include "modules/auth/credentials.h"

#include "http/chars.h"

namespace gw::auth {

namespace {

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

// "Bearer abc" -> "abc" when the scheme matches (case-insensitively, RFC 9110 §11.1).
bool strip_scheme(std::string_view value, Scheme scheme, std::string_view& out) {
    std::string_view name = scheme == Scheme::Bearer ? "bearer" : "basic";
    value = trim(value);
    if (value.size() <= name.size() || !http::chars::iequals(value.substr(0, name.size()), name)) return false;
    if (value[name.size()] != ' ' && value[name.size()] != '\t') return false;
    out = trim(value.substr(name.size()));
    return !out.empty();
}

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out += static_cast<char>(hi << 4 | lo);
            i += 2;
        } else {
            out += c;
        }
    }
    return true;
}

bool is_authorization(std::string_view name) { return name == "authorization" || name == "proxy-authorization"; }

}  // namespace

Found find_credential(const http::Request& req, std::span<const Source> from, Scheme scheme, std::string& scratch,
                      std::string_view& out) {
    for (const Source& src : from) {
        switch (src.kind) {
            case Source::Kind::Header: {
                bool singleton = is_authorization(src.name);
                int seen = 0;
                std::string_view found;
                for (size_t i = 0; i < req.header_count; ++i) {
                    const http::Header& h = req.headers[i];
                    if (h.name.size() != src.name.size() || !http::chars::iequals(h.name, src.name)) continue;
                    ++seen;
                    if (found.empty()) {
                        if (singleton && scheme != Scheme::None)
                            strip_scheme(h.value, scheme, found);
                        else
                            found = trim(h.value);
                    }
                }
                if (singleton && seen > 1) return Found::Ambiguous;
                if (!found.empty()) {
                    out = found;
                    return Found::Yes;
                }
                break;
            }
            case Source::Kind::Cookie: {
                std::string_view v = req.cookie(src.name);
                if (!v.empty()) {
                    out = v;
                    return Found::Yes;
                }
                break;
            }
            case Source::Kind::Query: {
                std::string_view v;
                if (!http::chars::query_param(req.query, src.name, v) || v.empty()) break;
                if (!percent_decode(v, scratch)) return Found::Ambiguous;
                out = scratch;
                return Found::Yes;
            }
        }
    }
    return Found::None;
}

}  // namespace gw::auth
