// libFuzzer target for the key-set URL reader (src/modules/auth/jwks_url.cc): any bytes, never a
// crash; an accepted URL has a host, an origin-form target, a HOST:PORT to resolve, and nothing
// in them that could split a request line or a header (no CR, LF, space, control byte).
//
//   make fuzz && objs/fuzz_jwks_url -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "modules/auth/jwks_url.h"

namespace {
bool clean(std::string_view s) {
    for (unsigned char c : s)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    gw::auth::FetchUrl url;
    std::string error;
    if (!gw::auth::parse_fetch_url(in, url, error)) {
        CHECK(!error.empty());
        return 0;
    }
    CHECK(!url.host.empty() && clean(url.host) && url.host.find('@') == std::string::npos);
    CHECK(!url.target.empty() && url.target[0] == '/' && clean(url.target) && url.target.find('#') == std::string::npos);
    CHECK(url.host_port.size() > 2 && url.host_port.find(':') != std::string::npos);
    CHECK(url.tls == in.starts_with("https://"));
    return 0;
}
