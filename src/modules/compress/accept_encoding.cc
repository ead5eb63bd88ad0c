#include "modules/compress/accept_encoding.h"

#include <array>

#include "http/chars.h"

namespace gw::compress {

namespace {

constexpr int kUnset = -1;

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view v) {
    while (!v.empty() && is_ows(v.front())) v.remove_prefix(1);
    while (!v.empty() && is_ows(v.back())) v.remove_suffix(1);
    return v;
}

// "0", "0.", "0.5", "0.123", "1", "1.", "1.0", "1.000" (RFC 9110 §12.4.2) in thousandths; -1 if not.
int parse_weight(std::string_view v) {
    if (v.empty() || v.size() > 5 || (v[0] != '0' && v[0] != '1')) return -1;
    int whole = v[0] - '0';
    if (v.size() == 1) return whole * 1000;
    if (v[1] != '.') return -1;
    int frac = 0, digits = 0;
    for (char c : v.substr(2)) {
        if (c < '0' || c > '9') return -1;
        frac = frac * 10 + (c - '0');
        ++digits;
    }
    while (digits < 3) {
        frac *= 10;
        ++digits;
    }
    if (whole == 1 && frac != 0) return -1;
    return whole * 1000 + frac;
}

// The weight of an element's parameters ("q=0.5" among others, which are ignored): 1000 when it
// has none, -1 when its q does not parse.
int element_weight(std::string_view params) {
    int weight = 1000;
    while (!params.empty()) {
        size_t semi = params.find(';');
        std::string_view p = trim(params.substr(0, semi));
        params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
        if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') weight = parse_weight(trim(p.substr(2)));
        if (weight < 0) return -1;
    }
    return weight;
}

// Index into the weights array: 0 identity, 1 gzip, 2 br, 3 zstd, 4 "*"; -1 another coding.
int slot_of(std::string_view name) {
    using http::chars::iequals;
    if (iequals(name, "gzip") || iequals(name, "x-gzip")) return 1;
    if (iequals(name, "br")) return 2;
    if (iequals(name, "zstd")) return 3;
    if (iequals(name, "identity")) return 0;
    if (name == "*") return 4;
    return -1;
}

}  // namespace

std::string_view coding_name(Coding c) {
    switch (c) {
        case Coding::Identity: return "identity";
        case Coding::Gzip: return "gzip";
        case Coding::Br: return "br";
        case Coding::Zstd: return "zstd";
    }
    return "identity";
}

Negotiated negotiate(std::span<const std::string_view> values, std::span<const Coding> offered) {
    Negotiated out;
    if (values.empty()) return out;  // no field: no compression asked for
    // The weight each element gave (the highest, when a coding is named twice).
    std::array<int, 5> weight;
    weight.fill(kUnset);
    for (std::string_view value : values) {
        while (!value.empty()) {
            size_t comma = value.find(',');
            std::string_view element = trim(value.substr(0, comma));
            value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
            if (element.empty()) continue;  // "a,,b": empty elements are allowed and ignored
            size_t semi = element.find(';');
            int slot = slot_of(trim(element.substr(0, semi)));
            if (slot < 0) continue;
            int w = semi == std::string_view::npos ? 1000 : element_weight(element.substr(semi + 1));
            if (w < 0) continue;  // a weight that does not parse: the element is ignored
            if (w > weight[static_cast<size_t>(slot)]) weight[static_cast<size_t>(slot)] = w;
        }
    }
    int star = weight[4];
    int best = 0;
    for (Coding c : offered) {
        if (c == Coding::Identity) continue;
        int w = weight[static_cast<size_t>(c)];
        if (w == kUnset) w = star;  // "*" covers what the field does not name
        if (w > best) {              // strictly: equal weights keep the route's earlier choice
            best = w;
            out.coding = c;
        }
    }
    int identity = weight[0] != kUnset ? weight[0] : (star != kUnset ? star : 1000);
    out.identity_acceptable = out.coding != Coding::Identity || identity > 0;
    return out;
}

}  // namespace gw::compress
