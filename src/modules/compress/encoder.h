// Streaming encoders for the compress module (issue 16): gzip through zlib, br through Brotli,
// zstd through libzstd (unless ./configure --without-zstd) - each its format's reference library.
//
// An encoder serves one response at a time: reset() starts a response at a level, write() takes
// the body piece by piece and appends what the library gives to `out` (whose capacity the caller
// keeps). `flush` pushes out what the library holds (a chunk a client should see now, as an event
// stream's); `finish` ends the stream (the gzip trailer, zstd's end of frame). zlib's and zstd's
// states are reset, not remade, between responses; Brotli's API has no reset, so its state is
// made anew per response.
//
// Memory: gzip keeps zlib's ~262 KiB (windowBits 15, memLevel 8); br a 256 KiB window (lgwin 18,
// not the 4 MiB default), ~2.1 MiB of state in all at quality 4 (6.3 MiB at 11); zstd's window is
// capped at 256 KiB too (windowLog 18), ~1.7 MiB at level 3: a client never needs more than a
// 256 KiB window to decode, and the per-worker bound on compression memory counts on it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "modules/compress/accept_encoding.h"

struct libdeflate_compressor;

namespace gw::compress {

// The bytes the compression libraries hold in one worker: every allocation of an encoder goes
// through allocators of ours that count it here (and in the encoder's own memory()).
struct Meter {
    size_t bytes = 0;
};

class Encoder {
  public:
    virtual ~Encoder() = default;
    // Starts a response at `level` (gzip 1-9, br 0-11, zstd 1-19). False when the library
    // refuses (out of memory).
    virtual bool reset(int level) = 0;
    // Compresses `in` and appends the output to `out`. False on a library error (the response
    // cannot be finished compressed).
    virtual bool write(std::string_view in, bool flush, bool finish, std::string& out) = 0;
    virtual Coding coding() const = 0;
    // The encoder waits in its pool: a state that is remade per response anyway (Brotli's) is
    // freed now, not kept idle.
    virtual void idle() {}
    // The bytes the library holds for this encoder now.
    size_t memory() const { return held_; }

    // For the allocators (encoder.cc).
    Meter* meter_ = nullptr;
    size_t held_ = 0;
};

// An encoder for `c` (gzip, br, zstd); null for identity, or zstd when built --without-zstd.
// Its library memory is counted in `meter` (may be null).
std::unique_ptr<Encoder> make_encoder(Coding c, Meter* meter = nullptr);

// gzip of a whole body at once, through libdeflate: for a body of known length that fits the
// bound (filter.h), the body is gathered and compressed in one call - about twice zlib's speed at
// the same level, with a smaller output, and one compressor per worker and level instead of a
// deflate state per response. Its allocations are counted in `meter`.
class WholeGzip {
  public:
    WholeGzip(int level, Meter* meter);
    ~WholeGzip();
    WholeGzip(const WholeGzip&) = delete;
    WholeGzip& operator=(const WholeGzip&) = delete;
    bool ok() const { return c_ != nullptr; }
    // Appends the gzip member of `in` to `out`. False on failure (nothing appended).
    bool compress(std::string_view in, std::string& out);

  private:
    ::libdeflate_compressor* c_ = nullptr;
};

// Whether this build has the coding.
bool available(Coding c);

}  // namespace gw::compress
