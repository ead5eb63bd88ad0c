// Reading a small configured file whole (a certificate, an error page): at load time only.
#pragma once

#include <cstdint>
#include <string>

namespace gw {

// Reads the regular file `path`, at most `limit` bytes, into `out`. False with `why` ("No such
// file or directory", "not a regular file", "larger than 1m") otherwise.
bool read_small_file(const std::string& path, uint64_t limit, std::string& out, std::string& why);

}  // namespace gw
