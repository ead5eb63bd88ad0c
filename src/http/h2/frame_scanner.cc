#include "http/h2/frame_scanner.h"

#include <algorithm>
#include <cstring>

namespace gw::http::h2 {

namespace {

constexpr uint8_t kData = 0x0;
constexpr uint8_t kPriority = 0x2;
constexpr size_t kPriorityLength = 5;

uint32_t be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

FrameScanner::Stop FrameScanner::next(const uint8_t* data, size_t n) {
    size_t pos = 0;
    for (;;) {
        if (skip_ > 0) {  // a payload (or the preface) being passed over
            size_t k = static_cast<size_t>(std::min<uint64_t>(skip_, n - pos));
            if (priority_) {
                size_t take = std::min(k, kPriorityLength - payload_have_);
                memcpy(payload_ + payload_have_, data + pos, take);
                payload_have_ = static_cast<uint8_t>(payload_have_ + take);
            }
            pos += k;
            skip_ -= k;
            if (skip_ > 0) return {Kind::None, n, 0, 0};
            if (priority_) {
                priority_ = false;
                Stop s{Kind::Priority, pos, stream_, static_cast<int32_t>(be32(payload_) & 0x7fffffff)};
                return s;
            }
        }
        if (pos == n) return {Kind::None, n, 0, 0};
        // A frame header: in place when it is whole, else gathered across calls.
        const uint8_t* h;
        if (have_ == 0 && n - pos >= sizeof head_) {
            h = data + pos;
            pos += sizeof head_;
        } else {
            size_t take = std::min(sizeof head_ - have_, n - pos);
            memcpy(head_ + have_, data + pos, take);
            have_ = static_cast<uint8_t>(have_ + take);
            pos += take;
            if (have_ < sizeof head_) return {Kind::None, n, 0, 0};
            have_ = 0;
            h = head_;
        }
        uint32_t length = (uint32_t{h[0]} << 16) | (uint32_t{h[1]} << 8) | uint32_t{h[2]};
        uint8_t type = h[3];
        int32_t stream = static_cast<int32_t>(be32(h + 5) & 0x7fffffff);
        skip_ = length;
        if (type == kData) return {Kind::Data, pos, stream, 0};
        // (a PRIORITY frame of another length is nghttp2's FRAME_SIZE_ERROR: not captured)
        if (type == kPriority && length == kPriorityLength) {
            priority_ = true;
            payload_have_ = 0;
            stream_ = stream;
        }
    }
}

}  // namespace gw::http::h2
