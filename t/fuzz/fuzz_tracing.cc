// libFuzzer target for the tracing module's parsers (src/modules/tracing/parse.cc): any bytes,
// never a crash. An accepted endpoint has a host, an origin-form target and a HOST:PORT, none
// holding a byte that could split a request line or a header; an accepted traceparent yields
// 32 and 16 lowercase hex digits, not all zero, from inside the input.
//
//   make fuzz && objs/fuzz_tracing -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "modules/tracing/parse.h"

namespace {
bool clean(std::string_view s) {
    for (unsigned char c : s)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}
bool lower_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return s.find_first_not_of('0') != std::string_view::npos;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    gw::tracing::Endpoint e;
    std::string error;
    if (gw::tracing::parse_endpoint(in, e, error)) {
        CHECK(!e.host.empty() && clean(e.host) && e.host.find('@') == std::string::npos);
        CHECK(!e.target.empty() && e.target[0] == '/' && clean(e.target) && e.target.find('#') == std::string::npos);
        CHECK(e.host_port.size() > 2 && e.host_port.find(':') != std::string::npos && clean(e.host_port));
        CHECK(e.tls == in.starts_with("https://"));
    } else {
        CHECK(!error.empty());
    }
    gw::tracing::IncomingTrace t;
    if (gw::tracing::parse_traceparent(in, t)) {
        CHECK(t.trace_id.size() == 32 && lower_hex(t.trace_id));
        CHECK(t.parent_id.size() == 16 && lower_hex(t.parent_id));
        CHECK(t.trace_id.data() >= in.data() && t.parent_id.data() + 16 <= in.data() + in.size());
    }
    return 0;
}
