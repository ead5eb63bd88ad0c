// Escaping for log lines, so that no input can break a line's format: a JSON string that stays
// valid JSON whatever the bytes, and nginx's default escaping for text formats.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gw {

class TextWriter;

// Length (1 to 4) of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 when `s` does not start with one.
size_t utf8_sequence_length(std::string_view s);

// Appends `s` as the inside of a JSON string (quotes not included). `"` and `\` are escaped,
// control characters (C0, DEL and the C1 range U+0080..U+009F) become \n, \r, \t or \u00XX,
// well-formed UTF-8 passes through, and every byte that is not part of well-formed UTF-8 is
// written as \u00XX of its value (as nginx's escape=json would, had it checked). The result is
// valid JSON, and UTF-8, for any input.
// (Out: std::string, or a TextWriter in mode None.)
template <class Out>
void append_json_escaped_text(Out& out, std::string_view s);

// Appends `s` escaped as nginx escapes log variables by default: `"`, `\`, bytes below 0x20 and
// bytes from 0x7f up become \xHH (upper-case hex), everything else passes. A quoted field of a
// text line (the combined format, the error log) then never ends early or spans lines.
template <class Out>
void append_log_escaped(Out& out, std::string_view s);

// Appends `s` as HTML text or as the value of a double-quoted attribute: `&`, `<`, `>`, `"` and
// `'` become character references; control characters other than tab, LF and CR, and bytes that
// are not part of well-formed UTF-8, become U+FFFD. No value can open an element or leave its
// attribute (the admin status page).
void append_html_escaped(std::string& out, std::string_view s);

// The length of the start of `s` that both escapers copy as it is (printable ASCII other than
// '"' and '\\'): all of `s` for most values, which then need no escaping pass at all.
size_t plain_prefix(std::string_view s);

extern template void append_json_escaped_text(std::string&, std::string_view);
extern template void append_json_escaped_text(TextWriter&, std::string_view);
extern template void append_log_escaped(std::string&, std::string_view);
extern template void append_log_escaped(TextWriter&, std::string_view);

}  // namespace gw
