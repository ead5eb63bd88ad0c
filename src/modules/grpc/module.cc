// The grpc module: a route's `grpc: true`. On such a route the gateway's own errors reach gRPC
// clients as gRPC statuses (200 + grpc-status, written by the core: src/http/grpc/routes.h),
// a request's grpc-timeout caps the proxy's timeouts (the deadline ends the call with
// DEADLINE_EXCEEDED instead of the route's longer timeout), and every gRPC response is counted
// by its grpc-status in gateway_grpc_responses_total{route, grpc_status}.
//
// A route's `grpc_web: true` also translates gRPC-Web (PROTOCOL-WEB.md) from browsers to gRPC:
// application/grpc-web(+proto) and -text requests go upstream as application/grpc with
// te: trailers (a -text body base64-decoded: it must have a Content-Length and fit the input
// buffer), and the response comes back as gRPC-Web: its content type, its messages as they
// stream, and its trailers (grpc-status, grpc-message, ...) as the last frame of the body
// (flag 0x80); base64 for -text, each piece a padded group so that it can be decoded as it
// arrives.
#include <array>
#include <cstring>
#include <new>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/config/dump.h"
#include "core/config/schema.h"
#include "core/metrics/store.h"
#include "core/module/module.h"
#include "core/services/registry.h"
#include "event/loop.h"
#include "http/filter.h"
#include "http/grpc/grpc.h"
#include "http/grpc/routes.h"
#include "http/stream.h"

namespace gw::module {
extern const Descriptor grpc_module;
}

namespace gw::grpc_routes {

using module::grpc_module;

namespace {

struct Settings : module::ConfigPart {
    std::vector<bool> routes;  // by route index: `grpc: true` (or grpc_web)
    std::vector<bool> web;     // by route index: `grpc_web: true`
    bool any = false;
};

Settings& building(Config& c) { return module::loading_part<Settings>(c, grpc_module); }
const Settings* part(const Config& c) { return module::find_part<Settings>(c, grpc_module); }

void read_route(schema::MapReader& route, Config& c, size_t index) {
    bool grpc = false, web = false;
    route.get_bool("grpc", grpc);
    route.get_bool("grpc_web", web);
    if (!grpc && !web) return;
    Settings& s = building(c);
    if (s.routes.size() <= index) s.routes.resize(index + 1, false);
    if (s.web.size() <= index) s.web.resize(index + 1, false);
    s.routes[index] = true;
    s.web[index] = web;
    s.any = true;
}

void dump_route(const Config& c, size_t index, int indent, std::string& out) {
    const Settings* s = part(c);
    if (!s || index >= s->routes.size() || !s->routes[index]) return;
    if (index < s->web.size() && s->web[index])
        dump::line(out, indent, "grpc_web", "true");
    else
        dump::line(out, indent, "grpc", "true");
}

constexpr size_t kStatuses = 17;  // 0 OK .. 16 UNAUTHENTICATED; others are counted as "other"

// The request's grpc-timeout becomes the stream's upstream deadline; a trailers-only response
// from the upstream (grpc-status in its head) is counted here (trailers: by the HTTP/2 codec).
class GrpcFilter final : public http::Filter {
  public:
    GrpcFilter(event::Loop& loop, http::GrpcRoutes& routes, int route)
        : http::Filter(http::kHookRequest | http::kHookResponseHead), loop_(loop), routes_(routes), route_(route) {}

    http::FilterStatus on_request(http::Stream& s, void*) override {
        const http::Request& req = s.request();
        if (!http::is_grpc_content_type(req.header("content-type"))) return http::FilterStatus::Continue;
        uint64_t ms = 0;
        // An invalid value is ignored (the call has no deadline of its own), as gRPC's Java
        // implementation does; the upstream sees it and may refuse it.
        if (http::grpc::parse_timeout(req.header("grpc-timeout"), ms)) s.set_upstream_deadline(loop_.now() + ms);
        return http::FilterStatus::Continue;
    }

    void on_response_head(http::Stream& s, void*, http::ResponseHead& head) override {
        if (!head.upstream()) return;  // the gateway's own answers are counted where written
        std::string_view status = head.upstream_header("grpc-status");
        if (!status.empty() && is_grpc_content_type_of(s)) routes_.count_status(route_, status);
    }

    void count(std::string_view grpc_status) { routes_.count_status(route_, grpc_status); }

  private:
    static bool is_grpc_content_type_of(http::Stream& s) {
        return http::is_grpc_content_type(s.request().header("content-type"));
    }
    event::Loop& loop_;
    http::GrpcRoutes& routes_;
    int route_;
};

// gRPC-Web, both ways (see the top of the file). Its state per request is in the stream's arena.
class WebFilter final : public http::Filter {
  public:
    enum class Mode : uint8_t { None, Binary, Text };
    struct Ctx {
        Mode mode = Mode::None;
        bool proto = false;  // "+proto" in the request's type (kept on the way back)
        bool waiting = false;
        http::grpc::TextEncoder encoder;
        http::ResumeHandle handle;
        http::Stream* stream = nullptr;
        WebFilter* filter = nullptr;
    };

    WebFilter(event::Loop& loop, http::GrpcRoutes& routes, int route)
        : http::Filter(http::kHookRequest | http::kHookResponseHead | http::kHookBody | http::kHookDestroy, sizeof(Ctx),
                       alignof(Ctx)),
          deadline_(loop, routes, route) {}

    http::FilterStatus on_request(http::Stream& s, void* ctx) override {
        Ctx& c = *new (ctx) Ctx();
        c.stream = &s;
        c.filter = this;
        std::string_view ct = s.request().header("content-type");
        std::string_view type = http::grpc_answer_type(ct);
        if (type.empty() || type == "application/grpc") {
            // Not gRPC-Web: its own type goes upstream (the filter owns the field's name).
            if (!ct.empty()) s.add_request_header("content-type", ct);
            return deadline_.on_request(s, nullptr);
        }
        c.mode = type == "application/grpc-web-text" ? Mode::Text : Mode::Binary;
        c.proto = ct.find("+proto") != std::string_view::npos;
        s.add_request_header("content-type", c.proto ? "application/grpc+proto" : "application/grpc");
        deadline_.on_request(s, nullptr);
        if (c.mode == Mode::Binary || s.request().body == http::BodyKind::None) return http::FilterStatus::Continue;
        // -text: the base64 body is decoded before it goes upstream, all at once.
        const http::Request& req = s.request();
        if (req.body != http::BodyKind::ContentLength) {
            s.reply_error(411, "a gRPC-Web text request needs a Content-Length");
            return http::FilterStatus::Done;
        }
        if (req.content_length > s.io().body_capacity()) {
            s.reply_error(413, "gRPC-Web text request too large");
            return http::FilterStatus::Done;
        }
        if (s.io().body_size() >= req.content_length) return decode_text(s) ? http::FilterStatus::Continue : http::FilterStatus::Done;
        c.waiting = true;
        c.handle = s.pause_handle();
        s.set_input_listener(&WebFilter::on_input, &c);
        return http::FilterStatus::Pause;
    }

    void on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) override {
        Ctx& c = *static_cast<Ctx*>(ctx);
        if (c.mode == Mode::None) {
            deadline_.on_response_head(s, nullptr, head);
            return;
        }
        if (head.upstream() && !head.upstream_header("grpc-status").empty()) deadline_.count(head.upstream_header("grpc-status"));
        if (!head.replace("content-type")) return;
        const char* type = c.mode == Mode::Text ? (c.proto ? "application/grpc-web-text+proto" : "application/grpc-web-text")
                                                : (c.proto ? "application/grpc-web+proto" : "application/grpc-web");
        head.add("content-type", type);
        if (head.upstream() && head.upstream()->body != http::ResponseBody::None) {
            s.want_response_trailers();
            s.add_body_filter(this, true);
        }
    }

    void on_body(http::Stream& s, void* ctx, std::string_view in, bool last, std::string& out) override {
        Ctx& c = *static_cast<Ctx*>(ctx);
        std::string_view bytes = in;
        std::string& frame = scratch_;
        if (last) {
            // The trailers as the body's last frame (gRPC-Web has no trailers of its own).
            frame.assign(in);
            fields_.clear();
            lower_.clear();
            std::string_view t = s.response_trailers();
            lower_.reserve(t.size());
            for (size_t pos = 0; pos < t.size();) {
                size_t end = t.find("\r\n", pos);
                if (end == std::string_view::npos) end = t.size();
                std::string_view line = t.substr(pos, end - pos);
                size_t colon = line.find(':');
                if (colon != std::string_view::npos && colon > 0) {
                    size_t at = lower_.size();
                    for (char ch : line.substr(0, colon)) lower_ += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch + 32) : ch;
                    std::string_view value = line.substr(colon + 1);
                    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
                    fields_.push_back({{lower_.data() + at, colon}, value});
                }
                pos = end + 2;
            }
            // (names point into lower_, which reserve() kept from moving)
            for (const http::grpc::Field& f : fields_)
                if (f.name == "grpc-status") deadline_.count(f.value);
            http::grpc::append_trailer_frame(fields_, frame);
            bytes = frame;
        }
        if (c.mode == Mode::Text) {
            c.encoder.feed(bytes, out);
            c.encoder.finish(out);  // a whole group per piece: decodable as it arrives
        } else {
            out.append(bytes);
        }
    }

    void on_destroy(http::Stream& s, void* ctx) override {
        Ctx& c = *static_cast<Ctx*>(ctx);
        if (c.waiting) s.set_input_listener(nullptr, nullptr);
        c.~Ctx();
    }

    std::span<const std::string_view> request_field_names() const override {
        static constexpr std::string_view kNames[] = {"content-type"};
        return kNames;
    }

  private:
    static void on_input(void* ctx) {
        Ctx& c = *static_cast<Ctx*>(ctx);
        http::Stream& s = *c.stream;
        if (s.io().body_size() < s.request().content_length) {
            if (s.io().body_size() >= s.io().body_capacity())
                c.handle.respond_error(413, "gRPC-Web text request too large");
            return;
        }
        c.waiting = false;
        s.set_input_listener(nullptr, nullptr);
        if (c.filter->decode_text(s))
            c.handle.resume();
        else
            c.handle.respond_error(400, "invalid base64 in a gRPC-Web text request");
    }

    // The whole -text body is in the input buffer: decoded in place, the rest of the buffer
    // moved down, the Content-Length made the decoded one's.
    bool decode_text(http::Stream& s) {
        http::Request& req = s.request();
        http::StreamIo& io = s.io();
        size_t n = static_cast<size_t>(req.content_length);
        http::grpc::TextDecoder dec;
        scratch_.clear();
        if (!dec.feed({io.body_data(), n}, scratch_) || !dec.at_group_boundary()) {
            s.reply_error(400, "invalid base64 in a gRPC-Web text request");
            return false;
        }
        memcpy(io.body_data(), scratch_.data(), scratch_.size());
        io.body_erase(scratch_.size(), n - scratch_.size());
        req.content_length = scratch_.size();
        return true;
    }

    GrpcFilter deadline_;  // grpc-timeout and the counts, as on a grpc: true route
    std::string scratch_, lower_;
    std::vector<http::grpc::Field> fields_;
};

class Worker final : public module::WorkerPart, public http::GrpcRoutes {
  public:
    Worker(const Config& config, const Settings& s, event::Loop& loop, metrics::Store& metrics,
           services::Registry& services)
        : config_(config), settings_(s), metrics_(metrics), services_(services) {
        cells_.resize(config.routes.size());
        for (size_t i = 0; i < config.routes.size(); ++i) {
            int r = static_cast<int>(i);
            if (i < s.web.size() && s.web[i])
                filters_.push_back(std::make_unique<WebFilter>(loop, *this, r));
            else if (is_grpc(r))
                filters_.push_back(std::make_unique<GrpcFilter>(loop, *this, r));
            else
                filters_.push_back(nullptr);
        }
        services_.provide<http::GrpcRoutes>(this);
    }
    ~Worker() override { services_.provide<http::GrpcRoutes>(nullptr); }

    http::Filter* route_filter(int route) override {
        return route >= 0 && static_cast<size_t>(route) < filters_.size() ? filters_[route].get() : nullptr;
    }

    bool is_grpc(int route) const override {
        return route >= 0 && static_cast<size_t>(route) < settings_.routes.size() && settings_.routes[route];
    }

    void count_status(int route, std::string_view grpc_status) override {
        if (!is_grpc(route)) return;
        size_t code = kStatuses;  // "other"
        if (!grpc_status.empty() && grpc_status.size() <= 2) {
            size_t n = 0;
            bool digits = true;
            for (char c : grpc_status) {
                digits &= c >= '0' && c <= '9';
                n = n * 10 + static_cast<size_t>(c - '0');
            }
            if (digits && n < kStatuses) code = n;
        }
        std::atomic<uint64_t>*& cell = cells_[route][code];
        if (!cell) {
            std::string labels = "route=\"" + metrics::escape_label_value(config_.routes[route].name) + "\",grpc_status=\"" +
                                 (code == kStatuses ? std::string("other") : std::to_string(code)) + "\"";
            cell = metrics_.counter("gateway_grpc_responses_total", labels,
                                    "gRPC responses of grpc: true routes, by route and grpc-status.");
            if (!cell) return;
        }
        cell->fetch_add(1, std::memory_order_relaxed);
    }

  private:
    const Config& config_;
    const Settings& settings_;
    metrics::Store& metrics_;
    services::Registry& services_;
    std::vector<std::unique_ptr<http::Filter>> filters_;
    std::vector<std::array<std::atomic<uint64_t>*, kStatuses + 1>> cells_;
};

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    const Settings* s = part(env.config);
    if (!s || !s->any) return nullptr;
    return std::make_unique<Worker>(env.config, *s, env.loop, env.metrics, env.services);
}

}  // namespace

}  // namespace gw::grpc_routes

namespace gw::module {

// Listed in src/modules/modules.list; objs/modules.cc refers to it by this name.
extern const Descriptor grpc_module = {
    .name = "grpc",
    .read_route = gw::grpc_routes::read_route,
    .dump_route = gw::grpc_routes::dump_route,
    .make_worker = gw::grpc_routes::make_worker,
};

}  // namespace gw::module
