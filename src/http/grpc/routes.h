// gRPC routes (`grpc: true`), as the core sees them: the grpc module (src/modules/grpc/)
// provides this through services::Registry; without it no route is a gRPC route.
//
// On a gRPC route, a gRPC request (content-type application/grpc...) that the gateway answers
// itself with an error (a rate limit's 429, auth's 401, the proxy's 502/503/504, ...) gets what a
// gRPC client understands: HTTP 200 with grpc-status and grpc-message and no body (gRPC's
// "Trailers-Only" response; exchange.cc writes it). The access log and
// gateway_http_requests_total keep the gateway's HTTP status; gateway_grpc_responses_total
// counts the grpc-status every gRPC response of the route ended with.
#pragma once

#include <string_view>

namespace gw::http {

class GrpcRoutes {
  public:
    // `grpc: true` or `grpc_web: true`.
    virtual bool is_grpc(int route) const = 0;
    // A gRPC response of route `route` ended with `grpc_status` (its text: digits).
    virtual void count_status(int route, std::string_view grpc_status) = 0;

  protected:
    ~GrpcRoutes() = default;
};

// `ct` is the media type `type` (any case), alone or with a suffix ("+proto") or parameters.
inline bool is_media_type(std::string_view ct, std::string_view type) {
    if (ct.size() < type.size()) return false;
    for (size_t i = 0; i < type.size(); ++i) {
        char c = ct[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        if (c != type[i]) return false;
    }
    return ct.size() == type.size() || ct[type.size()] == '+' || ct[type.size()] == ';';
}

// A gRPC request: content-type application/grpc, +proto and the like (not gRPC-Web).
inline bool is_grpc_content_type(std::string_view ct) { return is_media_type(ct, "application/grpc"); }

// The content type of a gateway's answer to a request of type `ct`: application/grpc for gRPC,
// application/grpc-web or application/grpc-web-text for gRPC-Web; empty when the request is
// neither.
inline std::string_view grpc_answer_type(std::string_view ct) {
    for (std::string_view t : {"application/grpc", "application/grpc-web-text", "application/grpc-web"})
        if (is_media_type(ct, t)) return t;
    return {};
}

}  // namespace gw::http
