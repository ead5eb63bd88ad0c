#include "http/vars/parse.h"

namespace gw::http::vars {

bool tokenize(std::string_view text, std::vector<Token>& out, SyntaxError& err) {
    size_t run = 0;  // start of the literal run being collected
    auto literal = [&](size_t end) {
        if (end > run) out.push_back({Token::Kind::Literal, text.substr(run, end - run)});
    };
    for (size_t i = 0; i < text.size();) {
        if (text[i] != '$') {
            ++i;
            continue;
        }
        literal(i);
        if (i + 1 < text.size() && text[i + 1] == '$') {  // "$$": the first '$' is the literal
            out.push_back({Token::Kind::Literal, text.substr(i, 1)});
            i += 2;
            run = i;
            continue;
        }
        std::string_view name;
        size_t next;
        if (i + 1 < text.size() && text[i + 1] == '{') {
            size_t close = text.find('}', i + 2);
            if (close == std::string_view::npos) {
                err = {SyntaxError::Kind::Unterminated, i, text.size() - i};
                return false;
            }
            name = text.substr(i + 2, close - i - 2);
            next = close + 1;
            bool ok = !name.empty();
            for (char c : name) ok = ok && is_name_char(c);
            if (!ok) {
                err = {SyntaxError::Kind::BadName, i, next - i};
                return false;
            }
        } else {
            size_t end = i + 1;
            while (end < text.size() && is_name_char(text[end])) ++end;
            name = text.substr(i + 1, end - i - 1);
            next = end;
            if (name.empty()) {
                err = {SyntaxError::Kind::LoneDollar, i, 1};
                return false;
            }
        }
        out.push_back({Token::Kind::Variable, name});
        i = next;
        run = i;
    }
    literal(text.size());
    return true;
}

}  // namespace gw::http::vars
