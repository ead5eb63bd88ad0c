// The client options for the configuration's `redis:` section, in one place for every user of
// it (the services registry's shared client, and the rate limiter while it still makes its own).
#pragma once

#include "core/redis/client.h"

namespace gw {
struct RedisConfig;
}

namespace gw::redis {

// Address (numeric, or the unix socket's path), timeouts and pool size; the back-off keeps the
// client's defaults.
Options options_for(const RedisConfig& config);

}  // namespace gw::redis
