// The ratelimit module's descriptor (src/core/module/module.h): its configuration (config.h).
#include "modules/ratelimit/config.h"

namespace gw::module {

namespace {

constexpr std::string_view kSections[] = {"rate_limit_zone_size", "rate_limits"};
constexpr MergeKey kMergeKeys[] = {{"rate_limits", "rate limit"}};

}  // namespace

extern const Descriptor ratelimit_module = {
    .name = "ratelimit",
    .sections = kSections,
    .merge_keys = kMergeKeys,
    .read_sections = ratelimit::read_sections,
    .read_route = ratelimit::read_route,
    .dump = ratelimit::dump,
    .dump_route = ratelimit::dump_route,
};

}  // namespace gw::module
