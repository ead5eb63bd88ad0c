// `metrics:` - the labels of the gateway's own metrics.
#include "core/config/config_sections.h"

namespace gw::config_detail {

void read_metrics(schema::MapReader& top, Config& c) {
    std::optional<schema::MapReader> m = top.get_map("metrics");
    if (!m) return;
    m->get_bool("per_consumer", c.metrics.per_consumer);
    m->get_int("max_consumers", c.metrics.max_consumers, {1, 10000});
}

}  // namespace gw::config_detail
