// Percent-decoding of the purge endpoint's key and prefix (purge.h); pure, for the fuzz target.
#pragma once

#include <string>
#include <string_view>

namespace gw::cache {

// Percent-decodes `in` into `out` ('+' stays '+': keys are not form data); false on a bad escape.
bool percent_decode(std::string_view in, std::string& out);

}  // namespace gw::cache
