#include <algorithm>

#include "core/config/schema.h"
#include "core/text_escape.h"
#include "core/module/module.h"
#include "http/vars/parse.h"
#include "http/vars/vars.h"

namespace gw::http::vars {

namespace {

const Definition* find_in(std::span<const Definition> defs, std::string_view name, std::string& param) {
    for (const Definition& d : defs) {
        if (!d.family) {
            if (d.name == name) return &d;
        } else if (name.size() > d.name.size() && name.starts_with(d.name)) {
            std::string_view rest = name.substr(d.name.size());
            param = d.param ? d.param(rest) : std::string(rest);
            return &d;
        }
    }
    return nullptr;
}

// The families' prefixes ("http_", "arg_", ...), built-in and the modules'.
std::vector<std::string> family_prefixes() {
    std::vector<std::string> out;
    auto add = [&](std::span<const Definition> defs) {
        for (const Definition& d : defs)
            if (d.family) out.emplace_back(d.name);
    };
    add(builtins());
    for (const module::Descriptor* m : module::modules()) add(m->variables);
    return out;
}

// What an unknown name probably meant: the nearest variable, or a family whose prefix is
// mistyped with the rest kept ($htp_user_agent: $http_user_agent), or a family's prefix
// alone ($http, $http_: $http_NAME). Empty when nothing is close.
std::string suggestion(std::string_view name) {
    std::string_view near = schema::suggest(name, names());
    if (!near.empty()) return std::string(near);
    std::vector<std::string> prefixes = family_prefixes();
    for (const std::string& p : prefixes)
        if (p.starts_with(name) && p.size() <= name.size() + 1) return p + "NAME";
    size_t cut = name.find('_');
    if (cut == std::string_view::npos || cut + 1 == name.size()) return {};
    std::string_view prefix = schema::suggest(name.substr(0, cut + 1), prefixes);
    if (prefix.empty()) return {};
    return std::string(prefix) + std::string(name.substr(cut + 1));
}

}  // namespace

const Definition* find(std::string_view name, std::string& param) {
    if (const Definition* d = find_in(builtins(), name, param)) return d;
    for (const module::Descriptor* m : module::modules())
        if (const Definition* d = find_in(m->variables, name, param)) return d;
    return nullptr;
}

std::vector<std::string> names() {
    std::vector<std::string> out;
    auto add = [&](std::span<const Definition> defs) {
        for (const Definition& d : defs) out.push_back(d.family ? std::string(d.name) + "NAME" : std::string(d.name));
    };
    add(builtins());
    for (const module::Descriptor* m : module::modules()) add(m->variables);
    return out;
}

void Template::render(const Env& env, TextWriter& out, Escape escape) const {
    using Mode = TextWriter::Escape;
    // How values are written: a safe value (Definition::safe) needs no log or JSON escaping, a
    // clean one no CR/LF scan in a header.
    Mode mode = Mode::None;
    bool dash = false;  // a missing value is "-"
    switch (escape) {
        case Escape::Header: mode = Mode::Header; break;
        case Escape::Text: break;
        case Escape::Log: mode = Mode::Log; dash = true; break;
        case Escape::Json: mode = Mode::Json; dash = true; break;
    }
    bool json = escape == Escape::Json;  // a JSON field's literal is inside the string
    out.set_escape(Mode::None);
    for (const Piece& p : pieces_) {
        if (p.get) {
            // The value is written as it is, then looked at once as a whole (escape_since).
            uint64_t mark = out.size();
            if (!p.get(env, p.param, out)) {
                if (dash) out.put('-');
            } else if (!(mode == Mode::Header ? p.clean : p.safe)) {
                out.escape_since(mark, mode);
            }
        }
        out.append(json ? p.text_json : p.text);
    }
}

void Template::render(const Env& env, std::string& out, Escape escape) const {
    StringWriter w(out);
    render(env, w, escape);
}

bool compile(std::string_view text, const Mark& mark, std::string_view path, Diagnostics& diags, Template& out) {
    out = Template();
    out.source_ = std::string(text);
    std::vector<Token> tokens;
    SyntaxError err;
    if (!tokenize(text, tokens, err)) {
        std::string quoted = "\"" + std::string(text) + "\"";
        switch (err.kind) {
            case SyntaxError::Kind::LoneDollar:
                schema::report(diags, mark, path, "a '$' must start a variable name (write \"$$\" for a '$') in " + quoted);
                break;
            case SyntaxError::Kind::Unterminated:
                schema::report(diags, mark, path, "unterminated \"${\" in " + quoted);
                break;
            case SyntaxError::Kind::BadName:
                schema::report(diags, mark, path,
                               "bad variable name \"" + std::string(text.substr(err.offset, err.length)) + "\"");
                break;
        }
        return false;
    }
    bool ok = true;
    for (const Token& t : tokens) {
        if (t.kind == Token::Kind::Literal) {
            if (!out.pieces_.empty())
                out.pieces_.back().text += t.text;  // after the variable; "a$$b" is one literal "a$b"
            else
                out.pieces_.emplace_back().text = t.text;
            continue;
        }
        std::string param;
        const Definition* d = find(t.text, param);
        if (!d) {
            std::string msg = "unknown variable \"$" + std::string(t.text) + "\"";
            std::string hint = suggestion(t.text);
            if (!hint.empty()) msg += " (did you mean \"$" + hint + "\"?)";
            schema::report(diags, mark, path, msg);
            ok = false;
            continue;
        }
        Template::Piece p;
        p.get = d->get;
        p.param = std::move(param);
        p.numeric = d->numeric;
        p.safe = d->safe;
        p.clean = d->clean;
        out.pieces_.push_back(std::move(p));
        out.constant_ = false;
    }
    for (Template::Piece& p : out.pieces_) append_json_escaped_text(p.text_json, p.text);
    return ok;
}

Template literal(std::string_view text) {
    Template t;
    t.source_ = std::string(text);
    if (!text.empty()) {
        Template::Piece p;
        p.text = std::string(text);
        append_json_escaped_text(p.text_json, p.text);
        t.pieces_.push_back(std::move(p));
    }
    return t;
}

}  // namespace gw::http::vars
