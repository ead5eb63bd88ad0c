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
    virtual bool is_grpc(int route) const = 0;
    // A gRPC response of route `route` ended with `grpc_status` (its text: digits).
    virtual void count_status(int route, std::string_view grpc_status) = 0;

  protected:
    ~GrpcRoutes() = default;
};

// A gRPC request: content-type application/grpc, +proto and the like (not gRPC-Web).
inline bool is_grpc_content_type(std::string_view ct) {
    constexpr std::string_view kGrpc = "application/grpc";
    if (ct.size() < kGrpc.size()) return false;
    for (size_t i = 0; i < kGrpc.size(); ++i) {
        char c = ct[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        if (c != kGrpc[i]) return false;
    }
    return ct.size() == kGrpc.size() || ct[kGrpc.size()] == '+' || ct[kGrpc.size()] == ';';
}

}  // namespace gw::http
