#include "http/grpc/grpc.h"

#include "core/base64.h"

namespace gw::http::grpc {

bool parse_timeout(std::string_view v, uint64_t& millis) {
    if (v.size() < 2 || v.size() > 9) return false;
    uint64_t n = 0;
    for (char c : v.substr(0, v.size() - 1)) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    constexpr uint64_t kMax = 100000000ull * 3600 * 1000;  // 10^8 hours, in ms: no overflow below
    switch (v.back()) {
        case 'H': millis = n * 3600 * 1000; break;
        case 'M': millis = n * 60 * 1000; break;
        case 'S': millis = n * 1000; break;
        case 'm': millis = n; break;
        case 'u': millis = (n + 999) / 1000; break;
        case 'n': millis = (n + 999999) / 1000000; break;
        default: return false;
    }
    if (millis > kMax) millis = kMax;
    return true;
}

Status status_for_http(int s) {
    switch (s) {
        case 200: return Status::Ok;
        case 400:
        case 413:
        case 431: return Status::Internal;
        case 401: return Status::Unauthenticated;
        case 403: return Status::PermissionDenied;
        case 404: return Status::Unimplemented;
        case 408:
        case 504: return Status::DeadlineExceeded;
        case 429: return Status::ResourceExhausted;
        case 502:
        case 503: return Status::Unavailable;
        default: return Status::Unknown;
    }
}

void append_message(std::string_view text, std::string& out) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c <= 0x7E && c != '%') {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
}

void append_frame_header(uint8_t flags, uint32_t length, std::string& out) {
    out += static_cast<char>(flags);
    out += static_cast<char>(length >> 24);
    out += static_cast<char>(length >> 16);
    out += static_cast<char>(length >> 8);
    out += static_cast<char>(length);
}

void append_trailer_frame(std::span<const Field> trailers, std::string& out) {
    size_t length = 0;
    for (const Field& f : trailers) length += f.name.size() + 1 + f.value.size() + 2;
    append_frame_header(kTrailerFlag, static_cast<uint32_t>(length), out);
    for (const Field& f : trailers) {
        out += f.name;
        out += ':';
        out += f.value;
        out += "\r\n";
    }
}

FrameReader::Result FrameReader::next(std::string_view in, uint8_t& flags, std::string_view& payload,
                                      size_t& consumed) const {
    if (in.size() < kFrameHeader) return Result::NeedMore;
    auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(in[i])); };
    uint32_t length = b(1) << 24 | b(2) << 16 | b(3) << 8 | b(4);
    if (length > max_) return Result::TooLarge;
    if (in.size() - kFrameHeader < length) return Result::NeedMore;
    flags = static_cast<uint8_t>(b(0));
    payload = in.substr(kFrameHeader, length);
    consumed = kFrameHeader + length;
    return Result::Frame;
}

bool TextDecoder::feed(std::string_view in, std::string& out) {
    for (char c : in) {
        if (c == '\r' || c == '\n') continue;  // (line breaks are not in the alphabet: skipped)
        group_[held_++] = c;
        if (held_ < 4) continue;
        held_ = 0;
        if (!base64_decode({group_, 4}, out)) return false;
    }
    return true;
}

void TextEncoder::feed(std::string_view in, std::string& out) {
    size_t i = 0;
    while (n_ > 0 && n_ < 3 && i < in.size()) held_[n_++] = in[i++];
    if (n_ == 3) {
        base64_encode({held_, 3}, out);
        n_ = 0;
    }
    size_t whole = (in.size() - i) / 3 * 3;
    if (whole) base64_encode(in.substr(i, whole), out);
    for (i += whole; i < in.size(); ++i) held_[n_++] = in[i];
}

void TextEncoder::finish(std::string& out) {
    if (n_) base64_encode({held_, n_}, out);
    n_ = 0;
}

}  // namespace gw::http::grpc
