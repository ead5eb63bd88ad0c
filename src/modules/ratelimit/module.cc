// The ratelimit module's descriptor (src/core/module/module.h): what it owns, for the core to walk.
#include "core/module/module.h"

namespace gw::module {

extern const Descriptor ratelimit_module = {
    .name = "ratelimit",
};

}  // namespace gw::module
