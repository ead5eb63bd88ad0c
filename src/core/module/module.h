// Modules: every policy or filter is one folder under src/modules/ with one Descriptor saying
// what it owns - its configuration sections and keys, its shared-memory zones, its work in the
// master (health probes, key fetchers) and in each worker (its filters, its parts of /status and
// /metrics). The core names no module: it walks the list.
//
// The list is static and ordered: ./configure writes objs/modules.cc from src/modules/modules.list
// (minus --without-NAME), and that file refers to each descriptor, so the linker keeps them all
// (self-registering objects in a static archive would be dropped). List order is filter order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gw {
struct Config;
class Diagnostics;
namespace schema {
class MapReader;
}
namespace shm {
class Zone;
}
namespace event {
class Loop;
}
namespace metrics {
class Store;
}
namespace http {
class Filter;
}
namespace services {
class Registry;
}
}  // namespace gw

namespace gw::module {

// A module's part of one configuration (its sections, and what it read from listeners and
// routes), kept in Config::modules at the module's index. Immutable once loaded.
struct ConfigPart {
    virtual ~ConfigPart() = default;
};

// A shared-memory zone a module needs for a configuration. The master's zone registry creates
// it, or keeps it across reloads and binary upgrades when name, size and layout version match.
struct ZoneSpec {
    std::string name;
    uint64_t size = 0;
    uint32_t version = 0;
};

// The master's side of a module: made once when the master starts, told of every generation
// it starts serving.
class MasterPart {
  public:
    virtual ~MasterPart() = default;
    virtual void configure(const std::shared_ptr<const Config>& config) = 0;
};

struct MasterEnv {
    event::Loop& loop;
    metrics::Store& metrics;
    std::function<shm::Zone*(std::string_view name)> zone;  // a zone by name (created for the config)
    std::function<bool()> still_master;  // false in a process that has handed over (binary upgrade)
};

// A worker's side of a module, made when the worker starts (so once per generation).
class WorkerPart {
  public:
    virtual ~WorkerPart() = default;
    // The module's filter for requests of route `route` (an index into Config::routes; -1 for
    // requests no route matched and for admin listeners), or nullptr. Called once per route
    // when the worker starts; the filter lives as long as this part.
    virtual http::Filter* route_filter(int /*route*/) { return nullptr; }
    // Appends members ("\"name\":...", each preceded by a comma) to the admin /status object.
    virtual void status(std::string& /*json*/) {}
    // Called before /metrics is rendered: bring gauges up to date.
    virtual void refresh_metrics() {}
};

struct WorkerEnv {
    const Config& config;
    uint32_t generation;
    event::Loop& loop;
    metrics::Store& metrics;
    services::Registry& services;
    std::function<shm::Zone*(std::string_view name)> zone;
};

struct Descriptor {
    std::string_view name;  // as in ./configure --without-NAME

    // Configuration. Sections are top-level keys; merge_keys are top-level maps whose entries
    // several files may contribute (include:). Route and listener keys are read from each
    // route's and listener's map. All readers are strict (FILE:LINE:COL, did-you-mean).
    std::span<const std::string_view> sections;
    std::span<const std::string_view> merge_keys;
    // Reads the module's sections (before routes; may look at listeners and upstreams).
    void (*read_sections)(schema::MapReader& top, Config& config) = nullptr;
    void (*read_listener)(schema::MapReader& listener, Config& config, size_t index) = nullptr;
    void (*read_route)(schema::MapReader& route, Config& config, size_t index) = nullptr;
    // After everything was read: checks across sections.
    void (*check)(Config& config, Diagnostics& diags) = nullptr;
    // `gatewayd -T`: the module's top-level sections, and its keys of route `index`
    // (lines indented by `indent` spaces).
    void (*dump)(const Config& config, std::string& out) = nullptr;
    void (*dump_route)(const Config& config, size_t index, int indent, std::string& out) = nullptr;
    void (*dump_listener)(const Config& config, size_t index, int indent, std::string& out) = nullptr;

    // Shared memory zones for a configuration.
    void (*zones)(const Config& config, std::vector<ZoneSpec>& out) = nullptr;

    std::unique_ptr<MasterPart> (*make_master)(MasterEnv& env) = nullptr;
    // nullptr when the configuration does not use the module (then it costs a worker nothing).
    std::unique_ptr<WorkerPart> (*make_worker)(WorkerEnv& env) = nullptr;
};

// The modules built in, in list order (objs/modules.cc).
std::span<const Descriptor* const> modules();
// The index of `d` in modules(): its slot in Config::modules.
size_t index_of(const Descriptor& d);

}  // namespace gw::module
