// Fixed-size buffers shared by one worker's connections. A connection holds one only while it
// has bytes to work on: an idle keep-alive connection (client or upstream) holds none, as nginx
// frees its buffers, so ten thousand idle connections cost little memory, and busy ones reuse
// buffers without going back to the allocator.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace gw::http {

class BufferPool {
  public:
    explicit BufferPool(size_t size) : size_(size) {}
    size_t size() const { return size_; }
    std::unique_ptr<char[]> get() {
        if (free_.empty()) return std::unique_ptr<char[]>(new char[size_]);
        std::unique_ptr<char[]> b = std::move(free_.back());
        free_.pop_back();
        return b;
    }
    void put(std::unique_ptr<char[]> b) {
        if (free_.size() < kMaxFree) free_.push_back(std::move(b));
    }

  private:
    static constexpr size_t kMaxFree = 256;
    size_t size_;
    std::vector<std::unique_ptr<char[]>> free_;
};

// The same for objects: a bounded number of spares kept for reuse.
template <typename T>
class ObjectPool {
  public:
    std::unique_ptr<T> get() {
        if (free_.empty()) return std::make_unique<T>();
        std::unique_ptr<T> o = std::move(free_.back());
        free_.pop_back();
        return o;
    }
    void put(std::unique_ptr<T> o) {
        if (free_.size() < kMaxFree) free_.push_back(std::move(o));
    }

  private:
    static constexpr size_t kMaxFree = 256;
    std::vector<std::unique_ptr<T>> free_;
};

}  // namespace gw::http
