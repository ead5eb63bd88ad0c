// gRPC pieces for issue 17: grpc-timeout, the status of a gateway's own answers, grpc-message's
// encoding, and gRPC-Web's frames and -text base64 as it streams.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/base64.h"
#include "http/grpc/grpc.h"

namespace gw::http::grpc {
namespace {

uint64_t timeout(std::string_view v) {
    uint64_t ms = 12345;
    EXPECT_TRUE(parse_timeout(v, ms)) << v;
    return ms;
}

TEST(Grpc, Timeout) {
    EXPECT_EQ(timeout("1S"), 1000u);
    EXPECT_EQ(timeout("250m"), 250u);
    EXPECT_EQ(timeout("2M"), 120000u);
    EXPECT_EQ(timeout("1H"), 3600000u);
    EXPECT_EQ(timeout("1500u"), 2u) << "rounded up";
    EXPECT_EQ(timeout("1n"), 1u) << "below a millisecond, not zero";
    EXPECT_EQ(timeout("0m"), 0u);
    EXPECT_EQ(timeout("99999999H"), 99999999ull * 3600 * 1000) << "8 digits of hours";
    uint64_t ms = 0;
    for (const char* bad : {"", "S", "1", "1s", "123456789S", "-1S", "1.5S", " 1S", "1 S", "0x1S"})
        EXPECT_FALSE(parse_timeout(bad, ms)) << bad;
}

TEST(Grpc, StatusOfTheGatewaysAnswers) {
    EXPECT_EQ(status_for_http(429), Status::ResourceExhausted);
    EXPECT_EQ(status_for_http(503), Status::Unavailable);
    EXPECT_EQ(status_for_http(502), Status::Unavailable);
    EXPECT_EQ(status_for_http(504), Status::DeadlineExceeded);
    EXPECT_EQ(status_for_http(401), Status::Unauthenticated);
    EXPECT_EQ(status_for_http(403), Status::PermissionDenied);
    EXPECT_EQ(status_for_http(404), Status::Unimplemented);
    EXPECT_EQ(status_for_http(418), Status::Unknown);
}

TEST(Grpc, Message) {
    std::string out;
    append_message("rate limit: 100% used\n\xc3\xa9", out);
    EXPECT_EQ(out, "rate limit: 100%25 used%0A%C3%A9");
}

TEST(GrpcWeb, Frames) {
    std::string s;
    append_frame_header(0, 3, s);
    s += "abc";
    Field t[] = {{"grpc-status", "8"}, {"grpc-message", "slow down"}};
    append_trailer_frame(t, s);
    FrameReader r(1 << 20);
    uint8_t flags = 0xff;
    std::string_view payload;
    size_t used = 0;
    ASSERT_EQ(r.next(s, flags, payload, used), FrameReader::Result::Frame);
    EXPECT_EQ(flags, 0);
    EXPECT_EQ(payload, "abc");
    std::string_view rest = std::string_view(s).substr(used);
    EXPECT_EQ(r.next(rest.substr(0, 7), flags, payload, used), FrameReader::Result::NeedMore);
    ASSERT_EQ(r.next(rest, flags, payload, used), FrameReader::Result::Frame);
    EXPECT_EQ(flags, kTrailerFlag);
    EXPECT_EQ(payload, "grpc-status:8\r\ngrpc-message:slow down\r\n");
    EXPECT_EQ(used, rest.size());
    std::string big;
    append_frame_header(0, 2u << 20, big);
    EXPECT_EQ(r.next(big, flags, payload, used), FrameReader::Result::TooLarge);
}

TEST(GrpcWeb, TextAsItStreams) {
    // Two flushes, each padded: "ab" and "cde", then the pieces cut anywhere.
    std::string first, second;
    base64_encode("ab", first);
    base64_encode("cde", second);
    std::string text = first + second;  // "YWI=Y2Rl"
    for (size_t cut = 0; cut <= text.size(); ++cut) {
        TextDecoder d;
        std::string out;
        ASSERT_TRUE(d.feed(std::string_view(text).substr(0, cut), out));
        ASSERT_TRUE(d.feed(std::string_view(text).substr(cut), out));
        EXPECT_EQ(out, "abcde") << cut;
        EXPECT_TRUE(d.at_group_boundary());
    }
    TextDecoder bad;
    std::string out;
    EXPECT_FALSE(bad.feed("YW!=", out));
    TextDecoder pad;
    EXPECT_FALSE(pad.feed("Y=WI", out)) << "padding inside a group";
    // The encoder in pieces gives whole groups, and the last padded at the flush.
    TextEncoder e;
    std::string enc;
    for (std::string_view piece : {"h", "el", "lo w", "orld"}) e.feed(piece, enc);
    e.finish(enc);
    std::string expect;
    base64_encode("hello world", expect);
    EXPECT_EQ(enc, expect);
}

}  // namespace
}  // namespace gw::http::grpc
