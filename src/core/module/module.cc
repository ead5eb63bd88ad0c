// The walks over the module list that the core makes (module.h). The list itself is
// objs/modules.cc, written by ./configure.
#include "core/module/module.h"

#include "core/config/config.h"
#include "core/config/schema.h"

namespace gw::module {

size_t index_of(const Descriptor& d) {
    std::span<const Descriptor* const> all = modules();
    for (size_t i = 0; i < all.size(); ++i)
        if (all[i] == &d) return i;
    return all.size();
}

const Descriptor* find(std::string_view name) {
    for (const Descriptor* d : modules())
        if (d->name == name) return d;
    return nullptr;
}

const ConfigPart* find_part(const Config& config, const Descriptor& d) {
    size_t i = index_of(d);
    return i < config.modules.size() ? config.modules[i].get() : nullptr;
}

ConfigPart& loading_part(Config& config, const Descriptor& d, std::shared_ptr<ConfigPart> (*make)()) {
    size_t i = index_of(d);
    if (config.modules.size() <= i) config.modules.resize(modules().size());
    if (!config.modules[i]) config.modules[i] = make();
    // The part was made here, not const: `config` is still being loaded, and nobody shares it
    // yet. Once load_config() returns it is only ever read.
    return const_cast<ConfigPart&>(*config.modules[i]);
}

void read_sections(schema::MapReader& top, Config& config) {
    for (const Descriptor* d : modules())
        if (d->read_sections) d->read_sections(top, config);
}

void read_listener(schema::MapReader& listener, Config& config, size_t index) {
    for (const Descriptor* d : modules())
        if (d->read_listener) d->read_listener(listener, config, index);
}

void read_route(schema::MapReader& route, Config& config, size_t index) {
    for (const Descriptor* d : modules())
        if (d->read_route) d->read_route(route, config, index);
}

void read_upstream(schema::MapReader& upstream, Config& config, size_t index) {
    for (const Descriptor* d : modules())
        if (d->read_upstream) d->read_upstream(upstream, config, index);
}

void check(Config& config, Diagnostics& diags) {
    for (const Descriptor* d : modules())
        if (d->check) d->check(config, diags);
}

std::string_view merge_noun(std::string_view key) {
    for (const Descriptor* d : modules())
        for (const MergeKey& m : d->merge_keys)
            if (m.key == key) return m.noun;
    return {};
}

void dump(const Config& config, std::string& out) {
    for (const Descriptor* d : modules())
        if (d->dump) d->dump(config, out);
}

void dump_listener(const Config& config, size_t index, int indent, std::string& out) {
    for (const Descriptor* d : modules())
        if (d->dump_listener) d->dump_listener(config, index, indent, out);
}

void dump_route(const Config& config, size_t index, int indent, std::string& out) {
    for (const Descriptor* d : modules())
        if (d->dump_route) d->dump_route(config, index, indent, out);
}

void dump_upstream(const Config& config, size_t index, int indent, std::string& out) {
    for (const Descriptor* d : modules())
        if (d->dump_upstream) d->dump_upstream(config, index, indent, out);
}

std::vector<ZoneSpec> zones(const Config& config) {
    std::vector<ZoneSpec> out;
    for (const Descriptor* d : modules())
        if (d->zones) d->zones(config, out);
    return out;
}

std::vector<std::unique_ptr<MasterPart>> make_masters(MasterEnv& env) {
    std::vector<std::unique_ptr<MasterPart>> out(modules().size());
    std::span<const Descriptor* const> all = modules();
    for (size_t i = 0; i < all.size(); ++i)
        if (all[i]->make_master) out[i] = all[i]->make_master(env);
    return out;
}

void deliver_to_master(const std::vector<std::unique_ptr<MasterPart>>& parts, uint32_t request) {
    size_t index = request >> 16;
    if (index < parts.size() && parts[index]) parts[index]->on_worker_request(static_cast<uint16_t>(request & 0xffff));
}

void worker_exited(int slot, const std::function<shm::Zone*(std::string_view name)>& zone) {
    for (const Descriptor* d : modules())
        if (d->on_worker_exit) d->on_worker_exit(slot, zone);
}

bool make_workers(WorkerEnv& env, std::vector<std::unique_ptr<WorkerPart>>& out) {
    out.clear();
    out.resize(modules().size());
    std::span<const Descriptor* const> all = modules();
    for (size_t i = 0; i < all.size(); ++i) {
        if (!all[i]->make_worker) continue;
        out[i] = all[i]->make_worker(env);
        if (env.failed) return false;
    }
    return true;
}

uint32_t notification(const Descriptor& d, uint16_t code) {
    return static_cast<uint32_t>(index_of(d)) << 16 | code;
}

void deliver(const std::vector<std::unique_ptr<WorkerPart>>& parts, uint32_t notification) {
    size_t index = notification >> 16;
    if (index < parts.size() && parts[index]) parts[index]->on_notify(static_cast<uint16_t>(notification & 0xffff));
}

}  // namespace gw::module
