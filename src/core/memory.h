// Giving freed memory back to the system: after a worker frees a burst's spare buffers, the
// allocator would otherwise keep the pages (jemalloc decays them over seconds, glibc keeps them
// on its free lists), and an idle worker would still look as large as at its busiest.
#pragma once

namespace gw::memory {

// Returns unused pages the allocator holds to the system (jemalloc: purge every arena; the C
// library's malloc: malloc_trim). A few system calls: call it now and then, not per request.
void release_unused();

}  // namespace gw::memory
