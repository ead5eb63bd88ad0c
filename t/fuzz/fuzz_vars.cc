// libFuzzer target for the syntax of texts with variables (src/http/vars/parse.cc), which every
// header value, return body and location, error page and access log template goes through.
//
//   make fuzz && objs/fuzz_vars -max_total_time=300 CORPUS_COPY t/fuzz/corpus/vars
//
// Invariants, checked with __builtin_trap():
//   - a failure points at a '$' inside the text;
//   - on success every token is a view inside the text; variable names are non-empty and made of
//     name characters; literal runs hold no '$' other than the one a "$$" stands for;
//   - writing the tokens back (literals with '$' as "$$", variables as "${name}") gives a text
//     that tokenizes to the same literal text and the same names (a round trip).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "http/vars/parse.h"

using namespace gw::http::vars;

namespace {

bool inside(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// The literal text and the names, flattened: literals as they render, a variable as "\0name\0".
std::string flatten(const std::vector<Token>& tokens) {
    std::string out;
    for (const Token& t : tokens) {
        if (t.kind == Token::Kind::Literal) {
            out += t.text;
        } else {
            out += '\0';
            out += t.text;
            out += '\0';
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<Token> tokens;
    SyntaxError err;
    if (!tokenize(text, tokens, err)) {
        CHECK(err.offset < text.size() && text[err.offset] == '$' && err.length >= 1 && err.offset + err.length <= text.size());
        return 0;
    }
    std::string rebuilt;
    for (const Token& t : tokens) {
        CHECK(inside(t.text, text));
        if (t.kind == Token::Kind::Variable) {
            CHECK(!t.text.empty());
            for (char c : t.text) CHECK(is_name_char(c));
            rebuilt += "${";
            rebuilt += t.text;
            rebuilt += '}';
        } else {
            CHECK(!t.text.empty());
            if (t.text.find('$') != std::string_view::npos) CHECK(t.text == "$");
            for (char c : t.text) {
                if (c == '$') rebuilt += '$';
                rebuilt += c;
            }
        }
    }
    std::vector<Token> again;
    SyntaxError err2;
    CHECK(tokenize(rebuilt, again, err2));
    CHECK(flatten(again) == flatten(tokens));
    return 0;
}
