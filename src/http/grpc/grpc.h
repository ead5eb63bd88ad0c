// gRPC pieces the HTTP/2 codec and the grpc / grpc_web routes build on (issue 17), pure and
// tested on their own:
//   - grpc-timeout (PROTOCOL-HTTP2.md: 1 to 8 digits and a unit, H M S m u n);
//   - the grpc-status a gateway's own HTTP answer becomes on a `grpc: true` route, and the
//     percent-encoding of grpc-message;
//   - gRPC-Web (PROTOCOL-WEB.md): the 5-byte message frames, the trailer frame (flag 0x80, an
//     HTTP/1-style field block), and the -text variant's base64, decoded as it streams (a
//     client may flush, and pad, in the middle of a stream).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace gw::http::grpc {

// grpc-timeout as milliseconds: false when it is not 1-8 digits and one of the units. Hours
// are clamped (8 digits of hours overflow 64-bit nanoseconds); below a millisecond (but not
// zero) is 1 ms - a deadline, not a poll.
bool parse_timeout(std::string_view value, uint64_t& millis);

// gRPC status codes (the ones a gateway answers with).
enum class Status : uint8_t {
    Ok = 0, Cancelled = 1, Unknown = 2, InvalidArgument = 3, DeadlineExceeded = 4, NotFound = 5,
    AlreadyExists = 6, PermissionDenied = 7, ResourceExhausted = 8, FailedPrecondition = 9,
    Aborted = 10, OutOfRange = 11, Unimplemented = 12, Internal = 13, Unavailable = 14,
    DataLoss = 15, Unauthenticated = 16,
};

// The status of a gateway's own answer `http_status` on a gRPC route: 401 UNAUTHENTICATED, 403
// PERMISSION_DENIED, 404 UNIMPLEMENTED, 429 RESOURCE_EXHAUSTED, 502 and 503 UNAVAILABLE, 504
// DEADLINE_EXCEEDED, 400/413/431 INTERNAL, 408 DEADLINE_EXCEEDED; others UNKNOWN (gRPC's "HTTP
// to gRPC status code mapping", with the gateway's own refusals named as the issue asks).
Status status_for_http(int http_status);

// grpc-message's encoding: bytes outside 0x20-0x7E, and '%', as %XX (PROTOCOL-HTTP2.md).
void append_message(std::string_view text, std::string& out);

// ---- gRPC-Web

constexpr uint8_t kTrailerFlag = 0x80;
constexpr size_t kFrameHeader = 5;

// A frame header: the flags and the big-endian length.
void append_frame_header(uint8_t flags, uint32_t length, std::string& out);

struct Field {
    std::string_view name;  // lower-case
    std::string_view value;
};
// The trailer frame: flags 0x80, then "name:value\r\n" per field.
void append_trailer_frame(std::span<const Field> trailers, std::string& out);

// Splits a stream of frames as it arrives: each complete frame's flags and payload, in order.
class FrameReader {
  public:
    enum class Result : uint8_t { Frame, NeedMore, TooLarge };
    explicit FrameReader(uint32_t max_length) : max_(max_length) {}
    // Looks at the front of `in` (the caller keeps what was not consumed): Frame with its flags,
    // payload and the bytes it took; NeedMore; TooLarge (a length above the limit).
    Result next(std::string_view in, uint8_t& flags, std::string_view& payload, size_t& consumed) const;

  private:
    uint32_t max_;
};

// application/grpc-web-text: base64 as it streams. Decodes every complete 4-character group
// (a group may end in padding: the client flushed; decoding goes on after it), keeping an
// incomplete group for the next piece. False on a character outside the alphabet or padding in
// the wrong place (the stream is broken).
class TextDecoder {
  public:
    bool feed(std::string_view in, std::string& out);
    bool at_group_boundary() const { return held_ == 0; }  // at the end: nothing left over

  private:
    char group_[4] = {};
    size_t held_ = 0;
};

// The response side: base64 of what is written, in whole groups; finish() pads the rest.
class TextEncoder {
  public:
    void feed(std::string_view in, std::string& out);
    void finish(std::string& out);  // (a flush: the client decodes padded groups mid-stream)

  private:
    char held_[3] = {};
    size_t n_ = 0;
};

}  // namespace gw::http::grpc
