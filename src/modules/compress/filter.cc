#include "modules/compress/filter.h"

#include <new>

#include "core/log.h"
#include "http/chars.h"
#include "http/parser.h"
#include "http/stream.h"

namespace gw::compress {

namespace {

using http::chars::iequals;

struct Ctx {
    RequestFacts req;
    bool flush_each = false;  // the upstream streams its body (chunked, or until it closes)
    Encoder* enc = nullptr;
    std::string* whole = nullptr;  // a whole body gathered for one libdeflate call
    WholeGzip* deflater = nullptr;
};

// Whether the comma-separated list `value` has the element `token` (case-insensitive).
bool list_has(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        size_t comma = value.find(',');
        std::string_view item = value.substr(0, comma);
        while (!item.empty() && http::chars::is_ows(item.front())) item.remove_prefix(1);
        while (!item.empty() && http::chars::is_ows(item.back())) item.remove_suffix(1);
        if (iequals(item, token)) return true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace

Verdict decide(const Policy& p, const RequestFacts& req, int status, const http::ResponseHead& head) {
    const http::Response* r = head.upstream();
    // A response to HEAD has no body, but the fields a GET would get (RFC 9110 §9.3.2): Vary too.
    if (!r || (r->body == http::ResponseBody::None && !req.head)) return Verdict::NotEligible;
    if (status < 200 || status == 204 || status == 206 || status == 304) return Verdict::NotEligible;
    std::string_view ce = r->header("content-encoding");
    if (!ce.empty() && !iequals(ce, "identity")) return Verdict::NotEligible;
    if (!r->header("content-range").empty()) return Verdict::NotEligible;
    std::string_view ct = r->header("content-type");
    if (ct.empty() || starts_with_ci(ct, "text/event-stream") || starts_with_ci(ct, "application/grpc") ||
        !p.compresses_type(ct))
        return Verdict::NotEligible;
    if (list_has(r->header("cache-control"), "no-transform")) return Verdict::NotEligible;
    // Too short to be worth it - but the same resource at another length is compressed: Vary all the same.
    if (r->body == http::ResponseBody::ContentLength && r->content_length < p.min_length) return Verdict::NotAccepted;
    if (req.head || req.coding == Coding::Identity) return Verdict::NotAccepted;
    if (p.breach_guard && req.credentials && !r->header("set-cookie").empty()) return Verdict::Breach;
    return Verdict::Compress;
}

CompressFilter::CompressFilter(const Policy& policy, Pool& pool, const Stats& stats)
    : http::Filter(http::kHookRequest | http::kHookResponseHead | http::kHookBody | http::kHookDestroy, sizeof(Ctx),
                   alignof(Ctx)),
      policy_(policy),
      pool_(pool),
      stats_(stats) {}

http::FilterStatus CompressFilter::on_request(http::Stream& s, void* ctx) {
    Ctx* c = new (ctx) Ctx();
    const http::Request& req = s.request();
    // One pass over the fields: every Accept-Encoding (several are one list), and whether the
    // request carries credentials.
    constexpr size_t kMaxFields = 8;
    std::string_view accept[kMaxFields];
    size_t n = 0;
    for (size_t i = 0; i < req.header_count; ++i) {
        std::string_view name = req.headers[i].name;
        if (name.size() == 15 && iequals(name, "accept-encoding")) {
            if (n < kMaxFields) accept[n++] = req.headers[i].value;
        } else if ((name.size() == 6 && iequals(name, "cookie")) || (name.size() == 13 && iequals(name, "authorization"))) {
            c->req.credentials = true;
        }
    }
    c->req.head = req.method == "HEAD";
    if (n > 0) c->req.coding = negotiate({accept, n}, policy_.algorithms).coding;
    return http::FilterStatus::Continue;
}

void CompressFilter::on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    Verdict v = decide(policy_, c.req, head.status(), head);
    if (v == Verdict::NotEligible) return;
    const http::Response& r = *head.upstream();
    // Vary: Accept-Encoding, unless the upstream's Vary says it (or "*") already. Several Vary
    // fields are one list: replacing them takes them all into one field.
    bool has_vary = false, covered = false;
    vary_.clear();
    for (size_t i = 0; i < r.header_count; ++i) {
        if (r.headers[i].name.size() != 4 || !iequals(r.headers[i].name, "vary")) continue;
        std::string_view v = r.headers[i].value;
        has_vary = true;
        covered = covered || list_has(v, "accept-encoding") || list_has(v, "*");
        if (v.empty()) continue;
        if (!vary_.empty()) vary_ += ", ";
        vary_ += v;
    }
    if (!covered) {
        if (has_vary && !head.replace("vary")) return;  // (cannot happen: the list has room)
        if (!vary_.empty()) vary_ += ", ";
        vary_ += "Accept-Encoding";
        head.add("vary", vary_);
    }
    if (v == Verdict::Breach && stats_.skipped_breach) stats_.skipped_breach->fetch_add(1, std::memory_order_relaxed);
    if (v != Verdict::Compress) return;
    int level = policy_.level(c.req.coding);
    if (c.req.coding == Coding::Gzip && r.body == http::ResponseBody::ContentLength && r.content_length <= kWholeMax) {
        // A body of known, moderate length: gathered and compressed in one libdeflate call.
        if (WholeGzip* w = pool_.whole_gzip(level)) {
            c.whole = pool_.acquire_buffer(static_cast<size_t>(r.content_length));
            c.deflater = c.whole ? w : nullptr;
        }
    }
    if (!c.whole) c.enc = pool_.acquire(c.req.coding, level);
    if (!c.whole && !c.enc) {
        if (stats_.skipped_memory) stats_.skipped_memory->fetch_add(1, std::memory_order_relaxed);
        return;
    }
    std::string_view etag = r.header("etag");
    if (!etag.empty() && etag.front() == '"') {
        // The compressed bytes are another representation: a strong validator no longer holds
        // (byte-for-byte equality), a weak one does (RFC 9110 §8.8.1), as nginx does.
        if (head.replace("etag")) {
            vary_.assign("W/");
            vary_ += etag;
            head.add("etag", vary_);
        }
    }
    if (!r.header("content-encoding").empty()) head.replace("content-encoding");  // (an explicit identity)
    head.add("content-encoding", coding_name(c.req.coding));
    c.flush_each = r.body != http::ResponseBody::ContentLength;
    s.add_body_filter(this);
}

void CompressFilter::on_body(http::Stream& s, void* ctx, std::string_view in, bool last, std::string& out) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    if (c.whole) {
        c.whole->append(in);
        if (!last) return;
        constexpr size_t g = static_cast<size_t>(Coding::Gzip);
        bool ok = c.deflater->compress(*c.whole, out);
        if (stats_.bytes_in[g]) stats_.bytes_in[g]->fetch_add(c.whole->size(), std::memory_order_relaxed);
        if (stats_.bytes_out[g]) stats_.bytes_out[g]->fetch_add(out.size(), std::memory_order_relaxed);
        if (ok) {
            if (stats_.responses[g]) stats_.responses[g]->fetch_add(1, std::memory_order_relaxed);
        } else {
            LOG_ERROR("compress: gzip failed (route %d, request %.*s); the body is dropped", s.route_index(),
                      static_cast<int>(s.request_id().size()), s.request_id().data());
            if (stats_.failed) stats_.failed->fetch_add(1, std::memory_order_relaxed);
        }
        pool_.release_buffer(c.whole);
        c.whole = nullptr;
        return;
    }
    // (the encoder failed earlier: nothing more of this body can be sent, and the client's decoder
    // sees a stream without its end - gzip's trailer, Brotli's last block, zstd's frame end)
    if (!c.enc) return;
    size_t i = static_cast<size_t>(c.enc->coding());
    // A streamed body's pieces reach the client as they come (a sync flush per event, a few
    // bytes each); a body of known length is one document, flushed only at its end.
    bool ok = c.enc->write(in, c.flush_each && !in.empty(), last, out);
    if (stats_.bytes_in[i]) stats_.bytes_in[i]->fetch_add(in.size(), std::memory_order_relaxed);
    if (stats_.bytes_out[i]) stats_.bytes_out[i]->fetch_add(out.size(), std::memory_order_relaxed);
    if (!ok) {
        LOG_ERROR("compress: the %.*s encoder failed in the middle of a response (route %d, request %.*s); the "
                  "rest of its body is dropped",
                  static_cast<int>(coding_name(c.enc->coding()).size()), coding_name(c.enc->coding()).data(),
                  s.route_index(), static_cast<int>(s.request_id().size()), s.request_id().data());
        if (stats_.failed) stats_.failed->fetch_add(1, std::memory_order_relaxed);
        pool_.release(c.enc);
        c.enc = nullptr;
        return;
    }
    if (last) {
        if (stats_.responses[i]) stats_.responses[i]->fetch_add(1, std::memory_order_relaxed);
        pool_.release(c.enc);
        c.enc = nullptr;
    }
}

void CompressFilter::on_destroy(http::Stream&, void* ctx) {
    Ctx* c = static_cast<Ctx*>(ctx);
    if (c->enc) pool_.release(c->enc);  // a response cut short
    if (c->whole) pool_.release_buffer(c->whole);
    c->~Ctx();
}

}  // namespace gw::compress
