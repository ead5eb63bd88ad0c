// `redis:` - the Redis server that keeps the counters of the rate limits of `scope: global`
// (src/modules/ratelimit/, through src/core/redis/). The address is resolved here, once per
// load, like an upstream server's: the workers never wait for a resolver.
#include "core/config/config_sections.h"

namespace gw::config_detail {

namespace {

constexpr int64_t kMinute = 60 * 1000;

}  // namespace

void read_redis(schema::MapReader& top, Config& c) {
    std::optional<schema::MapReader> m = top.get_map("redis");
    if (!m) return;
    Diagnostics& diags = top.diags();
    RedisConfig r;
    r.mark = top.key_node("redis")->mark;
    if (m->require("address")) {
        const yaml::Node& a = *m->take("address");
        if (auto text = schema::read_string(a, m->path("address"), diags)) {
            r.address = *text;
            std::string error;
            if (!parse_upstream_address(*text, r.sockaddr, r.socklen, error)) {
                r.socklen = 0;
                schema::report(diags, a.mark, m->path("address"), error);
            }
        }
    }
    m->get_duration("timeout", r.timeout, {1, kMinute});
    m->get_duration("connect_timeout", r.connect_timeout, {1, kMinute});
    m->get_int("pool", r.pool, {1, 64});
    bool nodes = m->get_int("nodes", r.nodes, {1, 10000});
    if (const yaml::Node* v = m->take("fallback_share")) {
        std::string path = m->path("fallback_share");
        if (std::optional<double> share = schema::read_ratio(*v, path, diags)) {
            if (*share <= 0) {
                schema::report(diags, v->mark, path,
                               "must be more than 0 (the part of each limit a node allows on its own)");
            } else if (nodes || m->key_node("nodes")) {
                schema::report(diags, v->mark, path,
                               "give nodes (the share is then 1/nodes) or fallback_share, not both");
            } else {
                r.fallback_share = *share;
            }
        }
    }
    m->finish();
    c.redis = std::move(r);
}

}  // namespace gw::config_detail
