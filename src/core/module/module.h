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

#include "http/vars/vars.h"

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

struct Descriptor;

// A module's part of one configuration (its sections, and what it read from listeners and
// routes), kept in Config::modules at the module's index. Immutable once loaded.
struct ConfigPart {
    virtual ~ConfigPart() = default;
};

// A top-level map that several files may contribute entries to (`include:`), and what one
// entry is called in the "duplicate NOUN \"name\"" error.
struct MergeKey {
    std::string_view key;
    std::string_view noun;
};

// A shared-memory zone a module needs for a configuration. The master's zone registry creates
// it, or keeps it across reloads and binary upgrades when name, size and layout version match.
// A zone no generation uses any more is freed once the last worker that used it has exited.
struct ZoneSpec {
    std::string name;
    uint64_t size = 0;
    uint32_t version = 0;
    // How the master's log speaks of the zone's contents: kept when a binary upgrade hands the
    // zone over ("adopted ..., with its state"), lost when it is made afresh ("its state starts
    // over").
    std::string_view kept = "its state";
    std::string_view lost = "its state starts over";
    // Called in the master on a zone it has just created or adopted (not on one a reload
    // reuses as it is): lays out or checks what the module keeps there, and may log about it.
    // False, after logging why, when the zone cannot serve the configuration.
    bool (*attach)(shm::Zone& zone, const ZoneSpec& spec) = nullptr;
};

// The master's side of a module: made once when the master starts, told of every generation
// it starts serving.
class MasterPart {
  public:
    virtual ~MasterPart() = default;
    virtual void configure(const std::shared_ptr<const Config>& config) = 0;
    // A request the module's part in a worker sent (WorkerEnv::ask_master): say, a key set to
    // fetch again. Workers of any generation may ask; a part checks `code` as hostile input.
    virtual void on_worker_request(uint16_t /*code*/) {}
};

// What make_master() gets; valid during the call only (a part copies what it keeps).
struct MasterEnv {
    event::Loop& loop;
    metrics::Store& metrics;
    // The master's services: objects one module provides for the others (the tls module's
    // maker of TLS clients for https:// URLs), and the outbound HTTP client. Made before the
    // parts (in list order, so a part finds what the modules listed before it provided) and
    // destroyed after them. Its redis() is not for the master's parts: they make their own
    // clients for each configuration.
    services::Registry& services;
    // A zone by name. A zone no generation uses any more is freed: a part that keeps one must
    // ask for it in every configuration (as the health module does, with a fixed size).
    std::function<shm::Zone*(std::string_view name)> zone;
    std::function<bool()> still_master;  // false in a process that has handed over (binary upgrade)
    // Sends `code` to the module `d`'s part in every worker (over the master's channels; a worker
    // without that part ignores it). Cheap: one small message per worker.
    std::function<void(const Descriptor& d, uint16_t code)> notify_workers;
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
    // A notification the module's master part sent (MasterEnv::notify_workers): say, a key
    // set it fetched is in the module's zone, or a fill waiters wait for is complete.
    virtual void on_notify(uint16_t /*code*/) {}
    // The worker is about to exit (drained after a graceful stop or a reload, or stopped): a
    // part with last work to do on the loop (spans to export) starts it and returns true; the
    // worker then runs its loop until a part calls Loop::stop(), which the part does when that
    // work is done or after a bound of its own.
    virtual bool on_exit() { return false; }
};

// What make_worker() gets; valid during the call only, but what its references name (the
// configuration, loop, metrics, services) lives as long as the worker. A part may provide
// objects to other modules and to the core through `services` (e.g. the proxy finds the
// breaker table there).
struct WorkerEnv {
    const Config& config;
    uint32_t generation;
    event::Loop& loop;
    metrics::Store& metrics;
    services::Registry& services;
    std::function<shm::Zone*(std::string_view name)> zone;  // the generation's zones, by name
    // The worker's slot on the status board: unique among the node's live workers (of every
    // generation, and of both masters during a binary upgrade); Descriptor::on_worker_exit
    // names the worker by it. -1 outside a worker process (tests).
    int slot = -1;
    // Sends `code` to the module `d`'s master part (MasterPart::on_worker_request) over the
    // worker's channel: one small message, never waits. Empty outside a worker process (tests).
    std::function<void(const Descriptor& d, uint16_t code)> ask_master = nullptr;
    // Set by make_worker(), after logging why, when the worker cannot serve the configuration
    // (say, its zone is unusable): the worker then exits instead of serving without the module.
    bool failed = false;
};

struct Descriptor {
    std::string_view name;  // as in ./configure --without-NAME

    // Configuration. Sections are top-level keys; merge_keys are top-level maps whose entries
    // several files may contribute (include:). Route and listener keys are read from each
    // route's and listener's map. All readers are strict (FILE:LINE:COL, did-you-mean).
    std::span<const std::string_view> sections = {};
    std::span<const MergeKey> merge_keys = {};
    // Reads the module's sections (before routes; may look at listeners and upstreams). What
    // a module reads goes into its part of the config (loading_part()).
    void (*read_sections)(schema::MapReader& top, Config& config) = nullptr;
    // The keys of listener / route `index` (its index in Config::listeners / routes, where it is
    // added once its keys are read): a module keeps what it read in its part, by index.
    void (*read_listener)(schema::MapReader& listener, Config& config, size_t index) = nullptr;
    void (*read_route)(schema::MapReader& route, Config& config, size_t index) = nullptr;
    // The keys of upstream `index` (its index in Config::upstreams), as for listeners.
    void (*read_upstream)(schema::MapReader& upstream, Config& config, size_t index) = nullptr;
    // After everything was read (even when errors were found): checks across sections.
    void (*check)(Config& config, Diagnostics& diags) = nullptr;
    // `gatewayd -T`: the module's top-level sections, and its keys of route `index`
    // (lines indented by `indent` spaces).
    void (*dump)(const Config& config, std::string& out) = nullptr;
    void (*dump_route)(const Config& config, size_t index, int indent, std::string& out) = nullptr;
    void (*dump_listener)(const Config& config, size_t index, int indent, std::string& out) = nullptr;
    void (*dump_upstream)(const Config& config, size_t index, int indent, std::string& out) = nullptr;

    // Shared memory zones for a configuration.
    void (*zones)(const Config& config, std::vector<ZoneSpec>& out) = nullptr;

    std::unique_ptr<MasterPart> (*make_master)(MasterEnv& env) = nullptr;
    // Variables the module adds to the language of configured texts (src/http/vars/vars.h).
    std::span<const http::vars::Definition> variables = {};
    // nullptr when the configuration does not use the module (then it costs a worker nothing),
    // or after setting env.failed.
    std::unique_ptr<WorkerPart> (*make_worker)(WorkerEnv& env) = nullptr;
    // In the master, for a worker it reaped (any exit: SIGKILL too), before the worker's board
    // slot (WorkerEnv::slot) can serve another: take back what the worker held in the module's
    // zones. `zone` gives the zones of the worker's generation, by name.
    void (*on_worker_exit)(int slot, const std::function<shm::Zone*(std::string_view name)>& zone) = nullptr;
};

// The modules built in, in list order (objs/modules.cc).
std::span<const Descriptor* const> modules();
// The index of `d` in modules(): its slot in Config::modules (modules().size() for a
// descriptor that is not in the list).
size_t index_of(const Descriptor& d);
// The descriptor called `name`, or nullptr when that module is not built in.
const Descriptor* find(std::string_view name);

// --- configuration parts ---------------------------------------------------------------------

// The module's part of `config`, or nullptr when it has none (the configuration was not made
// by load_config(), or the module keeps nothing).
const ConfigPart* find_part(const Config& config, const Descriptor& d);
template <class Part>
const Part* find_part(const Config& config, const Descriptor& d) {
    return static_cast<const Part*>(find_part(config, d));
}

// While `config` is being loaded (the only time a Config is not const: once loaded it is
// shared read-only): the module's part, made by `make` on first use. The read hooks fill it.
ConfigPart& loading_part(Config& config, const Descriptor& d, std::shared_ptr<ConfigPart> (*make)());
template <class Part>
Part& loading_part(Config& config, const Descriptor& d) {
    return static_cast<Part&>(
        loading_part(config, d, []() -> std::shared_ptr<ConfigPart> { return std::make_shared<Part>(); }));
}

// --- what the core calls: each walks the list, in order, calling the hook of every module that
// has one -------------------------------------------------------------------------------------

// load_config(): the modules' top-level sections (after the core's own sections but before
// routes), and their keys of listener / route `index` (the item being read, before its reader
// finishes, so that an unknown key is reported with suggestions among every known one).
void read_sections(schema::MapReader& top, Config& config);
void read_listener(schema::MapReader& listener, Config& config, size_t index);
void read_route(schema::MapReader& route, Config& config, size_t index);
void read_upstream(schema::MapReader& upstream, Config& config, size_t index);
void check(Config& config, Diagnostics& diags);
// config_include.cc: what one entry of merge key `key` is called; empty when no module merges
// `key`.
std::string_view merge_noun(std::string_view key);
// dump_config(): the modules' sections, and their keys of a listener, route or upstream.
void dump(const Config& config, std::string& out);
void dump_listener(const Config& config, size_t index, int indent, std::string& out);
void dump_route(const Config& config, size_t index, int indent, std::string& out);
void dump_upstream(const Config& config, size_t index, int indent, std::string& out);

// The zones the modules need for `config`, in list order.
std::vector<ZoneSpec> zones(const Config& config);

// The master's parts, parallel to modules() (nullptr: the module has none).
std::vector<std::unique_ptr<MasterPart>> make_masters(MasterEnv& env);
// A worker's request (WorkerEnv::ask_master) to the master part it names, if any.
void deliver_to_master(const std::vector<std::unique_ptr<MasterPart>>& parts, uint32_t request);
// The master reaped the worker of board slot `slot`: every module's on_worker_exit.
void worker_exited(int slot, const std::function<shm::Zone*(std::string_view name)>& zone);
// A worker's parts, parallel to modules() (nullptr: the module is not in use). False when one
// set env.failed.
bool make_workers(WorkerEnv& env, std::vector<std::unique_ptr<WorkerPart>>& out);

// Notifications from a module's master part to its worker parts: the channel's argument for
// `code` to module `d`, and its delivery in a worker (to the part of the module it names, if any).
uint32_t notification(const Descriptor& d, uint16_t code);
void deliver(const std::vector<std::unique_ptr<WorkerPart>>& parts, uint32_t notification);

}  // namespace gw::module
