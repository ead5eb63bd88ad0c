// Walks the frame headers of what an HTTP/2 client sends, a step ahead of nghttp2, for the two
// checks nghttp2 leaves out once the RFC 7540 priority tree is off (SETTINGS_NO_RFC7540_PRIORITIES,
// RFC 9218; with the pooled allocator the tree cost ~150 instructions per request):
//   - PRIORITY frames are still frames of the protocol (RFC 9113 6.3, 5.3.1): one on stream 0, or
//     one that makes a stream depend on itself, is an error; nghttp2 no longer reads them;
//   - DATA on a closed stream: nghttp2 no longer keeps closed streams, so it ignores such a frame
//     where the protocol wants STREAM_CLOSED (unless the gateway reset the stream itself).
// The first needs the frame's payload, the second nghttp2's view of the stream just before the
// frame: the session feeds nghttp2 up to each stop the scanner reports and checks there.
//
// It only counts bytes: nghttp2 still parses and checks every frame (sizes, padding, types).
#pragma once

#include <cstddef>
#include <cstdint>

namespace gw::http::h2 {

class FrameScanner {
  public:
    enum class Kind : uint8_t {
        None,      // no stop in the bytes given
        Data,      // a DATA frame's header ends at `at`
        Priority,  // a whole PRIORITY frame ends at `at` (stream, depends_on)
    };
    struct Stop {
        Kind kind = Kind::None;
        size_t at = 0;  // bytes of this call's input up to the stop (all of them for None)
        int32_t stream = 0;
        int32_t depends_on = 0;
    };

    // `preface`: the bytes that come before the first frame (the client's 24-byte magic).
    explicit FrameScanner(size_t preface = 24) : skip_(preface) {}

    // Scans data[0..n) from where the previous call left off and returns the first stop in it.
    // The caller passes data[0..stop.at) on, then calls again with the rest.
    Stop next(const uint8_t* data, size_t n);

  private:
    uint64_t skip_;         // payload (or preface) bytes still to pass over
    uint8_t head_[9] = {};  // a frame header that arrived in pieces
    uint8_t have_ = 0;
    bool priority_ = false;  // the payload being passed over is a PRIORITY frame's (captured)
    uint8_t payload_[5] = {};
    uint8_t payload_have_ = 0;
    int32_t stream_ = 0;
};

}  // namespace gw::http::h2
