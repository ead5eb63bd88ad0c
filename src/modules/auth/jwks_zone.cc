#include "modules/auth/jwks_zone.h"

#include <cstring>

namespace gw::auth {

namespace {
constexpr uint64_t kRootMagic = 0x31534b574a574750ULL;  // "PGWJWKS1"
}

JwksTable::JwksTable(shm::Zone& zone) : zone_(zone), index_(zone, kRootMagic) {}

JwksRecord* JwksTable::record(std::string_view provider, std::string_view url) {
    return index_.find_or_create<JwksRecord>(provider, url);
}

bool JwksTable::publish(JwksRecord& r, std::string_view json) {
    shm::LockGuard lock(zone_.mutex());
    uint64_t at = zone_.alloc(json.size() + 1);
    if (!at) return false;
    memcpy(zone_.base() + at, json.data(), json.size());
    zone_.base()[at + json.size()] = '\0';
    if (r.json) zone_.free(r.json);
    r.json = at;
    r.length = static_cast<uint32_t>(json.size());
    r.version.fetch_add(1, std::memory_order_release);
    return true;
}

bool JwksTable::read(const JwksRecord& r, std::string& json, uint64_t& version) const {
    shm::LockGuard lock(zone_.mutex());
    version = r.version.load(std::memory_order_acquire);
    if (!r.json) return false;
    json.assign(zone_.base() + r.json, r.length);
    return true;
}

}  // namespace gw::auth
