#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "http/access_log.h"

using gw::http::append_redacted_uri;

static std::string redact(std::string_view uri) {
    std::string out;
    append_redacted_uri(out, uri);
    return out;
}

TEST(AccessLog, RedactsSecretQueryParameters) {
    EXPECT_EQ(redact("/a"), "/a");
    EXPECT_EQ(redact("/a?x=1"), "/a?x=1");
    EXPECT_EQ(redact("/a?token=abc"), "/a?token=REDACTED");
    EXPECT_EQ(redact("/a?x=1&API_KEY=zz&y=2&password=p&sig=s"), "/a?x=1&API_KEY=REDACTED&y=2&password=REDACTED&sig=REDACTED");
    EXPECT_EQ(redact("/a?tokenizer=1&key"), "/a?tokenizer=1&key");  // no value, or not a secret name
    EXPECT_EQ(redact("/a?"), "/a?");
}

TEST(AccessLog, WritesJsonAndCombinedLines) {
    char dir[] = "/tmp/gw-accesslog-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    gw::AccessLogConfig cfg;
    cfg.enabled = true;
    cfg.path = std::string(dir) + "/access.log";
    gw::http::AccessLogEntry e;
    e.remote_addr = "127.0.0.1";
    e.method = "GET";
    e.uri = "/p?q=\"x\"&secret=s";
    e.status = 200;
    e.body_bytes_sent = 5;
    e.route = "r";
    e.host = "h";
    e.user_agent = "ua";
    e.generation = 3;
    {
        gw::http::AccessLog log(cfg);
        ASSERT_TRUE(log.open());
        log.write(e);
        EXPECT_TRUE(log.has_pending());  // buffered until flush
    }  // destructor flushes
    cfg.format = gw::AccessLogConfig::Format::Combined;
    {
        gw::http::AccessLog log(cfg);
        ASSERT_TRUE(log.open());
        log.write(e);
        log.flush();
    }
    std::ifstream in(cfg.path);
    std::string json, combined;
    std::getline(in, json);
    std::getline(in, combined);
    EXPECT_NE(json.find("\"uri\":\"/p?q=\\\"x\\\"&secret=REDACTED\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"status\":200,\"body_bytes_sent\":5"), std::string::npos) << json;
    EXPECT_NE(json.find("\"generation\":3}"), std::string::npos) << json;
    EXPECT_EQ(combined.rfind("127.0.0.1 - - [", 0), 0u) << combined;
    EXPECT_NE(combined.find("\"GET /p?q=\"x\"&secret=REDACTED HTTP/1.1\" 200 5 \"-\" \"ua\""), std::string::npos)
        << combined;
    unlink(cfg.path.c_str());
    rmdir(dir);
}
