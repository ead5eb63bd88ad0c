// The status page's small HTML writers: escaped text, numbers, durations, ratios, badges, and
// the cells the page's script fills (data-f). Everything from the configuration or from requests
// goes through esc() (append_html_escaped); class names and field names are literals of the
// callers or come from fixed lists.
#pragma once

#include <string>
#include <string_view>

namespace gw::http::status_page {

inline constexpr std::string_view kDash = "\xe2\x80\x93";  // "–": no value

void esc(std::string& o, std::string_view s);
// printf-style, one double.
void fmt(std::string& o, const char* format, double v);
void count(std::string& o, double v);
// 0.000123 -> "123 µs", 0.0123 -> "12.3 ms", 1.5 -> "1.50 s"; NaN (no observations) -> "–".
void seconds(std::string& o, double s);
// "12.50 %"; "–" when `whole` is 0.
void ratio(std::string& o, double part, double whole);
// "1d 2h 3m", "2h 3m 4s", "3m 4s", "4s".
void duration(std::string& o, double secs);
// A badge: the class b-VALUE when VALUE is a known state (up, down, open, ...), b-other else.
void badge(std::string& o, std::string_view value);
// Opens a cell the page's script fills: data-f names the field; `cls` "n" right-aligns a number.
void cell(std::string& o, std::string_view field, std::string_view cls = "n");
// Opens a row keyed (data-k) and named (its first cell, class "name") by `key`, escaped.
void row_named(std::string& o, std::string_view key);
// A cell the script fills (cell()) holding a count, closed.
void count_cell(std::string& o, std::string_view field, double v);
// Opens <section id=ID><h2>TITLE</h2> (both literals of the caller).
void section_head(std::string& o, std::string_view id, std::string_view title);

}  // namespace gw::http::status_page
