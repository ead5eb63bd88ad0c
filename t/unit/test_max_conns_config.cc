// max_conns (per upstream server) and queue (per upstream): defaults, values, errors with their
// place, and the -T dump, which must load again.
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "core/config/config.h"
#include "config_fixture.h"

namespace gw {
namespace {

class MaxConnsConfig : public test::ConfigFixture {};

constexpr const char* kListener = "listeners:\n  - address: 127.0.0.1:8080\n";

TEST_F(MaxConnsConfig, DefaultsAndValues) {
    write("gw.conf", std::string(kListener) +
                         "upstreams:\n"
                         "  plain: {servers: [{address: 127.0.0.1:9001}]}\n"
                         "  limited:\n"
                         "    servers: [{address: 127.0.0.1:9001, max_conns: 10}, {address: 127.0.0.1:9002}]\n"
                         "  queued:\n"
                         "    servers: [{address: 127.0.0.1:9001, max_conns: 1}]\n"
                         "    queue: {size: 2, timeout: 250ms}\n"
                         "  sized:\n"
                         "    servers: [{address: 127.0.0.1:9001, max_conns: 3}]\n"
                         "    queue: {size: 5}\n"
                         "  empty_queue:\n"
                         "    servers: [{address: 127.0.0.1:9001}]\n"
                         "    queue: {size: 0}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const UpstreamConfig& plain = c->upstreams[0];
    EXPECT_EQ(plain.servers[0].max_conns, 0u);
    EXPECT_FALSE(plain.has_max_conns());
    EXPECT_EQ(plain.queue.size, 0u);
    EXPECT_EQ(plain.queue.timeout, 1000);
    const UpstreamConfig& limited = c->upstreams[1];
    EXPECT_EQ(limited.servers[0].max_conns, 10u);
    EXPECT_EQ(limited.servers[1].max_conns, 0u);
    EXPECT_TRUE(limited.has_max_conns());
    EXPECT_EQ(limited.queue.size, 0u);
    EXPECT_EQ(c->upstreams[2].queue.size, 2u);
    EXPECT_EQ(c->upstreams[2].queue.timeout, 250);
    EXPECT_EQ(c->upstreams[3].queue.size, 5u);
    EXPECT_EQ(c->upstreams[3].queue.timeout, 1000);
    EXPECT_EQ(c->upstreams[4].queue.size, 0u) << "size 0 is no queue, allowed without max_conns";

    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("      - address: \"127.0.0.1:9001\"\n"
                        "        weight: 1\n"
                        "        backup: false\n"
                        "        max_conns: 1\n"),
              std::string::npos)
        << dump;
    EXPECT_NE(dump.find("    queue: {size: 2, timeout: 250ms}\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    queue: {size: 0, timeout: 1s}\n"), std::string::npos) << dump;
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    EXPECT_EQ(again->upstreams[2].queue.size, 2u);
    EXPECT_EQ(again->upstreams[2].queue.timeout, 250);
    EXPECT_EQ(again->upstreams[1].servers[0].max_conns, 10u);
    EXPECT_EQ(dump_config(*again).substr(dump_config(*again).find("\nworker_processes:")),
              dump.substr(dump.find("\nworker_processes:")));
}

TEST_F(MaxConnsConfig, Errors) {
    expect_errors(std::string(kListener) +
                      "upstreams:\n"
                      "  a:\n"
                      "    servers: [{address: 127.0.0.1:1, max_conns: -1}, {address: 127.0.0.1:2, max_conns: 1000001}]\n"
                      "  b:\n"
                      "    servers: [{address: 127.0.0.1:1, max_conn: 1}]\n"
                      "  c:\n"
                      "    servers: [{address: 127.0.0.1:1, max_conns: 1}]\n"
                      "    queue: {size: 100001, timeout: 61s, timout: 1s}\n"
                      "  d:\n"
                      "    servers: [{address: 127.0.0.1:1}]\n"
                      "    queue: {size: 2}\n"
                      "  e:\n"
                      "    servers: [{address: 127.0.0.1:1, max_conns: 1}]\n"
                      "    queue: 5\n"
                      "  f:\n"
                      "    servers: [{address: 127.0.0.1:1, max_conns: 1}]\n"
                      "    queue: {timeout: 0}\n",
                  {at("gw.conf", 5, 49) + "upstreams.a.servers[0].max_conns: -1 is out of range (0..1000000)",
                   at("gw.conf", 5, 88) + "upstreams.a.servers[1].max_conns: 1000001 is out of range (0..1000000)",
                   at("gw.conf", 7, 38) + "unknown key \"max_conn\" (did you mean \"max_conns\"?)",
                   at("gw.conf", 10, 19) + "upstreams.c.queue.size: 100001 is out of range (0..100000)",
                   at("gw.conf", 10, 36) + "upstreams.c.queue.timeout: 61s is out of range (1ms..1m)",
                   at("gw.conf", 10, 41) + "unknown key \"timout\" (did you mean \"timeout\"?)",
                   at("gw.conf", 13, 12) +
                       "upstreams.d.queue: a queue needs max_conns on at least one server (nothing would ever wait in it)",
                   at("gw.conf", 16, 12) + "upstreams.e.queue: expected a map, got \"5\"",
                   at("gw.conf", 19, 22) + "upstreams.f.queue.timeout: 0 is out of range (1ms..1m)"});
}

}  // namespace
}  // namespace gw
