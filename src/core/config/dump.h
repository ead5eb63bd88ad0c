// Writing `gatewayd -T` output: for the core's sections (config_dump.cc) and the modules'
// (module::Descriptor::dump). Strings are always double-quoted, so that no value can change
// meaning (`on`, `#`, `*`) when the output is loaded back.
#pragma once

#include <string>
#include <string_view>

namespace gw::dump {

// A double-quoted YAML string that loads back to `s`.
std::string quote(std::string_view s);
// "KEY: VALUE\n" after `indent` spaces; "KEY:\n" when `value` is empty (a map follows).
void line(std::string& out, int indent, std::string_view key, std::string_view value);
const char* boolean(bool b);  // "true", "false"
// The shortest decimal that reads back as the same double.
std::string ratio(double r);

}  // namespace gw::dump
