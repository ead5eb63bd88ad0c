#include "core/text_escape.h"

#include <array>
#include <cstdint>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/text_writer.h"

namespace gw {

namespace {

constexpr char kHexLower[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";

bool continuation(unsigned char c) { return (c & 0xc0) == 0x80; }

// Bytes a JSON or a log escaper must look at; the rest is copied in runs. A table: one load
// per byte (a log line's values are scanned byte by byte).
constexpr auto kPlain = [] {
    std::array<bool, 256> t{};
    for (int c = 0x20; c < 0x7f; ++c) t[c] = c != '"' && c != '\\';
    return t;
}();
bool plain_ascii(unsigned char c) { return kPlain[c]; }

template <class Out>
void append_u00(Out& out, unsigned char c) {
    char buf[6] = {'\\', 'u', '0', '0', kHexLower[c >> 4], kHexLower[c & 15]};
    out.append(buf, sizeof buf);
}

}  // namespace

size_t utf8_sequence_length(std::string_view s) {
    if (s.empty()) return 0;
    auto b = [&](size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u; };
    unsigned char c = b(0);
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return continuation(b(1)) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;  // overlong, surrogates
        return b(1) >= lo && b(1) <= hi && continuation(b(2)) ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;  // overlong, > U+10FFFF
        return b(1) >= lo && b(1) <= hi && continuation(b(2)) && continuation(b(3)) ? 4 : 0;
    }
    return 0;  // a continuation byte alone, C0/C1 (overlong), F5..FF
}

namespace {

constexpr uint64_t kOnes = ~0ull / 255;  // 0x0101...01
constexpr uint64_t kHighs = kOnes * 128;  // 0x8080...80

// Whether any of the 8 bytes of `w` is not plain: below 0x20, above 0x7e, '"' or '\\'. Exact
// (no false positives), from the classic bit tricks for "has a byte less than / more than /
// equal to n"; it lets plain runs be skipped 8 bytes per step.
inline bool word_needs_look(uint64_t w) {
    uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighs;
    uint64_t above_tilde = ((w + kOnes * (127 - 0x7e)) | w) & kHighs;
    uint64_t q = w ^ (kOnes * '"'), b = w ^ (kOnes * '\\');
    uint64_t quote = (q - kOnes) & ~q & kHighs, backslash = (b - kOnes) & ~b & kHighs;
    return (below_space | above_tilde | quote | backslash) != 0;
}

}  // namespace

#ifdef __SSE2__
namespace {

// Bit i set: byte i of the 16 at `p` is not plain (below 0x20 or from 0x7f up - negative as
// signed bytes -, '"' or '\\').
inline unsigned not_plain_mask(__m128i v) {
    __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)), _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
    bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    return static_cast<unsigned>(_mm_movemask_epi8(bad));
}

inline unsigned not_plain_mask(const char* p) { return not_plain_mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

}  // namespace
#endif

size_t plain_prefix(std::string_view s) {
    const char* p = s.data();
    const size_t n = s.size();
    size_t i = 0;
#ifdef __SSE2__
    if (n >= 16) {
        for (; i + 16 <= n; i += 16)
            if (unsigned m = not_plain_mask(p + i)) return i + static_cast<size_t>(__builtin_ctz(m));
        // The last bytes, in 16 that overlap ones already known plain.
        if (i < n)
            if (unsigned m = not_plain_mask(p + n - 16)) return n - 16 + static_cast<size_t>(__builtin_ctz(m));
        return n;
    }
#endif
    auto word_at = [&](size_t at) {
        uint64_t w;
        memcpy(&w, p + at, 8);
        return w;
    };
    // 8 to 15 bytes: two words that overlap; plain, most short values are done here.
#ifdef __SSE2__
    if (n >= 8) {
        __m128i v = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)),
                                       _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + n - 8)));
        if (not_plain_mask(v) == 0) return n;
    }
#else
    if (n >= 8 && !word_needs_look(word_at(0)) && !word_needs_look(word_at(n - 8))) return n;
#endif
    for (; i + 8 <= n; i += 8)
        if (word_needs_look(word_at(i))) break;
    while (i < n && plain_ascii(static_cast<unsigned char>(p[i]))) ++i;
    return i;
}

namespace {

// Copies runs of plain bytes as they are; at each other byte calls escape_one(out, rest), which
// writes the escape of what starts `rest` and returns how many bytes it took (at least one).
template <class Out, class EscapeOne>
void escape_runs(Out& out, std::string_view s, EscapeOne escape_one) {
    size_t i = 0;
    while (i < s.size()) {
        size_t run = i + plain_prefix(s.substr(i));
        out.append(s.data() + i, run - i);
        i = run;
        if (i < s.size()) i += escape_one(out, s.substr(i));
    }
}

}  // namespace

template <class Out>
void append_json_escaped_text(Out& out, std::string_view s) {
    escape_runs(out, s, [](Out& o, std::string_view rest) -> size_t {
        const unsigned char c = static_cast<unsigned char>(rest[0]);
        switch (c) {
            case '"': o += "\\\""; return 1;
            case '\\': o += "\\\\"; return 1;
            case '\n': o += "\\n"; return 1;
            case '\r': o += "\\r"; return 1;
            case '\t': o += "\\t"; return 1;
            default: break;
        }
        if (c < 0x80) {  // other C0 controls, DEL
            append_u00(o, c);
            return 1;
        }
        const size_t n = utf8_sequence_length(rest);
        if (n == 0) {
            append_u00(o, c);  // not UTF-8: the byte's value
            return 1;
        }
        if (n == 2 && c == 0xc2 && static_cast<unsigned char>(rest[1]) < 0xa0) {
            append_u00(o, static_cast<unsigned char>(rest[1]));  // a C1 control character
            return 2;
        }
        o.append(rest.data(), n);
        return n;
    });
}

template <class Out>
void append_log_escaped(Out& out, std::string_view s) {
    escape_runs(out, s, [](Out& o, std::string_view rest) -> size_t {
        const unsigned char c = static_cast<unsigned char>(rest[0]);
        const char buf[4] = {'\\', 'x', kHexUpper[c >> 4], kHexUpper[c & 15]};
        o.append(buf, sizeof buf);
        return 1;
    });
}

template void append_json_escaped_text(std::string&, std::string_view);
template void append_json_escaped_text(TextWriter&, std::string_view);
template void append_log_escaped(std::string&, std::string_view);
template void append_log_escaped(TextWriter&, std::string_view);

void append_html_escaped(std::string& out, std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            size_t n = utf8_sequence_length(s.substr(i));
            // C1 controls (U+0080..U+009F) are no more allowed in HTML than C0 ones.
            bool c1 = n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0;
            if (n && !c1) {
                out.append(s.substr(i, n));
                i += n;
            } else {
                out += "\xef\xbf\xbd";  // U+FFFD
                i += n ? n : 1;
            }
            continue;
        }
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            case '\t':
            case '\n':
            case '\r': out.push_back(char(c)); break;
            default:
                if (c < 0x20 || c == 0x7f)
                    out += "\xef\xbf\xbd";
                else
                    out.push_back(char(c));
        }
        ++i;
    }
}

}  // namespace gw
