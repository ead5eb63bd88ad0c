// Binary upgrade pieces that can be tested in one process: the GATEWAYD_INHERIT format, the
// adoption of inherited zones (kept with their contents when they match, replaced when not),
// and the adoption of inherited listening sockets.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "core/process/listeners.h"
#include "core/process/upgrade.h"
#include "core/shm/zone.h"

using gw::process::Inheritance;
using gw::process::ListenerSet;
using gw::process::encode_inheritance;
using gw::process::parse_inheritance;
using gw::shm::Zone;
using gw::shm::ZoneRegistry;

TEST(Inheritance, RoundTrip) {
    Inheritance in;
    in.parent = 4211;
    in.listeners = {5, 6, 7};
    in.zones = {{"metrics", 9}, {"status", 8}};
    std::string text = encode_inheritance(in);
    EXPECT_EQ(text, "v1;parent=4211;listen=5,6,7;zone=metrics:9;zone=status:8");
    Inheritance out;
    std::string error;
    ASSERT_TRUE(parse_inheritance(text, out, error)) << error;
    EXPECT_EQ(out.parent, 4211);
    EXPECT_EQ(out.listeners, (std::vector<int>{5, 6, 7}));
    EXPECT_EQ(out.zones, in.zones);
}

TEST(Inheritance, NothingToInheritButTheParent) {
    Inheritance out;
    std::string error;
    ASSERT_TRUE(parse_inheritance("v1;parent=1", out, error)) << error;
    EXPECT_TRUE(out.listeners.empty());
    EXPECT_TRUE(out.zones.empty());
}

TEST(Inheritance, RejectsMalformedText) {
    for (const char* bad : {"", "v2;parent=1", "v1", "v1;parent=0", "v1;parent=x", "v1;parent=1;listen=",
                            "v1;parent=1;listen=5,,6", "v1;parent=1;listen=2", "v1;parent=1;listen=-5",
                            "v1;parent=1;zone=metrics", "v1;parent=1;zone=:5", "v1;parent=1;zone=Bad Name:5",
                            "v1;parent=1;zone=metrics:x", "v1;parent=1;other=1", "v1;parent=1;novalue",
                            "v1;parent=1;listen=99999999999999999999"}) {
        Inheritance out;
        std::string error;
        EXPECT_FALSE(parse_inheritance(bad, out, error)) << "accepted: \"" << bad << "\"";
        EXPECT_FALSE(error.empty()) << bad;
    }
}

namespace {

// A zone as the old binary left it: one counter set in its root, and the memfd duplicated as
// an inheriting process would have received it.
int old_zone_fd(const std::string& name, uint64_t size, uint32_t version, uint64_t value) {
    std::unique_ptr<Zone> z = Zone::create(name, size, version);
    if (!z) return -1;
    {
        gw::shm::LockGuard lock(z->mutex());
        uint64_t off = z->alloc(sizeof(uint64_t));
        *z->at<uint64_t>(off) = value;
        z->header()->root = off;
    }
    return dup(z->fd());  // z unmaps and closes its own descriptor; the memfd lives on
}

}  // namespace

TEST(ZoneAdoption, MatchingZoneKeepsItsContents) {
    int fd = old_zone_fd("metrics", 1 << 20, 7, 12345);
    ASSERT_GE(fd, 0);
    ZoneRegistry reg;
    reg.offer("metrics", fd);
    Zone* z = reg.get("metrics", 1 << 20, 7);
    ASSERT_NE(z, nullptr);
    EXPECT_EQ(reg.last_origin(), ZoneRegistry::Origin::Adopted);
    EXPECT_EQ(z->fd(), fd);
    EXPECT_EQ(*z->at<uint64_t>(z->header()->root), 12345u);
    EXPECT_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC) << "close-on-exec set again after adoption";
    // A later get() of the same zone reuses it.
    EXPECT_EQ(reg.get("metrics", 1 << 20, 7), z);
    EXPECT_EQ(reg.last_origin(), ZoneRegistry::Origin::Reused);
}

TEST(ZoneAdoption, OtherLayoutVersionIsReplaced) {
    int fd = old_zone_fd("metrics", 1 << 20, 6, 12345);
    ASSERT_GE(fd, 0);
    ZoneRegistry reg;
    reg.offer("metrics", fd);
    Zone* z = reg.get("metrics", 1 << 20, 7);
    ASSERT_NE(z, nullptr);
    EXPECT_EQ(reg.last_origin(), ZoneRegistry::Origin::Replaced);
    EXPECT_NE(z->fd(), fd);
    EXPECT_EQ(z->header()->root, 0u) << "a fresh zone";
    EXPECT_EQ(fcntl(fd, F_GETFD), -1) << "the inherited descriptor is closed";
}

TEST(ZoneAdoption, OtherSizeIsReplaced) {
    int fd = old_zone_fd("metrics", 1 << 20, 7, 1);
    ASSERT_GE(fd, 0);
    ZoneRegistry reg;
    reg.offer("metrics", fd);
    Zone* z = reg.get("metrics", 2 << 20, 7);
    ASSERT_NE(z, nullptr);
    EXPECT_EQ(reg.last_origin(), ZoneRegistry::Origin::Replaced);
    EXPECT_EQ(z->size(), uint64_t{2} << 20);
    EXPECT_EQ(fcntl(fd, F_GETFD), -1);
}

TEST(ZoneAdoption, ZoneOfAnotherNameIsNotTaken) {
    int fd = old_zone_fd("status", 1 << 20, 7, 1);
    ASSERT_GE(fd, 0);
    ZoneRegistry reg;
    reg.offer("metrics", fd);  // offered under the wrong name: the header names "status"
    reg.get("metrics", 1 << 20, 7);
    EXPECT_EQ(reg.last_origin(), ZoneRegistry::Origin::Replaced);
}

TEST(ZoneAdoption, UnusedOffersAreClosed) {
    int fd = old_zone_fd("gone", 1 << 20, 1, 1);
    ASSERT_GE(fd, 0);
    ZoneRegistry reg;
    reg.offer("gone", fd);
    reg.drop_offers();
    EXPECT_EQ(fcntl(fd, F_GETFD), -1);
}

TEST(ListenerAdoption, GroupsSocketsByTheirAddressAndRefusesOthers) {
    auto listener = [](uint16_t port) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        EXPECT_EQ(listen(fd, 16), 0);
        return fd;
    };
    int a0 = listener(0);
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    getsockname(a0, reinterpret_cast<sockaddr*>(&sa), &len);
    uint16_t port = ntohs(sa.sin_port);
    int a1 = listener(port);  // the same address, a second socket of the reuseport group
    int not_listening = socket(AF_INET, SOCK_STREAM, 0);
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);

    ListenerSet set;
    std::string error;
    EXPECT_FALSE(set.adopt({a0, not_listening, a1, pipe_fds[0]}, error));
    EXPECT_NE(error.find("is not a listening socket"), std::string::npos) << error;
    EXPECT_EQ(fcntl(not_listening, F_GETFD), -1) << "refused descriptors are closed";
    EXPECT_EQ(fcntl(pipe_fds[0], F_GETFD), -1);
    close(pipe_fds[1]);

    gw::ListenerConfig l{};
    l.sockaddr = {};
    std::memcpy(&l.sockaddr, &sa, sizeof sa);
    l.socklen = sizeof sa;
    EXPECT_EQ(set.for_worker(l, 0, 2), (std::vector<int>{a0}));
    EXPECT_EQ(set.for_worker(l, 1, 2), (std::vector<int>{a1}));
    EXPECT_EQ(fcntl(a0, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EXPECT_TRUE(fcntl(a1, F_GETFL) & O_NONBLOCK);
    set.close_all();
}
