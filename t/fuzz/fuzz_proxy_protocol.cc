// libFuzzer target for the PROXY protocol parser (src/http/proxy_protocol.cc) and the address
// parsing of real_ip (src/core/net/ip.cc, src/http/real_ip.cc).
//
//   make fuzz    # objs/fuzz_proxy_protocol, or by hand:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc t/fuzz/fuzz_proxy_protocol.cc
//           src/http/proxy_protocol.cc src/http/real_ip.cc src/core/net/ip.cc -o fuzz
//   ./fuzz -max_len=16384 -max_total_time=300 CORPUS_COPY t/fuzz/corpus/proxy_protocol
//
// The input is parsed as the start of a connection, with the default limit and with a small one
// derived from the input, and the result is checked against invariants with __builtin_trap():
// a complete header is a well-formed prefix whose every shorter prefix is Incomplete and whose
// extensions parse the same; an error stays an error whatever follows. The input is also read
// as an X-Forwarded-For value and as a CIDR, whose results must format and parse back the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/net/ip.h"
#include "fuzz_common.h"
#include "http/parser.h"
#include "http/proxy_protocol.h"
#include "http/real_ip.h"

using namespace gw;
using namespace gw::http;
using namespace fuzz;

namespace {

constexpr std::string_view kSignature{"\r\n\r\n\0\r\nQUIT\n", 12};

Request g_req;  // big (kMaxHeadersHard headers): not on the stack

proxy_protocol::Result parse(std::string_view in, size_t max, proxy_protocol::Header& h) {
    std::string_view reason = "unset";
    proxy_protocol::Result r = proxy_protocol::parse(in, max, h, reason);
    if (r == proxy_protocol::Result::Error) CHECK(!reason.empty() && reason != "unset");
    return r;
}

void check_address(const net::IpAddress& a) {
    char text[net::kIpTextSize];
    size_t n = net::format_ip(a, text);
    CHECK(n > 0 && n < net::kIpTextSize);
    net::IpAddress back;
    CHECK(net::parse_ip({text, n}, back));
    CHECK(back == a);
}

void run(std::string_view in, size_t max, uint64_t seed) {
    proxy_protocol::Header h;
    proxy_protocol::Result r = parse(in, max, h);
    Rng rng{seed | 1};
    if (r == proxy_protocol::Result::Complete) {
        CHECK(h.length > 0 && h.length <= in.size());
        std::string_view head = in.substr(0, h.length);
        if (h.version == 1) {
            CHECK(h.length <= proxy_protocol::kMaxV1Length);
            CHECK(head.starts_with("PROXY ") && head.ends_with("\r\n"));
            CHECK(head.find('\n') == h.length - 1);
        } else {
            CHECK(h.version == 2);
            CHECK(h.length >= proxy_protocol::kV2FixedLength && h.length <= max);
            CHECK(head.starts_with(kSignature));
        }
        if (h.has_source) check_address(h.source);
        // The header alone, or with anything after it, is the same header.
        proxy_protocol::Header again;
        CHECK(parse(head, max, again) == proxy_protocol::Result::Complete);
        CHECK(again.length == h.length && again.has_source == h.has_source && again.source == h.source &&
              again.source_port == h.source_port);
        // Every shorter prefix waits for more.
        for (int i = 0; i < 6; ++i) {
            size_t len = i == 0 ? h.length - 1 : static_cast<size_t>(rng.next() % h.length);
            CHECK(parse(in.substr(0, len), max, again) == proxy_protocol::Result::Incomplete);
        }
        return;
    }
    if (r == proxy_protocol::Result::Incomplete) {
        // Incomplete only while a header could still end within its limits.
        CHECK(in.size() < proxy_protocol::kMaxV1Length || in.starts_with(kSignature));
        CHECK(in.size() < max || !in.starts_with(kSignature));
        for (int i = 0; i < 4 && !in.empty(); ++i) {
            proxy_protocol::Header p;
            CHECK(parse(in.substr(0, rng.next() % in.size()), max, p) == proxy_protocol::Result::Incomplete);
        }
        return;
    }
    // An error is final: no prefix completes, and no continuation repairs it.
    proxy_protocol::Header p;
    for (int i = 0; i < 4 && !in.empty(); ++i)
        CHECK(parse(in.substr(0, rng.next() % in.size()), max, p) != proxy_protocol::Result::Complete);
    std::string longer(in);
    longer += "\r\n";
    CHECK(parse(longer, max, p) == proxy_protocol::Result::Error);
}

void run_addresses(std::string_view in) {
    net::IpAddress a;
    if (net::parse_forwarded_element(in, a)) check_address(a);
    net::Cidr c;
    std::string error;
    if (net::parse_cidr(in, c, error)) {
        net::Cidr back;
        CHECK(net::parse_cidr(net::format_cidr(c), back, error) && back == c);
        CHECK(c.prefix <= (c.net.v4 ? 32 : 128));
        CHECK(net::contains(c, c.net));
    } else {
        CHECK(!error.empty());
    }
    // As an X-Forwarded-For value from a peer trusted with everything: the result is the peer
    // or an element of the list, and never crashes on any list.
    if (in.find_first_of("\r\n") != std::string_view::npos) return;
    g_req.header_count = 1;
    g_req.headers[0] = {"X-Forwarded-For", in};
    net::Cidr all4, all6;
    net::parse_cidr("0.0.0.0/0", all4, error);
    net::parse_cidr("::/0", all6, error);
    const net::Cidr trusted[] = {all4, all6};
    net::IpAddress peer;
    net::parse_ip("127.0.0.1", peer);
    net::IpAddress client = real_ip::forwarded_client(g_req, "x-forwarded-for", trusted, peer);
    check_address(client);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const uint64_t seed = fnv1a(in);
    run(in, 16 * 1024 + 4096, seed);
    run(in, 16 + seed % 300, seed >> 1);  // small buffers reach "too long" on short inputs
    run_addresses(in.substr(0, 200));
    return 0;
}
