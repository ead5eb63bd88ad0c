// One HTTP/2 exchange of the outbound client (httpc::Request::http2: health probes of upstreams
// with protocol: h2c | h2): the request made from the HTTP/1 head the client writes anyway
// (preface, SETTINGS and one HEADERS with END_STREAM), and the response turned back into
// HTTP/1 bytes - a head (content-length kept, else chunked) and the body - so the client reads
// it with the same parser as any other.
#pragma once

#include <nghttp2/nghttp2.h>

#include <string>
#include <string_view>

namespace gw::httpc {

class H2Exchange {
  public:
    H2Exchange() = default;
    ~H2Exchange();
    H2Exchange(const H2Exchange&) = delete;
    H2Exchange& operator=(const H2Exchange&) = delete;

    // `head`: the HTTP/1 request head; the frames to send go to `out` (replacing it). False when
    // the head cannot be sent as HTTP/2.
    bool start(std::string_view head, bool tls, std::string& out);
    // Bytes read from the server: the response so far as HTTP/1 goes to `http1`, frames the
    // session has to send (SETTINGS and PING acknowledgements) to `out`. False: not HTTP/2.
    bool feed(std::string_view in, std::string& http1, std::string& out);

  private:
    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                         const uint8_t* value, size_t valuelen, uint8_t flags, void* user);
    static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
    static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t id, const uint8_t* data, size_t len, void* user);
    static int on_stream_close(nghttp2_session*, int32_t id, uint32_t error_code, void* user);
    void drain(std::string& out);

    nghttp2_session* session_ = nullptr;
    int32_t id_ = -1;
    std::string* sink_ = nullptr;  // during feed(): the HTTP/1 bytes
    std::string lines_;
    int status_ = 0;
    bool final_ = false;
    bool chunked_ = false;
    bool ended_ = false;
    bool failed_ = false;
};

}  // namespace gw::httpc
