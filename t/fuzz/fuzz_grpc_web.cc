// libFuzzer harness for the gRPC pieces (src/http/grpc/grpc.cc): grpc-timeout values, gRPC-Web
// frames and -text base64 fed in hostile pieces. Checks: a frame never reaches past its input;
// what the text decoder gives does not depend on where the input was cut; encoding in pieces
// and decoding gives the bytes back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "http/grpc/grpc.h"

using namespace gw::http::grpc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    uint64_t ms = 0;
    if (parse_timeout(in, ms) && (in.size() < 2 || in.size() > 9)) abort();

    FrameReader reader(1 << 16);
    std::string_view rest = in;
    for (;;) {
        uint8_t flags;
        std::string_view payload;
        size_t used = 0;
        if (reader.next(rest, flags, payload, used) != FrameReader::Result::Frame) break;
        if (used < kFrameHeader || used > rest.size() || payload.size() != used - kFrameHeader) abort();
        rest.remove_prefix(used);
    }

    size_t cut = size ? data[0] % (size + 1) : 0;
    TextDecoder whole, pieces;
    std::string a, b;
    bool ok_a = whole.feed(in, a);
    bool ok_b = pieces.feed(in.substr(0, cut), b) && pieces.feed(in.substr(cut), b);
    if (ok_a != ok_b || (ok_a && a != b)) abort();

    TextEncoder enc;
    std::string text;
    enc.feed(in.substr(0, cut), text);
    enc.feed(in.substr(cut), text);
    enc.finish(text);
    TextDecoder dec;
    std::string back;
    if (!dec.feed(text, back) || back != in || !dec.at_group_boundary()) abort();
    return 0;
}
