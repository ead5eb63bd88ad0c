#include "http/redact.h"

#include "core/text_escape.h"
#include "http/chars.h"

namespace gw::http {

namespace {

constexpr size_t kMaxName = 128;  // longer configured names are refused by the schema

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = chars::ascii_lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

bool is_secret_query_param(std::string_view name, const LogsConfig& logs) {
    // Percent-decoded and lower-cased: "%74oken" and "TOKEN" are "token". Decoding only
    // shortens, so a name that does not fit cannot match.
    char buf[kMaxName];
    size_t n = 0;
    for (size_t i = 0; i < name.size(); ++i) {
        if (n == sizeof buf) return false;
        char c = name[i];
        if (c == '%' && i + 2 < name.size() && hex_value(name[i + 1]) >= 0 && hex_value(name[i + 2]) >= 0) {
            c = static_cast<char>(hex_value(name[i + 1]) * 16 + hex_value(name[i + 2]));
            i += 2;
        }
        buf[n++] = chars::ascii_lower(c);
    }
    std::string_view decoded(buf, n);
    for (const std::string& s : logs.redact_query)
        if (s == decoded) return true;
    return false;
}

template <class Out>
void append_redacted_target(Out& out, std::string_view target, const LogsConfig& logs) {
    size_t q = target.find('?');
    if (q == std::string_view::npos) {
        out += target;
        return;
    }
    out += target.substr(0, q + 1);
    append_redacted_query(out, target.substr(q + 1), logs);
}

template <class Out>
void append_redacted_query(Out& out, std::string_view query, const LogsConfig& logs) {
    for (;;) {
        size_t amp = query.find('&');
        std::string_view param = query.substr(0, amp);
        bool redacted = false;
        for (size_t pos = 0;;) {  // the `;`-separated parts of the parameter
            size_t semi = param.find(';', pos);
            std::string_view part = param.substr(pos, semi == std::string_view::npos ? semi : semi - pos);
            size_t eq = part.find('=');
            if (eq != std::string_view::npos && is_secret_query_param(part.substr(0, eq), logs)) {
                out += param.substr(0, pos + eq + 1);
                out += kRedacted;
                redacted = true;
                break;
            }
            if (semi == std::string_view::npos) break;
            pos = semi + 1;
        }
        if (!redacted) out += param;
        if (amp == std::string_view::npos) break;
        out += '&';
        query.remove_prefix(amp + 1);
    }
}

template <class Out>
void append_redacted_header(Out& out, std::string_view name, std::string_view value, const LogsConfig& logs) {
    for (const std::string& s : logs.redact_headers) {
        if (chars::iequals(s, name)) {
            out += kRedacted;
            return;
        }
    }
    if (chars::iequals(name, "referer"))
        append_redacted_target(out, value, logs);
    else
        out += value;
}

template void append_redacted_target(std::string&, std::string_view, const LogsConfig&);
template void append_redacted_target(TextWriter&, std::string_view, const LogsConfig&);
template void append_redacted_query(std::string&, std::string_view, const LogsConfig&);
template void append_redacted_query(TextWriter&, std::string_view, const LogsConfig&);
template void append_redacted_header(std::string&, std::string_view, std::string_view, const LogsConfig&);
template void append_redacted_header(TextWriter&, std::string_view, std::string_view, const LogsConfig&);

std::string_view error_log_target(std::string_view target, const LogsConfig& logs) {
    static std::string redacted, escaped;  // per process; reused, so no allocation once grown
    redacted.clear();
    escaped.clear();
    append_redacted_target(redacted, target, logs);
    append_log_escaped(escaped, std::string_view(redacted).substr(0, kErrorLogTargetMax));
    return escaped;
}

}  // namespace gw::http
