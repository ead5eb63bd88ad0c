// A response head handed to a codec as fields instead of HTTP/1 bytes. The HTTP/2 codec takes
// the proxy's response heads this way: written as HTTP/1 bytes and split again, a head cost it
// about 5,000 instructions (bench/callgrind h2proxy); as fields, a fraction of that.
#pragma once

#include <cstdint>
#include <string_view>

namespace gw::http {

class ResponseFieldSink {
  public:
    // A final (>= 200) response's status; the fields follow.
    virtual void head_status(int status) = 0;
    // One field, its name in any case (the sink lower-cases and drops what its protocol forbids).
    virtual void head_field(std::string_view name, std::string_view value) = 0;
    // Fields as "name: value\r\n" lines (the filters' and the route's added fields).
    virtual void head_lines(std::string_view lines) = 0;
    // The head is complete. The body follows in StreamIo::output() as the fields frame it
    // (Content-Length; none for 204/304/HEAD), or chunked when `chunked`. Returns the head's
    // size as HTTP/1.1 would have written it (the access log's bytes_sent counts it).
    virtual uint64_t head_end(bool chunked) = 0;

  protected:
    ~ResponseFieldSink() = default;
};

}  // namespace gw::http
