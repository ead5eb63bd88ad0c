#include "core/memory.h"

#include <cstdio>

#if GW_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#else
#include <malloc.h>
#endif

namespace gw::memory {

void release_unused() {
#if GW_HAVE_JEMALLOC
    char name[64];
    snprintf(name, sizeof name, "arena.%u.purge", static_cast<unsigned>(MALLCTL_ARENAS_ALL));
    mallctl(name, nullptr, nullptr, nullptr, 0);
#else
    malloc_trim(0);
#endif
}

}  // namespace gw::memory
