#include "http/status_page/json.h"

#include <charconv>

namespace gw::http::status_page {

namespace {

constexpr int kMaxDepth = 64;

struct Reader {
    std::string_view s;
    size_t i = 0;

    void ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    }
    bool literal(std::string_view word) {
        if (s.substr(i, word.size()) != word) return false;
        i += word.size();
        return true;
    }
    static void put_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out.push_back(char(cp));
        } else if (cp < 0x800) {
            out.push_back(char(0xc0 | (cp >> 6)));
            out.push_back(char(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
            out.push_back(char(0xe0 | (cp >> 12)));
            out.push_back(char(0x80 | ((cp >> 6) & 0x3f)));
            out.push_back(char(0x80 | (cp & 0x3f)));
        } else {
            out.push_back(char(0xf0 | (cp >> 18)));
            out.push_back(char(0x80 | ((cp >> 12) & 0x3f)));
            out.push_back(char(0x80 | ((cp >> 6) & 0x3f)));
            out.push_back(char(0x80 | (cp & 0x3f)));
        }
    }
    bool hex4(uint32_t& v) {
        if (i + 4 > s.size()) return false;
        v = 0;
        for (int k = 0; k < 4; ++k) {
            char c = s[i++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
            else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
            else return false;
        }
        return true;
    }
    bool string(std::string& out) {
        if (i >= s.size() || s[i] != '"') return false;
        ++i;
        while (i < s.size()) {
            char c = s[i++];
            if (c == '"') return true;
            if (static_cast<unsigned char>(c) < 0x20) return false;
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (i >= s.size()) return false;
            char e = s[i++];
            switch (e) {
                case '"': out.push_back('"'); break;
                case '\\': out.push_back('\\'); break;
                case '/': out.push_back('/'); break;
                case 'b': out.push_back('\b'); break;
                case 'f': out.push_back('\f'); break;
                case 'n': out.push_back('\n'); break;
                case 'r': out.push_back('\r'); break;
                case 't': out.push_back('\t'); break;
                case 'u': {
                    uint32_t cp;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xd800 && cp < 0xdc00 && s.substr(i, 2) == "\\u") {
                        size_t save = i;
                        i += 2;
                        uint32_t lo;
                        if (hex4(lo) && lo >= 0xdc00 && lo < 0xe000)
                            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        else
                            i = save;
                    }
                    if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd;  // a lone surrogate
                    put_utf8(out, cp);
                    break;
                }
                default: return false;
            }
        }
        return false;
    }
    bool number(Json& out) {
        size_t start = i;
        if (i < s.size() && s[i] == '-') ++i;
        auto digits = [&] {
            size_t d = i;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
            return i > d;
        };
        if (!digits()) return false;
        if (i < s.size() && s[i] == '.' && (++i, !digits())) return false;
        if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
            ++i;
            if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
            if (!digits()) return false;
        }
        out.kind = Json::Kind::Number;
        out.text.assign(s.substr(start, i - start));
        std::from_chars(out.text.data(), out.text.data() + out.text.size(), out.number);
        return true;
    }
    bool value(Json& out, int depth) {
        if (depth > kMaxDepth) return false;
        ws();
        if (i >= s.size()) return false;
        char c = s[i];
        if (c == '{') {
            ++i;
            out.kind = Json::Kind::Object;
            ws();
            if (i < s.size() && s[i] == '}') return ++i, true;
            for (;;) {
                ws();
                std::string key;
                if (!string(key)) return false;
                ws();
                if (i >= s.size() || s[i] != ':') return false;
                ++i;
                out.members.emplace_back(std::move(key), Json{});
                if (!value(out.members.back().second, depth + 1)) return false;
                ws();
                if (i < s.size() && s[i] == ',') { ++i; continue; }
                if (i < s.size() && s[i] == '}') return ++i, true;
                return false;
            }
        }
        if (c == '[') {
            ++i;
            out.kind = Json::Kind::Array;
            ws();
            if (i < s.size() && s[i] == ']') return ++i, true;
            for (;;) {
                out.items.emplace_back();
                if (!value(out.items.back(), depth + 1)) return false;
                ws();
                if (i < s.size() && s[i] == ',') { ++i; continue; }
                if (i < s.size() && s[i] == ']') return ++i, true;
                return false;
            }
        }
        if (c == '"') {
            out.kind = Json::Kind::String;
            return string(out.text);
        }
        if (c == 't') return literal("true") && (out.kind = Json::Kind::Bool, out.boolean = true);
        if (c == 'f') return literal("false") && (out.kind = Json::Kind::Bool, true);
        if (c == 'n') return literal("null");
        return number(out);
    }
};

}  // namespace

const Json& Json::operator[](std::string_view key) const {
    static const Json null_value;
    if (kind == Kind::Object)
        for (const auto& [k, v] : members)
            if (k == key) return v;
    return null_value;
}

std::string_view Json::str() const {
    switch (kind) {
        case Kind::String:
        case Kind::Number: return text;
        case Kind::Bool: return boolean ? "true" : "false";
        default: return {};
    }
}

bool parse_json(std::string_view text, Json& out) {
    out = Json{};
    Reader r{text};
    if (!r.value(out, 0)) return false;
    r.ws();
    return r.i == text.size();
}

}  // namespace gw::http::status_page
