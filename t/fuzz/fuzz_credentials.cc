// libFuzzer harness for finding a credential in a request (src/modules/auth/credentials.cc) and
// for taking basic credentials apart (BasicRuntime::split after base64_decode): a hostile request
// head, parsed by the real request parser, then searched as a JWT provider (Bearer), a basic-auth
// provider (Basic) and an API-key provider (no scheme) with header, cookie and query sources.
// Checks that a credential found is not empty, lies inside the request or the scratch string,
// carries no scheme word and no surrounding blanks from an Authorization field, and that a
// credential is never found in an Authorization field given twice.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base64.h"
#include "fuzz_common.h"
#include "http/chars.h"
#include "http/parser.h"
#include "modules/auth/basic.h"
#include "modules/auth/credentials.h"

namespace {

bool inside(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

size_t authorization_fields(const gw::http::Request& req) {
    size_t n = 0;
    for (size_t i = 0; i < req.header_count; ++i)
        if (gw::http::chars::iequals(req.headers[i].name, "authorization")) ++n;
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace gw::auth;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    static gw::http::Request req;  // large (its header array): not on the stack
    gw::http::ParserLimits limits;
    gw::http::ParseError err;
    if (gw::http::parse_request_head(in, limits, req, err) != gw::http::ParseResult::Complete) return 0;

    static const std::vector<Source> sources = {
        {Source::Kind::Header, "authorization"},
        {Source::Kind::Cookie, "session"},
        {Source::Kind::Query, "access_token"},
        {Source::Kind::Header, "x-api-key"},
    };
    std::string scratch;
    // The Authorization field alone: never from a field given twice, never with blanks around.
    for (Scheme scheme : {Scheme::Bearer, Scheme::Basic}) {
        std::string_view out;
        if (find_credential(req, std::span<const Source>(sources.data(), 1), scheme, scratch, out) == Found::Yes) {
            CHECK(!out.empty() && inside(out, in));
            CHECK(authorization_fields(req) == 1);
            CHECK(out.front() != ' ' && out.front() != '\t' && out.back() != ' ' && out.back() != '\t');
        }
    }
    for (Scheme scheme : {Scheme::Bearer, Scheme::Basic, Scheme::None}) {
        for (size_t first = 0; first < sources.size(); ++first) {
            std::span<const Source> from(sources.data() + first, sources.size() - first);
            std::string_view out;
            Found f = find_credential(req, from, scheme, scratch, out);
            if (f != Found::Yes) continue;
            CHECK(!out.empty());
            CHECK(inside(out, in) || inside(out, scratch));

            if (scheme == Scheme::Basic) {
                std::string decoded;
                std::string_view user, password;
                if (gw::base64_decode(out, decoded) && BasicRuntime::split(decoded, user, password)) {
                    CHECK(inside(user, decoded) && inside(password, decoded));
                    CHECK(user.find(':') == std::string_view::npos);
                }
            }
        }
    }
    return 0;
}
