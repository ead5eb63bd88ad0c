#include "core/version.h"

#include <brotli/encode.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <yaml.h>
#include <zlib.h>

#include <cstdint>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#if GW_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

namespace gw {

std::string version_line() { return "gatewayd version " GW_VERSION; }

std::string build_info() {
    std::string out = version_line() + "\n";
    out += "built with " + std::string(__VERSION__) + " (C++" + std::to_string(__cplusplus / 100 % 100) + ")\n";
    out += "configure arguments: " GW_CONFIGURE_ARGS "\n";
    char pcre[64] = "";
    pcre2_config(PCRE2_CONFIG_VERSION, pcre);
    uint32_t jit = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &jit);
    uint32_t br = BrotliEncoderVersion();
    out += "libraries:\n";
    out += "  " + std::string(OpenSSL_version(OPENSSL_VERSION)) + "\n";
    out += "  PCRE2 " + std::string(pcre) + (jit ? " (JIT)" : " (no JIT)") + "\n";
    out += "  zlib " + std::string(zlibVersion()) + "\n";
    out += "  Brotli " + std::to_string(br >> 24) + "." + std::to_string((br >> 12) & 0xfff) + "." +
           std::to_string(br & 0xfff) + "\n";
    out += "  hiredis " + std::to_string(HIREDIS_MAJOR) + "." + std::to_string(HIREDIS_MINOR) + "." +
           std::to_string(HIREDIS_PATCH) + "\n";
    out += "  libyaml " + std::string(yaml_get_version_string()) + "\n";
#if GW_HAVE_JEMALLOC
    const char* je = nullptr;
    size_t len = sizeof je;
    mallctl("version", &je, &len, nullptr, 0);
    out += "  jemalloc " + std::string(je ? je : "?") + " (the allocator)\n";
#else
    out += "  allocator: the C library's malloc (--without-jemalloc)\n";
#endif
    return out;
}

}  // namespace gw
