#include "http/consumer_counts.h"

#include "core/log.h"

namespace gw::http {

std::atomic<uint64_t>* ConsumerCounts::cell(uint32_t route_key, std::string_view route_name, int status,
                                            std::string_view consumer) {
    auto it = by_name_.find(consumer);
    if (it != by_name_.end()) [[likely]]
        return find_or_create(it->second, route_key, route_name, status);
    if (by_name_.size() >= max_consumers_) {
        if (!capped_) {
            capped_ = true;
            LOG_WARN("metrics.max_consumers (%u) reached: this worker counts requests of further consumers "
                     "as consumer=\"~other\" in %.*s",
                     max_consumers_, static_cast<int>(kMetric.size()), kMetric.data());
        }
        return find_or_create(other_, route_key, route_name, status);
    }
    Consumer& c = by_name_[std::string(consumer)];
    c.label = ",consumer=\"" + metrics::escape_label_value(consumer) + "\"";
    return find_or_create(c, route_key, route_name, status);
}

std::atomic<uint64_t>* ConsumerCounts::find_or_create(Consumer& c, uint32_t route_key,
                                                      std::string_view route_name, int status) {
    uint32_t key = route_key << 10 | static_cast<uint32_t>(status);
    auto it = c.cells.find(key);
    if (it != c.cells.end()) [[likely]] return it->second;
    std::string labels = "route=\"" + metrics::escape_label_value(route_name) + "\",code=\"" +
                         std::to_string(status) + "\"" + c.label;
    std::atomic<uint64_t>* cell = store_.counter(kMetric, labels, help_);
    c.cells.emplace(key, cell);  // nullptr too: the zone is full, and stays so for this series
    return cell;
}

}  // namespace gw::http
