// Request ids: which incoming ids are kept, and the generated ones.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "http/request_id.h"

using gw::http::IdGenerator;
using gw::http::kMaxRequestId;
using gw::http::make_request_id;
using gw::http::sane_request_id;

TEST(RequestId, SaneIncomingIds) {
    EXPECT_TRUE(sane_request_id("abc-123"));
    EXPECT_TRUE(sane_request_id(std::string(kMaxRequestId, 'x')));
    EXPECT_FALSE(sane_request_id(std::string(kMaxRequestId + 1, 'x')));
    EXPECT_FALSE(sane_request_id(""));
    EXPECT_FALSE(sane_request_id("has space"));
    EXPECT_FALSE(sane_request_id("tab\there"));
    EXPECT_FALSE(sane_request_id("del\x7f"));
    EXPECT_FALSE(sane_request_id("utf8-\xc3\xa9"));
}

TEST(RequestId, KeptOrGenerated) {
    IdGenerator ids(7);
    char out[kMaxRequestId];
    size_t n = make_request_id("client-1", ids, out);
    EXPECT_EQ(std::string(out, n), "client-1");
    n = make_request_id("bad id", ids, out);
    ASSERT_EQ(n, 32u);
    for (size_t i = 0; i < n; ++i) EXPECT_TRUE((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f'));
}

TEST(RequestId, GeneratedIdsUseEveryHexDigitAndDiffer) {
    IdGenerator ids(1);
    std::set<char> digits;
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        char id[32];
        ids.request_id(id);
        for (char c : std::string(id, 32)) {
            ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << c;
            digits.insert(c);
        }
        EXPECT_TRUE(seen.insert(std::string(id, 32)).second);
    }
    EXPECT_EQ(digits.size(), 16u);
    char span[16];
    ids.span_id(span);
    EXPECT_NE(std::string(span, 16), std::string(16, '0'));
}
