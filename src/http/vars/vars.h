// Variables: the small language of every configured text that depends on the request -
// header values (`X-Real-IP: $remote_addr`), `return` bodies and locations, error pages, access
// log templates and JSON fields.
//
// A text is compiled once, when the configuration is loaded, into a Template: a list of literal
// pieces and variable pieces (a getter and its parameter, e.g. `http_` and "user-agent"). An
// unknown variable is a configuration error at FILE:LINE:COL with a did-you-mean. Rendering a
// template for a request writes through a TextWriter (core/text_writer.h): nothing is parsed or
// allocated, each value is copied (and escaped, where the text needs it) once.
//
// Syntax: `$name` (letters, digits, '_'), `${name}` (to write text right after it), `$$` for a
// literal '$'. Families take the rest of the name as a parameter: `$http_x_user_id` is the
// request header "x-user-id" ('_' stands for '-', as in nginx), `$arg_page`, `$cookie_uid`.
//
// A value that is not available (no such header, no upstream yet, a response figure in a request
// header) renders as "-" in access logs and as nothing elsewhere.
//
// Modules add their own variables through their Descriptor's `variables` (TLS: `$ssl_*`).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/diagnostics.h"
#include "core/text_writer.h"

namespace gw {
struct LogsConfig;
}

namespace gw::http {
class Stream;
}

namespace gw::http::vars {

// What variables read: the stream (request, client, route, id, upstream attempts), and the
// response's figures as far as they are known where the text is rendered.
struct Env {
    const Stream* stream = nullptr;
    int status = 0;                  // the response status; 0: not known yet
    uint64_t body_bytes = 0;         // response body bytes sent (when `finished`)
    uint64_t bytes_sent = 0;         // head and body (when `finished`)
    bool finished = false;           // the response is complete (access log)
    double request_time = -1;        // seconds; < 0: measured from the stream's start when read
    uint32_t generation = 0;
    // In access logs: secrets are redacted as in the built-in formats (query parameters and
    // headers of `logs.redact`); null elsewhere (a header sent upstream carries the real value).
    const LogsConfig* redact = nullptr;
};

// Writes the variable's value to `out` (which escapes it as the text needs); false when it is not
// available, and then nothing was written. `param` is the family's parameter ("user-agent" for
// $http_user_agent), empty otherwise.
using Getter = bool (*)(const Env& env, std::string_view param, TextWriter& out);

struct Definition {
    std::string_view name;  // "remote_addr"; for a family its prefix, e.g. "http_"
    Getter get = nullptr;
    bool family = false;    // `name` is a prefix and the rest of the name is the parameter
    bool numeric = false;   // a number when available (written bare in JSON log fields)
    // Its values never need escaping in a log line: printable ASCII without '"' or '\\'
    // (addresses, numbers, times), so they are written straight into the line.
    bool safe = false;
    // Its values never hold CR, LF or NUL (every built-in one: they come from the parsed request,
    // which refuses them, or from the configuration), so a header value takes them without a
    // scan. A module's variable without it is scanned.
    bool clean = false;
    // The parameter as the getter wants it, made once at load: header names lower-cased with
    // '_' as '-' (http_, cookie_ keep their case rules). Null: the rest as written.
    std::string (*param)(std::string_view rest) = nullptr;
};

// The built-in variables (builtin.cc).
std::span<const Definition> builtins();

// The definition `name` (without '$') refers to, among the built-in ones and the modules'; for
// a family, `param` receives the parameter. Null when there is none.
const Definition* find(std::string_view name, std::string& param);

// Every variable name (families as "http_NAME"), for suggestions and documentation.
std::vector<std::string> names();

class Template {
  public:
    // How variable values are written (literals are written as they are, but JSON-escaped in
    // Json: a JSON field's literal is inside the string as well).
    enum class Escape : uint8_t {
        Header,  // CR, LF and NUL dropped; a missing value is empty
        Text,    // as is (a response body, a location); a missing value is empty
        Log,     // escaped as log text (\xHH); a missing value is "-"
        Json,    // escaped for a JSON string; a missing value is "-"
    };

    // A variable and the literal text after it, or (the first piece only) a literal alone: one
    // step of the render loop per variable.
    struct Piece {
        std::string text;          // the literal after the variable; the whole piece when get is null
        std::string text_json;     // `text` escaped for a JSON string (made at load)
        Getter get = nullptr;
        std::string param;
        bool numeric = false;
        bool safe = false;         // (Definition::safe)
        bool clean = false;        // (Definition::clean)
    };

    const std::string& source() const { return source_; }  // as written (for -T)
    bool constant() const { return constant_; }           // no variables
    bool empty() const { return source_.empty(); }
    const std::vector<Piece>& pieces() const { return pieces_; }
    // A single variable and nothing else (JSON log fields write a numeric one bare).
    const Piece* single_variable() const {
        return pieces_.size() == 1 && pieces_[0].get && pieces_[0].text.empty() ? &pieces_[0] : nullptr;
    }

    // Writes the rendered text to `out` (its escape mode is None again after).
    void render(const Env& env, TextWriter& out, Escape escape) const;
    // Appends the rendered text to `out`.
    void render(const Env& env, std::string& out, Escape escape) const;

  private:
    friend bool compile(std::string_view, const Mark&, std::string_view, Diagnostics&, Template&);
    friend Template literal(std::string_view);
    std::string source_;
    std::vector<Piece> pieces_;
    bool constant_ = true;
};

// Compiles `text` (found at `mark`, under the config path `path` for messages) into `out`.
// Problems are reported to `diags` (unknown variable with a suggestion, a lone '$', an
// unterminated "${"); false then.
bool compile(std::string_view text, const Mark& mark, std::string_view path, Diagnostics& diags, Template& out);

// A constant template holding `text` as it is (no '$' processing).
Template literal(std::string_view text);

}  // namespace gw::http::vars
