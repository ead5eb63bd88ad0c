#include "modules/idempotency/key.h"

#include <openssl/evp.h>

#include <cstdio>

#include "http/chars.h"

namespace gw::idempotency {

namespace {

bool visible(char c) { return c >= 0x21 && c <= 0x7e; }

}  // namespace

bool parse_key(std::string_view v, std::string& key) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    key.clear();
    if (v.empty()) return false;
    if (v.front() == '"') {
        // sf-string: printable ASCII (space included) between quotes, \ escaping only " and \.
        size_t i = 1;
        for (; i < v.size(); ++i) {
            char c = v[i];
            if (c == '"') break;
            if (c == '\\') {
                if (++i == v.size() || (v[i] != '"' && v[i] != '\\')) return false;
                c = v[i];
            } else if (c < 0x20 || c > 0x7e) {
                return false;
            }
            key += c;
        }
        if (i + 1 != v.size()) return false;  // no closing quote, or bytes after it
    } else {
        for (char c : v)
            if (!visible(c)) return false;
        key.assign(v);
    }
    if (key.empty() || key.size() > 255) return false;
    for (char c : key)
        if (!visible(c)) return false;  // the key itself: visible characters only
    return true;
}

Digest scoped_key(std::string_view consumer, std::string_view route, std::string_view key) {
    Digest d{};
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    for (std::string_view part : {consumer, route, key}) {
        uint32_t n = static_cast<uint32_t>(part.size());
        EVP_DigestUpdate(ctx, &n, sizeof n);
        EVP_DigestUpdate(ctx, part.data(), part.size());
    }
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, d.data(), &len);
    EVP_MD_CTX_free(ctx);
    return d;
}

std::string hex(const Digest& d) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s;
    s.reserve(64);
    for (uint8_t b : d) {
        s += kHex[b >> 4];
        s += kHex[b & 15];
    }
    return s;
}

void blob_start(std::string& out, int status) {
    char buf[kBlobPrefix + 1];
    snprintf(buf, sizeof buf, "%03d %08x\n", status, 0u);
    out.assign(buf, kBlobPrefix);
}

void blob_set_fields_length(std::string& blob, size_t n) {
    char buf[9];
    snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(n));
    blob.replace(4, 8, buf, 8);
}

bool blob_parse(std::string_view b, Stored& out) {
    if (b.size() < kBlobPrefix || b[3] != ' ' || b[12] != '\n') return false;
    int status = 0;
    for (size_t i = 0; i < 3; ++i) {
        if (b[i] < '0' || b[i] > '9') return false;
        status = status * 10 + (b[i] - '0');
    }
    size_t n = 0;
    for (size_t i = 4; i < 12; ++i) {
        char c = b[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) return false;
        n = n * 16 + static_cast<size_t>(v);
    }
    if (status < 100 || status > 599 || n > b.size() - kBlobPrefix) return false;
    out.status = status;
    out.fields = b.substr(kBlobPrefix, n);
    out.body = b.substr(kBlobPrefix + n);
    return true;
}

bool is_unstored_field(std::string_view name) {
    static constexpr std::string_view kNames[] = {
        "connection", "keep-alive", "proxy-connection", "te",     "trailer",      "transfer-encoding",
        "upgrade",    "content-length", "server",       "date",   "x-request-id", "idempotent-replayed",
    };
    for (std::string_view n : kNames)
        if (http::chars::iequals(name, n)) return true;
    return false;
}

}  // namespace gw::idempotency
