// libFuzzer harness for the CORS origin parsers (src/modules/cors/origin.cc): a request's Origin
// and a configured pattern, both hostile text. Checks that every view parse_origin() returns lies
// inside the input, that a parsed origin has only the characters an origin may have (so echoing
// it in Access-Control-Allow-Origin is safe), that a pattern's text() parses back to the same
// pattern, and that a pattern matches the origin it was written from.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "modules/cors/origin.h"

namespace {

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

bool origin_chars(std::string_view s) {
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  std::string_view(":/.-_+[]").find(c) != std::string_view::npos;
        if (!ok) return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    if (auto o = gw::cors::parse_origin(in)) {
        CHECK(inside(o->scheme, in) && inside(o->host, in));
        CHECK(o->null || origin_chars(in));
        CHECK(o->null || !o->host.empty());
        gw::cors::OriginPattern any;
        any.kind = gw::cors::OriginPattern::Kind::Any;
        CHECK(any.matches(*o) == !o->null);
        std::string why;
        auto self = gw::cors::parse_pattern(in, why);
        // A pattern written as this very origin matches it (a "*." host aside: that is a wildcard).
        if (self && self->kind == gw::cors::OriginPattern::Kind::Exact) CHECK(self->matches(*o));
    }
    std::string why;
    if (auto p = gw::cors::parse_pattern(in, why)) {
        std::string text = p->text();
        auto again = gw::cors::parse_pattern(text, why);
        CHECK(again && again->text() == text && again->kind == p->kind);
    }
    return 0;
}
