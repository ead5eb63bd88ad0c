// libFuzzer harness for the Idempotency-Key header parser and the stored-response decoder
// (src/modules/idempotency/key.cc), both fed hostile bytes. Checks that an accepted key is 1..255
// visible ASCII characters, that it parses back to itself written as a quoted sf-string (and,
// when it has no quote or backslash, as a bare token), and that a decoded stored response's views
// lie inside the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "modules/idempotency/key.h"

namespace {

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::string key;
    if (gw::idempotency::parse_key(in, key)) {
        CHECK(!key.empty() && key.size() <= 255);
        for (char c : key) CHECK(c >= 0x21 && c <= 0x7e);
        std::string quoted = "\"";
        for (char c : key) {
            if (c == '"' || c == '\\') quoted += '\\';
            quoted += c;
        }
        quoted += '"';
        std::string again;
        CHECK(gw::idempotency::parse_key(quoted, again) && again == key);
        if (key.front() != '"') {
            CHECK(gw::idempotency::parse_key(key, again) && again == key);
        }
    }
    gw::idempotency::Stored st;
    if (gw::idempotency::blob_parse(in, st)) {
        CHECK(st.status >= 100 && st.status <= 599);
        CHECK(inside(st.fields, in) && inside(st.body, in));
    }
    return 0;
}
