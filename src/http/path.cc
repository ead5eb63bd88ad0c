#include "http/path.h"

namespace gw::http {

namespace {

constexpr char kHexUpper[] = "0123456789ABCDEF";

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_unreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}


// RFC 3629 UTF-8, fed one byte at a time (raw or percent-decoded): rejects overlong forms,
// surrogates, code points above U+10FFFF and truncated sequences.
class Utf8Check {
  public:
    bool feed(unsigned char b) {
        if (need_ == 0) {
            if (b < 0x80) return true;
            lo_ = 0x80;
            hi_ = 0xBF;
            if (b >= 0xC2 && b <= 0xDF) {
                need_ = 1;
            } else if (b >= 0xE0 && b <= 0xEF) {
                need_ = 2;
                if (b == 0xE0) lo_ = 0xA0;       // overlong
                if (b == 0xED) hi_ = 0x9F;       // surrogates
            } else if (b >= 0xF0 && b <= 0xF4) {
                need_ = 3;
                if (b == 0xF0) lo_ = 0x90;       // overlong
                if (b == 0xF4) hi_ = 0x8F;       // above U+10FFFF
            } else {
                return false;                    // a continuation byte, C0/C1 (overlong) or F5+
            }
            return true;
        }
        if (b < lo_ || b > hi_) return false;
        lo_ = 0x80;
        hi_ = 0xBF;
        --need_;
        return true;
    }
    bool complete() const { return need_ == 0; }

  private:
    int need_ = 0;
    unsigned char lo_ = 0x80, hi_ = 0xBF;
};

bool starts_with_dot_params(std::string_view seg) {
    // "." or ".." followed by path parameters, plain or with an encoded ';'.
    size_t dots = 0;
    while (dots < seg.size() && dots < 2 && seg[dots] == '.') ++dots;
    if (dots == 0) return false;
    std::string_view rest = seg.substr(dots);
    return rest.starts_with(';') || rest.starts_with("%3B");
}

PathVerdict invalid(std::string_view& reason, std::string_view why) {
    reason = why;
    return PathVerdict::Invalid;
}

}  // namespace

PathVerdict normalize_path(std::string_view path, const PathOptions& opt, std::string& out,
                           std::string_view& reason) {
    if (path_is_plain(path)) return PathVerdict::Unchanged;
    PathVerdict v = normalize_path_full(path, opt, out, reason);
    return v == PathVerdict::Normalized && out == path ? PathVerdict::Unchanged : v;
}

// One pass: each byte is decoded as rules 1-2 say and written to `out`; at each separator (and at
// the end) the segment just written is judged, and removed when it is a dot segment (rule 3) or
// an empty one to merge (rule 4). The output always has the form "/seg/seg/...". It is written
// through a pointer into `out`, sized once for the worst case (a raw backslash becomes "%5C").
PathVerdict normalize_path_full(std::string_view path, const PathOptions& opt, std::string& out,
                                std::string_view& reason) {
    out.clear();
    if (path.empty() || path[0] != '/') return invalid(reason, "path does not start with /");
    const size_t n = path.size();
    out.resize(3 * n + 1);
    char* const o = out.data();
    size_t len = 0;
    o[len++] = '/';
    size_t seg_start = 1;  // where the text of the current segment starts in `o`
    Utf8Check utf8;

    // The segment that ends here: true when the output may go on, false (reason set) when refused.
    auto end_segment = [&](bool last) -> bool {
        std::string_view seg(o + seg_start, len - seg_start);
        if (seg == "." || seg == "..") {
            const bool up = seg.size() == 2;
            len = seg_start - 1;  // drop "/." or "/.."
            if (up) {
                if (len == 0) {
                    reason = "path climbs above the root";
                    return false;
                }
                len = std::string_view(o, len).rfind('/');
            }
            o[len++] = '/';  // "/a/.." ends as "/" after a, and "/./b" goes on after "/"
            seg_start = len;
            return true;
        }
        if (starts_with_dot_params(seg)) {
            reason = "dot segment with path parameters";
            return false;
        }
        if (!last) {
            if (seg.empty() && opt.merge_slashes) return true;  // "//": the '/' already there serves
            o[len++] = '/';
            seg_start = len;
        }
        return true;
    };
    auto put_encoded = [&](unsigned char c) {
        o[len++] = '%';
        o[len++] = kHexUpper[c >> 4];
        o[len++] = kHexUpper[c & 15];
    };

    for (size_t i = 1; i < n; ++i) {
        unsigned char c = static_cast<unsigned char>(path[i]);
        bool encoded = false;
        if (c == '%') {
            if (i + 2 >= n) return invalid(reason, "incomplete percent-encoding in path");
            int hi = hex_value(path[i + 1]), lo = hex_value(path[i + 2]);
            if (hi < 0 || lo < 0) return invalid(reason, "invalid percent-encoding in path");
            c = static_cast<unsigned char>(hi * 16 + lo);
            i += 2;
            if (c == 0) return invalid(reason, "encoded NUL in path");
            if (c < 0x20 || c == 0x7f) return invalid(reason, "encoded control character in path");
            encoded = true;
        }
        if (!utf8.feed(c)) return invalid(reason, "invalid UTF-8 in path");
        if (c == '\\' || (encoded && c == '/')) {
            if (opt.escaped_slashes == EscapedSlashes::Reject)
                return invalid(reason, "encoded slash or backslash in path");
            if (opt.escaped_slashes == EscapedSlashes::Keep) {
                put_encoded(c);
                continue;
            }
            c = '/';  // Decode: a separator like any other
        }
        if (c == '/') {
            if (!end_segment(false)) return PathVerdict::Invalid;
        } else if (encoded && !is_unreserved(c)) {
            put_encoded(c);
        } else {
            o[len++] = static_cast<char>(c);
        }
    }
    if (!utf8.complete()) return invalid(reason, "invalid UTF-8 in path");
    if (!end_segment(true)) return PathVerdict::Invalid;
    out.resize(len);
    return PathVerdict::Normalized;
}

}  // namespace gw::http
