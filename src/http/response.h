// Small pieces every response needs: reason phrases, the cached Date header, JSON error bodies.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace gw::http {

std::string_view reason_phrase(int status);

// "Sun, 22 Nov 2026 07:48:00 GMT", recomputed at most once a second.
class DateCache {
  public:
    std::string_view get();

  private:
    time_t last_ = 0;
    char buf_[40] = {};
    size_t len_ = 0;
};

// {"status":404,"error":"no route matches the request"}
std::string json_error_body(int status, std::string_view message);
// The same, appended to `out` (whose capacity is kept: no allocation once warm).
void append_json_error_body(std::string& out, int status, std::string_view message);

// Appends `s` to `out` as the inside of a JSON string (quotes not included); valid JSON for any
// bytes (see append_json_escaped_text).
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace gw::http
