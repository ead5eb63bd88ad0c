#include "core/version.h"

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include <cstdint>

#include "core/module/module.h"
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#if GW_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

namespace gw {

namespace {

// The compiler by name and version, as `nginx -V` says "built by gcc 12.2.0".
constexpr const char* kCompiler =
#if defined(__clang__)
    "clang " __clang_version__;
#elif defined(__GNUC__)
    "gcc " __VERSION__;
#else
    "an unknown compiler";
#endif

}  // namespace

std::string version_line() { return "gatewayd version " GW_VERSION; }

// Every library listed is linked because a feature uses it; each line says which.
std::string build_info() {
    std::string out = version_line() + "\n";
    out += "built by " + std::string(kCompiler) + " (C++" + std::to_string(__cplusplus / 100 % 100) + ")\n";
    out += "configure arguments: " GW_CONFIGURE_ARGS "\n";
    // The modules built in, in filter order (the tests skip what needs a module left out).
    out += "modules:";
    for (const module::Descriptor* d : module::modules()) out += " " + std::string(d->name);
    if (module::modules().empty()) out += " none";
    out += "\n";
    char pcre[64] = "";
    pcre2_config(PCRE2_CONFIG_VERSION, pcre);
    uint32_t jit = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &jit);
    out += "libraries:\n";
    out += "  libyaml " + std::string(yaml_get_version_string()) + " (configuration)\n";
    out += "  PCRE2 " + std::string(pcre) + (jit ? " with JIT" : " without JIT") + " (regex routes)\n";
    out += "  hiredis " + std::to_string(HIREDIS_MAJOR) + "." + std::to_string(HIREDIS_MINOR) + "." +
           std::to_string(HIREDIS_PATCH) + " (Redis protocol, global rate limits)\n";
    out += "  " + std::string(OpenSSL_version(OPENSSL_VERSION)) + " (libcrypto: SHA-1 of the Redis script)\n";
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
