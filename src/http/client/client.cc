#include "http/client/client.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "http/client/h2_exchange.h"
#include "http/client/request_head.h"
#include "http/client/transport.h"
#include "http/transport.h"

namespace gw::httpc {

namespace {

// The response head must fit (the parser's own limit is the same); after the head, the same
// buffer takes each read of the body.
constexpr size_t kBufferSize = 16 * 1024;

}  // namespace

std::string_view error_name(Error e) {
    switch (e) {
        case Error::None: return "none";
        case Error::Invalid: return "invalid";
        case Error::Tls: return "tls";
        case Error::Connect: return "connect";
        case Error::ConnectTimeout: return "connect_timeout";
        case Error::Timeout: return "timeout";
        case Error::Io: return "io";
        case Error::Closed: return "closed";
        case Error::BadResponse: return "bad_response";
        case Error::TooLarge: return "too_large";
    }
    return "unknown";
}

// One request, from fetch() to its answer; pooled by the Client and reused with its buffers.
struct Call final : event::IoHandler {
    enum class State : uint8_t {
        Free,        // in the pool
        Failing,     // failed before any I/O: the answer goes out from the loop, not from fetch()
        Connecting,
        Handshaking,  // TLS
        Sending,
        Head,        // reading the response head
        Body,
        Answering,   // the handler runs
    };

    explicit Call(Client& c) : client(c) {
        deadline.set_callback([this] {
            if (state == State::Failing)
                finish(failure, failure_reason);
            else
                finish(Error::Timeout, "timed out");
        });
        connect_timer.set_callback([this] {
            finish(Error::ConnectTimeout, state == State::Handshaking ? "TLS handshake timed out" : "connect timed out");
        });
    }
    ~Call() { stop(); }

    void start(const Request& r, Handler& h);
    void on_io(uint32_t events) override;
    void fail_later(Error e, std::string_view reason);
    std::string_view errno_text(int err);
    void connected();
    void shake();
    void wait_for(bool write);
    void send_some();
    void read_some();
    void read_once();
    bool parse_head();
    enum class Progress : uint8_t { More, Done, Failed };
    Progress consume_body(std::string_view raw);
    bool take(std::string_view data);
    void on_eof();
    void finish(Error e, std::string_view reason);
    void stop();

    Client& client;
    Call* next_free = nullptr;
    uint64_t generation = 0;  // bumped when the request ends: older handles then do nothing
    State state = State::Free;
    Handler* handler = nullptr;
    Transport transport;
    http::UpstreamTransportFactory* tls = nullptr;
    size_t tls_server = 0;
    uint32_t events = 0;  // what the socket is registered for
    bool* ended_flag = nullptr;  // read_some()'s: finish() sets it
    bool registered = false;
    event::Timer deadline, connect_timer;
    sockaddr_storage address{};
    socklen_t address_len = 0;
    // The request.
    std::string out;
    size_t sent = 0;
    bool head_method = false;
    bool read_body = true;
    uint64_t max_body = 0;
    // The response.
    std::unique_ptr<char[]> in;
    size_t in_len = 0;
    http::Response head;
    bool have_head = false;
    http::ChunkedDecoder chunked;
    uint64_t body_left = 0;  // ResponseBody::ContentLength: bytes still to come
    std::string body;
    // HTTP/2 (Request::http2): the exchange, its response as HTTP/1 bytes not yet taken, and
    // its frames not yet written.
    std::unique_ptr<H2Exchange> h2;
    std::string h2_in, h2_out;
    // Failing: what the answer will say. The reason points at static text or at reason_buf.
    Error failure = Error::None;
    std::string_view failure_reason;
    char reason_buf[128];
};

void Call::start(const Request& r, Handler& h) {
    handler = &h;
    sent = 0;
    in_len = 0;
    have_head = false;
    body_left = 0;
    body.clear();
    head_method = r.method == "HEAD";
    read_body = r.read_body;
    max_body = r.max_body;
    client.loop_.arm(deadline, std::max<event::Millis>(r.timeout, 0));
    if (!r.address || r.address_len == 0 || r.address_len > sizeof address ||
        (r.address->sa_family != AF_INET && r.address->sa_family != AF_INET6 && r.address->sa_family != AF_UNIX))
        return fail_later(Error::Invalid, "no usable address");
    tls = r.tls;
    tls_server = r.tls_server;
    std::string_view why = write_request_head(r, out);
    if (!why.empty()) return fail_later(Error::Invalid, why);
    h2.reset();
    h2_in.clear();
    h2_out.clear();
    if (r.http2 && !r.body.empty()) return fail_later(Error::Invalid, "no request body over HTTP/2");
    if (r.http2) {
        h2 = std::make_unique<H2Exchange>();
        std::string head = out;
        if (!h2->start(head, r.tls != nullptr, out)) return fail_later(Error::Invalid, "cannot make an HTTP/2 request");
    }
    std::memcpy(&address, r.address, r.address_len);
    address_len = r.address_len;
    if (!in) in = std::make_unique<char[]>(kBufferSize);

    int err = transport.connect(reinterpret_cast<const sockaddr*>(&address), address_len);
    if (err != 0 && err != EINPROGRESS) return fail_later(Error::Connect, errno_text(err));
    events = EPOLLOUT;
    registered = client.loop_.add(transport.fd(), events, this);
    if (!registered) return fail_later(Error::Io, errno_text(errno));
    // Even when connected at once (a unix socket), the request goes out from the loop: a failure
    // to send must not call the handler from inside fetch().
    state = err == 0 && !tls ? State::Sending : State::Connecting;
    if (state == State::Connecting && r.connect_timeout > 0 && r.connect_timeout < r.timeout)
        client.loop_.arm(connect_timer, r.connect_timeout);
}

// The socket is connected: the request goes out, after a TLS handshake for https.
void Call::connected() {
    if (!tls) {
        client.loop_.cancel(connect_timer);
        state = State::Sending;
        return send_some();
    }
    if (!transport.start_tls(*tls, tls_server)) return finish(Error::Tls, "no TLS connection could be made");
    state = State::Handshaking;
    shake();
}

void Call::shake() {
    switch (transport.handshake()) {
        case 1:
            client.loop_.cancel(connect_timer);  // connect_timeout covers the handshake too
            state = State::Sending;
            return send_some();
        case 0: return wait_for(transport.wants_write());
        default: {
            std::string_view why = transport.failure();
            return finish(Error::Tls, why.empty() ? std::string_view("TLS handshake failed") : why);
        }
    }
}

// Registers the socket for writability (true) or readability; a no-op when it is already.
void Call::wait_for(bool write) {
    uint32_t want = write ? EPOLLOUT : EPOLLIN | EPOLLRDHUP;
    if (want == events) return;
    events = want;
    client.loop_.modify(transport.fd(), events, this);
}

void Call::fail_later(Error e, std::string_view reason) {
    stop();
    state = State::Failing;
    failure = e;
    failure_reason = reason;
    client.loop_.arm(deadline, 0);
}

// GNU strerror_r: the text, in reason_buf or static; valid until the handler returns.
std::string_view Call::errno_text(int err) { return strerror_r(err, reason_buf, sizeof reason_buf); }

void Call::on_io(uint32_t events) {
    (void)events;  // level-triggered: each state just tries its next step (EAGAIN: not yet)
    switch (state) {
        case State::Connecting: {
            int err = transport.finish_connect();
            if (err == EINPROGRESS) return;  // a late event of an earlier socket: still connecting
            if (err) return finish(Error::Connect, errno_text(err));
            return connected();
        }
        case State::Handshaking: return shake();
        case State::Sending: return send_some();
        case State::Head:
        case State::Body: return read_some();
        default: return;  // a late event for a request that is over
    }
}

void Call::send_some() {
    ssize_t n = transport.write(out.data() + sent, out.size() - sent);
    if (n < 0) {
        if (errno == EAGAIN) return wait_for(transport.secure() ? transport.wants_write() : true);
        return finish(Error::Io, errno_text(errno));
    }
    sent += static_cast<size_t>(n);
    if (sent < out.size()) return wait_for(true);
    state = State::Head;
    wait_for(false);
    // TLS: the server's answer may already be in OpenSSL's buffer (read ahead with the
    // handshake's last records); no event would announce it.
    if (transport.has_buffered_input()) read_some();
}

// Reads once per event; over TLS, again while OpenSSL holds input already taken from the socket
// (records read ahead), which no event would announce.
void Call::read_some() {
    bool ended = false;  // set by finish(), which may leave this call destroyed (the handler's doing)
    ended_flag = &ended;
    for (;;) {
        read_once();
        if (ended) return;
        if (!transport.has_buffered_input() && h2_in.empty()) break;
    }
    ended_flag = nullptr;
}

void Call::read_once() {
    size_t room = state == State::Head ? kBufferSize - in_len : kBufferSize;
    char* at = state == State::Head ? in.get() + in_len : in.get();
    ssize_t n;
    if (h2) {
        if (h2_in.empty()) {
            char buf[kBufferSize];
            ssize_t got = transport.read(buf, sizeof buf);
            if (got < 0) {
                if (errno == EAGAIN) return wait_for(transport.wants_write());
                return finish(Error::Io, errno_text(errno));
            }
            if (got == 0) return on_eof();
            if (!h2->feed({buf, static_cast<size_t>(got)}, h2_in, h2_out))
                return finish(Error::BadResponse, "not a valid HTTP/2 response");
            if (!h2_out.empty()) {  // acknowledgements: best effort, the rest with the next read
                ssize_t w = transport.write(h2_out.data(), h2_out.size());
                if (w > 0) h2_out.erase(0, static_cast<size_t>(w));
            }
            if (h2_in.empty()) return;
        }
        n = static_cast<ssize_t>(std::min(room, h2_in.size()));
        std::memcpy(at, h2_in.data(), static_cast<size_t>(n));
        h2_in.erase(0, static_cast<size_t>(n));
        if (n == 0) return finish(Error::BadResponse, "response head too long");
    } else {
        n = transport.read(at, room);
        if (n < 0) {
            if (errno == EAGAIN) return wait_for(transport.wants_write());
            return finish(Error::Io, errno_text(errno));
        }
        if (n == 0) return on_eof();
    }
    if (state == State::Body) {
        if (consume_body({at, static_cast<size_t>(n)}) == Progress::Done) finish(Error::None, {});
        return;
    }
    in_len += static_cast<size_t>(n);
    if (!parse_head()) return;  // more to come, or finished with an error
    if (!read_body || head.body == http::ResponseBody::None) return finish(Error::None, {});
    if (head.body == http::ResponseBody::ContentLength) {
        if (head.content_length > max_body) return finish(Error::TooLarge, "the body is longer than the cap");
        body_left = head.content_length;
        body.reserve(static_cast<size_t>(body_left));  // a no-op once a body this long was read
    }
    chunked.reset();
    state = State::Body;
    if (consume_body({in.get() + head.head_length, in_len - head.head_length}) == Progress::Done)
        finish(Error::None, {});
}

// True once a final response head is in `head` (interim 1xx ones are skipped); false when more
// bytes are needed, or after finishing the call with an error.
bool Call::parse_head() {
    http::ParserLimits limits;
    limits.max_header_size = kBufferSize;
    for (;;) {
        http::ParseError err;
        switch (http::parse_response_head({in.get(), in_len}, limits, head_method, head, err)) {
            case http::ParseResult::Incomplete:
                if (in_len == kBufferSize) finish(Error::BadResponse, "response head too long");
                return false;
            case http::ParseResult::Error: finish(Error::BadResponse, err.reason); return false;
            case http::ParseResult::Complete: break;
        }
        if (head.status == 101) {
            finish(Error::BadResponse, "101 Switching Protocols without an Upgrade asked");
            return false;
        }
        if (head.status >= 200) break;
        // 100 Continue, 103 Early Hints: the final response follows.
        in_len -= head.head_length;
        std::memmove(in.get(), in.get() + head.head_length, in_len);
    }
    have_head = true;
    return true;
}

// Adds body data to `body` within the cap; false after finishing the call with TooLarge.
bool Call::take(std::string_view data) {
    if (data.size() > max_body - body.size()) {
        finish(Error::TooLarge, "the body is longer than the cap");
        return false;
    }
    body.append(data);
    return true;
}

// `raw`: bytes read after the head. The connection is closed after this response, so bytes past
// the body's end are dropped.
Call::Progress Call::consume_body(std::string_view raw) {
    switch (head.body) {
        case http::ResponseBody::None: return Progress::Done;
        case http::ResponseBody::ContentLength: {
            std::string_view part = raw.substr(0, static_cast<size_t>(std::min<uint64_t>(body_left, raw.size())));
            if (!take(part)) return Progress::Failed;
            body_left -= part.size();
            return body_left == 0 ? Progress::Done : Progress::More;
        }
        case http::ResponseBody::UntilClose: return take(raw) ? Progress::More : Progress::Failed;
        case http::ResponseBody::Chunked:
            while (!raw.empty()) {
                size_t used = 0;
                std::string_view data;
                http::ParseError err;
                http::ChunkedDecoder::Status st = chunked.feed(raw, used, data, err);
                if (st == http::ChunkedDecoder::Status::Error) {
                    finish(Error::BadResponse, err.reason);
                    return Progress::Failed;
                }
                if (!take(data)) return Progress::Failed;
                if (st == http::ChunkedDecoder::Status::Done) return Progress::Done;
                if (used == 0 && data.empty()) break;  // nothing taken: wait for more bytes
                raw.remove_prefix(used);
            }
            return Progress::More;
    }
    return Progress::More;
}

void Call::on_eof() {
    if (state == State::Head)
        return finish(Error::Closed, in_len ? "closed in the middle of the response head" : "closed without a status line");
    if (head.body == http::ResponseBody::UntilClose) return finish(Error::None, {});
    finish(Error::Closed, "closed before the end of the body");
}

void Call::stop() {
    if (registered) client.loop_.remove(transport.fd());
    registered = false;
    transport.close();
    client.loop_.cancel(deadline);
    client.loop_.cancel(connect_timer);
}

// The one way out of a request that was not cancelled. The call goes back to the pool only after
// the handler returns: a request the handler starts meanwhile takes another call, so the answer's
// views stay valid throughout.
void Call::finish(Error e, std::string_view reason) {
    if (bool* ended = std::exchange(ended_flag, nullptr)) *ended = true;
    stop();
    Handler* h = std::exchange(handler, nullptr);
    ++generation;
    state = State::Answering;
    if (e != Error::None) body.clear();
    Answer a;
    a.error = e;
    a.reason = reason;
    a.status = have_head ? head.status : 0;
    a.head = have_head ? &head : nullptr;
    a.body = &body;
    bool destroyed = false;
    bool* outer = std::exchange(client.destroyed_, &destroyed);
    h->on_http_answer(a);
    if (destroyed) {  // the handler destroyed the client, and this call with it
        if (outer) *outer = true;
        return;
    }
    client.destroyed_ = outer;
    client.release(this);
}

Handle::Handle(Handle&& other) noexcept
    : call_(std::exchange(other.call_, nullptr)), generation_(other.generation_) {}

Handle& Handle::operator=(Handle&& other) noexcept {
    if (this != &other) {
        cancel();
        call_ = std::exchange(other.call_, nullptr);
        generation_ = other.generation_;
    }
    return *this;
}

bool Handle::pending() const { return call_ && call_->generation == generation_; }

void Handle::cancel() {
    Call* c = std::exchange(call_, nullptr);
    if (!c || c->generation != generation_) return;  // answered (or answering) already
    c->stop();
    c->handler = nullptr;
    ++c->generation;
    c->client.release(c);
}

Client::Client(event::Loop& loop) : loop_(loop) {}

Client::~Client() {
    if (destroyed_) *destroyed_ = true;
    for (auto& c : calls_) c->stop();
}

Handle Client::fetch(const Request& request, Handler& handler) {
    Call* c = acquire();
    Handle h(c, c->generation);
    c->start(request, handler);
    return h;
}

Call* Client::acquire() {
    Call* c = free_;
    if (c) {
        free_ = c->next_free;
    } else {
        calls_.push_back(std::make_unique<Call>(*this));
        c = calls_.back().get();
    }
    ++in_flight_;
    return c;
}

void Client::release(Call* c) {
    c->state = Call::State::Free;
    c->handler = nullptr;
    c->next_free = free_;
    free_ = c;
    --in_flight_;
}

}  // namespace gw::httpc
