#include "modules/cache/stored.h"

#include <time.h>

#include "http/chars.h"

namespace gw::cache {

namespace {

using http::chars::iequals;

std::string_view trim(std::string_view s) {
    while (!s.empty() && http::chars::is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && http::chars::is_ows(s.back())) s.remove_suffix(1);
    return s;
}

// Whether the comma list `list` names `name` (case-insensitive).
bool names(std::string_view list, std::string_view name) {
    for (size_t i = 0; i <= list.size();) {
        size_t comma = list.find(',', i);
        std::string_view item = trim(list.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i));
        if (!item.empty() && iequals(item, name)) return true;
        if (comma == std::string_view::npos) break;
        i = comma + 1;
    }
    return false;
}

bool not_stored_field(std::string_view name, std::string_view connection) {
    static constexpr std::string_view kNames[] = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                                                  "transfer-encoding", "upgrade", "content-length", "age",
                                                  "x-request-id", "set-cookie"};
    for (std::string_view n : kNames)
        if (iequals(name, n)) return true;
    return !connection.empty() && names(connection, name);  // hop-by-hop by the Connection field
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

}  // namespace

int64_t now_seconds() {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

ResponseFacts facts_of(const http::Response& r) {
    ResponseFacts f;
    f.status = r.status;
    std::string_view cc[16];
    size_t ncc = 0;
    for (size_t i = 0; i < r.header_count; ++i) {
        std::string_view n = r.headers[i].name, v = r.headers[i].value;
        if (iequals(n, "cache-control")) {
            if (ncc < 16) cc[ncc++] = v;
        } else if (iequals(n, "date")) {
            f.date = parse_http_date(v);
        } else if (iequals(n, "expires")) {
            f.expires = parse_http_date(v);  // (a bad one is -1: already expired)
        } else if (iequals(n, "age")) {
            int64_t a = parse_delta_seconds(v);
            if (a > 0) f.age = a;
        } else if (iequals(n, "set-cookie")) {
            f.set_cookie = true;
        } else if (iequals(n, "vary")) {
            if (v.find('*') != std::string_view::npos) f.vary_star = true;
        } else if (iequals(n, "etag") || iequals(n, "last-modified")) {
            f.has_validator = true;
        }
    }
    f.cc = parse_cache_control({cc, ncc});
    return f;
}

void stored_head_of(const http::Response& r, std::string& out) {
    out = "HTTP/1.1 ";
    out += std::to_string(r.status);
    out += ' ';
    out += r.reason;
    out += "\r\n";
    std::string_view connection = r.header("connection");
    for (size_t i = 0; i < r.header_count; ++i)
        if (!not_stored_field(r.headers[i].name, connection)) append_field(out, r.headers[i].name, r.headers[i].value);
}

void end_stored_head(std::string& head, size_t body_size) {
    head += "content-length: ";
    head += std::to_string(body_size);
    head += "\r\n\r\n";
}

void vary_names(const http::Response& r, std::string& out) {
    out.clear();
    for (size_t i = 0; i < r.header_count; ++i) {
        if (!iequals(r.headers[i].name, "vary")) continue;
        std::string_view v = r.headers[i].value;
        for (size_t j = 0; j <= v.size();) {
            size_t comma = v.find(',', j);
            std::string_view item = trim(v.substr(j, comma == std::string_view::npos ? std::string_view::npos : comma - j));
            if (!item.empty()) {
                if (!out.empty()) out += ',';
                for (char ch : item) out += http::chars::ascii_lower(ch);
            }
            if (comma == std::string_view::npos) break;
            j = comma + 1;
        }
    }
}

void merge_304(std::string_view stored, const http::Response& fresh, size_t body_size, std::string& out) {
    size_t eol = stored.find("\r\n");
    out.assign(stored.substr(0, eol + 2));  // the stored status line
    std::string_view connection = fresh.header("connection");
    std::string_view rest = stored.substr(eol + 2);
    while (!rest.empty() && !rest.starts_with("\r\n")) {
        size_t end = rest.find("\r\n");
        if (end == std::string_view::npos) break;
        std::string_view line = rest.substr(0, end);
        rest.remove_prefix(end + 2);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view name = line.substr(0, colon);
        if (not_stored_field(name, {})) continue;
        if (!fresh.header(name).empty() && !not_stored_field(name, connection)) continue;  // the 304's instead
        out.append(line);
        out += "\r\n";
    }
    for (size_t i = 0; i < fresh.header_count; ++i)
        if (!not_stored_field(fresh.headers[i].name, connection))
            append_field(out, fresh.headers[i].name, fresh.headers[i].value);
    end_stored_head(out, body_size);
}

std::string_view field_of(std::string_view head, std::string_view name) {
    size_t at = head.find("\r\n");
    while (at != std::string_view::npos && at + 2 < head.size()) {
        size_t eol = head.find("\r\n", at + 2);
        if (eol == std::string_view::npos || eol == at + 2) break;
        std::string_view line = head.substr(at + 2, eol - at - 2);
        size_t colon = line.find(':');
        if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) return trim(line.substr(colon + 1));
        at = eol;
    }
    return {};
}

bool parse_stored(std::string_view head, http::Response& out) {
    http::ParserLimits limits;
    limits.max_header_size = head.size() + 1;
    limits.max_headers = http::kMaxHeadersHard;
    http::ParseError err;
    return http::parse_response_head(head, limits, false, out, err) == http::ParseResult::Complete;
}

Meta meta_of(const ResponseFacts& f, const StoreDecision& d, int64_t request_time, int64_t response_time) {
    Meta m;
    m.stored_at = response_time;
    m.initial_age = initial_age(f, request_time, response_time);
    m.lifetime = d.lifetime;
    m.swr = d.swr;
    m.sie = d.sie;
    m.must_revalidate = d.must_revalidate;
    return m;
}

}  // namespace gw::cache
