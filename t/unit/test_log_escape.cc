// Escapers, redaction and the log throttle: tables of hostile inputs.
#include <gtest/gtest.h>

#include <string>

#include "core/config/config.h"
#include "core/log_throttle.h"
#include "core/text_escape.h"
#include "http/redact.h"

using namespace std::string_literals;

namespace {

std::string json(std::string_view s) {
    std::string out;
    gw::append_json_escaped_text(out, s);
    return out;
}

std::string text(std::string_view s) {
    std::string out;
    gw::append_log_escaped(out, s);
    return out;
}

std::string redact(std::string_view target, const gw::LogsConfig& logs = gw::LogsConfig()) {
    std::string out;
    gw::http::append_redacted_target(out, target, logs);
    return out;
}

std::string header(std::string_view name, std::string_view value) {
    std::string out;
    gw::http::append_redacted_header(out, name, value, gw::LogsConfig());
    return out;
}

// What a strict reader needs of a JSON string body: no raw control character, no lone `"` or
// `\`, and valid UTF-8 throughout.
bool strict_json_string_body(const std::string& s) {
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == '"') return false;
        if (c == '\\') {
            if (i + 1 >= s.size()) return false;
            char e = s[i + 1];
            if (e == 'u') {
                if (i + 6 > s.size()) return false;
                for (size_t k = i + 2; k < i + 6; ++k)
                    if (!isxdigit(static_cast<unsigned char>(s[k]))) return false;
                i += 6;
            } else if (std::string_view("\"\\/bfnrt").find(e) != std::string_view::npos) {
                i += 2;
            } else {
                return false;
            }
            continue;
        }
        size_t n = gw::utf8_sequence_length(std::string_view(s).substr(i));
        if (n == 0) return false;
        i += n;
    }
    return true;
}

}  // namespace

TEST(TextEscape, Utf8SequenceLength) {
    EXPECT_EQ(gw::utf8_sequence_length("a"), 1u);
    EXPECT_EQ(gw::utf8_sequence_length("\xc3\xa9"), 2u);          // é
    EXPECT_EQ(gw::utf8_sequence_length("\xe2\x82\xac"), 3u);      // €
    EXPECT_EQ(gw::utf8_sequence_length("\xf0\x9f\x98\x80"), 4u);  // 😀
    EXPECT_EQ(gw::utf8_sequence_length("\xc0\xaf"), 0u);          // overlong '/'
    EXPECT_EQ(gw::utf8_sequence_length("\xe0\x80\xaf"), 0u);      // overlong, 3 bytes
    EXPECT_EQ(gw::utf8_sequence_length("\xf0\x80\x80\xaf"), 0u);  // overlong, 4 bytes
    EXPECT_EQ(gw::utf8_sequence_length("\xed\xa0\x80"), 0u);      // surrogate U+D800
    EXPECT_EQ(gw::utf8_sequence_length("\xf4\x90\x80\x80"), 0u);  // above U+10FFFF
    EXPECT_EQ(gw::utf8_sequence_length("\x80"), 0u);              // lone continuation
    EXPECT_EQ(gw::utf8_sequence_length("\xc3"), 0u);              // truncated
    EXPECT_EQ(gw::utf8_sequence_length("\xe2\x82"), 0u);
    EXPECT_EQ(gw::utf8_sequence_length("\xff"), 0u);
}

TEST(TextEscape, JsonTable) {
    struct Case {
        std::string in, out;
    } cases[] = {
        {"plain /a?b=c", "plain /a?b=c"},
        {"q\"uote", "q\\\"uote"},
        {"back\\slash", "back\\\\slash"},
        {"\n\r\t", "\\n\\r\\t"},
        {"\x01\x1f\x7f"s, "\\u0001\\u001f\\u007f"},
        {"nul\0x"s, "nul\\u0000x"},
        {"\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"},              // valid UTF-8 passes
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
        {"\xff\xfe", "\\u00ff\\u00fe"},                          // invalid bytes: \u00XX
        {"a\x80z", "a\\u0080z"},
        {"\xc3(", "\\u00c3("},                                   // truncated sequence
        {"\xc0\xaf", "\\u00c0\\u00af"},                          // overlong
        {"\xed\xa0\x80", "\\u00ed\\u00a0\\u0080"},               // surrogate
        {"\xc2\x85", "\\u0085"},                                 // C1 control (NEL)
        {"\xc2\xa0", "\xc2\xa0"},                                // U+00A0 is not a control
        {"\xe2\x82", "\\u00e2\\u0082"},                          // truncated at the end
    };
    for (const Case& c : cases) {
        EXPECT_EQ(json(c.in), c.out) << c.in;
        EXPECT_TRUE(strict_json_string_body(json(c.in))) << c.in;
    }
}

TEST(TextEscape, JsonAnyByteStaysValid) {
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    EXPECT_TRUE(strict_json_string_body(json(all)));
    for (int a = 0; a < 256; ++a) {
        for (int b = 0x80; b < 0x100; b += 0x11) {
            std::string s = {static_cast<char>(a), static_cast<char>(b), '\xbf', '"'};
            ASSERT_TRUE(strict_json_string_body(json(s))) << a << " " << b;
        }
    }
}

TEST(TextEscape, LogTextTable) {
    EXPECT_EQ(text("Mozilla/5.0 (X11)"), "Mozilla/5.0 (X11)");
    EXPECT_EQ(text("a\"b"), "a\\x22b");
    EXPECT_EQ(text("a\\b"), "a\\x5Cb");
    EXPECT_EQ(text("l1\nl2\r"), "l1\\x0Al2\\x0D");
    EXPECT_EQ(text("\x7f\x80\xff"), "\\x7F\\x80\\xFF");
    EXPECT_EQ(text("\xc3\xa9"), "\\xC3\\xA9");  // as nginx: non-ASCII is escaped too
    EXPECT_EQ(text("t\tab"), "t\\x09ab");
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    std::string out = text(all);
    for (char c : out) {
        ASSERT_GE(static_cast<unsigned char>(c), 0x20);
        ASSERT_LT(static_cast<unsigned char>(c), 0x7f);
        ASSERT_NE(c, '"');
    }
}

TEST(Redact, QueryTable) {
    struct Case {
        const char *in, *out;
    } cases[] = {
        {"/a", "/a"},
        {"/a?", "/a?"},
        {"/a?x=1", "/a?x=1"},
        {"/a?token=abc", "/a?token=REDACTED"},
        {"/a?x=1&API_KEY=zz&y=2&password=p&sig=s", "/a?x=1&API_KEY=REDACTED&y=2&password=REDACTED&sig=REDACTED"},
        {"/a?tokenizer=1&key", "/a?tokenizer=1&key"},  // not a secret name, or no value
        {"/a?client_secret=s&refresh_token=r&id_token=i", "/a?client_secret=REDACTED&refresh_token=REDACTED&id_token=REDACTED"},
        {"/a?session=s&session_id=t&code=c", "/a?session=REDACTED&session_id=REDACTED&code=REDACTED"},
        {"/s3?X-Amz-Signature=abc&X-Amz-Date=1", "/s3?X-Amz-Signature=REDACTED&X-Amz-Date=1"},
        {"/g?X-Goog-Signature=abc", "/g?X-Goog-Signature=REDACTED"},
        {"/a?%74oken=abc", "/a?%74oken=REDACTED"},          // percent-encoded name
        {"/a?%54%4F%4b%45%4E=abc", "/a?%54%4F%4b%45%4E=REDACTED"},
        {"/a?to%6ben=x&y=1", "/a?to%6ben=REDACTED&y=1"},
        {"/a?x=1;token=abc;def&y=2", "/a?x=1;token=REDACTED&y=2"},  // `;` separates too
        {"/a?token=a=b=c", "/a?token=REDACTED"},
        {"/a?token=&x=1", "/a?token=REDACTED&x=1"},
        {"/a?&&token=x&&", "/a?&&token=REDACTED&&"},
        {"/a?to%ken=x", "/a?to%ken=x"},                     // a broken escape is not decoded
        {"http://h/p?secret=x", "http://h/p?secret=REDACTED"},
    };
    for (const Case& c : cases) EXPECT_EQ(redact(c.in), c.out) << c.in;
    std::string longname(300, 'a');
    EXPECT_EQ(redact("/a?" + longname + "=1"), "/a?" + longname + "=1");
}

TEST(Redact, ConfiguredNamesAddToTheDefaults) {
    gw::LogsConfig logs;
    logs.redact_query.push_back("ticket");
    EXPECT_EQ(redact("/a?ticket=1&token=2&x=3", logs), "/a?ticket=REDACTED&token=REDACTED&x=3");
}

TEST(Redact, Headers) {
    EXPECT_EQ(header("Authorization", "Bearer abc"), "REDACTED");
    EXPECT_EQ(header("cookie", "sid=1"), "REDACTED");
    EXPECT_EQ(header("Set-Cookie", "sid=1"), "REDACTED");
    EXPECT_EQ(header("Proxy-Authorization", "Basic eA=="), "REDACTED");
    EXPECT_EQ(header("user-agent", "curl/8"), "curl/8");
    EXPECT_EQ(header("referer", "https://r.test/p?code=abc&x=1"), "https://r.test/p?code=REDACTED&x=1");
}

TEST(Redact, ErrorLogTarget) {
    gw::LogsConfig logs;
    EXPECT_EQ(gw::http::error_log_target("/a?token=s\"x&b=\x01", logs), "/a?token=REDACTED&b=\\x01");
    std::string long_target = "/" + std::string(2000, 'x');
    EXPECT_EQ(gw::http::error_log_target(long_target, logs).size(), gw::http::kErrorLogTargetMax);
}

TEST(LogThrottle, OncePerIntervalWithACount) {
    gw::LogThrottle t;
    gw::LogThrottle::Held held;
    EXPECT_TRUE(t.admit(1000, 5000, held));
    EXPECT_EQ(held.count, 0u);
    for (int i = 0; i < 2093; ++i) EXPECT_FALSE(t.admit(1000 + i, 5000, held));
    EXPECT_FALSE(t.admit(5999, 5000, held));
    EXPECT_TRUE(t.admit(6000, 5000, held));
    EXPECT_EQ(held.count, 2094u);
    EXPECT_EQ(held.over_ms, 5000);
    char buf[96];
    EXPECT_STREQ(gw::LogThrottle::suffix(buf, held), " (and 2094 more like it in the last 5s)");
    EXPECT_TRUE(t.admit(20000, 5000, held));  // a quiet time: nothing held
    EXPECT_EQ(held.count, 0u);
    EXPECT_STREQ(gw::LogThrottle::suffix(buf, held), "");
}

TEST(LogThrottle, ZeroIntervalWritesEveryLine) {
    gw::LogThrottle t;
    gw::LogThrottle::Held held;
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(t.admit(1000, 0, held));
    EXPECT_EQ(held.count, 0u);
}
