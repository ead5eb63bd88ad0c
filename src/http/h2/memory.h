// nghttp2's memory: what a session allocates (a stream's state, queued frames, decoded header
// fields) comes from size classes of 64 B to 4 KiB whose freed blocks the worker keeps and hands
// out again, so that after warm-up a request over HTTP/2 allocates nothing from the system
// allocator (jemalloc's free alone cost ~280 instructions per request). Each class keeps at most
// 1 MiB of free blocks; larger requests go to malloc. One pool per worker process (single
// threaded): every session of the worker, server and client side, shares it.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>

namespace gw::http::h2 {

// Null under AddressSanitizer (nghttp2's default allocator: ASan sees every block).
nghttp2_mem* pooled_mem();

// Bytes held in free blocks now (for tests).
size_t pooled_free_bytes();

}  // namespace gw::http::h2
