// A worker's encoders: kept between responses (zlib's and zstd's states are reset, not remade),
// and bounded in memory. Every byte the compression libraries hold is counted (encoder.h's
// Meter); a response that would take the total past `max_memory` is sent uncompressed - and
// counted - rather than compressed with memory the worker may not have. Idle encoders of other
// codings are freed first to make room.
//
// The bound is checked before an encoder is made, against the most an encoder of that coding has
// held so far in this worker (a first guess until one has run): a library's allocations happen
// inside its calls, where they cannot be refused without breaking a response already announced
// as compressed.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "modules/compress/encoder.h"

namespace gw::compress {

class Pool {
  public:
    explicit Pool(size_t max_memory);
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // An encoder started at `level`, or null: over the memory bound, or the library failed.
    Encoder* acquire(Coding c, int level);
    // Back from a response (complete or not).
    void release(Encoder* e);

    // The libdeflate compressor of `level` (made on first use), or null: over the bound.
    WholeGzip* whole_gzip(int level);
    // A buffer to gather a body of `size` bytes in (its capacity counted), or null: over the
    // bound. Back with release_buffer().
    std::string* acquire_buffer(size_t size);
    void release_buffer(std::string* b);

    size_t memory() const { return meter_.bytes; }
    size_t max_memory() const { return max_memory_; }
    size_t in_use() const { return in_use_; }
    size_t idle() const;

    // Idle encoders kept per coding: a burst's encoders beyond these are freed when released.
    static constexpr size_t kMaxIdle = 8;

  private:
    bool make_room(size_t need, Coding keep);

    size_t max_memory_;
    Meter meter_;
    size_t in_use_ = 0;
    std::vector<std::unique_ptr<Encoder>> all_;
    std::array<std::vector<Encoder*>, 4> idle_;  // by Coding
    std::array<size_t, 4> estimate_;             // by Coding: the most one encoder has held
    std::array<std::unique_ptr<WholeGzip>, 10> whole_;  // by level
    std::vector<std::unique_ptr<std::string>> buffers_;  // every buffer made
    std::vector<std::string*> idle_buffers_;
};

}  // namespace gw::compress
