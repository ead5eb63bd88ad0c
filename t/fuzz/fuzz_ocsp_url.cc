// Fuzzes the OCSP responder URL reader (src/modules/tls/responder_url.h): any bytes, no crash,
// and what it accepts is well formed (an explicit port, a path that starts with '/', nothing a
// request line or a Host field could be broken by).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "modules/tls/responder_url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view url(reinterpret_cast<const char*>(data), size);
    gw::tls::ResponderUrl out;
    std::string error;
    if (!gw::tls::parse_responder_url(url, out, error)) {
        if (error.empty()) abort();
        return 0;
    }
    if (out.path.empty() || out.path.front() != '/' || out.host_port.find(':') == std::string::npos) abort();
    for (std::string_view s : {std::string_view(out.path), std::string_view(out.host_field)})
        for (char c : s)
            if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#') abort();
    return 0;
}
