#include "http/response.h"

#include <cstdio>

#include "core/text_escape.h"

namespace gw::http {

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 206: return "Partial Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 417: return "Expectation Failed";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: break;
    }
    if (status < 200) return "Informational";
    if (status < 300) return "Success";
    if (status < 400) return "Redirection";
    if (status < 500) return "Client Error";
    return "Server Error";
}

std::string_view DateCache::get() {
    time_t now = time(nullptr);
    if (now != last_) {
        struct tm tm;
        gmtime_r(&now, &tm);
        len_ = strftime(buf_, sizeof buf_, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last_ = now;
    }
    return {buf_, len_};
}

void append_json_escaped(std::string& out, std::string_view s) { append_json_escaped_text(out, s); }

void append_json_error_body(std::string& out, int status, std::string_view message) {
    char digits[16];
    int n = snprintf(digits, sizeof digits, "%d", status);
    out += "{\"status\":";
    out.append(digits, static_cast<size_t>(n));
    out += ",\"error\":\"";
    append_json_escaped(out, message);
    out += "\"}\n";
}

std::string json_error_body(int status, std::string_view message) {
    std::string out;
    append_json_error_body(out, status, message);
    return out;
}

}  // namespace gw::http
