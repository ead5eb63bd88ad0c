// The syntax of configured texts with variables, apart from what the variables mean: splits a
// text into literal runs and variable names. Pure (no allocation but the output vector), so it
// is fuzzed on its own (t/fuzz/fuzz_vars.cc).
//
//   $name     letters, digits and '_' after the '$'
//   ${name}   the same, so that text can follow at once ("${host}name")
//   $$        a literal '$'
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace gw::http::vars {

struct Token {
    enum class Kind : unsigned char { Literal, Variable };
    Kind kind;
    std::string_view text;  // a view into the source: the literal run, or the variable's name
};

struct SyntaxError {
    enum class Kind : unsigned char {
        LoneDollar,    // a '$' that starts no name
        Unterminated,  // "${" without its '}'
        BadName,       // "${...}" around something that is not a name
    };
    Kind kind = Kind::LoneDollar;
    size_t offset = 0;  // of the offending '$' in the source
    size_t length = 1;  // of what it starts ("${ho st}": 8)
};

// Appends the tokens of `text` to `out`. False at the first syntax error (a '$' that starts no
// name, an unterminated "${", a bad name inside "${...}"), described in `err`.
bool tokenize(std::string_view text, std::vector<Token>& out, SyntaxError& err);

inline bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace gw::http::vars
