// The compress filter of one route (and worker): negotiates a content coding when the request
// arrives, decides at the response head whether this response is one to compress, and then
// compresses its body as it streams through (Stream::add_body_filter), with the proxy's
// back-pressure: the encoder never holds more than the library's own state.
//
// A response is compressed when all of these hold (man/gateway.conf.5, COMPRESSION):
//   - the client accepts one of the policy's codings (Accept-Encoding, q-values; identity;q=0);
//   - the request is not HEAD; the status has a body and is not a range's (not 1xx, 204, 206,
//     304), and the response has no Content-Range;
//   - the response is not encoded already (Content-Encoding other than identity), its
//     Cache-Control has no no-transform, its Content-Type is one of the policy's types, and never
//     text/event-stream or application/grpc* (a stream's pieces must arrive as they are sent);
//   - its Content-Length, when it has one, is at least min_length;
//   - breach_guard: not a response that sets a cookie (Set-Cookie) to a request that carried
//     credentials (Authorization or Cookie) - the BREACH attack needs a secret and attacker-chosen
//     text compressed together, and those are the responses that carry secrets;
//   - the worker's compression memory has room (else it is counted and sent as it is).
// gzip of a body of known length up to kWholeMax is gathered and compressed in one libdeflate
// call (twice zlib's speed, a smaller output); anything else streams through a pooled encoder.
// Then: Content-Encoding is set, Content-Length goes (the body is chunked), a strong ETag is
// weakened (W/"..."), as the bytes differ. Every response that could be compressed - whether or
// not this client takes it - gets Vary: Accept-Encoding, so that a cache keeps the two apart.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/filter.h"
#include "modules/compress/config.h"
#include "modules/compress/pool.h"

namespace gw::compress {

// A worker's counters (shared across workers: metrics in the store), by coding where it applies.
struct Stats {
    std::atomic<uint64_t>* responses[4] = {};  // compressed, by Coding
    std::atomic<uint64_t>* bytes_in[4] = {};
    std::atomic<uint64_t>* bytes_out[4] = {};
    std::atomic<uint64_t>* skipped_memory = nullptr;
    std::atomic<uint64_t>* skipped_breach = nullptr;
    std::atomic<uint64_t>* failed = nullptr;
};

// Why a response is or is not compressed, at its head (pure, for the unit tests).
enum class Verdict : uint8_t {
    Compress,
    NotEligible,   // the response is not one to compress (no Vary added)
    NotAccepted,   // eligible, but the client takes none of the codings (or the request is HEAD, or
                   // the body is below min_length): sent as it is, with Vary
    Breach,        // eligible, but breach_guard forbids it
};

struct RequestFacts {
    Coding coding = Coding::Identity;  // negotiated
    bool head = false;
    bool credentials = false;
};
Verdict decide(const Policy& p, const RequestFacts& req, int status, const http::ResponseHead& head);

class CompressFilter final : public http::Filter {
  public:
    // gzip of a body whose Content-Length is at most this: gathered and compressed in one call
    // (libdeflate); longer or unknown lengths, and br and zstd, stream through an encoder.
    static constexpr uint64_t kWholeMax = 1u << 20;

    CompressFilter(const Policy& policy, Pool& pool, const Stats& stats);

    http::FilterStatus on_request(http::Stream& s, void* ctx) override;
    void on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) override;
    void on_body(http::Stream& s, void* ctx, std::string_view in, bool last, std::string& out) override;
    void on_destroy(http::Stream& s, void* ctx) override;

  private:
    const Policy& policy_;
    Pool& pool_;
    const Stats& stats_;
    std::string vary_;  // a Vary value being built (capacity kept)
};

}  // namespace gw::compress
