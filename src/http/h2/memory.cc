#include "http/h2/memory.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace gw::http::h2 {

namespace {

// Each block starts with a header naming its class (or kLarge and its size); 16 bytes keep
// what follows aligned as malloc's own blocks are.
constexpr size_t kHeader = 16;
constexpr uint32_t kLarge = UINT32_MAX;
constexpr int kClasses = 7;  // 64, 128, ... 4096 bytes, header included
constexpr size_t kKeepPerClass = size_t{1} << 20;

constexpr size_t class_size(int c) { return size_t{64} << c; }

int class_of(size_t n) {
    n += kHeader;
    if (n <= 64) return 0;
    int c = 64 - __builtin_clzll(static_cast<unsigned long long>(n - 1)) - 6;
    return c < kClasses ? c : -1;
}

struct FreeBlock {
    FreeBlock* next;
};

struct Pool {
    FreeBlock* head[kClasses] = {};
    size_t count[kClasses] = {};
};

Pool pool;  // (a worker is one thread)

struct BlockHeader {
    uint32_t cls;
    uint32_t unused;
    size_t large_size;
};
static_assert(sizeof(BlockHeader) <= kHeader);

BlockHeader* header_of(void* ptr) { return reinterpret_cast<BlockHeader*>(static_cast<char*>(ptr) - kHeader); }

size_t usable(const BlockHeader* h) { return h->cls == kLarge ? h->large_size : class_size(static_cast<int>(h->cls)) - kHeader; }

void* pool_malloc(size_t n, void*) {
    int c = class_of(n);
    char* p;
    if (c < 0) {
        if (n > SIZE_MAX - kHeader) return nullptr;
        p = static_cast<char*>(std::malloc(n + kHeader));
        if (!p) return nullptr;
        auto* h = reinterpret_cast<BlockHeader*>(p);
        h->cls = kLarge;
        h->large_size = n;
        return p + kHeader;
    }
    if (FreeBlock* b = pool.head[c]) {
        pool.head[c] = b->next;
        --pool.count[c];
        p = reinterpret_cast<char*>(b);
    } else {
        p = static_cast<char*>(std::malloc(class_size(c)));
        if (!p) return nullptr;
    }
    reinterpret_cast<BlockHeader*>(p)->cls = static_cast<uint32_t>(c);
    return p + kHeader;
}

void pool_free(void* ptr, void*) {
    if (!ptr) return;
    BlockHeader* h = header_of(ptr);
    uint32_t c = h->cls;
    if (c == kLarge || pool.count[c] >= kKeepPerClass / class_size(static_cast<int>(c))) {
        std::free(h);
        return;
    }
    auto* b = reinterpret_cast<FreeBlock*>(h);
    b->next = pool.head[c];
    pool.head[c] = b;
    ++pool.count[c];
}

void* pool_calloc(size_t count, size_t size, void* user) {
    if (size && count > SIZE_MAX / size) return nullptr;
    void* p = pool_malloc(count * size, user);
    if (p) std::memset(p, 0, count * size);
    return p;
}

void* pool_realloc(void* ptr, size_t size, void* user) {
    if (!ptr) return pool_malloc(size, user);
    if (size == 0) {
        pool_free(ptr, user);
        return nullptr;
    }
    size_t have = usable(header_of(ptr));
    if (size <= have) return ptr;
    void* p = pool_malloc(size, user);
    if (!p) return nullptr;
    std::memcpy(p, ptr, have);
    pool_free(ptr, user);
    return p;
}

nghttp2_mem mem = {nullptr, pool_malloc, pool_free, pool_calloc, pool_realloc};

}  // namespace

// Under AddressSanitizer nghttp2 keeps the system allocator (null: its default), so that a
// use after free inside a session is still caught rather than hidden by a recycled block.
#if defined(__SANITIZE_ADDRESS__)
#define GW_H2_NO_POOL 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GW_H2_NO_POOL 1
#endif
#endif

nghttp2_mem* pooled_mem() {
#ifdef GW_H2_NO_POOL
    return nullptr;
#else
    return &mem;
#endif
}

size_t pooled_free_bytes() {
    size_t total = 0;
    for (int c = 0; c < kClasses; ++c) total += pool.count[c] * class_size(c);
    return total;
}

}  // namespace gw::http::h2
