// A small JSON reader for the status page: it reads back the gateway's own /status/live
// document (src/http/status_page/live.h) to render the HTML snapshot from it, so that the page
// and the JSON show the same figures and the modules' /status members need no second renderer.
// Not for text from outside: the daemon's own JSON only (depth-limited all the same).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw::http::status_page {

struct Json {
    enum class Kind { Null, Bool, Number, String, Array, Object };
    Kind kind = Kind::Null;
    bool boolean = false;
    double number = 0;
    std::string text;  // a string's value; a number's text as written
    std::vector<Json> items;                             // Array
    std::vector<std::pair<std::string, Json>> members;  // Object, in document order

    // The member `key` of an object, or a null value (also when this is not an object).
    const Json& operator[](std::string_view key) const;
    bool is_null() const { return kind == Kind::Null; }
    bool is_object() const { return kind == Kind::Object; }
    bool is_array() const { return kind == Kind::Array; }
    bool is_string() const { return kind == Kind::String; }
    bool is_number() const { return kind == Kind::Number; }
    // The string's value, a number's text, "true"/"false"; "" for null, arrays and objects.
    std::string_view str() const;
    double num(double otherwise = 0) const { return kind == Kind::Number ? number : otherwise; }
};

// Parses `text` (one value, whitespace around it allowed). False when it is not valid JSON or
// nests deeper than 64 levels.
bool parse_json(std::string_view text, Json& out);

}  // namespace gw::http::status_page
