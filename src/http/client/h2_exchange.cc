#include "http/client/h2_exchange.h"

#include <cstdio>
#include <vector>

#include "http/chars.h"
#include "http/proxy/h2_fields.h"
#include "http/response.h"

namespace gw::httpc {

H2Exchange::~H2Exchange() {
    if (session_) nghttp2_session_del(session_);
}

bool H2Exchange::start(std::string_view head, bool tls, std::string& out) {
    std::string storage;
    std::vector<nghttp2_nv> nva;
    if (!http::proxy::head_to_nv(head, tls ? "https" : "http", false, storage, nva)) return false;
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rv = nghttp2_session_client_new(&session_, cb, this);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) {
        session_ = nullptr;
        return false;
    }
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, 1);
    id_ = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), nullptr, nullptr);
    if (id_ < 0) return false;
    out.clear();
    drain(out);
    return !failed_;
}

void H2Exchange::drain(std::string& out) {
    for (;;) {
        const uint8_t* p = nullptr;
        ssize_t n = nghttp2_session_mem_send(session_, &p);
        if (n < 0) failed_ = true;
        if (n <= 0) return;
        out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    }
}

bool H2Exchange::feed(std::string_view in, std::string& http1, std::string& out) {
    if (failed_) return false;
    sink_ = &http1;
    ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(in.data()), in.size());
    sink_ = nullptr;
    if (rv < 0) failed_ = true;
    drain(out);
    // A protocol error ends the session (a GOAWAY queued, nothing more read): not HTTP/2.
    if (!ended_ && !nghttp2_session_want_read(session_)) failed_ = true;
    return !failed_;
}

int H2Exchange::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                          const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto* x = static_cast<H2Exchange*>(user);
    if (frame->hd.stream_id != x->id_ || x->final_) return 0;  // (trailers: dropped)
    std::string_view n(reinterpret_cast<const char*>(name), namelen), v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
        x->status_ = http::proxy::status_value(v);
    } else if (x->lines_.size() < 64 * 1024) {
        http::proxy::append_field(x->lines_, n, v);
        if (n == "content-length") x->chunked_ = false;
    }
    return 0;
}

int H2Exchange::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto* x = static_cast<H2Exchange*>(user);
    if (frame->hd.stream_id != x->id_ || !x->sink_) return 0;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && !x->final_) {
        if (x->status_ >= 100 && x->status_ < 200 && !end) {  // interim: skipped
            x->lines_.clear();
            x->status_ = 0;
            return 0;
        }
        x->final_ = true;
        bool has_length = x->lines_.find("content-length: ") == 0 || x->lines_.find("\r\ncontent-length: ") != std::string::npos;
        bool no_body = x->status_ == 204 || x->status_ == 304;
        x->chunked_ = !has_length && !no_body;
        std::string& o = *x->sink_;
        char line[64];
        int n = snprintf(line, sizeof line, "HTTP/1.1 %d ", x->status_);
        o.append(line, static_cast<size_t>(n));
        o += http::reason_phrase(x->status_);
        o += "\r\n";
        o += x->lines_;
        if (x->chunked_) o += "transfer-encoding: chunked\r\n";
        o += "\r\n";
        x->lines_.clear();
    }
    if (end && !x->ended_) {
        x->ended_ = true;
        if (x->chunked_) *x->sink_ += "0\r\n\r\n";
    }
    return 0;
}

int H2Exchange::on_data_chunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
    auto* x = static_cast<H2Exchange*>(user);
    if (id != x->id_ || !x->sink_ || !x->final_) return 0;
    std::string& o = *x->sink_;
    if (x->chunked_) {
        char size[24];
        int n = snprintf(size, sizeof size, "%zx\r\n", len);
        o.append(size, static_cast<size_t>(n));
    }
    o.append(reinterpret_cast<const char*>(data), len);
    if (x->chunked_) o += "\r\n";
    return 0;
}

int H2Exchange::on_stream_close(nghttp2_session*, int32_t id, uint32_t, void* user) {
    auto* x = static_cast<H2Exchange*>(user);
    if (id == x->id_ && !x->ended_) x->failed_ = true;  // reset before its end
    return 0;
}

}  // namespace gw::httpc
