#include "modules/tracing/exporter.h"

#include <algorithm>

#include "core/config/config.h"
#include "core/log.h"
#include "core/metrics/store.h"
#include "core/services/registry.h"
#include "http/client/tls.h"
#include "http/transport.h"

namespace gw::tracing {

namespace {

constexpr const char* kSpansHelp =
    "Spans the tracing recorded, by outcome: exported (the collector took them), dropped_buffer_full (the "
    "worker's span buffer was full), dropped_export_failed (their export failed, or came due while the "
    "exporter backed off from a failing collector).";
constexpr const char* kExportsHelp = "OTLP exports (POSTs of a batch of spans) by result: ok (2xx), error.";

}  // namespace

Exporter::Exporter(const TracingConfig& config, const LogsConfig& logs, event::Loop& loop,
                   services::Registry& services, metrics::Store* metrics)
    : config_(config),
      logs_(logs),
      loop_(loop),
      services_(services),
      http_(services.http()),
      ring_(config.buffer ? config.buffer : config.batch * 4) {
    headers_.push_back({"Content-Type", "application/json"});
    for (const auto& [name, value] : config.headers) headers_.push_back({name, value});
    log_endpoint_ = config.endpoint.url.substr(0, config.endpoint.url.find('?'));
    if (metrics) {
        exported_ = metrics->counter("gateway_tracing_spans_total", "outcome=\"exported\"", kSpansHelp);
        dropped_full_ = metrics->counter("gateway_tracing_spans_total", "outcome=\"dropped_buffer_full\"", kSpansHelp);
        dropped_failed_ =
            metrics->counter("gateway_tracing_spans_total", "outcome=\"dropped_export_failed\"", kSpansHelp);
        exports_ok_ = metrics->counter("gateway_tracing_exports_total", "result=\"ok\"", kExportsHelp);
        exports_error_ = metrics->counter("gateway_tracing_exports_total", "result=\"error\"", kExportsHelp);
    }
    flush_timer_.set_callback([this] {
        export_now(false);
        loop_.arm(flush_timer_, config_.flush);
    });
    loop_.arm(flush_timer_, config_.flush);
    kick_timer_.set_callback([this] { export_now(false); });
    exit_timer_.set_callback([this] { loop_.stop(); });
}

Exporter::~Exporter() {
    handle_.cancel();
    loop_.cancel(flush_timer_);
    loop_.cancel(kick_timer_);
    loop_.cancel(exit_timer_);
}

bool Exporter::reserve(size_t n) {
    if (ring_.room() >= n) return true;
    count(dropped_full_, n);
    return false;
}

void Exporter::recorded() {
    if (ring_.size() >= config_.batch && !in_flight_ && !kick_timer_.armed() && !exiting_) loop_.arm(kick_timer_, 0);
}

void Exporter::export_now(bool all) {
    if (in_flight_) return;
    size_t n = all ? ring_.size() : std::min<size_t>(ring_.size(), config_.batch);
    if (n == 0) return;
    if (loop_.now() < retry_at_) {
        // Backing off from a failing collector: this batch goes (counted), nothing queues.
        count(dropped_failed_, n);
        ring_.pop(n);
        return;
    }
    encode_spans(ring_, n, config_.service_name, body_);
    ring_.pop(n);
    httpc::Request r;
    r.address = reinterpret_cast<const sockaddr*>(&config_.address);
    r.address_len = config_.address_len;
    r.tls = tls_.get();
    r.method = "POST";
    r.target = config_.endpoint.target;
    r.host = config_.endpoint.host;
    r.headers = headers_;
    r.body = body_;
    r.timeout = config_.timeout;
    r.connect_timeout = config_.timeout;
    r.read_body = false;
    in_flight_ = n;
    if (config_.endpoint.tls && !tls_ && !tls_tried_) {
        // At the first export: the tls module's worker part, listed after this one, provides
        // the maker only once the parts are made.
        tls_tried_ = true;
        if (httpc::TlsClients* clients = services_.find<httpc::TlsClients>())
            tls_ = clients->for_url(config_.endpoint.host_port, config_.ca_file, tls_error_);
        else
            tls_error_ = "no TLS client (the tls module is not built in)";
        if (!tls_)
            LOG_ERROR("tracing: cannot export to %s over TLS: %s", log_endpoint_.c_str(), tls_error_.c_str());
        r.tls = tls_.get();
    }
    if (config_.endpoint.tls && !tls_) {
        // No way to speak TLS to it: a failed export, without a connection.
        httpc::Answer a;
        a.error = httpc::Error::Tls;
        a.reason = tls_error_;
        on_http_answer(a);
        return;
    }
    handle_ = http_.fetch(r, *this);
}

void Exporter::on_http_answer(httpc::Answer& a) {
    size_t n = in_flight_;
    in_flight_ = 0;
    bool ok = a.error == httpc::Error::None && a.status >= 200 && a.status < 300;
    if (ok) {
        count(exported_, n);
        count(exports_ok_, 1);
        backoff_ms_ = 0;
        retry_at_ = 0;
    } else {
        count(dropped_failed_, n);
        count(exports_error_, 1);
        backoff_ms_ = backoff_ms_ ? std::min(backoff_ms_ * 2, kMaxBackoff) : kFirstBackoff;
        retry_at_ = loop_.now() + backoff_ms_;
        char why[160];
        if (a.error != httpc::Error::None)
            snprintf(why, sizeof why, "%.*s (%.*s)", static_cast<int>(a.reason.size()), a.reason.data(),
                     static_cast<int>(httpc::error_name(a.error).size()), httpc::error_name(a.error).data());
        else
            snprintf(why, sizeof why, "the collector answered %d", a.status);
        GW_LOG_THROTTLED(LogLevel::Info, failed_log_, loop_.now(), logs_.repeat_interval,
                         "tracing: export of %zu spans to %s failed: %s; spans are dropped until it answers "
                         "(next try in %lld ms)",
                         n, log_endpoint_.c_str(), why, static_cast<long long>(backoff_ms_));
    }
    if (exiting_) {
        if (ok && ring_.size() > 0) {
            export_now(true);
            if (in_flight_) return;
        }
        loop_.stop();
        return;
    }
    if (ring_.size() >= config_.batch) loop_.arm(kick_timer_, 0);
}

bool Exporter::on_exit() {
    exiting_ = true;
    loop_.cancel(flush_timer_);
    loop_.cancel(kick_timer_);
    if (!in_flight_) {
        loop_.update_time();
        if (ring_.size() == 0 || loop_.now() < retry_at_) return false;
        export_now(true);
        if (!in_flight_) return false;
    }
    // The export in flight ends by `timeout`; a little more for its answer to come through.
    loop_.arm(exit_timer_, config_.timeout + 100);
    return true;
}

}  // namespace gw::tracing
