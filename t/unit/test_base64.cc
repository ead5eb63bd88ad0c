// core/base64: RFC 4648 test vectors both ways, and the strictness of the decoders (one spelling).
#include <gtest/gtest.h>

#include <string>

#include "core/base64.h"

using gw::base64_decode;
using gw::base64_encode;
using gw::base64url_decode;
using gw::base64url_encode;

namespace {

std::string url_dec(std::string_view in, bool* ok = nullptr) {
    std::string out = "prefix:";
    bool r = base64url_decode(in, out);
    if (ok) *ok = r;
    return r ? out.substr(7) : (out == "prefix:" ? "<unchanged>" : "<changed!>");
}

std::string std_dec(std::string_view in) {
    std::string out;
    return base64_decode(in, out) ? out : "<bad>";
}

}  // namespace

TEST(Base64, Rfc4648Vectors) {
    const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char* padded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    const char* url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; ++i) {
        std::string e;
        base64_encode(plain[i], e);
        EXPECT_EQ(e, padded[i]);
        e.clear();
        base64url_encode(plain[i], e);
        EXPECT_EQ(e, url[i]);
        EXPECT_EQ(std_dec(padded[i]), plain[i]);
        EXPECT_EQ(url_dec(url[i]), plain[i]);
    }
}

TEST(Base64, UrlAlphabetAndAppend) {
    std::string bytes = "\xfb\xff\xbf";
    std::string e;
    base64url_encode(bytes, e);
    EXPECT_EQ(e, "-_-_");
    EXPECT_EQ(url_dec("-_-_"), bytes);
    EXPECT_EQ(url_dec("+/+/"), "<unchanged>");  // the standard alphabet's 62 and 63
    e.clear();
    base64_encode(bytes, e);
    EXPECT_EQ(e, "+/+/");
    EXPECT_EQ(std_dec("-_-_"), "<bad>");
}

TEST(Base64, UrlDecoderIsStrict) {
    EXPECT_EQ(url_dec("Zg=="), "<unchanged>");   // no padding in base64url here
    EXPECT_EQ(url_dec("Zm9vY"), "<unchanged>");  // 4k+1 characters
    EXPECT_EQ(url_dec("Zm 9v"), "<unchanged>");  // whitespace
    EXPECT_EQ(url_dec("Zm9\x80"), "<unchanged>");
    EXPECT_EQ(url_dec("QQ"), "A");
    EXPECT_EQ(url_dec("QR"), "<unchanged>");     // the same byte, non-zero unused bits
    EXPECT_EQ(url_dec("QUE"), "AA");
    EXPECT_EQ(url_dec("QUF"), "<unchanged>");
    EXPECT_EQ(url_dec(std::string_view("Zm\0v", 4)), "<unchanged>");
}

TEST(Base64, StandardDecoderIsStrict) {
    EXPECT_EQ(std_dec("QQ=="), "A");
    EXPECT_EQ(std_dec("QQ="), "<bad>");       // not a multiple of 4
    EXPECT_EQ(std_dec("QQ"), "<bad>");        // padding required
    EXPECT_EQ(std_dec("Q==="), "<bad>");
    EXPECT_EQ(std_dec("QUE="), "AA");
    EXPECT_EQ(std_dec("QUF="), "<bad>");      // non-zero unused bits
    EXPECT_EQ(std_dec("QQ==QQ=="), "<bad>");  // padding inside
    EXPECT_EQ(std_dec("QUJD=A=="), "<bad>");
    EXPECT_EQ(std_dec("===="), "<bad>");
    EXPECT_EQ(std_dec("dXNlcjpwYXNz"), "user:pass");
}
