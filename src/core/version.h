// Version and build information for -v and -V.
#pragma once

#include <string>

namespace gw {

std::string version_line();     // "gatewayd version 0.1.0"
std::string build_info();       // compiler, configure arguments, library versions (-V)

}  // namespace gw
