#include "core/base64.h"

#include <array>
#include <cstdint>

namespace gw {

namespace {

constexpr std::string_view kStd = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// 0..63, or 0xff for a byte outside the alphabet.
constexpr std::array<uint8_t, 256> table(std::string_view alphabet) {
    std::array<uint8_t, 256> t{};
    for (auto& v : t) v = 0xff;
    for (size_t i = 0; i < alphabet.size(); ++i) t[static_cast<uint8_t>(alphabet[i])] = static_cast<uint8_t>(i);
    return t;
}
constexpr auto kStdTable = table(kStd);
constexpr auto kUrlTable = table(kUrl);

// Decodes unpadded characters; false on a character outside the table, a length of 4k+1, or
// non-zero unused bits in the last character.
bool decode(std::string_view in, const std::array<uint8_t, 256>& t, std::string& out) {
    if (in.size() % 4 == 1) return false;
    size_t start = out.size();
    out.resize(start + base64url_decoded_size(in.size()));
    char* o = out.data() + start;
    size_t i = 0;
    for (; i + 4 <= in.size(); i += 4) {
        uint32_t a = t[static_cast<uint8_t>(in[i])], b = t[static_cast<uint8_t>(in[i + 1])],
                 c = t[static_cast<uint8_t>(in[i + 2])], d = t[static_cast<uint8_t>(in[i + 3])];
        if ((a | b | c | d) & 0x80) {
            out.resize(start);
            return false;
        }
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        *o++ = static_cast<char>(v >> 16);
        *o++ = static_cast<char>(v >> 8);
        *o++ = static_cast<char>(v);
    }
    size_t rest = in.size() - i;
    if (rest) {
        uint32_t a = t[static_cast<uint8_t>(in[i])], b = t[static_cast<uint8_t>(in[i + 1])];
        uint32_t c = rest == 3 ? t[static_cast<uint8_t>(in[i + 2])] : 0;
        // The bits past the last whole byte must be zero (a canonical encoding).
        bool canonical = rest == 2 ? (b & 0x0f) == 0 : (c & 0x03) == 0;
        if (((a | b | c) & 0x80) || !canonical) {
            out.resize(start);
            return false;
        }
        uint32_t v = a << 18 | b << 12 | c << 6;
        *o++ = static_cast<char>(v >> 16);
        if (rest == 3) *o++ = static_cast<char>(v >> 8);
    }
    return true;
}

void encode(std::string_view in, std::string_view alphabet, bool pad, std::string& out) {
    size_t i = 0;
    auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(in[k])); };
    for (; i + 3 <= in.size(); i += 3) {
        uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
        out += alphabet[v >> 18];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        out += alphabet[v & 63];
    }
    size_t rest = in.size() - i;
    if (rest == 0) return;
    uint32_t v = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0);
    out += alphabet[v >> 18];
    out += alphabet[v >> 12 & 63];
    if (rest == 2) out += alphabet[v >> 6 & 63];
    if (pad) out.append(rest == 1 ? 2 : 1, '=');
}

}  // namespace

bool base64url_decode(std::string_view in, std::string& out) { return decode(in, kUrlTable, out); }

bool base64_decode(std::string_view in, std::string& out) {
    if (in.size() % 4 != 0) return false;
    size_t pad = 0;
    while (pad < 2 && pad < in.size() && in[in.size() - 1 - pad] == '=') ++pad;
    std::string_view body = in.substr(0, in.size() - pad);
    // "==" only after 2 characters of the last group, "=" only after 3.
    if (pad && body.size() % 4 != (pad == 2 ? 2u : 3u)) return false;
    return decode(body, kStdTable, out);
}

void base64url_encode(std::string_view in, std::string& out) { encode(in, kUrl, false, out); }
void base64_encode(std::string_view in, std::string& out) { encode(in, kStd, true, out); }

}  // namespace gw
