// Unit tests of request-path normalisation (src/http/path.cc).
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "http/path.h"

namespace gw::http {
namespace {

// The canonical form of `in`, or "400" when it is refused.
std::string norm(std::string_view in, PathOptions opt = {}) {
    std::string out;
    std::string_view reason;
    switch (normalize_path(in, opt, out, reason)) {
        case PathVerdict::Unchanged: return std::string(in);
        case PathVerdict::Normalized: return out;
        case PathVerdict::Invalid: EXPECT_FALSE(reason.empty()); return "400";
    }
    return "?";
}

PathOptions with(EscapedSlashes e, bool merge = true) {
    PathOptions o;
    o.escaped_slashes = e;
    o.merge_slashes = merge;
    return o;
}

TEST(PathTest, PlainPathsAreLeftAlone) {
    for (std::string_view p : {"/", "/a", "/a/b/", "/a.b/c..d/.e", "/a;b=c/d", "/x-y_z~1"}) {
        std::string out = "untouched";
        std::string_view reason;
        // "/.e" starts with "/." so it takes the full route; the rest are plain.
        PathVerdict v = normalize_path(p, {}, out, reason);
        EXPECT_NE(v, PathVerdict::Invalid) << p;
        EXPECT_EQ(norm(p), std::string(p)) << p;
    }
    EXPECT_TRUE(path_is_plain("/api/v1/users/42"));
    EXPECT_FALSE(path_is_plain("/a//b"));
    EXPECT_FALSE(path_is_plain("/a/./b"));
    EXPECT_FALSE(path_is_plain("/a%20b"));
    EXPECT_FALSE(path_is_plain("/a\\b"));
    EXPECT_FALSE(path_is_plain("/caf\xc3\xa9"));
}

// The bypass shapes of the issue: each ends inside /raw/admin/ (or is refused), never beside it.
// The word-at-a-time quick check against the plain definition, for every length and position
// (word boundaries, the overlapping last word, short paths).
bool plain_by_bytes(std::string_view p) {
    for (size_t i = 0; i < p.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(p[i]);
        if (c == '%' || c == '\\' || c >= 0x80) return false;
        if (c == '/' && i + 1 < p.size() && (p[i + 1] == '/' || p[i + 1] == '.')) return false;
    }
    return true;
}

TEST(PathTest, QuickCheckMatchesItsDefinition) {
    const std::string specials[] = {"%", "\\", "\x80", "\xff", "//", "/.", ".", "/", "-", "0", "\x2e/"};
    for (size_t len = 0; len <= 40; ++len) {
        std::string base(len, 'a');
        if (len) base[0] = '/';
        ASSERT_EQ(path_is_plain(base), plain_by_bytes(base)) << len;
        ASSERT_EQ(path_is_plain_swar(base), plain_by_bytes(base)) << len;
        for (size_t pos = 0; pos < len; ++pos) {
            for (const std::string& sp : specials) {
                std::string p = base;
                p.replace(pos, std::min(sp.size(), len - pos), sp.substr(0, len - pos));
                ASSERT_EQ(path_is_plain(p), plain_by_bytes(p)) << "len " << len << " pos " << pos << " " << p;
                ASSERT_EQ(path_is_plain_swar(p), plain_by_bytes(p)) << "len " << len << " pos " << pos;
            }
        }
    }
    // A pseudo-random sweep over a small alphabet rich in the bytes that matter.
    const char alphabet[] = {'/', '.', '%', '\\', 'a', '\x80', '\x01', '/', '.'};
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 200000; ++round) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        std::string p(x % 53, 'a');
        for (char& c : p) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            c = alphabet[x % sizeof alphabet];
        }
        ASSERT_EQ(path_is_plain(p), plain_by_bytes(p)) << p;
        ASSERT_EQ(path_is_plain_swar(p), plain_by_bytes(p)) << p;
    }
}

TEST(PathTest, BypassShapesBecomeCanonical) {
    EXPECT_EQ(norm("/raw//admin/x"), "/raw/admin/x");
    EXPECT_EQ(norm("/raw/./admin/x"), "/raw/admin/x");
    EXPECT_EQ(norm("/raw/a/../admin/x"), "/raw/admin/x");
    EXPECT_EQ(norm("/raw/%61dmin/x"), "/raw/admin/x");
    EXPECT_EQ(norm("/raw/x/%2e%2e/admin/x"), "/raw/admin/x");
    EXPECT_EQ(norm("/raw/x/%2e%2E/admin/x"), "/raw/admin/x");
    EXPECT_EQ(norm("/raw/x/.%2e/admin/x"), "/raw/admin/x");
    EXPECT_EQ(norm("/raw/%2e%2e/admin/x"), "/admin/x");
    EXPECT_EQ(norm("/raw/admin/."), "/raw/admin/");
    EXPECT_EQ(norm("/raw/admin/x/.."), "/raw/admin/");
    EXPECT_EQ(norm("/raw/admin/x/%2E%2E"), "/raw/admin/");
    EXPECT_EQ(norm("/raw///admin////x//"), "/raw/admin/x/");
    EXPECT_EQ(norm("//raw/admin"), "/raw/admin");
}

TEST(PathTest, RemovesDotSegmentsAsRfc3986) {
    EXPECT_EQ(norm("/a/b/c/./../../g"), "/a/g");
    EXPECT_EQ(norm("/mid/content=5/../6"), "/mid/6");
    EXPECT_EQ(norm("/./"), "/");
    EXPECT_EQ(norm("/."), "/");
    EXPECT_EQ(norm("/a/.."), "/");
    EXPECT_EQ(norm("/a/../"), "/");
    EXPECT_EQ(norm("/a/./b/."), "/a/b/");
    EXPECT_EQ(norm("/.../a"), "/.../a");          // three dots: a name
    EXPECT_EQ(norm("/..a/b.."), "/..a/b..");
    EXPECT_EQ(norm("/.well-known/x"), "/.well-known/x");
}

TEST(PathTest, RefusesClimbingAboveTheRoot) {
    EXPECT_EQ(norm("/.."), "400");
    EXPECT_EQ(norm("/../a"), "400");
    EXPECT_EQ(norm("/a/../.."), "400");
    EXPECT_EQ(norm("/%2e%2e/etc/passwd"), "400");
    EXPECT_EQ(norm("/a/%2E%2E/%2e%2e/b"), "400");
}

TEST(PathTest, RefusesDotSegmentsWithParameters) {
    EXPECT_EQ(norm("/raw/..;/admin/x"), "400");
    EXPECT_EQ(norm("/raw/.;x/admin"), "400");
    EXPECT_EQ(norm("/raw/%2e%2e;/admin"), "400");
    EXPECT_EQ(norm("/raw/..%3b/admin"), "400");
    EXPECT_EQ(norm("/raw/a;b/admin/x/./"), "/raw/a;b/admin/x/");  // parameters elsewhere are fine
}

TEST(PathTest, PercentEncodingIsDecodedOnceOnlyForUnreserved) {
    EXPECT_EQ(norm("/%41%7a%30%2D%5f%7E"), "/Az0-_~");
    EXPECT_EQ(norm("/a%20b%3f%23"), "/a%20b%3F%23");
    EXPECT_EQ(norm("/%252e%252e/x"), "/%252e%252e/x");  // double encoding stays literal
    EXPECT_EQ(norm("/%25"), "/%25");
    EXPECT_EQ(norm("/caf%c3%a9"), "/caf%C3%A9");
    EXPECT_EQ(norm("/caf\xc3\xa9/./x"), "/caf\xc3\xa9/x");
}

TEST(PathTest, RefusesBrokenEncodingsNulAndControls) {
    EXPECT_EQ(norm("/a%"), "400");
    EXPECT_EQ(norm("/a%2"), "400");
    EXPECT_EQ(norm("/a%zz"), "400");
    EXPECT_EQ(norm("/a%00b"), "400");
    EXPECT_EQ(norm("/a%0Ab"), "400");
    EXPECT_EQ(norm("/a%0d%0aSet-Cookie:x"), "400");
    EXPECT_EQ(norm("/a%7f"), "400");
    EXPECT_EQ(norm("/a%1F"), "400");
}

TEST(PathTest, RefusesMalformedAndOverlongUtf8) {
    EXPECT_EQ(norm("/%c0%ae%c0%ae/admin"), "400");   // overlong "."
    EXPECT_EQ(norm("/%c0%af"), "400");               // overlong "/"
    EXPECT_EQ(norm("/%e0%80%ae"), "400");            // 3-byte overlong "."
    EXPECT_EQ(norm("/%f0%80%80%ae"), "400");         // 4-byte overlong "."
    EXPECT_EQ(norm("/%c1%9c"), "400");               // overlong "\"
    EXPECT_EQ(norm("/%ed%a0%80"), "400");            // surrogate
    EXPECT_EQ(norm("/%f4%90%80%80"), "400");         // above U+10FFFF
    EXPECT_EQ(norm("/%c3"), "400");                  // truncated
    EXPECT_EQ(norm("/%c3/"), "400");
    EXPECT_EQ(norm("/\xc3"), "400");
    EXPECT_EQ(norm("/\xff"), "400");
    EXPECT_EQ(norm("/\xe2\x82\xac"), "/\xe2\x82\xac");  // a well-formed raw euro sign passes
    EXPECT_EQ(norm("/%f0%9f%98%80"), "/%F0%9F%98%80");
}

TEST(PathTest, EscapedSlashesKeep) {
    PathOptions o = with(EscapedSlashes::Keep);
    EXPECT_EQ(norm("/a%2F..%2Fadmin", o), "/a%2F..%2Fadmin");  // never becomes /admin
    EXPECT_EQ(norm("/a%2f..%2fadmin", o), "/a%2F..%2Fadmin");
    EXPECT_EQ(norm("/a%5c..%5cadmin", o), "/a%5C..%5Cadmin");
    EXPECT_EQ(norm("/a\\..\\admin", o), "/a%5C..%5Cadmin");     // a raw backslash is data too
    EXPECT_EQ(norm("/a/%2F/b", o), "/a/%2F/b");
}

TEST(PathTest, EscapedSlashesReject) {
    PathOptions o = with(EscapedSlashes::Reject);
    EXPECT_EQ(norm("/a%2Fb", o), "400");
    EXPECT_EQ(norm("/a%5cb", o), "400");
    EXPECT_EQ(norm("/a\\b", o), "400");
    EXPECT_EQ(norm("/a/b", o), "/a/b");
}

TEST(PathTest, EscapedSlashesDecode) {
    PathOptions o = with(EscapedSlashes::Decode);
    EXPECT_EQ(norm("/a%2Fb", o), "/a/b");
    EXPECT_EQ(norm("/raw/x%2F..%2Fadmin/y", o), "/raw/admin/y");
    EXPECT_EQ(norm("/a\\..\\admin", o), "/admin");
    EXPECT_EQ(norm("/%2F%2Fa", o), "/a");
    EXPECT_EQ(norm("/a%2F..%2F..%2Fb", o), "400");
}

TEST(PathTest, MergeSlashesOff) {
    PathOptions o = with(EscapedSlashes::Keep, false);
    EXPECT_EQ(norm("/a//b", o), "/a//b");
    EXPECT_EQ(norm("/a//../b", o), "/a/b");   // ".." removes the empty segment
    EXPECT_EQ(norm("//.", o), "//");
    EXPECT_EQ(norm("/a/./b", o), "/a/b");
}

TEST(PathTest, ResultIsIdempotent) {
    for (std::string_view p : {"/raw//admin/./x/../y", "/a%2f%2e%2E/%61", "/a\\b/..", "/x/%C3%A9/./",
                               "/%7e%2F%5C"}) {
        for (EscapedSlashes e : {EscapedSlashes::Keep, EscapedSlashes::Decode}) {
            for (bool merge : {true, false}) {
                std::string once = norm(p, with(e, merge));
                ASSERT_NE(once, "400") << p;
                EXPECT_EQ(norm(once, with(e, merge)), once) << p;
            }
        }
    }
}

}  // namespace
}  // namespace gw::http
