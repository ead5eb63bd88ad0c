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

// The content type of a gateway's answer to a request of type `ct`: application/grpc for gRPC,
// application/grpc-web or application/grpc-web-text for gRPC-Web; empty when the request is
// neither.
inline std::string_view grpc_answer_type(std::string_view ct) {
    if (is_grpc_content_type(ct)) return "application/grpc";
    constexpr std::string_view kWeb = "application/grpc-web", kText = "application/grpc-web-text";
    auto starts = [&](std::string_view p) {
        if (ct.size() < p.size()) return false;
        for (size_t i = 0; i < p.size(); ++i) {
            char c = ct[i];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
            if (c != p[i]) return false;
        }
        return ct.size() == p.size() || ct[p.size()] == '+' || ct[p.size()] == ';';
    };
    if (starts(kText)) return kText;
    if (starts(kWeb)) return kWeb;
    return {};
}

}  // namespace gw::http
