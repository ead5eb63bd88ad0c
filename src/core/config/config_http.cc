// `http:` - HTTP/1.1 server limits and timeouts.
#include <algorithm>
#include <limits>

#include "core/config/config_sections.h"

namespace gw::config_detail {

namespace {

constexpr uint64_t kK = 1024;
constexpr uint64_t kM = 1024 * 1024;
constexpr int64_t kDay = 86400 * 1000;

// `extra_methods: [PURGE, REPORT]`: upper-case tokens that are not standard methods already.
void read_extra_methods(schema::MapReader& m, HttpConfig& h) {
    std::optional<std::vector<const yaml::Node*>> items = m.get_list("extra_methods", true);
    if (!items) return;
    std::string path = "http.extra_methods";
    for (size_t i = 0; i < items->size(); i++) {
        const yaml::Node& item = *(*items)[i];
        std::string item_path = schema::index_path(path, i);
        std::optional<std::string> s = schema::read_string(item, item_path, m.diags());
        if (!s) continue;
        if (!is_method_name(*s)) {
            schema::report(m.diags(), item.mark, item_path,
                           "\"" + *s + "\" is not a method name (upper-case letters, '-' and '_')");
            continue;
        }
        if (is_known_method(*s)) {
            m.diags().warning(item.mark, item_path + ": " + *s + " is a standard method; no need to list it");
            continue;
        }
        if (std::find(h.extra_methods.begin(), h.extra_methods.end(), *s) == h.extra_methods.end())
            h.extra_methods.push_back(*s);
    }
}

}  // namespace

void read_http(schema::MapReader& top, Config& c) {
    std::optional<schema::MapReader> m = top.get_map("http");
    if (!m) return;
    HttpConfig& h = c.http;
    m->get_size("max_header_size", h.max_header_size, {kK, kM});
    m->get_size("max_uri_size", h.max_uri_size, {256, kM});
    m->get_int("max_headers", h.max_headers, {1, 256});
    m->get_size("client_max_body_size", h.client_max_body_size,
                {0, std::numeric_limits<uint64_t>::max()});
    m->get_duration("client_header_timeout", h.client_header_timeout, {1, kDay});
    m->get_duration("client_body_timeout", h.client_body_timeout, {1, kDay});
    m->get_duration("send_timeout", h.send_timeout, {1, kDay});
    m->get_duration("keepalive_timeout", h.keepalive_timeout, {0, kDay});
    m->get_int("keepalive_requests", h.keepalive_requests, {1, 1000000000});
    m->get_bool("merge_slashes", h.path.merge_slashes);
    m->get_enum<http::EscapedSlashes>("escaped_slashes", h.path.escaped_slashes,
                                      {{"keep", http::EscapedSlashes::Keep},
                                       {"reject", http::EscapedSlashes::Reject},
                                       {"decode", http::EscapedSlashes::Decode}});
    read_extra_methods(*m, h);

    // The request line is part of the head, so a URI longer than the head could never arrive:
    // the 414 limit would be dead.
    if (h.max_uri_size > h.max_header_size) {
        const yaml::Node* at = m->take("max_uri_size");
        if (!at) at = m->take("max_header_size");
        Mark mark = at ? at->mark : m->mark();
        schema::report(top.diags(), mark, "http.max_uri_size",
                       format_size(h.max_uri_size) + " is larger than http.max_header_size (" +
                           format_size(h.max_header_size) + ")");
    }
    m->finish();
}

// `http2:` - the HTTP/2 codec's settings and per-connection budgets.
void read_http2(schema::MapReader& top, Config& c) {
    std::optional<schema::MapReader> m = top.get_map("http2");
    if (!m) return;
    Http2Config& h = c.http2;
    m->get_int("max_concurrent_streams", h.max_concurrent_streams, {1, 10000});
    // At least the protocol's default window (RFC 9113 6.9.2); at most 2^31-1.
    uint64_t window = h.initial_window_size;
    if (m->get_size("initial_window_size", window, {65535, (1u << 31) - 1})) h.initial_window_size = static_cast<uint32_t>(window);
    uint64_t list = h.max_header_list_size;
    if (m->get_size("max_header_list_size", list, {kK, kM})) h.max_header_list_size = static_cast<uint32_t>(list);
    m->get_int("max_headers", h.max_headers, {1, 250});  // (the request holds 256 fields: host and cookie made, pseudo ones)
    m->get_int("max_resets_per_minute", h.max_resets_per_minute, {1, 1000000});
    m->get_int("max_continuation_frames", h.max_continuation_frames, {0, 1000});
    m->get_duration("idle_timeout", h.idle_timeout, {1, kDay});
    m->finish();
}

}  // namespace gw::config_detail
