// The breaker module's descriptor (src/core/module/module.h): what it owns, for the core to walk.
#include "core/module/module.h"

namespace gw::module {

extern const Descriptor breaker_module = {
    .name = "breaker",
};

}  // namespace gw::module
