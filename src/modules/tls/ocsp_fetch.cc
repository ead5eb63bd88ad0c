#include "modules/tls/ocsp_fetch.h"

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>

#include "core/config/config.h"
#include "core/log.h"
#include "core/metrics/store.h"
#include "http/client/client.h"
#include "modules/tls/module.h"
#include "modules/tls/ocsp.h"
#include "modules/tls/staple_zone.h"

namespace gw::tls {

namespace {

constexpr event::Millis kFirstRetryMs = 1000;
constexpr event::Millis kMaxRetryMs = 5 * 60 * 1000;
constexpr event::Millis kConnectTimeoutMs = 2000;
constexpr event::Millis kTimeoutMs = 10000;
constexpr int64_t kWarnEveryMs = 10 * 60 * 1000;
// A response without nextUpdate ("newer information is always available") is asked for again
// after this long.
constexpr time_t kNoNextUpdateRefresh = 3600;
constexpr uint64_t kMaxBody = 64 * 1024;

constexpr std::string_view kFetchesHelp = "OCSP responses fetched by the master for stapling, by result.";

// Percent-encodes what is not unreserved (RFC 3986): base64's '+', '/' and '='.
void url_encode(std::string_view in, std::string& out) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char c : in) {
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~';
        if (keep) {
            out += c;
        } else {
            auto b = static_cast<unsigned char>(c);
            out += '%';
            out += kHex[b >> 4];
            out += kHex[b & 15];
        }
    }
}

uint32_t random_below(uint32_t n) {
    uint32_t r = 0;
    if (n == 0 || RAND_bytes(reinterpret_cast<unsigned char*>(&r), sizeof r) != 1) return 0;
    return r % n;
}

int64_t wall_ms() { return static_cast<int64_t>(time(nullptr)) * 1000; }

}  // namespace

std::string aia_responder(const X509* leaf) {
    if (!leaf) return {};
    STACK_OF(OPENSSL_STRING)* urls = X509_get1_ocsp(const_cast<X509*>(leaf));
    std::string out;
    for (int i = 0; urls && i < sk_OPENSSL_STRING_num(urls); ++i) {
        std::string_view u = sk_OPENSSL_STRING_value(urls, i);
        if (starts_with_lower(u, "http://")) {
            out = u;
            break;
        }
        if (out.empty()) out = u;  // an https:// one: said so by prepare_ocsp_fetch
    }
    X509_email_free(urls);  // frees a STACK_OF(OPENSSL_STRING), as OpenSSL documents for X509_get1_ocsp
    return out;
}

void prepare_ocsp_fetch(Certificate& cert, const std::string& key, Diagnostics& diags) {
    OcspFetch& f = cert.ocsp_fetch;
    f.enabled = false;
    if (!f.requested || !cert.leaf) return;
    auto warn = [&](const std::string& why) { diags.warning(f.mark, key + ": " + why + ": nothing is stapled"); };
    if (cert.chain.empty()) {
        warn("\"" + cert.cert_path + "\" has no issuer certificate after it (the request names the issuer)");
        return;
    }
    f.url = f.responder.empty() ? aia_responder(cert.leaf.get()) : f.responder;
    if (f.url.empty()) {
        warn("\"" + cert.cert_path + "\" names no OCSP responder (Authority Information Access) and no responder: is given");
        return;
    }
    ResponderUrl u;
    std::string error;
    if (!parse_responder_url(f.url, u, error)) {
        warn(std::string(f.responder.empty() ? "the certificate's" : "the") + " responder \"" + f.url + "\": " + error);
        return;
    }
    if (!parse_upstream_address(u.host_port, f.address, f.address_len, error)) {
        warn("the responder \"" + f.url + "\": " + error);
        return;
    }
    f.host = u.host_field;
    f.path = u.path;
    f.enabled = true;
}

bool ocsp_request_target(const Certificate& cert, std::string_view path, std::string& out) {
    if (!cert.leaf || cert.chain.empty()) return false;
    OCSP_REQUEST* req = OCSP_REQUEST_new();
    OCSP_CERTID* id = req ? OCSP_cert_to_id(EVP_sha1(), cert.leaf.get(), cert.chain.front().get()) : nullptr;
    bool ok = id && OCSP_request_add0_id(req, id);
    if (!ok) OCSP_CERTID_free(id);  // added: the request owns it
    unsigned char* der = nullptr;
    int n = ok ? i2d_OCSP_REQUEST(req, &der) : -1;
    OCSP_REQUEST_free(req);
    if (n <= 0) return false;
    std::string b64(static_cast<size_t>(4 * ((n + 2) / 3) + 1), '\0');
    int m = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), der, n);
    OPENSSL_free(der);
    if (m <= 0) return false;
    b64.resize(static_cast<size_t>(m));
    out.assign(path);
    if (out.empty() || out.back() != '/') out += '/';
    url_encode(b64, out);
    return true;
}

// --- the fetcher -------------------------------------------------------------------------------

// One certificate fetched for (a certificate several listeners serve is fetched once).
struct OcspFetcher::Target final : httpc::Handler {
    OcspFetcher& owner;
    const Certificate& cert;
    std::string listener;  // for logs and labels: the first listener that serves it
    std::string name;
    CertKey key{};
    std::string target;  // the request target
    std::atomic<uint64_t>* counted[4] = {};  // ok, failed, invalid, revoked
    event::Millis due = 0;      // monotonic (the loop's); -1: not scheduled
    event::Millis backoff = kFirstRetryMs;
    int64_t last_warn_ms = -kWarnEveryMs;
    bool failing = false;
    httpc::Handle call;

    Target(OcspFetcher& o, const Certificate& c) : owner(o), cert(c) {}

    enum Result { Ok, Failed, Invalid, Revoked };

    void start(httpc::Client& client, event::Millis timeout) {
        httpc::Request r;
        r.address = reinterpret_cast<const sockaddr*>(&cert.ocsp_fetch.address);
        r.address_len = cert.ocsp_fetch.address_len;
        r.target = target;
        r.host = cert.ocsp_fetch.host;
        r.connect_timeout = std::min(kConnectTimeoutMs, timeout);
        r.timeout = timeout;
        r.max_body = kMaxBody;
        due = -1;
        call = client.fetch(r, *this);
    }

    void count(Result r) {
        if (counted[r]) counted[r]->fetch_add(1, std::memory_order_relaxed);
    }

    void on_http_answer(httpc::Answer& a) override {
        owner.loop_.update_time();
        if (a.error != httpc::Error::None)
            fail(Failed, "no answer from " + cert.ocsp_fetch.url + " (" + std::string(httpc::error_name(a.error)) +
                             (a.reason.empty() ? "" : ": " + std::string(a.reason)) + ")");
        else if (a.status != 200)
            fail(Failed, cert.ocsp_fetch.url + " answered HTTP " + std::to_string(a.status));
        else
            take(*a.body);
        owner.arm();
        if (owner.round_loop_ && --owner.round_pending_ == 0) owner.round_loop_->stop();
    }

    void take(std::string_view der) {
        time_t now = time(nullptr);
        OcspCheck check = check_ocsp_response(der, cert, now);
        std::unique_ptr<StapleBoard> board = owner.board();
        if (check.verdict == OcspVerdict::Revoked) {
            if (board) board->withdraw(key);
            return fail(Revoked, check.problem + "; the staple is withdrawn");
        }
        if (check.verdict != OcspVerdict::Good) return fail(Invalid, "the response from " + cert.ocsp_fetch.url + ": " + check.problem);
        if (der.size() > kMaxStapleBytes)
            return fail(Invalid, "the response from " + cert.ocsp_fetch.url + " is too large to staple (" +
                                     std::to_string(der.size()) + " bytes)");
        if (!board || !board->publish(key, der, check.this_update, check.next_update, now))
            return fail(Invalid, "no room in the shared memory zone for its staple");
        count(Ok);
        if (failing)
            LOG_NOTICE("TLS listener %s: the OCSP response for %s is stapled again", listener.c_str(), name.c_str());
        else
            LOG_INFO("TLS listener %s: OCSP response for %s fetched and stapled", listener.c_str(), name.c_str());
        failing = false;
        backoff = kFirstRetryMs;
        schedule_refresh(check.this_update, check.next_update, now);
    }

    // At half the validity, plus up to a tenth of it at random.
    void schedule_refresh(time_t this_update, time_t next_update, time_t now) {
        time_t at = now + kNoNextUpdateRefresh;
        if (next_update) {
            time_t validity = std::max<time_t>(next_update - this_update, 0);
            at = this_update + validity / 2 + static_cast<time_t>(random_below(static_cast<uint32_t>(validity / 10 + 1)));
        }
        due = owner.loop_.now() + std::max<event::Millis>((at - now) * 1000, kFirstRetryMs);
    }

    void fail(Result r, const std::string& why) {
        count(r);
        int64_t now = wall_ms();
        bool loud = now - last_warn_ms >= kWarnEveryMs;
        if (loud) last_warn_ms = now;
        GW_LOG(loud ? LogLevel::Warn : LogLevel::Debug,
               "TLS listener %s: OCSP stapling for %s: %s; asked again in %lld ms (a valid staple stays until its "
               "nextUpdate)",
               listener.c_str(), name.c_str(), why.c_str(), static_cast<long long>(backoff));
        failing = true;
        due = owner.loop_.now() + backoff;
        backoff = std::min(backoff * 2, kMaxRetryMs);
    }
};

OcspFetcher::OcspFetcher(event::Loop& loop, metrics::Store& metrics, std::function<shm::Zone*(std::string_view)> zone,
                         std::function<bool()> still_master)
    : loop_(loop), metrics_(metrics), zone_(std::move(zone)), still_master_(std::move(still_master)),
      http_(std::make_unique<httpc::Client>(loop)) {
    timer_.set_callback([this] { on_timer(); });
}

OcspFetcher::~OcspFetcher() {
    loop_.cancel(timer_);
    targets_.clear();  // their handles cancel on http_
}

std::unique_ptr<StapleBoard> OcspFetcher::board() const {
    shm::Zone* zone = zone_ ? zone_(staple_zone_name()) : nullptr;
    return zone ? StapleBoard::attach(*zone) : nullptr;
}

void OcspFetcher::configure(const std::shared_ptr<const Config>& config) {
    targets_.clear();  // requests in flight for the previous configuration are dropped
    config_ = config;
    loop_.update_time();
    bool first = !configured_;
    configured_ = true;
    const Settings* s = config ? settings(*config) : nullptr;
    std::unique_ptr<StapleBoard> zone_board = board();
    std::vector<Target*> todo;
    time_t now = time(nullptr);
    for (size_t i = 0; s && i < config->listeners.size(); ++i) {
        const ListenerTls* tls = s->listener(i);
        if (!tls) continue;
        for (const Certificate& c : tls->certificates) {
            if (!c.ocsp_fetch.enabled) continue;
            CertKey key;
            if (!cert_key(c.leaf.get(), key)) continue;
            if (std::any_of(targets_.begin(), targets_.end(), [&](const auto& t) { return t->key == key; })) continue;
            auto t = std::make_unique<Target>(*this, c);
            t->key = key;
            t->listener = config->listeners[i].address;
            t->name = c.names.empty() ? c.cert_path : c.names.front();
            if (!ocsp_request_target(c, c.ocsp_fetch.path, t->target)) {
                LOG_WARN("TLS listener %s: no OCSP request can be made for %s; nothing is stapled", t->listener.c_str(),
                         t->name.c_str());
                continue;
            }
            std::string labels = "listener=\"" + metrics::escape_label_value(t->listener) + "\",name=\"" +
                                 metrics::escape_label_value(t->name) + "\",result=\"";
            constexpr std::string_view kResults[] = {"ok", "failed", "invalid", "revoked"};
            for (size_t r = 0; r < 4; ++r)
                t->counted[r] = metrics_.counter("gateway_tls_ocsp_fetches_total",
                                                 labels + std::string(kResults[r]) + "\"", kFetchesHelp);
            // What the zone holds (a reload, or the previous binary's) is kept while valid.
            StapleCopy held;
            if (zone_board && zone_board->get(key, held) &&
                check_ocsp_response(held.der, c, now).verdict == OcspVerdict::Good) {
                LOG_INFO("TLS listener %s: the OCSP response for %s in shared memory is still valid", t->listener.c_str(),
                         t->name.c_str());
                t->schedule_refresh(held.this_update, held.next_update, now);
            } else {
                t->due = loop_.now();
                todo.push_back(t.get());
            }
            targets_.push_back(std::move(t));
        }
    }
    if (first && !todo.empty()) first_round(todo);
    arm();
}

// Before the first workers fork: the responses that come within kFirstRoundMs are stapled
// from the first handshake. A private loop, so that nothing else of the master runs meanwhile.
void OcspFetcher::first_round(const std::vector<Target*>& todo) {
    event::Loop round;
    if (!round.ok()) return;
    {
        httpc::Client client(round);
        round_loop_ = &round;
        round_pending_ = todo.size();
        for (Target* t : todo) t->start(client, kFirstRoundMs);
        event::Timer deadline([&round] { round.stop(); });
        round.arm(deadline, kFirstRoundMs);
        round.run();
        round.cancel(deadline);
        round_loop_ = nullptr;
        loop_.update_time();
        for (Target* t : todo) {
            if (t->call.pending()) t->due = loop_.now();  // asked again from the master's loop at once
            t->call.cancel();  // every handle lets go of this client before it goes
        }
    }
    loop_.update_time();
}

void OcspFetcher::arm() {
    if (round_loop_) return;  // the first round arms once it is over
    event::Millis next = -1;
    for (const auto& t : targets_)
        if (t->due >= 0 && (next < 0 || t->due < next)) next = t->due;
    if (next < 0) {
        loop_.cancel(timer_);
        return;
    }
    loop_.arm(timer_, std::max<event::Millis>(next - loop_.now(), 0));
}

void OcspFetcher::on_timer() {
    event::Millis now = loop_.now();
    // During a binary upgrade, the master that handed over leaves the fetching to the new one.
    bool fetch = !still_master_ || still_master_();
    for (const auto& t : targets_) {
        if (t->due < 0 || t->due > now) continue;
        if (fetch)
            t->start(*http_, kTimeoutMs);
        else
            t->due = now + 5 * kFirstRetryMs;  // asked again once this master serves (or never)
    }
    arm();
}

}  // namespace gw::tls
