// The pool nghttp2 allocates from (src/http/h2/memory.h).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "http/h2/memory.h"

namespace gw::http::h2 {
namespace {

// (Under AddressSanitizer there is no pool: pooled_mem() is null.)
#define SKIP_WITHOUT_POOL() \
    if (!pooled_mem()) GTEST_SKIP() << "no pool under AddressSanitizer"

TEST(H2Memory, FreedBlocksAreHandedOutAgain) {
    SKIP_WITHOUT_POOL();
    nghttp2_mem* m = pooled_mem();
    void* a = m->malloc(100, m->mem_user_data);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 16, 0u) << "aligned as malloc's";
    size_t before = pooled_free_bytes();
    m->free(a, m->mem_user_data);
    EXPECT_EQ(pooled_free_bytes(), before + 128);  // 100 + its header: the 128-byte class
    void* b = m->malloc(90, m->mem_user_data);
    EXPECT_EQ(b, a) << "the same class: the freed block again";
    EXPECT_EQ(pooled_free_bytes(), before);
    m->free(b, m->mem_user_data);
    m->free(nullptr, m->mem_user_data);  // (as free(NULL))
}

TEST(H2Memory, EverySizeHoldsWhatWasAsked) {
    SKIP_WITHOUT_POOL();
    nghttp2_mem* m = pooled_mem();
    std::vector<void*> blocks;
    for (size_t n : {size_t{0}, size_t{1}, size_t{47}, size_t{48}, size_t{49}, size_t{4079}, size_t{4080}, size_t{4081},
                     size_t{100000}}) {
        auto* p = static_cast<unsigned char*>(m->malloc(n, m->mem_user_data));
        ASSERT_NE(p, nullptr) << n;
        std::memset(p, 0xab, n);  // (ASan/valgrind would see an overrun)
        blocks.push_back(p);
    }
    for (void* p : blocks) m->free(p, m->mem_user_data);
}

TEST(H2Memory, CallocZeroesAndReallocKeepsTheBytes) {
    SKIP_WITHOUT_POOL();
    nghttp2_mem* m = pooled_mem();
    auto* z = static_cast<unsigned char*>(m->malloc(200, m->mem_user_data));
    std::memset(z, 0xff, 200);
    m->free(z, m->mem_user_data);
    auto* c = static_cast<unsigned char*>(m->calloc(10, 20, m->mem_user_data));  // likely the same block
    ASSERT_NE(c, nullptr);
    for (int i = 0; i < 200; ++i) ASSERT_EQ(c[i], 0) << i;
    EXPECT_EQ(m->calloc(SIZE_MAX / 2, 4, m->mem_user_data), nullptr) << "overflow refused";
    for (int i = 0; i < 200; ++i) c[i] = static_cast<unsigned char>(i);
    auto* r = static_cast<unsigned char*>(m->realloc(c, 5000, m->mem_user_data));  // to a large block
    ASSERT_NE(r, nullptr);
    for (int i = 0; i < 200; ++i) ASSERT_EQ(r[i], i);
    auto* same = static_cast<unsigned char*>(m->realloc(r, 300, m->mem_user_data));  // it fits: kept
    EXPECT_EQ(same, r);
    EXPECT_EQ(m->realloc(same, 0, m->mem_user_data), nullptr);  // (freed)
    auto* fresh = static_cast<unsigned char*>(m->realloc(nullptr, 30, m->mem_user_data));
    ASSERT_NE(fresh, nullptr);
    m->free(fresh, m->mem_user_data);
}

TEST(H2Memory, WhatIsKeptIsBounded) {
    SKIP_WITHOUT_POOL();
    nghttp2_mem* m = pooled_mem();
    std::vector<void*> blocks(20000);
    for (void*& p : blocks) p = m->malloc(100, m->mem_user_data);
    for (void* p : blocks) m->free(p, m->mem_user_data);
    EXPECT_LE(pooled_free_bytes(), size_t{7} << 20) << "at most 1 MiB per class";
    EXPECT_GE(pooled_free_bytes(), size_t{1} << 20) << "the 128-byte class is full";
}

}  // namespace
}  // namespace gw::http::h2
