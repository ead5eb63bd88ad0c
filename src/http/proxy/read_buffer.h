#pragma once

#include <cstddef>
#include <cstring>
#include <memory>

namespace gw::http::proxy {

// Bytes read from an upstream and not yet used: mem[start, start + len) of a block of kSize.
// Using bytes advances start instead of moving the rest down: a 16 KiB body read together
// with its head would otherwise be copied once more per response just to drop the head.
// Bytes move only when the free tail has run out (make_room).
struct ReadBuffer {
    static constexpr size_t kSize = 32 * 1024;

    std::unique_ptr<char[]> mem;  // taken from and returned to Proxy::buffers
    size_t start = 0;
    size_t len = 0;

    char* data() const { return mem.get() + start; }
    char* tail() const { return mem.get() + start + len; }
    size_t room() const { return kSize - start - len; }
    bool full() const { return len == kSize; }

    void consume(size_t n) {
        len -= n;
        start = len ? start + n : 0;
    }
    void make_room() {
        if (room() != 0 || start == 0) return;
        std::memmove(mem.get(), data(), len);
        start = 0;
    }
    void clear() { start = len = 0; }
};

}  // namespace gw::http::proxy
