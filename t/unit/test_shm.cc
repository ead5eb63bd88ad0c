// Zones, the slab allocator, the robust mutex and the zone registry.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/shm/zone.h"

using gw::shm::LockGuard;
using gw::shm::Slab;
using gw::shm::Zone;
using gw::shm::ZoneHeader;
using gw::shm::ZoneRegistry;

namespace {

constexpr uint64_t kPage = 4096;

// The size an allocation really occupies (its class, or whole pages).
uint64_t rounded(uint64_t size) {
    if (size > 2048) return (size + kPage - 1) / kPage * kPage;
    uint64_t c = 16;
    while (c < size) c *= 2;
    return c;
}

bool all_zero(const char* p, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i)
        if (p[i]) return false;
    return true;
}

// Runs `body` in a child process; returns its wait status.
template <typename F> int in_child(F body) {
    pid_t pid = fork();
    if (pid == 0) {
        body();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

}  // namespace

TEST(Zone, CreateInitialisesHeader) {
    auto z = Zone::create("test-zone", 100000, 7);
    ASSERT_TRUE(z);
    EXPECT_EQ(z->size(), 102400u);  // rounded up to whole pages
    EXPECT_EQ(z->name(), "test-zone");
    const ZoneHeader* h = z->header();
    EXPECT_EQ(h->magic, gw::shm::kZoneMagic);
    EXPECT_EQ(h->layout_version, 7u);
    EXPECT_EQ(h->header_size, sizeof(ZoneHeader));
    EXPECT_EQ(h->size, 102400u);
    EXPECT_STREQ(h->name, "test-zone");
    EXPECT_EQ(h->root, 0u);
    EXPECT_GE(h->slab, sizeof(ZoneHeader));
    EXPECT_TRUE(fcntl(z->fd(), F_GETFD) & FD_CLOEXEC);

    char link[256] = {};
    std::string proc = "/proc/self/fd/" + std::to_string(z->fd());
    ASSERT_GT(readlink(proc.c_str(), link, sizeof(link) - 1), 0);
    EXPECT_NE(std::strstr(link, "memfd:gatewayd:test-zone"), nullptr) << link;

    Slab::Stats st = Slab::stats(z->base());
    EXPECT_GT(st.pages_total, 0u);
    EXPECT_EQ(st.pages_free, st.pages_total);
    EXPECT_EQ(st.bytes_in_use, 0u);
}

TEST(Zone, LongNameIsTruncatedInHeader) {
    std::string name(80, 'n');
    auto z = Zone::create(name, 8192, 1);
    ASSERT_TRUE(z);
    EXPECT_EQ(z->name(), name);
    EXPECT_EQ(std::strlen(z->header()->name), 31u);
}

TEST(Zone, CreateRejectsBadArguments) {
    errno = 0;
    EXPECT_FALSE(Zone::create("", 65536, 1));
    EXPECT_EQ(errno, EINVAL);
    EXPECT_FALSE(Zone::create("x", 0, 1));
    EXPECT_FALSE(Zone::create("x", UINT64_MAX, 1));
    // One page holds the header and the slab's metadata, but no page for objects.
    EXPECT_FALSE(Zone::create("x", 4096, 1));
    EXPECT_TRUE(Zone::create("x", 8192, 1));
}

TEST(Zone, AdoptSharesContents) {
    auto z = Zone::create("adopt-me", 65536, 3);
    ASSERT_TRUE(z);
    uint64_t off;
    {
        LockGuard g(z->mutex());
        off = z->alloc(64);
    }
    ASSERT_NE(off, 0u);
    std::strcpy(z->at<char>(off), "hello");

    int fd = dup(z->fd());
    auto a = Zone::adopt(fd, "adopt-me", 3);
    ASSERT_TRUE(a);
    EXPECT_NE(a->base(), z->base());  // another mapping of the same memory
    EXPECT_EQ(a->size(), z->size());
    EXPECT_STREQ(a->at<char>(off), "hello");
    std::strcpy(a->at<char>(off), "world");
    EXPECT_STREQ(z->at<char>(off), "world");
    // The slab state is found through offsets, so it works from the other mapping too.
    {
        LockGuard g(a->mutex());
        uint64_t off2 = a->alloc(64);
        EXPECT_NE(off2, 0u);
        EXPECT_NE(off2, off);
    }
    EXPECT_EQ(Slab::stats(z->base()).bytes_in_use, 128u);
}

TEST(Zone, AdoptRejectsMismatch) {
    auto z = Zone::create("adopt-me", 65536, 3);
    ASSERT_TRUE(z);

    int fd = dup(z->fd());
    errno = 0;
    EXPECT_FALSE(Zone::adopt(fd, "adopt-me", 4));  // other layout version
    EXPECT_EQ(errno, EINVAL);
    EXPECT_NE(fcntl(fd, F_GETFD), -1) << "fd must stay open for the caller";
    EXPECT_FALSE(Zone::adopt(fd, "other-name", 3));
    EXPECT_NE(fcntl(fd, F_GETFD), -1);

    z->header()->header_size += 8;  // a binary with another header layout
    EXPECT_FALSE(Zone::adopt(fd, "adopt-me", 3));
    z->header()->header_size -= 8;
    z->header()->magic ^= 1;
    EXPECT_FALSE(Zone::adopt(fd, "adopt-me", 3));
    z->header()->magic ^= 1;
    EXPECT_TRUE(Zone::adopt(fd, "adopt-me", 3));  // takes ownership of fd

    // Not a zone at all.
    int other = memfd_create("not-a-zone", MFD_CLOEXEC);
    ASSERT_GE(other, 0);
    ASSERT_EQ(ftruncate(other, 65536), 0);
    EXPECT_FALSE(Zone::adopt(other, "not-a-zone", 3));
    close(other);
}

class SlabTest : public ::testing::Test {
  protected:
    void SetUp() override {
        zone_ = Zone::create("slab", 256 * 1024, 1);
        ASSERT_TRUE(zone_);
        zone_->mutex().lock();
    }
    void TearDown() override {
        if (zone_) zone_->mutex().unlock();
    }
    Slab::Stats stats() const { return Slab::stats(zone_->base()); }

    std::unique_ptr<Zone> zone_;
};

TEST_F(SlabTest, EveryClassAllocatesAlignedZeroedMemory) {
    uint64_t total = stats().pages_total;
    for (uint64_t sz = 16; sz <= 2048; sz *= 2) {
        for (uint64_t ask : {sz / 2 + 1, sz}) {
            uint64_t off = zone_->alloc(ask);
            ASSERT_NE(off, 0u) << ask;
            EXPECT_EQ(off % sz, 0u) << "slots are aligned to their class size";
            EXPECT_TRUE(all_zero(zone_->at<char>(off), sz));
            EXPECT_EQ(stats().bytes_in_use, sz);
            std::memset(zone_->at<char>(off), 0xab, sz);
            zone_->free(off);
            EXPECT_EQ(stats().bytes_in_use, 0u);
            EXPECT_EQ(stats().pages_free, total) << "an empty class page goes back to the pool";
        }
    }
    uint64_t tiny = zone_->alloc(0);
    EXPECT_NE(tiny, 0u);
    EXPECT_EQ(stats().bytes_in_use, 16u);
    zone_->free(tiny);
}

TEST_F(SlabTest, ReuseAfterFreeAndZeroing) {
    uint64_t a = zone_->alloc(100);
    uint64_t b = zone_->alloc(100);
    ASSERT_NE(a, 0u);
    ASSERT_NE(b, 0u);
    EXPECT_EQ(b, a + 128);  // same page, next slot
    std::memset(zone_->at<char>(a), 0x5a, 128);
    zone_->free(a);
    uint64_t c = zone_->alloc(128);
    EXPECT_EQ(c, a) << "the freed slot is reused first";
    EXPECT_TRUE(all_zero(zone_->at<char>(c), 128));
    zone_->free(b);
    zone_->free(c);
    EXPECT_EQ(stats().pages_free, stats().pages_total);
}

TEST_F(SlabTest, ClassPageFillsThenTakesANewPage) {
    uint64_t total = stats().pages_total;
    std::vector<uint64_t> v;
    for (int i = 0; i < 4096 / 256; ++i) v.push_back(zone_->alloc(256));
    EXPECT_EQ(stats().pages_free, total - 1);
    for (size_t i = 1; i < v.size(); ++i) EXPECT_EQ(v[i] / kPage, v[0] / kPage);
    uint64_t more = zone_->alloc(256);
    EXPECT_NE(more / kPage, v[0] / kPage);
    EXPECT_EQ(stats().pages_free, total - 2);
    // A full page that gets a slot back serves the next allocation again.
    zone_->free(v[5]);
    zone_->free(more);
    EXPECT_EQ(stats().pages_free, total - 1);
    EXPECT_EQ(zone_->alloc(256), v[5]);
}

TEST_F(SlabTest, PageRunsAndCoalescing) {
    uint64_t total = stats().pages_total;
    ASSERT_GT(total, 10u);
    uint64_t a = zone_->alloc(2 * kPage);
    uint64_t b = zone_->alloc(3 * kPage - 100);  // rounded to 3 pages
    uint64_t c = zone_->alloc(2049);             // just over a slot: a whole page
    uint64_t d = zone_->alloc(kPage + 1);        // 2 pages
    uint64_t rest = zone_->alloc((total - 8) * kPage);
    ASSERT_TRUE(a && b && c && d && rest);
    EXPECT_EQ(b, a + 2 * kPage);
    EXPECT_EQ(c, b + 3 * kPage);
    EXPECT_EQ(d, c + kPage);
    EXPECT_EQ(rest, d + 2 * kPage);
    EXPECT_EQ(stats().pages_free, 0u);
    EXPECT_EQ(stats().bytes_in_use, total * kPage);
    EXPECT_EQ(zone_->alloc(1), 0u) << "out of memory";

    zone_->free(b);
    EXPECT_EQ(zone_->alloc(4 * kPage), 0u) << "3 free pages cannot hold 4";
    zone_->free(a);  // merges with b (next neighbour)
    EXPECT_EQ(stats().pages_free, 5u);
    uint64_t ab = zone_->alloc(5 * kPage);
    EXPECT_EQ(ab, a);
    zone_->free(ab);
    zone_->free(d);  // not adjacent to a+b: c is in between
    EXPECT_EQ(zone_->alloc(8 * kPage), 0u);
    zone_->free(c);  // merges with a+b before it and d after it
    uint64_t abcd = zone_->alloc(8 * kPage);
    EXPECT_EQ(abcd, a);
    std::memset(zone_->at<char>(abcd), 1, 8 * kPage);
    zone_->free(abcd);

    // First fit: a small run is carved from the front of the lowest run.
    uint64_t one = zone_->alloc(3000);
    EXPECT_EQ(one, a);
    zone_->free(one);
    zone_->free(rest);
    EXPECT_EQ(stats().pages_free, total);
    uint64_t all = zone_->alloc(total * kPage);
    EXPECT_EQ(all, a) << "everything coalesced back into one run";
    EXPECT_TRUE(all_zero(zone_->at<char>(all), total * kPage));
    zone_->free(all);
    EXPECT_EQ(zone_->alloc(total * kPage + 1), 0u);
    EXPECT_EQ(zone_->alloc(UINT64_MAX), 0u);
}

TEST_F(SlabTest, OutOfMemoryAndRecovery) {
    uint64_t total = stats().pages_total;
    std::vector<uint64_t> v;
    for (;;) {
        uint64_t off = zone_->alloc(2048);
        if (!off) break;
        v.push_back(off);
    }
    EXPECT_EQ(v.size(), 2 * total);
    EXPECT_EQ(stats().pages_free, 0u);
    EXPECT_EQ(stats().bytes_in_use, total * kPage);
    EXPECT_EQ(zone_->alloc(16), 0u);
    zone_->free(v.back());
    v.pop_back();
    EXPECT_NE(zone_->alloc(2048), 0u);
    EXPECT_EQ(zone_->alloc(2048), 0u);
}

TEST_F(SlabTest, BogusFreesAreIgnored) {
    uint64_t a = zone_->alloc(64);
    uint64_t r = zone_->alloc(3 * kPage);
    Slab::Stats before = stats();
    zone_->free(0);
    zone_->free(8);                  // inside the header
    zone_->free(zone_->size() + 64);  // past the end
    zone_->free(a + 8);              // not a slot boundary
    zone_->free(r + kPage);          // inside a run, not its start
    zone_->free(r + 16);
    Slab::Stats after = stats();
    EXPECT_EQ(after.pages_free, before.pages_free);
    EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
}

// Random allocations and frees checked against a model: no two live objects overlap, every
// object lies inside the zone, memory comes back zeroed and keeps what was written into it.
TEST_F(SlabTest, RandomStressAgainstShadowModel) {
    std::mt19937_64 rng(12345);
    struct Obj { uint64_t size; unsigned char fill; };
    std::map<uint64_t, Obj> live;  // offset -> object
    uint64_t expect_bytes = 0;
    int ooms = 0;
    const uint64_t total = stats().pages_total;

    // Where page 0 is: a fresh slab hands out its lowest page first.
    const uint64_t first_page = zone_->alloc(kPage);
    zone_->free(first_page);

    // Out of memory is legitimate only if the model agrees: for a run, no stretch of pages free
    // of live objects is long enough; for a slot, no page is free and every page of that class
    // is full.
    std::vector<uint64_t> used, cls;
    auto model_pages = [&] {
        used.assign(total, 0);  // bytes of live objects per page
        cls.assign(total, 0);   // slot size of the page (0 = run or free)
        for (auto& [off, o] : live) {
            uint64_t len = rounded(o.size);
            uint64_t p = (off - first_page) / kPage;
            if (len >= kPage) {
                for (uint64_t k = 0; k < len / kPage; ++k) used[p + k] = kPage;
            } else {
                used[p] += len;
                cls[p] = len;
            }
        }
    };
    auto oom_is_legit = [&](uint64_t size) {
        model_pages();
        uint64_t need = rounded(size);
        if (need >= kPage) {
            uint64_t streak = 0;
            for (uint64_t p = 0; p < total; ++p) {
                streak = used[p] ? 0 : streak + 1;
                if (streak >= need / kPage) return false;
            }
            return true;
        }
        for (uint64_t p = 0; p < total; ++p) {
            if (!used[p]) return false;
            if (cls[p] == need && used[p] < kPage) return false;
        }
        return true;
    };

    auto check_fill = [&](uint64_t off, const Obj& o) {
        const auto* p = zone_->at<unsigned char>(off);
        for (uint64_t i = 0; i < o.size; ++i)
            if (p[i] != o.fill) return false;
        return true;
    };

    for (int step = 0; step < 60000; ++step) {
        bool do_alloc = live.empty() || rng() % 100 < 55;
        if (do_alloc) {
            uint64_t size;
            switch (rng() % 10) {
                case 0: size = 2049 + rng() % (6 * kPage); break;  // page runs
                case 1: size = 1 + rng() % 2048; break;
                default: size = 1 + rng() % 200; break;              // mostly small
            }
            uint64_t off = zone_->alloc(size);
            if (!off) {
                ASSERT_TRUE(oom_is_legit(size)) << "spurious out of memory for " << size;
                ++ooms;
                continue;
            }
            uint64_t len = rounded(size);
            ASSERT_LE(off + len, zone_->size());
            ASSERT_GE(off, zone_->header()->slab);
            auto next = live.lower_bound(off);
            if (next != live.end()) {
                ASSERT_LE(off + len, next->first) << "overlaps next";
            }
            if (next != live.begin()) {
                auto prev = std::prev(next);
                ASSERT_LE(prev->first + rounded(prev->second.size), off) << "overlaps previous";
            }
            ASSERT_TRUE(all_zero(zone_->at<char>(off), len));
            Obj o{size, static_cast<unsigned char>(1 + rng() % 255)};
            std::memset(zone_->at<char>(off), o.fill, size);
            live.emplace(off, o);
            expect_bytes += len;
        } else {
            auto it = live.begin();
            std::advance(it, rng() % live.size());
            ASSERT_TRUE(check_fill(it->first, it->second)) << "object was overwritten";
            zone_->free(it->first);
            expect_bytes -= rounded(it->second.size);
            live.erase(it);
        }
        ASSERT_EQ(stats().bytes_in_use, expect_bytes);
        if (step % 64 == 0) {
            // Empty class pages go straight back, so free pages are exactly the unused ones.
            model_pages();
            ASSERT_EQ(stats().pages_free, uint64_t(std::count(used.begin(), used.end(), 0)));
        }
    }
    EXPECT_GT(ooms, 100) << "the stress should run the zone out of memory often";
    for (auto& [off, o] : live) {
        ASSERT_TRUE(check_fill(off, o));
        zone_->free(off);
    }
    EXPECT_EQ(stats().bytes_in_use, 0u);
    EXPECT_EQ(stats().pages_free, total);
    EXPECT_NE(zone_->alloc(total * kPage), 0u) << "no fragmentation left behind";
}

// The robust mutex: a process that dies holding it must not freeze the others.
TEST(RobustMutex, OwnerExitsWhileHolding) {
    auto z = Zone::create("robust", 65536, 1);
    ASSERT_TRUE(z);
    alarm(20);  // a deadlock fails the test (SIGALRM) instead of hanging it
    int status = in_child([&] { z->mutex().lock(); /* and exit holding it */ });
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_TRUE(z->mutex().lock()) << "previous owner died";
    z->mutex().unlock();
    EXPECT_FALSE(z->mutex().lock()) << "consistent again";
    z->mutex().unlock();
    alarm(0);
}

TEST(RobustMutex, OwnerKilledWhileHolding) {
    auto z = Zone::create("robust", 65536, 1);
    ASSERT_TRUE(z);
    alarm(20);
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        z->mutex().lock();
        char c = 'x';
        if (write(p[1], &c, 1) != 1) _exit(1);
        for (;;) pause();
    }
    char c;
    ASSERT_EQ(read(p[0], &c, 1), 1);  // the child holds the lock now
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status));
    EXPECT_TRUE(z->mutex().lock());
    z->mutex().unlock();

    // And it still excludes: a child blocks while we hold it.
    ASSERT_FALSE(z->mutex().lock());
    pid = fork();
    if (pid == 0) {
        z->mutex().lock();
        z->mutex().unlock();
        _exit(0);
    }
    usleep(50000);
    EXPECT_EQ(waitpid(pid, &status, WNOHANG), 0) << "child got a held lock";
    z->mutex().unlock();
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(p[0]);
    close(p[1]);
    alarm(0);
}

TEST(ZoneRegistry, ReusesMatchingZones) {
    ZoneRegistry reg;
    Zone* a = reg.get("metrics", 65536, 1);
    ASSERT_TRUE(a);
    uint64_t off;
    {
        LockGuard g(a->mutex());
        off = a->alloc(32);
    }
    std::strcpy(a->at<char>(off), "kept");

    EXPECT_EQ(reg.get("metrics", 65536, 1), a);
    EXPECT_EQ(reg.get("metrics", 65000, 1), a) << "same size once rounded to pages";
    EXPECT_STREQ(a->at<char>(off), "kept");
    EXPECT_EQ(reg.find("metrics"), a);
    EXPECT_EQ(reg.find("nope"), nullptr);

    Zone* b = reg.get("metrics", 131072, 1);  // other size: a fresh zone
    ASSERT_TRUE(b);
    EXPECT_NE(b, a);
    EXPECT_EQ(b->size(), 131072u);
    EXPECT_EQ(b->header()->root, 0u);
    EXPECT_EQ(reg.find("metrics"), b);
    EXPECT_STREQ(a->at<char>(off), "kept") << "the replaced zone stays mapped while in use";

    Zone* c = reg.get("metrics", 131072, 2);  // other layout version: a fresh zone
    ASSERT_TRUE(c);
    EXPECT_NE(c, b);
    EXPECT_EQ(c->header()->layout_version, 2u);

    Zone* d = reg.get("limits", 65536, 1);
    ASSERT_TRUE(d);
    reg.release_unused({d});
    EXPECT_EQ(reg.find("metrics"), nullptr);
    EXPECT_EQ(reg.find("limits"), d);
    EXPECT_EQ(reg.get("limits", 65536, 1), d);
    EXPECT_EQ(reg.get("bad", 0, 1), nullptr);
}

// --- freeing zones no generation uses --------------------------------------------------------

namespace {

// How many mappings of this process are of zone `name` (the memfd shows as
// "/memfd:gatewayd:NAME (deleted)" in /proc/self/maps).
int mappings_of(const std::string& name) {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    int n = 0;
    while (std::getline(maps, line))
        if (line.find("memfd:gatewayd:" + name + " ") != std::string::npos) ++n;
    return n;
}

std::vector<std::string> names(const std::vector<ZoneRegistry::Released>& released) {
    std::vector<std::string> out;
    for (const auto& r : released) out.push_back(r.name + "/" + std::to_string(r.size));
    return out;
}

}  // namespace

TEST(ZoneRegistry, ZonesNoGenerationUsesAreFreed) {
    ZoneRegistry reg;
    Zone* limits = reg.get("free-limits", 65536, 1);
    Zone* breakers = reg.get("free-breakers", 65536, 1);
    ASSERT_TRUE(limits && breakers);
    EXPECT_TRUE(reg.release_unused({limits, breakers}).empty());
    EXPECT_EQ(mappings_of("free-limits"), 1);

    // A reload drops the rate limits; its old workers are gone.
    EXPECT_EQ(names(reg.release_unused({breakers})), (std::vector<std::string>{"free-limits/65536"}));
    EXPECT_EQ(reg.find("free-limits"), nullptr);
    EXPECT_EQ(mappings_of("free-limits"), 0) << "unmapped";
    EXPECT_EQ(reg.find("free-breakers"), breakers);
    EXPECT_EQ(reg.descriptors().count("free-limits"), 0u) << "not handed over in a binary upgrade";

    // Asked for again later: a fresh one.
    Zone* again = reg.get("free-limits", 65536, 1);
    ASSERT_TRUE(again);
    EXPECT_EQ(reg.last_origin(), ZoneRegistry::Origin::Created);
    EXPECT_EQ(again->header()->root, 0u);
}

TEST(ZoneRegistry, AResizedZoneIsFreedOnceItsLastGenerationIsGone) {
    ZoneRegistry reg;
    Zone* small = reg.get("resized", 65536, 1);
    ASSERT_TRUE(small);
    uint64_t off;
    {
        LockGuard g(small->mutex());
        off = small->alloc(32);
    }
    std::strcpy(small->at<char>(off), "old generation");
    Zone* big = reg.get("resized", 131072, 1);  // a reload resizes it
    ASSERT_TRUE(big && big != small);

    // The old generation still drains: both stay.
    EXPECT_TRUE(reg.release_unused({small, big}).empty());
    EXPECT_STREQ(small->at<char>(off), "old generation");
    EXPECT_EQ(mappings_of("resized"), 2);

    // Its last worker exited.
    EXPECT_EQ(names(reg.release_unused({big})), (std::vector<std::string>{"resized/65536"}));
    EXPECT_EQ(mappings_of("resized"), 1);
    EXPECT_EQ(reg.find("resized"), big);
    EXPECT_EQ(reg.get("resized", 131072, 1), big);
    EXPECT_EQ(reg.last_origin(), ZoneRegistry::Origin::Reused);
}

TEST(ZoneRegistry, ARolledBackResizeGivesTheOldZoneBack) {
    ZoneRegistry reg;
    Zone* small = reg.get("rollback", 65536, 1);
    ASSERT_TRUE(small);
    uint64_t off;
    {
        LockGuard g(small->mutex());
        off = small->alloc(32);
    }
    std::strcpy(small->at<char>(off), "counters");
    ASSERT_TRUE(reg.get("rollback", 131072, 1));  // for a reload that is then rolled back

    EXPECT_EQ(names(reg.release_unused({small})), (std::vector<std::string>{"rollback/131072"}));
    EXPECT_EQ(reg.find("rollback"), small) << "the zone in use is the current one again";
    EXPECT_EQ(reg.descriptors().at("rollback"), small->fd()) << "and the one a binary upgrade hands over";
    EXPECT_EQ(reg.get("rollback", 65536, 1), small);
    EXPECT_EQ(reg.last_origin(), ZoneRegistry::Origin::Reused);
    EXPECT_STREQ(small->at<char>(off), "counters");
    EXPECT_EQ(mappings_of("rollback"), 1);
}

// The master frees its mapping; a worker that still maps the zone (forked before) keeps the
// memory and its contents until it exits.
TEST(ZoneRegistry, AWorkerKeepsItsMappingAfterTheMasterFreesTheZone) {
    ZoneRegistry reg;
    Zone* z = reg.get("free-shared", 65536, 1);
    ASSERT_TRUE(z);
    uint64_t off;
    {
        LockGuard g(z->mutex());
        off = z->alloc(32);
    }
    char* text = z->at<char>(off);
    std::strcpy(text, "before");
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        char c;
        if (read(p[0], &c, 1) != 1) _exit(2);  // the parent has freed the zone
        _exit(std::strcmp(text, "before") == 0 ? 0 : 1);
    }
    EXPECT_EQ(reg.release_unused({}).size(), 1u);
    EXPECT_EQ(mappings_of("free-shared"), 0);
    ASSERT_EQ(write(p[1], "x", 1), 1);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the worker read its mapping";
    close(p[0]);
    close(p[1]);
}
