// Fixed-size buffers shared by one worker's connections. A connection holds one only while it
// has bytes to work on: an idle keep-alive connection (client or upstream) holds none, as nginx
// frees its buffers, so ten thousand idle connections cost little memory, and busy ones reuse
// buffers without going back to the allocator.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
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

// Output buffers (strings, so that heads are appended with no size bookkeeping): a connection
// takes one with a request's first bytes and gives it back, emptied, when it is idle again.
class StringPool {
  public:
    void get(std::string& s) {
        if (free_.empty()) {
            s.reserve(kInitial);
            return;
        }
        s.swap(free_.back());
        free_.pop_back();
    }
    // Takes the capacity of `s` (left empty, holding no memory); a buffer that grew large is freed.
    void put(std::string& s) {
        if (s.capacity() > 15 && s.capacity() <= kMaxKeep && free_.size() < kMaxFree) {
            s.clear();
            free_.emplace_back();
            free_.back().swap(s);
            return;
        }
        std::string().swap(s);
    }

  private:
    static constexpr size_t kInitial = 1024;
    static constexpr size_t kMaxKeep = 16 * 1024;
    static constexpr size_t kMaxFree = 256;
    std::vector<std::string> free_;
};

// Objects that are never freed while the pool lives, only reused: a stale pointer to one (a
// filter's resume handle, say) still points at an object of its type.
template <typename T>
class StablePool {
  public:
    T* get() {
        if (free_.empty()) {
            all_.push_back(std::make_unique<T>());
            return all_.back().get();
        }
        T* o = free_.back();
        free_.pop_back();
        return o;
    }
    void put(T* o) { free_.push_back(o); }

  private:
    std::vector<std::unique_ptr<T>> all_;
    std::vector<T*> free_;
};

}  // namespace gw::http
