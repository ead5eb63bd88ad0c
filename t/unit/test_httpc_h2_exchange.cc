// The outbound client's HTTP/2 exchange (src/http/client/h2_exchange.h), against an in-memory
// libnghttp2 server: the request's fields as sent, the response read back as HTTP/1 bytes.
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "http/client/h2_exchange.h"

namespace gw::httpc {
namespace {

struct Server {
    nghttp2_session* s = nullptr;
    std::vector<std::pair<std::string, std::string>> fields;
    int32_t stream = 0;
    std::string body;
    size_t body_sent = 0;
    bool with_length = true;

    Server() {
        nghttp2_session_callbacks* cb;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_on_header_callback(
            cb, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl, const uint8_t* v, size_t vl,
                   uint8_t, void* u) {
                auto* me = static_cast<Server*>(u);
                me->stream = f->hd.stream_id;
                me->fields.emplace_back(std::string(reinterpret_cast<const char*>(n), nl),
                                        std::string(reinterpret_cast<const char*>(v), vl));
                return 0;
            });
        nghttp2_session_server_new(&s, cb, this);
        nghttp2_session_callbacks_del(cb);
        nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, nullptr, 0);
    }
    ~Server() { nghttp2_session_del(s); }

    void recv(const std::string& in) {
        ASSERT_EQ(nghttp2_session_mem_recv(s, reinterpret_cast<const uint8_t*>(in.data()), in.size()),
                  static_cast<ssize_t>(in.size()));
    }
    std::string send() {
        std::string out;
        const uint8_t* p;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(s, &p)) > 0) out.append(reinterpret_cast<const char*>(p), n);
        return out;
    }
    void respond(int status) {
        std::string st = std::to_string(status), len = std::to_string(body.size());
        std::vector<nghttp2_nv> nva;
        auto add = [&](const char* n, const std::string& v) {
            nva.push_back({(uint8_t*)n, (uint8_t*)v.data(), strlen(n), v.size(), NGHTTP2_NV_FLAG_NONE});
        };
        add(":status", st);
        add("x-probe", std::string("yes"));
        if (with_length) add("content-length", len);
        nghttp2_data_provider prd;
        prd.source.ptr = this;
        prd.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t n, uint32_t* flags,
                               nghttp2_data_source* src, void*) -> ssize_t {
            auto* me = static_cast<Server*>(src->ptr);
            size_t k = std::min(n, me->body.size() - me->body_sent);
            memcpy(buf, me->body.data() + me->body_sent, k);
            me->body_sent += k;
            if (me->body_sent == me->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
            return static_cast<ssize_t>(k);
        };
        // (nva values outlive the call: nghttp2 copies them)
        std::string x = "yes";
        nva[1].value = (uint8_t*)x.data();
        ASSERT_EQ(nghttp2_submit_response(s, stream, nva.data(), nva.size(), body.empty() ? nullptr : &prd), 0);
    }
};

TEST(HttpcH2Exchange, ProbeWithLength) {
    H2Exchange x;
    std::string out;
    ASSERT_TRUE(x.start("GET /healthz HTTP/1.1\r\nHost: backend.test\r\nConnection: close\r\nX-A: b\r\n\r\n", false, out));
    EXPECT_EQ(out.compare(0, 24, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0);
    Server srv;
    srv.recv(out);
    std::vector<std::pair<std::string, std::string>> want = {
        {":method", "GET"}, {":scheme", "http"}, {":authority", "backend.test"}, {":path", "/healthz"}, {"x-a", "b"}};
    EXPECT_EQ(srv.fields, want);
    srv.body = "ok";
    srv.respond(200);
    std::string http1, acks;
    ASSERT_TRUE(x.feed(srv.send(), http1, acks));
    EXPECT_EQ(http1, "HTTP/1.1 200 OK\r\nx-probe: yes\r\ncontent-length: 2\r\n\r\nok");
    EXPECT_FALSE(acks.empty());  // the SETTINGS acknowledgement
}

TEST(HttpcH2Exchange, ChunkedWithoutLength) {
    H2Exchange x;
    std::string out;
    ASSERT_TRUE(x.start("GET / HTTP/1.1\r\nHost: h\r\n\r\n", true, out));
    Server srv;
    srv.recv(out);
    EXPECT_EQ(srv.fields[1], (std::pair<std::string, std::string>{":scheme", "https"}));
    srv.body = std::string(40000, 'z');
    srv.with_length = false;
    srv.respond(503);
    std::string http1, acks;
    ASSERT_TRUE(x.feed(srv.send(), http1, acks));
    ASSERT_EQ(http1.rfind("HTTP/1.1 503 Service Unavailable\r\nx-probe: yes\r\ntransfer-encoding: chunked\r\n\r\n", 0), 0u);
    EXPECT_EQ(http1.substr(http1.size() - 5), "0\r\n\r\n");
}

TEST(HttpcH2Exchange, NotHttp2) {
    H2Exchange x;
    std::string out, http1, acks;
    ASSERT_TRUE(x.start("GET / HTTP/1.1\r\nHost: h\r\n\r\n", false, out));
    EXPECT_FALSE(x.feed("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", http1, acks));
}

}  // namespace
}  // namespace gw::httpc
