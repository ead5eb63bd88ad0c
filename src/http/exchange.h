// What a codec does with a request once its head is read - the same for an HTTP/1.1 connection
// (connection.cc) and an HTTP/2 stream (h2/server_stream.cc): the path made canonical, the
// methods the gateway answers itself, the local answers (admin endpoints, 404, `return:`
// routes, a filter's reply, a stored response), and the access log line at the end.
//
// Responses are written as HTTP/1.1 bytes (head and body) into the codec's output: the HTTP/1
// codec sends them as they are, the HTTP/2 codec turns the head into a HEADERS frame
// (h2/response_head.h). One writer of response heads, so error pages, filters' fields and
// x-request-id are the same on both protocols.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace gw {
struct HttpConfig;
struct ListenerConfig;
}  // namespace gw

namespace gw::http {

class Server;
class Stream;
struct RouteRuntime;

namespace exchange {

inline constexpr std::string_view kAllow = "allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n";

// Makes the request's path canonical (src/http/path.h) before routing; false with `why` when it
// is invalid (the codec answers 400).
bool normalize_path(Stream& s, const HttpConfig& http, std::string_view& why);

// OPTIONS * is about the server (200 with Allow); TRACE (it echoes credentials back) and
// CONNECT (the proxy does not tunnel it) get 405 unless the matched route names them. 0: the
// request is none of those.
int special_method_status(const Stream& s);

// The answer to a request no proxy takes: an admin listener's endpoints, 404 without a route,
// a `return:` route (rendered when it has variables). The views stay valid until the next call.
struct LocalAnswer {
    int status = 0;
    std::string_view headers;  // "name: value\r\n" lines
    std::string_view body;
    bool own_answer = false;   // no error page replaces it
};
LocalAnswer local_answer(Server& server, Stream& s, bool admin);

// Appends a whole response (head and body) with the gateway's fields, what the stream's
// filters add and its x-request-id. An error status (>= 400) takes the route's error page when
// there is one, unless `own_answer`. Returns the body bytes written (none for HEAD, 1xx, 204,
// 304); the head's size goes to Stream::response_head_bytes.
uint64_t append_response(Server& server, Stream& s, std::string& out, int status, std::string_view fixed_headers,
                         std::string_view body, bool keep_alive, bool own_answer = false);

// A filter's reply (Stream::reply, reply_error, reply_with_headers) as append_response writes it.
uint64_t append_reply(Server& server, Stream& s, std::string& out, bool keep_alive);

// A stored response (Stream::reply_stored: a cache's object) as a proxied response: its head as
// the upstream's to the filters, the route's header changes, its body through the body filters.
// `keep_alive` may be turned off (an HTTP/1.0 client and a transformed body: its end is the
// connection's). Returns the status sent and the body bytes; a head the gateway did not write
// is answered 500 (logged).
struct Sent {
    int status = 0;
    uint64_t body_bytes = 0;
};
Sent append_stored(Server& server, Stream& s, std::string& out, bool& keep_alive);

// The access log line of an exchange that ends with `status` (admin listeners only when asked
// for), and the gateway_http_requests_total cell it counts in - found while the stream still
// holds its identity. Once the stream has ended, the codec adds to it with
// Server::count_response (null for admin listeners: not counted).
std::atomic<uint64_t>* log_exchange(Server& server, Stream& s, const ListenerConfig& listener, RouteRuntime& route,
                                    int status, uint64_t body_bytes, uint64_t micros);

// Microseconds since `start` (CLOCK_MONOTONIC).
uint64_t micros_since(const struct timespec& start);

}  // namespace exchange
}  // namespace gw::http
