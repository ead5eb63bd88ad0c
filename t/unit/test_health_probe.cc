// Active health probes (the Checker, in the master) through the outbound HTTP client, against
// servers of the test's own: the request they send, and the verdicts and log lines for each way
// a server can fail - the same as when the probes parsed HTTP by hand.
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/config.h"
#include "core/log.h"
#include "core/metrics/store.h"
#include "core/shm/zone.h"
#include "event/loop.h"
#include "http_test_server.h"
#include "modules/health/health.h"
#include "redis_server.h"  // run_until, free_port

using gw::http_test::send_all;
using gw::http_test::Server;
using gw::http_test::wait_for_close;
using gw::redis_test::run_until;

namespace {

class HealthProbeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        metrics_zone_ = gw::shm::Zone::create("metrics", 1 << 20, gw::metrics::kLayoutVersion);
        health_zone_ = gw::shm::Zone::create("health", gw::health::kZoneSize, gw::health::kLayoutVersion);
        ASSERT_TRUE(metrics_zone_ && health_zone_);
        metrics_ = std::make_unique<gw::metrics::Store>(*metrics_zone_);
        config_ = std::make_shared<gw::Config>();
        gw::UpstreamConfig u;
        u.name = "app";
        gw::HealthCheckConfig hc;
        hc.path = "/hc";
        hc.interval = 100;
        hc.timeout = 200;
        hc.fall = 1;
        hc.rise = 1;
        u.health_check = hc;
        config_->upstreams.push_back(u);
    }

    void add_server(const std::string& address) {
        gw::UpstreamServerConfig s;
        s.address = address;
        std::string error;
        ASSERT_TRUE(gw::parse_upstream_address(address, s.sockaddr, s.socklen, error)) << error;
        config_->upstreams[0].servers.push_back(s);
    }
    void add_server(const Server& server) {
        if (server.addr()->sa_family == AF_UNIX)
            return add_server(std::string("unix:") + reinterpret_cast<const sockaddr_un*>(server.addr())->sun_path);
        add_server("127.0.0.1:" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(server.addr())->sin_port)));
    }

    gw::health::Record* record(const std::string& address) {
        gw::health::Table t(*health_zone_);
        return t.find_or_create("app", address);
    }

    gw::event::Loop loop_;
    std::unique_ptr<gw::shm::Zone> metrics_zone_, health_zone_;
    std::unique_ptr<gw::metrics::Store> metrics_;
    std::shared_ptr<gw::Config> config_;
};

// The error log in a file of the test's own while it lives, then stderr again.
class LogCapture {
  public:
    LogCapture() : path_("/tmp/gw-health-probe-" + std::to_string(getpid()) + ".log") {
        unlink(path_.c_str());
        EXPECT_TRUE(gw::log::open(path_, gw::LogLevel::Info));
    }
    ~LogCapture() {
        gw::log::open("stderr", gw::LogLevel::Notice);
        unlink(path_.c_str());
    }
    std::string text() const {
        std::ifstream in(path_);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

  private:
    std::string path_;
};

}  // namespace

TEST_F(HealthProbeTest, AGoodProbeSendsWhatItAlwaysSent) {
    Server s([](int fd, const std::string&) { send_all(fd, "HTTP/1.1 204 No Content\r\n\r\n"); });
    add_server(s);
    std::string address = config_->upstreams[0].servers[0].address;
    gw::health::Checker checker(loop_, *health_zone_, *metrics_);
    checker.configure(config_);
    gw::health::Record* r = record(address);
    ASSERT_TRUE(run_until(loop_, [&] { return r->observation.load() >= 2; }, 3000));
    EXPECT_EQ(r->last_status.load(), 204);
    EXPECT_EQ(r->successes.load(), r->observation.load());
    EXPECT_EQ(r->down.load(), 0u);
    ASSERT_FALSE(s.heads().empty());
    EXPECT_EQ(s.heads()[0], "GET /hc HTTP/1.1\r\nHost: " + address +
                                "\r\nUser-Agent: gatewayd-health-check\r\nConnection: close\r\n\r\n");
}

TEST_F(HealthProbeTest, FailuresAreLoggedAsBefore) {
    LogCapture log;
    Server garbage([](int fd, const std::string&) { send_all(fd, "SSH-2.0-OpenSSH_9.6\r\n\r\n"); });
    Server error([](int fd, const std::string&) { send_all(fd, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"); });
    Server silent([](int fd, const std::string&) { wait_for_close(fd, 1000); });
    Server closes([](int, const std::string&) {});
    Server big_body([](int fd, const std::string&) {
        // Good on the status alone: the body is not read (nor limited).
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n");
        wait_for_close(fd, 1000);
    }, true);
    add_server(garbage);
    add_server(error);
    add_server(silent);
    add_server(closes);
    add_server(big_body);
    std::string dead = "127.0.0.1:" + std::to_string(gw::redis_test::free_port());
    add_server(dead);
    std::vector<std::string> addresses;
    for (const auto& s : config_->upstreams[0].servers) addresses.push_back(s.address);

    gw::health::Checker checker(loop_, *health_zone_, *metrics_);
    checker.configure(config_);
    auto all_probed = [&] {
        for (const std::string& a : addresses)
            if (record(a)->observation.load() < 1) return false;
        return true;
    };
    ASSERT_TRUE(run_until(loop_, all_probed, 3000));
    std::string text = log.text();
    auto down_line = [&](const std::string& address, const std::string& last) {
        return "health check: upstream \"app\", server " + address + " is down after 1 failed checks (last: " + last + ")";
    };
    EXPECT_NE(text.find(down_line(addresses[0], "not an HTTP response")), std::string::npos) << text;
    EXPECT_NE(text.find(down_line(addresses[1], "unexpected status, status 500")), std::string::npos) << text;
    EXPECT_NE(text.find(down_line(addresses[2], "timed out")), std::string::npos) << text;
    EXPECT_NE(text.find(down_line(addresses[3], "closed without a status line")), std::string::npos) << text;
    EXPECT_EQ(text.find(addresses[4] + " is down"), std::string::npos) << text;
    EXPECT_NE(text.find(down_line(dead, "Connection refused")), std::string::npos) << text;
    EXPECT_EQ(record(addresses[1])->last_status.load(), 500);
    EXPECT_EQ(record(addresses[4])->last_status.load(), 200);
    EXPECT_EQ(record(addresses[4])->down.load(), 0u);
    EXPECT_EQ(record(dead)->last_status.load(), 0);
}

TEST_F(HealthProbeTest, AReconfigurationCancelsProbesInFlight) {
    Server silent([](int fd, const std::string&) { wait_for_close(fd, 1000); });
    add_server(silent);
    std::string address = config_->upstreams[0].servers[0].address;
    gw::health::Checker checker(loop_, *health_zone_, *metrics_);
    checker.configure(config_);
    ASSERT_TRUE(run_until(loop_, [&] { return !silent.heads().empty(); }, 3000)) << "a probe is in flight";
    auto empty = std::make_shared<gw::Config>();
    checker.configure(empty);  // the probe goes (a reload that dropped the upstream)
    run_until(loop_, [] { return false; }, 300);  // past its timeout
    EXPECT_EQ(record(address)->observation.load(), 0u) << "its answer never came back to a probe that is gone";
}
