// libFuzzer harness for content-coding negotiation (src/modules/compress/accept_encoding.cc): a
// hostile Accept-Encoding value (split into fields at NUL bytes) against each order of offered
// codings. Checks that the choice is one of the offered codings or identity, that a coding is
// chosen only when the field names it (or its alias) or "*", and that "identity not acceptable"
// is said only when nothing was chosen.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "modules/compress/accept_encoding.h"

using gw::compress::Coding;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> fields;
    while (true) {
        size_t nul = in.find('\0');
        fields.push_back(in.substr(0, nul));
        if (nul == std::string_view::npos) break;
        in.remove_prefix(nul + 1);
    }
    std::string lower(reinterpret_cast<const char*>(data), size);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });

    std::vector<Coding> offered = {Coding::Br, Coding::Zstd, Coding::Gzip};
    std::sort(offered.begin(), offered.end());
    do {
        gw::compress::Negotiated n = gw::compress::negotiate(fields, offered);
        CHECK(n.coding == Coding::Identity ||
              std::find(offered.begin(), offered.end(), n.coding) != offered.end());
        if (n.coding != Coding::Identity) {
            CHECK(n.identity_acceptable);
            std::string_view name = gw::compress::coding_name(n.coding);
            CHECK(lower.find(name) != std::string::npos || lower.find('*') != std::string::npos);
        }
    } while (std::next_permutation(offered.begin(), offered.end()));
    // No field at all: never compressed.
    CHECK(gw::compress::negotiate({}, offered).coding == Coding::Identity);
    return 0;
}
