#include "modules/idempotency/filter.h"

#include <openssl/evp.h>

#include <cstdio>
#include <new>

#include "core/log.h"
#include "core/metrics/store.h"
#include "core/redis/client.h"
#include "event/loop.h"
#include "http/chars.h"
#include "http/parser.h"
#include "http/stream.h"
#include "modules/idempotency/global.h"

namespace gw::idempotency {

namespace {

constexpr std::string_view kFence = "idempotency-fence";
constexpr std::string_view kFieldNames[] = {kFence};
constexpr std::string_view kReplayed = "idempotent-replayed: true\r\n";

// Decimal digits of `v` into `buf` (24 bytes); their count.
size_t format_number(char* buf, uint64_t v) { return static_cast<size_t>(snprintf(buf, 24, "%llu", static_cast<unsigned long long>(v))); }

std::string key_name(const Digest& key) {
    std::string k = "gw:idem:";
    k += hex(key);
    return k;
}

}  // namespace

// Per request, in the stream's arena.
struct IdempotencyFilter::Ctx final : redis::Waiter {
    enum class Claim : uint8_t { None, Local, Global };
    IdempotencyFilter* filter = nullptr;
    http::Stream* stream = nullptr;
    http::ResumeHandle handle;
    redis::Client::Pending* pending = nullptr;
    Digest key{}, fp{};
    Claim claim = Claim::None;
    bool capturing = false;  // the response is being copied
    bool done = false;       // completed (or given up and released)
    bool waiting = false;    // for the request body
    uint32_t token = 0;      // local claim
    uint64_t fence = 0;      // global claim
    std::string blob;        // the response being stored
    // While the body is awaited (the rare path: made then, not per request).
    std::unique_ptr<event::Timer> body_timer;

    void on_redis_reply(redis::Result result, const redisReply* reply) override;
};

struct IdempotencyFilter::Finish final : redis::Waiter {
    IdempotencyFilter* filter = nullptr;
    redis::Client::Pending* pending = nullptr;
    void on_redis_reply(redis::Result result, const redisReply*) override {
        pending = nullptr;
        if (result != redis::Result::Ok) filter->count(kStoreErrors);
        filter->free_finishes_.push_back(this);
    }
};

Digest fingerprint(std::string_view method, std::string_view path, std::string_view query, std::string_view body) {
    Digest d{};
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    EVP_DigestUpdate(ctx, method.data(), method.size());
    EVP_DigestUpdate(ctx, " ", 1);
    EVP_DigestUpdate(ctx, path.data(), path.size());
    if (!query.empty()) {
        EVP_DigestUpdate(ctx, "?", 1);
        EVP_DigestUpdate(ctx, query.data(), query.size());
    }
    EVP_DigestUpdate(ctx, "\n", 1);
    EVP_DigestUpdate(ctx, body.data(), body.size());
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, d.data(), &len);
    EVP_MD_CTX_free(ctx);
    return d;
}

IdempotencyFilter::IdempotencyFilter(const Policy& policy, std::string_view route_name, Runtime& runtime,
                                     metrics::Store* metrics)
    : Filter(http::kHookRequest | http::kHookResponseHead | http::kHookBody | http::kHookDestroy, sizeof(Ctx),
             alignof(Ctx)),
      policy_(policy),
      route_name_(route_name),
      rt_(runtime) {
    if (metrics) {
        static constexpr const char* kResults[kCounters] = {"claimed",  "replayed",    "conflict",
                                                            "mismatch", "store_error", "full"};
        for (int i = 0; i < kCounters; ++i) {
            std::string labels = "policy=\"" + policy.name + "\",result=\"" + kResults[i] + "\"";
            counters_[i] = metrics->counter("gateway_idempotency_requests_total", labels,
                                            "Requests with an idempotency key, by policy and outcome.");
        }
    }
}

IdempotencyFilter::~IdempotencyFilter() {
    for (auto& f : finishes_)
        if (f->pending && rt_.redis) rt_.redis->cancel(f->pending);
}

std::span<const std::string_view> IdempotencyFilter::request_field_names() const { return kFieldNames; }

http::FilterStatus IdempotencyFilter::on_request(http::Stream& s, void* ctx) {
    Ctx& c = *new (ctx) Ctx();
    const http::Request& req = s.request();
    bool method = false;
    for (const std::string& m : policy_.methods)
        if (m == req.method) method = true;
    if (!method) return http::FilterStatus::Continue;
    // The header's first field (a client that sends two gets the first one's semantics).
    const http::Header* field = nullptr;
    for (size_t i = 0; i < req.header_count && !field; ++i)
        if (http::chars::iequals(req.headers[i].name, policy_.header)) field = &req.headers[i];
    if (!field) {
        if (!policy_.required) return http::FilterStatus::Continue;
        s.reply_error(400, "this request needs an Idempotency-Key header");
        return http::FilterStatus::Done;
    }
    if (!parse_key(field->value, scratch_)) {
        s.reply_error(400, "invalid Idempotency-Key (1 to 255 visible characters, or a quoted string)");
        return http::FilterStatus::Done;
    }
    std::string_view consumer;
    if (policy_.by_consumer) consumer = s.identity() ? s.identity()->consumer() : s.client_address();
    c.key = scoped_key(consumer, policy_.by_route ? std::string_view(route_name_) : std::string_view(), scratch_);
    c.filter = this;
    c.stream = &s;
    c.handle = s.pause_handle();
    // From here every outcome goes through the handle, inline or later: the chain driver
    // notices an inline one.
    try_fingerprint(c);
    return http::FilterStatus::Pause;
}

void IdempotencyFilter::on_input(void* ctx) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    c.filter->try_fingerprint(c);
}

// The fingerprint once the whole body is in the input buffer; until then the filter waits.
void IdempotencyFilter::try_fingerprint(Ctx& c) {
    http::Stream& s = *c.stream;
    const http::Request& req = s.request();
    std::string_view body;
    if (policy_.fingerprint == Policy::Fingerprint::Body && req.body != http::BodyKind::None) {
        http::StreamIo& io = s.io();
        std::string_view buffered(io.body_data(), io.body_size());
        bool complete = false;
        if (req.body == http::BodyKind::ContentLength) {
            if (req.content_length > io.body_capacity()) {
                c.handle.respond_error(413, "request body too large for an idempotency fingerprint");
                return;
            }
            complete = buffered.size() >= req.content_length;
            body = buffered.substr(0, static_cast<size_t>(req.content_length));
        } else {
            // Chunked: decoded (into scratch_) from the start each time more arrives.
            http::ChunkedDecoder dec;
            scratch_.clear();
            http::ParseError err;
            std::string_view rest = buffered;
            for (;;) {
                size_t used = 0;
                std::string_view data;
                http::ChunkedDecoder::Status st = dec.feed(rest, used, data, err);
                scratch_.append(data);
                rest.remove_prefix(used);
                if (st == http::ChunkedDecoder::Status::Error) {
                    c.handle.respond_error(400, "invalid chunked request body");
                    return;
                }
                if (st == http::ChunkedDecoder::Status::Done) {
                    complete = true;
                    break;
                }
                if (used == 0 && data.empty()) break;  // needs more
            }
            if (!complete && io.body_size() >= io.body_capacity()) {
                c.handle.respond_error(413, "request body too large for an idempotency fingerprint");
                return;
            }
            body = scratch_;
        }
        if (!complete) {
            if (!c.waiting) {
                c.waiting = true;
                s.set_input_listener(&IdempotencyFilter::on_input, &c);
                if (rt_.loop) {
                    // A client that stops sending holds no stream forever (the codec's own body
                    // timer does not run while a filter waits).
                    Ctx* cp = &c;
                    c.body_timer = std::make_unique<event::Timer>([cp] {
                        cp->stream->set_input_listener(nullptr, nullptr);
                        cp->handle.respond_error(408, "the request body did not arrive in time");
                    });
                    rt_.loop->arm(*c.body_timer, rt_.body_timeout_ms);
                }
                if (req.expect_continue && io.body_size() == 0) {
                    // The client waits for this before it sends the body the fingerprint needs.
                    io.output() += "HTTP/1.1 100 Continue\r\n\r\n";
                    io.flush();
                }
            }
            return;
        }
    }
    if (c.waiting) {
        c.waiting = false;
        s.set_input_listener(nullptr, nullptr);
        c.body_timer.reset();
    }
    c.fp = fingerprint(req.method, req.path, req.query, body);
    claim(c);
}

void IdempotencyFilter::claim(Ctx& c) {
    if (policy_.scope == Policy::Scope::Global && rt_.redis) {
        char ttl[24];
        size_t n = format_number(ttl, static_cast<uint64_t>(policy_.lease));
        std::string key = key_name(c.key);
        std::string fp = hex(c.fp);
        std::string_view keys[] = {key, global::kFenceKey};
        std::string_view args[] = {fp, {ttl, n}};
        c.pending = rt_.redis->eval(global::claim_script(), keys, args, &c);
        if (c.pending) return;  // on_redis_reply goes on
        c.on_redis_reply(redis::Result::Down, nullptr);
        return;
    }
    claim_local(c);
}

void IdempotencyFilter::claim_local(Ctx& c) {
    uint32_t token = 0;
    Table::Outcome o = rt_.table->claim(c.key, c.fp, monotonic_ms(), static_cast<uint64_t>(policy_.lease), rt_.slot,
                                        &token, &scratch_);
    switch (o) {
        case Table::Outcome::Claimed:
            count(kClaims);
            c.claim = Ctx::Claim::Local;
            c.token = token;
            c.handle.resume();
            return;
        case Table::Outcome::InFlight:
            count(kConflicts);
            c.handle.respond_error(409, "a request with this Idempotency-Key is still being processed");
            return;
        case Table::Outcome::Mismatch:
            count(kMismatches);
            c.handle.respond_error(422, "this Idempotency-Key was used with another request");
            return;
        case Table::Outcome::Completed: replay(c, scratch_); return;
        case Table::Outcome::Full:
            count(kFull);
            LOG_WARN("idempotency policy \"%s\": no room for key %.12s in shared memory zone \"idempotency\" "
                     "(idempotency_zone_size)", policy_.name.c_str(), hex(c.key).c_str());
            c.handle.respond_error(503, "no room for this Idempotency-Key; retry later");
            return;
    }
}

void IdempotencyFilter::Ctx::on_redis_reply(redis::Result result, const redisReply* reply) {
    pending = nullptr;
    IdempotencyFilter& f = *filter;
    global::ClaimReply r;
    if (result != redis::Result::Ok || !global::parse_claim(reply, r)) {
        f.count(kStoreErrors);
        if (f.policy_.on_store_error == Policy::OnStoreError::Allow) {
            f.claim_local(*this);  // this node's table only: duplicates on other nodes pass
            return;
        }
        handle.respond_error(503, "the idempotency key store is unavailable");
        return;
    }
    switch (r.kind) {
        case global::ClaimReply::Kind::Claimed: {
            f.count(kClaims);
            claim = Claim::Global;
            fence = r.fence;
            char n[24];
            stream->add_request_header(kFence, {n, format_number(n, fence)});
            handle.resume();
            return;
        }
        case global::ClaimReply::Kind::InFlight:
            f.count(kConflicts);
            handle.respond_error(409, "a request with this Idempotency-Key is still being processed");
            return;
        case global::ClaimReply::Kind::Mismatch:
            f.count(kMismatches);
            handle.respond_error(422, "this Idempotency-Key was used with another request");
            return;
        case global::ClaimReply::Kind::Completed: f.replay(*this, r.blob); return;
    }
}

void IdempotencyFilter::replay(Ctx& c, std::string_view blob) {
    Stored st;
    if (!blob_parse(blob, st)) {
        count(kStoreErrors);
        c.handle.respond_error(503, "the stored response for this Idempotency-Key is unreadable");
        return;
    }
    count(kReplays);
    std::string lines(st.fields);  // (a replay is rare: one allocation)
    lines += kReplayed;
    c.stream->reply_with_headers(st.status, lines, st.body);
    c.handle.answer();
}

void IdempotencyFilter::on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    if (c.claim == Ctx::Claim::None || c.done || c.capturing) return;
    const http::Response* up = head.upstream();
    // The gateway's own answer (the upstream failed), or a 5xx not to be replayed: released at
    // the end, so that a retry goes upstream again.
    if (!up || (head.status() >= 500 && !policy_.store_5xx)) return;
    blob_start(c.blob, head.status());
    for (size_t i = 0; i < up->header_count; ++i) {
        const http::Header& h = up->headers[i];
        if (is_unstored_field(h.name)) continue;
        c.blob += h.name;
        c.blob += ": ";
        c.blob += h.value;
        c.blob += "\r\n";
    }
    blob_set_fields_length(c.blob, c.blob.size() - kBlobPrefix);
    if (c.blob.size() > policy_.max_response) {
        c.blob = std::string();
        return;
    }
    if (up->body == http::ResponseBody::None) {
        complete(c);
        return;
    }
    c.capturing = true;
    s.add_body_filter(this, false);  // it only reads the body: framing and Content-Length stay
}

void IdempotencyFilter::on_body(http::Stream&, void* ctx, std::string_view in, bool last, std::string&) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    if (!c.capturing) return;
    if (c.blob.size() + in.size() > policy_.max_response) {
        // Too large to store: released at the end (a retry goes upstream again).
        c.capturing = false;
        c.blob = std::string();
        return;
    }
    c.blob.append(in);
    if (last) complete(c);
}

void IdempotencyFilter::complete(Ctx& c) {
    c.capturing = false;
    c.done = true;
    if (c.claim == Ctx::Claim::Local) {
        if (!rt_.table->complete(c.key, c.token, c.blob, monotonic_ms(), static_cast<uint64_t>(policy_.ttl))) {
            count(kFull);
            LOG_WARN("idempotency policy \"%s\": no room to store the response of key %.12s (released)",
                     policy_.name.c_str(), hex(c.key).c_str());
        }
    } else {
        send_finish(c.key, c.fp, c.fence, c.blob);
    }
    c.blob = std::string();
}

void IdempotencyFilter::release(Ctx& c) {
    c.done = true;
    if (c.claim == Ctx::Claim::Local)
        rt_.table->release(c.key, c.token);
    else if (c.claim == Ctx::Claim::Global)
        send_finish(c.key, c.fp, c.fence, {});
}

void IdempotencyFilter::send_finish(const Digest& key, const Digest& fp, uint64_t fence, std::string_view blob) {
    if (!rt_.redis) return;
    Finish* f;
    if (free_finishes_.empty()) {
        finishes_.push_back(std::make_unique<Finish>());
        f = finishes_.back().get();
        f->filter = this;
    } else {
        f = free_finishes_.back();
        free_finishes_.pop_back();
    }
    char ttl[24], fn[24];
    std::string k = key_name(key), fph = hex(fp);
    std::string_view keys[] = {k};
    std::string_view args[] = {fph, {fn, format_number(fn, fence)}, blob, {ttl, format_number(ttl, static_cast<uint64_t>(policy_.ttl))}};
    f->pending = rt_.redis->eval(global::finish_script(), keys, args, f);
    if (!f->pending) {
        // Redis is away: a claim then stays until its lease ends (a retry meanwhile gets 409).
        count(kStoreErrors);
        free_finishes_.push_back(f);
        return;
    }
    // Written now, before the response's last bytes go to the client: a client that retries on
    // another node at once finds the record, not the claim (that would be a 409).
    rt_.redis->flush(f->pending);
}

void IdempotencyFilter::on_destroy(http::Stream&, void* ctx) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    if (c.pending) rt_.redis->cancel(c.pending);  // the client left while Redis decided
    if (c.claim != Ctx::Claim::None && !c.done) release(c);
    c.~Ctx();
}

}  // namespace gw::idempotency
