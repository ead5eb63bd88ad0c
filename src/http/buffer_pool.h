// Pools of what a worker's requests use for a while and give back: input and output buffers,
// request objects, streams, proxy sessions. A connection holds these only while it has a
// request to work on, so an idle keep-alive connection (client or upstream) holds none, as nginx
// frees its buffers; busy ones reuse them without going back to the allocator.
//
// After a burst, the spares it left are given back: trim(), called on a timer, frees the spares
// that no one took during the whole interval since the previous trim (the low-water mark of the
// free list), so a steady load keeps what it reuses and a burst's residue goes.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace gw::http {

// A bounded list of spares with the low-water mark trim() needs.
template <typename Item>
class SpareList {
  public:
    bool empty() const { return items_.empty(); }
    size_t size() const { return items_.size(); }
    Item take() {
        Item it = std::move(items_.back());
        items_.pop_back();
        if (items_.size() < low_) low_ = items_.size();
        return it;
    }
    bool give(Item&& it) {
        if (items_.size() >= kMaxFree) return false;
        items_.push_back(std::move(it));
        return true;
    }
    // Frees the spares unused since the last call; returns how many.
    size_t trim() {
        size_t n = low_;
        items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(n));
        low_ = items_.size();
        return n;
    }
    std::vector<Item>& items() { return items_; }

  private:
    // Spares above what one burst needs are freed on release; trim() frees those unused for a
    // while, so a high cap costs memory only while the concurrency is there (1,000 streams in
    // flight on a few HTTP/2 connections churned sessions and requests at 256).
    static constexpr size_t kMaxFree = 4096;
    std::vector<Item> items_;
    size_t low_ = 0;
};

class BufferPool {
  public:
    explicit BufferPool(size_t size) : size_(size) {}
    size_t size() const { return size_; }
    std::unique_ptr<char[]> get() {
        if (free_.empty()) return std::unique_ptr<char[]>(new char[size_]);
        return free_.take();
    }
    void put(std::unique_ptr<char[]> b) { free_.give(std::move(b)); }
    size_t trim() { return free_.trim(); }

  private:
    size_t size_;
    SpareList<std::unique_ptr<char[]>> free_;
};

// The same for objects.
template <typename T>
class ObjectPool {
  public:
    std::unique_ptr<T> get() {
        if (free_.empty()) return std::make_unique<T>();
        return free_.take();
    }
    void put(std::unique_ptr<T> o) { free_.give(std::move(o)); }
    size_t trim() { return free_.trim(); }

  private:
    SpareList<std::unique_ptr<T>> free_;
};

// Output buffers (strings, so that heads are appended with no size bookkeeping): a connection
// takes one with a request's first bytes and gives it back, emptied, when it is idle again. Only
// the pointer moves; a buffer that grew large is freed rather than kept.
class StringPool {
  public:
    std::unique_ptr<std::string> get() {
        if (!free_.empty()) return free_.take();
        auto s = std::make_unique<std::string>();
        s->reserve(kInitial);
        return s;
    }
    void put(std::unique_ptr<std::string> s) {
        if (s->capacity() > kMaxKeep) return;
        s->clear();
        free_.give(std::move(s));
    }
    size_t trim() { return free_.trim(); }

  private:
    static constexpr size_t kInitial = 1024;
    static constexpr size_t kMaxKeep = 16 * 1024;
    SpareList<std::unique_ptr<std::string>> free_;
};

// Objects that are never freed while the pool lives, only reused: a stale pointer to one (a
// filter's resume handle, say) still points at an object of its type. They are small (the
// large parts of a request live in the pools above).
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
