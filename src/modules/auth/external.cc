#include "modules/auth/external.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>

#include "core/log.h"
#include "http/chars.h"
#include "http/client/tls.h"
#include "http/transport.h"

namespace gw::auth {

ExternalRuntime::ExternalRuntime(const ExternalProvider& provider, httpc::Client& client, httpc::TlsClients* tls_clients)
    : p_(provider), client_(client) {
    RAND_bytes(secret_.data(), static_cast<int>(secret_.size()));
    headers_.reserve(2 + 4 * p_.forward_headers.size());
    if (!p_.fetch.tls) return;
    std::string error = "no TLS client (gatewayd was built without the tls module)";
    if (tls_clients) tls_ = tls_clients->for_url(p_.fetch.host_port, p_.ca_file, error);
    // Never asked in clear instead: each request then meets on_error.
    if (!tls_) LOG_ERROR("auth.external.%s: %s: TLS cannot be used: %s", p_.name.c_str(), p_.url.c_str(), error.c_str());
}

ExternalRuntime::~ExternalRuntime() = default;

Digest ExternalRuntime::key(const http::Request& req) const {
    thread_local EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    Digest out{};
    unsigned int len = 0;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) return out;
    EVP_DigestUpdate(ctx, secret_.data(), secret_.size());
    // Each configured field in turn: every occurrence as (length, value), then an end mark -
    // "absent", "empty" and "a, b" versus two fields all hash differently.
    for (const std::string& name : p_.forward_headers) {
        for (size_t i = 0; i < req.header_count; ++i) {
            const http::Header& h = req.headers[i];
            if (h.name.size() != name.size() || !http::chars::iequals(h.name, name)) continue;
            uint64_t n = h.value.size();
            EVP_DigestUpdate(ctx, &n, sizeof n);
            EVP_DigestUpdate(ctx, h.value.data(), h.value.size());
        }
        uint64_t end = UINT64_MAX;
        EVP_DigestUpdate(ctx, &end, sizeof end);
    }
    EVP_DigestFinal_ex(ctx, out.data(), &len);
    return out;
}

std::shared_ptr<const Decision> ExternalRuntime::cached(const Digest& key, int64_t now_ms) const {
    auto it = cache_.find(key);
    return it != cache_.end() && it->second.expires > now_ms ? it->second.decision : nullptr;
}

void ExternalRuntime::remember(const Digest& key, std::shared_ptr<const Decision> d, int64_t now_ms) {
    if (p_.cache <= 0) return;
    if (cache_.size() >= kCacheEntries && !cache_.contains(key)) {
        std::erase_if(cache_, [&](const auto& e) { return e.second.expires <= now_ms; });
        if (cache_.size() >= kCacheEntries) cache_.erase(cache_.begin());
    }
    cache_.insert_or_assign(key, Cached{std::move(d), now_ms + p_.cache});
}

httpc::Handle ExternalRuntime::ask(const http::Request& req, httpc::Handler& handler) {
    headers_.clear();
    headers_.push_back({"X-Original-Method", req.method});
    headers_.push_back({"X-Original-URI", req.target});
    for (const std::string& name : p_.forward_headers)
        for (size_t i = 0; i < req.header_count; ++i) {
            const http::Header& h = req.headers[i];
            if (h.name.size() == name.size() && http::chars::iequals(h.name, name)) headers_.push_back(h);
        }
    httpc::Request r;
    // An https:// authorizer without its TLS client: no address, so the answer is an error.
    bool usable = !p_.fetch.tls || tls_;
    r.address = usable ? reinterpret_cast<const sockaddr*>(&p_.fetch.address) : nullptr;
    r.address_len = usable ? p_.fetch.address_len : 0;
    r.tls = tls_.get();
    r.method = "GET";
    r.target = p_.fetch.target;
    r.host = p_.fetch.host;
    r.headers = headers_;
    r.connect_timeout = p_.timeout;
    r.timeout = p_.timeout;
    r.read_body = false;  // the status and fields decide
    return client_.fetch(r, handler);
}

namespace {

// An X-Consumer value usable as a consumer name (it reaches logs and rate-limit keys).
bool usable_consumer(std::string_view v) {
    return !v.empty() && v.size() <= ExternalRuntime::kMaxConsumer &&
           std::all_of(v.begin(), v.end(), [](char ch) {
               auto u = static_cast<unsigned char>(ch);
               return u > 0x20 && u < 0x7f && ch != '"' && ch != '\\';
           });
}

}  // namespace

std::shared_ptr<const Decision> ExternalRuntime::decide(const httpc::Answer& a) const {
    if (a.error != httpc::Error::None || !a.head) return nullptr;
    auto d = std::make_shared<Decision>();
    d->status = a.status;
    d->provider_name = p_.name;
    if (a.status >= 200 && a.status <= 299) {
        d->kind = Decision::Kind::Allow;
        std::string_view consumer = a.head->header("x-consumer");
        d->consumer_name = usable_consumer(consumer) ? std::string(consumer) : p_.name;
        for (const std::string& name : p_.copy_headers) {
            std::string_view v = a.head->header(name);
            if (!v.empty()) d->copied.emplace_back(name, std::string(v));
        }
        return d;
    }
    if (a.status == 401 || a.status == 403) {
        d->kind = Decision::Kind::Deny;
        d->www_authenticate = a.head->header("www-authenticate");
        return d;
    }
    return nullptr;
}

}  // namespace gw::auth
