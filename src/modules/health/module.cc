// The health module's descriptor (src/core/module/module.h): what it owns, for the core to walk.
#include "core/module/module.h"

namespace gw::module {

extern const Descriptor health_module = {
    .name = "health",
};

}  // namespace gw::module
