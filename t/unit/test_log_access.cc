#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "http/access_log.h"

TEST(AccessLog, WritesJsonAndCombinedLines) {
    char dir[] = "/tmp/gw-accesslog-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    gw::AccessLogConfig cfg;
    gw::LogsConfig logs;
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
    e.request_id = "rid-1";
    e.bytes_sent = 99;
    gw::http::UpstreamTrace trace;
    trace.add("10.0.0.1:80", 502, 1000);
    trace.add("10.0.0.2:80", 200, 4000);
    e.upstream = &trace;
    {
        gw::http::AccessLog log(cfg, logs);
        ASSERT_TRUE(log.open());
        log.write(e);
        EXPECT_TRUE(log.has_pending());  // buffered until flush
    }  // destructor flushes
    cfg.format = gw::AccessLogConfig::Format::Combined;
    {
        gw::http::AccessLog log(cfg, logs);
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
    EXPECT_NE(json.find("\"bytes_sent\":99,"), std::string::npos) << json;
    EXPECT_NE(json.find("\"request_id\":\"rid-1\",\"upstream_addr\":\"10.0.0.1:80, 10.0.0.2:80\","
                        "\"upstream_status\":\"502, 200\",\"upstream_response_time\":\"0.001, 0.004\""),
              std::string::npos)
        << json;
    EXPECT_EQ(combined.rfind("127.0.0.1 - - [", 0), 0u) << combined;
    EXPECT_NE(combined.find("\"GET /p?q=\\x22x\\x22&secret=REDACTED HTTP/1.1\" 200 5 \"-\" \"ua\""), std::string::npos)
        << combined;
    unlink(cfg.path.c_str());
    rmdir(dir);
}

// Lines are written whole whatever their length: a buffer full in the middle of a line writes
// the lines before it and keeps the line, and a line longer than the buffer makes it grow.
TEST(AccessLog, LongLinesAreWrittenWhole) {
    char dir[] = "/tmp/gw-accesslog-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    gw::AccessLogConfig cfg;
    gw::LogsConfig logs;
    cfg.enabled = true;
    cfg.path = std::string(dir) + "/access.log";
    cfg.format = gw::AccessLogConfig::Format::Combined;
    cfg.buffer = 1000;  // a 5096-byte buffer
    std::vector<std::string> uris;
    for (size_t len : {100u, 3000u, 4500u, 20000u, 50u, 9000u, 10u})
        uris.push_back("/" + std::string(len, static_cast<char>('a' + uris.size())));
    {
        gw::http::AccessLog log(cfg, logs);
        ASSERT_TRUE(log.open());
        for (const std::string& u : uris) {
            gw::http::AccessLogEntry e;
            e.remote_addr = "127.0.0.1";
            e.method = "GET";
            e.uri = u;
            e.status = 200;
            log.write(e);
        }
    }
    std::ifstream in(cfg.path);
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) {
        ASSERT_LT(n, uris.size());
        EXPECT_EQ(line.rfind("127.0.0.1 - - [", 0), 0u) << n;
        EXPECT_NE(line.find("\"GET " + uris[n] + " HTTP/1.1\" 200 0 \"-\" \"-\""), std::string::npos) << n;
        ++n;
    }
    EXPECT_EQ(n, uris.size());
    unlink(cfg.path.c_str());
    rmdir(dir);
}
