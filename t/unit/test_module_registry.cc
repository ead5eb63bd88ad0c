// The module registry (src/core/module/module.h): the static list configure writes, the
// configuration parts, and the walks the core makes over the list (zones, worker parts).
#include <gtest/gtest.h>

#include <unistd.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config_fixture.h"
#include "core/metrics/store.h"
#include "core/module/module.h"
#include "core/process/channel.h"
#include "core/services/registry.h"
#include "core/shm/zone.h"
#include "event/loop.h"

namespace gw {
namespace {

using module::Descriptor;

std::vector<std::string> names() {
    std::vector<std::string> out;
    for (const Descriptor* d : module::modules()) out.emplace_back(d->name);
    return out;
}

TEST(ModuleList, IsInListOrderAndIndexed) {
    std::vector<std::string> n = names();
    // breaker and health cannot be left out (the proxy uses them); they come first in the list.
    ASSERT_GE(n.size(), 2u);
    EXPECT_EQ(n[0], "breaker");
    EXPECT_EQ(n[1], "health");
    EXPECT_EQ(std::set<std::string>(n.begin(), n.end()).size(), n.size()) << "names are unique";
    for (size_t i = 0; i < module::modules().size(); ++i) {
        const Descriptor& d = *module::modules()[i];
        EXPECT_EQ(module::index_of(d), i) << d.name;
        EXPECT_EQ(module::find(d.name), &d);
    }
    EXPECT_EQ(module::find("nope"), nullptr);
    Descriptor stranger{.name = "stranger"};
    EXPECT_EQ(module::index_of(stranger), module::modules().size()) << "not in the list";
}

// No two modules claim one top-level section or merge key.
TEST(ModuleList, SectionsAndMergeKeysBelongToOneModule) {
    std::set<std::string_view> sections, merged;
    for (const Descriptor* d : module::modules()) {
        for (std::string_view s : d->sections) EXPECT_TRUE(sections.insert(s).second) << s;
        for (const module::MergeKey& m : d->merge_keys) {
            EXPECT_TRUE(merged.insert(m.key).second) << m.key;
            EXPECT_FALSE(m.noun.empty()) << m.key;
            EXPECT_EQ(module::merge_noun(m.key), m.noun);
        }
    }
    EXPECT_EQ(module::merge_noun("routes"), "") << "a core key is no module's";
    EXPECT_EQ(module::merge_noun("upstreams"), "") << "the core merges upstreams itself";
}

class ModuleConfig : public test::ConfigFixture {};

TEST_F(ModuleConfig, PartsAreMadeWhileLoadingAndReadAfter) {
    Config plain;  // not made by load_config(): no part at all
    for (const Descriptor* d : module::modules()) EXPECT_EQ(module::find_part(plain, *d), nullptr);

    write("gw.conf", "listeners:\n  - address: 127.0.0.1:8080\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(c->modules.size(), module::modules().size()) << "one slot per module";
    if (const Descriptor* rl = module::find("ratelimit")) {
        EXPECT_NE(module::find_part(*c, *rl), nullptr) << "made even without a policy (-T shows its defaults)";
    }

    // Made on first use, once.
    struct Part : module::ConfigPart {
        int n = 0;
    };
    const Descriptor& health = *module::find("health");
    Config loading;
    Part& p = module::loading_part<Part>(loading, health);
    p.n = 7;
    EXPECT_EQ(&module::loading_part<Part>(loading, health), &p);
    EXPECT_EQ(module::find_part<Part>(loading, health)->n, 7);
    EXPECT_EQ(loading.modules.size(), module::modules().size());
}

// What zones a configuration needs: the fixed ones always (a reload can add breakers and health
// checks at any time), the rate limits' only with a policy.
TEST_F(ModuleConfig, ZonesOfAConfiguration) {
    auto zone_names = [](const Config& c) {
        std::vector<std::string> out;
        for (const module::ZoneSpec& z : module::zones(c)) out.push_back(z.name + "/" + std::to_string(z.size));
        return out;
    };
    write("gw.conf", "listeners:\n  - address: 127.0.0.1:8080\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c);
    std::vector<std::string> fixed = zone_names(*c);
    ASSERT_EQ(fixed.size(), 2u);
    EXPECT_EQ(fixed[0].substr(0, fixed[0].find('/')), "breaker");
    EXPECT_EQ(fixed[1].substr(0, fixed[1].find('/')), "health");

    if (!module::find("ratelimit")) GTEST_SKIP() << "built without the ratelimit module";
    write("gw.conf", "listeners:\n  - address: 127.0.0.1:8080\n"
                     "rate_limit_zone_size: 1m\nrate_limits:\n  p: {key: ip, rate: 1/s}\n");
    c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    std::vector<std::string> with = zone_names(*c);
    ASSERT_EQ(with.size(), 3u);
    EXPECT_EQ(with[2], "ratelimit/1048576");
    const module::ZoneSpec rl = module::zones(*c)[2];
    EXPECT_EQ(rl.kept, "its counters");
    EXPECT_TRUE(rl.attach) << "the master checks the zone can hold the table";
}

// A worker's parts: parallel to the list, nullptr for what the configuration does not use, and
// a module that cannot serve stops the worker.
class WorkerParts : public test::ConfigFixture {
  protected:
    void SetUp() override {
        ConfigFixture::SetUp();
        metrics_zone_ = shm::Zone::create("metrics", 1 << 20, metrics::kLayoutVersion);
        ASSERT_TRUE(metrics_zone_);
        metrics_ = std::make_unique<metrics::Store>(*metrics_zone_);
    }

    // Makes the parts for `text`, with the zones its modules ask for (as the master would)
    // or with none.
    bool make(const std::string& text, bool with_zones = true) {
        write("gw.conf", "listeners:\n  - address: 127.0.0.1:8080\n" + text);
        std::optional<Config> c = load("gw.conf");
        EXPECT_TRUE(c) << ::testing::PrintToString(errors());
        if (!c) return false;
        parts_.clear();  // before the zones and configuration they use
        services_.reset();
        config_ = std::make_unique<Config>(std::move(*c));
        services_ = std::make_unique<services::Registry>(loop_, *config_);
        zones_.clear();
        for (const module::ZoneSpec& spec : module::zones(*config_)) {
            if (!with_zones) break;
            zones_[spec.name] = shm::Zone::create(spec.name, spec.size, spec.version);
            EXPECT_TRUE(zones_[spec.name]) << spec.name;
        }
        module::WorkerEnv env{
            .config = *config_,
            .generation = 1,
            .loop = loop_,
            .metrics = *metrics_,
            .services = *services_,
            .zone = [this](std::string_view name) {
                auto it = zones_.find(name);
                return it == zones_.end() ? nullptr : it->second.get();
            },
        };
        return module::make_workers(env, parts_);
    }
    module::WorkerPart* part(std::string_view name) {
        const Descriptor* d = module::find(name);
        return d ? parts_[module::index_of(*d)].get() : nullptr;
    }

    event::Loop loop_;
    std::unique_ptr<shm::Zone> metrics_zone_;
    std::unique_ptr<metrics::Store> metrics_;
    std::unique_ptr<Config> config_;
    std::unique_ptr<services::Registry> services_;
    std::map<std::string, std::unique_ptr<shm::Zone>, std::less<>> zones_;
    std::vector<std::unique_ptr<module::WorkerPart>> parts_;
};

TEST_F(WorkerParts, NoneForAConfigurationThatUsesNoModule) {
    ASSERT_TRUE(make("routes:\n  - {name: r, return: {}}\n"));
    ASSERT_EQ(parts_.size(), module::modules().size());
    for (const auto& p : parts_) EXPECT_EQ(p, nullptr);
}

// The breaker and health tables the proxy finds in the services.
TEST_F(WorkerParts, TheProxysTablesAreProvided) {
    ASSERT_TRUE(make("upstreams:\n  app: {servers: [{address: 127.0.0.1:9001}], circuit_breaker: {}}\n"
                     "routes:\n  - {name: r, upstream: app}\n"));
    EXPECT_NE(part("breaker"), nullptr);
    EXPECT_NE(part("health"), nullptr);
    if (module::find("ratelimit")) {
        EXPECT_EQ(part("ratelimit"), nullptr) << "no policy";
    }
    // Without a circuit breaker, no breaker part; the health one serves passive checks.
    ASSERT_TRUE(make("upstreams:\n  app: {servers: [{address: 127.0.0.1:9001}]}\n"
                     "routes:\n  - {name: r, upstream: app}\n"));
    EXPECT_EQ(part("breaker"), nullptr);
    EXPECT_NE(part("health"), nullptr);
}

TEST_F(WorkerParts, AModuleWithoutItsZoneStopsTheWorker) {
    if (!module::find("ratelimit")) GTEST_SKIP() << "built without the ratelimit module";
    EXPECT_FALSE(make("rate_limits:\n  p: {key: ip, rate: 1/s}\n"
                      "routes:\n  - {name: r, return: {}, rate_limit: p}\n",
                      false))
        << "rate limits that cannot be enforced are not silently skipped";

    ASSERT_TRUE(make("rate_limits:\n  p: {key: ip, rate: 1/s}\n"
                     "routes:\n  - {name: r, return: {}, rate_limit: p}\n  - {name: s, return: {}}\n"));
    module::WorkerPart* limits = part("ratelimit");
    ASSERT_NE(limits, nullptr);
    EXPECT_EQ(limits->route_filter(-1), nullptr) << "no route, no policy";
    EXPECT_EQ(limits->route_filter(1), nullptr) << "a route without rate_limit";
}

}  // namespace
}  // namespace gw

// Notifications from a module's master part reach that module's part in each worker, over the
// channel, and no other.
namespace gw {
namespace {

class Listening : public module::WorkerPart {
  public:
    void on_notify(uint16_t code) override { codes.push_back(code); }
    std::vector<uint16_t> codes;
};

TEST(ModuleNotifications, ReachTheModulesWorkerPartOverTheChannel) {
    ASSERT_GE(module::modules().size(), 2u);
    const module::Descriptor& first = *module::modules()[0];
    const module::Descriptor& second = *module::modules()[1];
    std::vector<std::unique_ptr<module::WorkerPart>> parts(module::modules().size());
    auto* a = new Listening;
    parts[module::index_of(second)].reset(a);  // the first module has no part in this worker

    int fds[2];
    ASSERT_TRUE(process::open_channel(fds));
    ASSERT_TRUE(process::send_message(fds[0], process::Command::Notify, module::notification(second, 7)));
    ASSERT_TRUE(process::send_message(fds[0], process::Command::Notify, module::notification(first, 9)));
    ASSERT_TRUE(process::send_message(fds[0], process::Command::Notify, module::notification(second, 65535)));
    process::Message m;
    while (process::receive_message(fds[1], m) == 1) {
        ASSERT_EQ(m.command, process::Command::Notify);
        module::deliver(parts, m.arg);
    }
    EXPECT_EQ(a->codes, (std::vector<uint16_t>{7, 65535})) << "the first module's went nowhere";
    module::deliver(parts, 0xffff0000u);  // a module index beyond the list: ignored
    EXPECT_EQ(a->codes.size(), 2u);
    close(fds[0]);
    close(fds[1]);
}

}  // namespace
}  // namespace gw
