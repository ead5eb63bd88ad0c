#include "modules/error_pages/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/config/config_sections.h"
#include "core/small_file.h"
#include "core/config/dump.h"

namespace gw::error_pages {

namespace {

constexpr uint64_t kMaxPageSize = 1 << 20;  // a page is sent from memory: keep it small

// "502" -> 502, "5xx" -> 5 (a class), anything else -> 0.
int read_status_key(std::string_view k) {
    if (k.size() != 3) return 0;
    if ((k[0] == '4' || k[0] == '5') && (k[1] == 'x' || k[1] == 'X') && (k[2] == 'x' || k[2] == 'X')) return k[0] - '0';
    if (k[0] < '4' || k[0] > '5' || k[1] < '0' || k[1] > '9' || k[2] < '0' || k[2] > '9') return 0;
    return (k[0] - '0') * 100 + (k[1] - '0') * 10 + (k[2] - '0');
}

void read_page(const schema::Node& node, const std::string& path, const std::string& prefix, PageSet::Entry& e,
               Diagnostics& diags) {
    schema::MapReader m(node, path, diags);
    std::string text;
    const schema::Node* body_node = m.take("body");
    bool has_body = false;
    if (body_node) {
        std::optional<std::string> b = schema::read_string(*body_node, m.path("body"), diags);
        if (b) text = *b;
        has_body = b.has_value();
    }
    std::string file;
    const schema::Node* file_node = m.take("file");
    if (file_node) {
        std::optional<std::string> f = schema::read_string(*file_node, m.path("file"), diags);
        if (f) file = *f;
    }
    e.page.content_type = "text/html; charset=utf-8";
    if (m.get_string("content_type", e.page.content_type)) {
        bool ok = !e.page.content_type.empty();
        for (char c : e.page.content_type) ok = ok && c >= 0x20 && c != 0x7f;
        if (!ok) schema::report(diags, m.mark(), m.path("content_type"), "not a valid media type");
    }
    if (has_body && file_node) {
        schema::report(diags, file_node->mark, m.path("file"), "body and file cannot be used together");
    } else if (has_body) {
        http::vars::compile(text, body_node ? body_node->mark : m.mark(), m.path("body"), diags, e.page.body);
    } else if (file_node && !file.empty()) {
        e.file = config_detail::resolve_path(prefix, file);
        std::string contents, why;
        if (!read_small_file(e.file, kMaxPageSize, contents, why))
            schema::report(diags, file_node->mark, m.path("file"), "cannot read \"" + e.file + "\": " + why);
        else
            e.page.body = http::vars::literal(contents);  // a file's text is sent as it is
    } else if (m.valid()) {
        schema::report(diags, m.mark(), path, "a page needs a body or a file");
    }
    m.finish();
}

}  // namespace

const http::ErrorPage* PageSet::find(int status) const {
    const http::ErrorPage* by_class = nullptr;
    for (const Entry& e : entries) {
        if (e.status == status) return &e.page;
        if (e.status == status / 100) by_class = &e.page;
    }
    return by_class;
}

const http::ErrorPage* Settings::find(int route, int status) const {
    if (route >= 0 && static_cast<size_t>(route) < routes.size())
        if (const http::ErrorPage* p = routes[route].find(status)) return p;
    return top.find(status);
}

void read_pages(const schema::Node& node, std::string_view path, const std::string& prefix, PageSet& out,
                Diagnostics& diags) {
    if (!schema::expect_map(node, path, diags)) return;
    for (const yaml::MapEntry& e : node.entries) {
        int status = read_status_key(e.key.text);
        std::string entry_path = schema::join_path(path, e.key.text);
        if (status == 0 || (status >= 100 && status < 400)) {
            schema::report(diags, e.key.mark, path,
                           "\"" + e.key.text + "\" is not an error status (400..599, or 4xx, 5xx)");
            continue;
        }
        PageSet::Entry entry;
        entry.status = status;
        read_page(e.value, entry_path, prefix, entry, diags);
        out.entries.push_back(std::move(entry));
    }
}

void dump_pages(const PageSet& set, int indent, std::string& out) {
    dump::line(out, indent, "error_pages", set.entries.empty() ? "{}" : "");
    for (const PageSet::Entry& e : set.entries) {
        std::string key = e.status < 10 ? std::to_string(e.status) + "xx" : std::to_string(e.status);
        dump::line(out, indent + 2, dump::quote(key), "");
        if (!e.file.empty())
            dump::line(out, indent + 4, "file", dump::quote(e.file));
        else
            dump::line(out, indent + 4, "body", dump::quote(e.page.body.source()));
        dump::line(out, indent + 4, "content_type", dump::quote(e.page.content_type));
    }
}

}  // namespace gw::error_pages
