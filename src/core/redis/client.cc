#include "core/redis/client.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <sys/epoll.h>

#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/log.h"

namespace gw::redis {

namespace {

int64_t realtime_us() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

int64_t monotonic_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

// TIME's answer was read somewhere between the moment it was sent and now: the offset it gives is
// the smallest the reply allows, so deadlines computed with it are early, never late.
void Client::set_clock(const redisReply* reply) {
    int64_t now = realtime_us();
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_STRING)
        return;
    int64_t redis_us = strtoll(reply->element[0]->str, nullptr, 10) * 1000000 + strtoll(reply->element[1]->str, nullptr, 10);
    clock_offset_us_ = redis_us - now;
    clock_known_ = true;
}

void Client::ClockReader::on_redis_reply(Result result, const redisReply* reply) {
    pending = false;
    if (result == Result::Ok) client->set_clock(reply);
}

void Client::refresh_clock() {
    if (clock_reader_.pending) return;
    clock_reader_.client = this;
    std::string_view time[] = {"TIME"};
    clock_reader_.pending = submit(time, &clock_reader_) != nullptr;
}

int64_t Client::deadline_us() const {
    if (!clock_known_) return 0;
    // The command's timer fires at loop now + timeout, on the loop's cached clock, which may be
    // a little behind the real one: the deadline is measured from the same point.
    int64_t fires_in_ms = loop_.now() + options_.command_timeout - monotonic_ms();
    return realtime_us() + fires_in_ms * 1000 + clock_offset_us_;
}

Script::Script(std::string text) : body(std::move(text)) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(body.data(), body.size(), md, &len, EVP_sha1(), nullptr);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; ++i) {
        sha1 += hex[md[i] >> 4];
        sha1 += hex[md[i] & 15];
    }
}

struct Client::Pending {
    Client* client = nullptr;
    Waiter* waiter = nullptr;
    Conn* conn = nullptr;        // while hiredis holds it
    Pending* next_free = nullptr;
    const Script* script = nullptr;  // an EVALSHA: reload and repeat once on NOSCRIPT
    bool retried = false;
    event::Timer timer;
    std::string bytes;           // the arguments, back to back
    std::vector<size_t> lens;
    std::vector<const char*> ptrs;

    void set_args(std::initializer_list<std::span<const std::string_view>> groups, std::string_view head = {},
                  std::string_view sha = {}, std::string_view numkeys = {}) {
        bytes.clear();
        lens.clear();
        auto add = [&](std::string_view a) {
            bytes.append(a);
            lens.push_back(a.size());
        };
        if (!head.empty()) add(head);
        if (!sha.empty()) add(sha);
        if (!numkeys.empty()) add(numkeys);
        for (auto g : groups)
            for (std::string_view a : g) add(a);
        ptrs.clear();
        size_t off = 0;
        for (size_t n : lens) {
            ptrs.push_back(bytes.data() + off);
            off += n;
        }
    }
};

// One connection: the hiredis context and its registration in our loop.
struct Client::Conn final : event::IoHandler {
    Client& client;
    redisAsyncContext* ac = nullptr;
    int fd = -1;
    uint32_t events = 0;
    bool registered = false;
    bool ready = false;
    int probe_pending = 0;  // replies still awaited of the commands sent on connecting
    event::Millis backoff;
    event::Timer connect_timer, probe_timer, retry_timer, drop_timer, stable_timer;

    explicit Conn(Client& c) : client(c), backoff(c.options_.min_backoff) {
        connect_timer.set_callback([this] { drop("connect timed out"); });
        probe_timer.set_callback([this] { drop("no answer in time on a new connection"); });
        retry_timer.set_callback([this] { connect(); });
        drop_timer.set_callback([this] { drop(nullptr); });
        // Up and answering for that long: Redis is back for good, the next loss starts the
        // back-off afresh.
        stable_timer.set_callback([this] { backoff = client.options_.min_backoff; });
    }

    void connect() {
        const Options& o = client.options_;
        ac = o.unix_path.empty() ? redisAsyncConnect(o.host.c_str(), o.port) : redisAsyncConnectUnix(o.unix_path.c_str());
        if (!ac || ac->err) {
            client.last_error_ = ac ? ac->errstr : "cannot allocate a redis context";
            if (ac) redisAsyncFree(ac);
            ac = nullptr;
            schedule_retry();
            return;
        }
        ac->data = this;
        ac->ev.data = this;
        ac->ev.addRead = [](void* d) { static_cast<Conn*>(d)->update(EPOLLIN, 0); };
        ac->ev.delRead = [](void* d) { static_cast<Conn*>(d)->update(0, EPOLLIN); };
        ac->ev.addWrite = [](void* d) { static_cast<Conn*>(d)->update(EPOLLOUT, 0); };
        ac->ev.delWrite = [](void* d) { static_cast<Conn*>(d)->update(0, EPOLLOUT); };
        ac->ev.cleanup = [](void* d) { static_cast<Conn*>(d)->unregister(); };
        redisAsyncSetConnectCallback(ac, &Conn::on_connect);
        redisAsyncSetDisconnectCallback(ac, &Conn::on_disconnect);
        fd = ac->c.fd;
        events = 0;
        registered = false;
        update(EPOLLOUT, 0);  // writable = the non-blocking connect finished (or failed)
        client.loop_.arm(connect_timer, o.connect_timeout);
    }

    void update(uint32_t add, uint32_t del) {
        if (fd < 0) return;
        events = (events | add) & ~del;
        if (!registered)
            registered = client.loop_.add(fd, events, this);
        else
            client.loop_.modify(fd, events, this);
    }

    void unregister() {
        if (registered) client.loop_.remove(fd);
        registered = false;
        fd = -1;
    }

    void on_io(uint32_t ev) override {
        if (ac && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) redisAsyncHandleRead(ac);
        if (ac && (ev & EPOLLOUT)) redisAsyncHandleWrite(ac);
    }

    void set_ready(bool r) {
        if (r == ready) return;
        ready = r;
        client.connection_ready(*this, r);
    }

    // Connected: the connection is not used for requests until Redis has answered what it is
    // sent first (the scripts to load, and TIME, for the clock offset) within the command
    // timeout. A Redis that accepts connections but answers late, or not at all, so never
    // makes a request wait: it is retried in the background, with back-off.
    static void on_connect(const redisAsyncContext* a, int status) {
        Conn* c = static_cast<Conn*>(a->data);
        Client& client = c->client;
        client.loop_.cancel(c->connect_timer);
        if (status != REDIS_OK) {
            // hiredis frees the context when this returns.
            client.last_error_ = a->errstr;
            c->ac = nullptr;
            c->schedule_retry();
            return;
        }
        client.connects_++;
        c->probe_pending = static_cast<int>(client.scripts_.size()) + 1;
        client.loop_.arm(c->probe_timer, client.options_.command_timeout);
        for (const Script* s : client.scripts_) {
            const char* argv[] = {"SCRIPT", "LOAD", s->body.data()};
            size_t lens[] = {6, 4, s->body.size()};
            redisAsyncCommandArgv(c->ac, &Conn::on_probe_reply, c, 3, argv, lens);
        }
        redisAsyncCommand(c->ac, &Conn::on_time_reply, c, "TIME");
    }

    static void on_probe_reply(redisAsyncContext*, void* r, void* privdata) {
        Conn* c = static_cast<Conn*>(privdata);
        auto* reply = static_cast<redisReply*>(r);
        if (!reply) return;  // the connection is going away
        if (reply->type == REDIS_REPLY_ERROR) {
            c->client.last_error_ = std::string("SCRIPT LOAD failed: ") + reply->str;
            LOG_ERROR("redis: %s", c->client.last_error_.c_str());
            c->client.loop_.arm(c->drop_timer, 0);  // not from inside a hiredis callback
            return;
        }
        c->probe_answered();
    }

    // TIME: seconds and microseconds of Redis's clock, read somewhere between the moment it
    // was sent and now; `now - sent` is at most the command timeout.
    static void on_time_reply(redisAsyncContext*, void* r, void* privdata) {
        Conn* c = static_cast<Conn*>(privdata);
        auto* reply = static_cast<redisReply*>(r);
        if (!reply) return;
        c->client.set_clock(reply);
        c->probe_answered();
    }

    void probe_answered() {
        if (--probe_pending > 0) return;
        client.loop_.cancel(probe_timer);
        client.loop_.arm(stable_timer, client.options_.max_backoff);
        set_ready(true);
    }

    static void on_disconnect(const redisAsyncContext* a, int status) {
        Conn* c = static_cast<Conn*>(a->data);
        if (status != REDIS_OK && a->errstr[0]) c->client.last_error_ = a->errstr;
        c->ac = nullptr;
        c->schedule_retry();
    }

    // Closes the connection; hiredis answers every command on it with a null reply.
    void drop(const char* why) {
        if (!ac) return;
        if (why) client.last_error_ = why;
        client.loop_.cancel(connect_timer);
        client.loop_.cancel(probe_timer);
        bool was_connected = ac->c.flags & REDIS_CONNECTED;
        redisAsyncFree(ac);  // calls on_disconnect when it was connected
        if (!was_connected) {
            ac = nullptr;
            schedule_retry();
        }
    }

    void schedule_retry() {
        client.loop_.cancel(probe_timer);
        client.loop_.cancel(stable_timer);
        set_ready(false);
        if (client.stopping_) return;
        client.loop_.arm(retry_timer, backoff);
        backoff = std::min(backoff * 2, client.options_.max_backoff);
    }

    void shutdown() {
        client.loop_.cancel(retry_timer);
        client.loop_.cancel(connect_timer);
        client.loop_.cancel(drop_timer);
        client.loop_.cancel(probe_timer);
        client.loop_.cancel(stable_timer);
        if (ac) {
            redisAsyncFree(ac);
            ac = nullptr;
        }
    }
};

Client::Client(event::Loop& loop, Options options) : loop_(loop), options_(std::move(options)) {
    options_.pool = std::max(1, options_.pool);
}

Client::~Client() {
    stopping_ = true;
    listeners_.clear();  // closing on purpose: nobody is told Redis was lost
    for (auto& c : conns_) c->shutdown();
}

void Client::start() {
    for (int i = 0; i < options_.pool; ++i) {
        conns_.push_back(std::make_unique<Conn>(*this));
        conns_.back()->connect();
    }
}

void Client::add_script(const Script* script) {
    scripts_.push_back(script);
    for (auto& c : conns_) {
        if (!c->ac || !(c->ac->c.flags & REDIS_CONNECTED)) continue;  // loads it on connecting
        const char* argv[] = {"SCRIPT", "LOAD", script->body.data()};
        size_t lens[] = {6, 4, script->body.size()};
        redisAsyncCommandArgv(c->ac, nullptr, nullptr, 3, argv, lens);
    }
}

void Client::add_state_listener(StateCallback fn, void* ctx) { listeners_.push_back({fn, ctx}); }

void Client::remove_state_listener(StateCallback fn, void* ctx) {
    for (StateListener& l : listeners_)
        if (l.fn == fn && l.ctx == ctx) l.fn = nullptr;
    if (notifying_ == 0) std::erase_if(listeners_, [](const StateListener& l) { return !l.fn; });
}

void Client::notify_state(bool now_up) {
    // By index, and only those present now: a listener may add or remove listeners meanwhile.
    ++notifying_;
    size_t n = listeners_.size();
    for (size_t i = 0; i < n; ++i)
        if (listeners_[i].fn) listeners_[i].fn(listeners_[i].ctx, now_up);
    if (--notifying_ == 0) std::erase_if(listeners_, [](const StateListener& l) { return !l.fn; });
}

void Client::connection_ready(Conn&, bool ready) {
    bool was_up = up();
    ready_count_ += ready ? 1 : -1;
    if (was_up != up()) notify_state(up());
}

Client::Pending* Client::acquire() {
    if (!free_) {
        pending_pool_.push_back(std::make_unique<Pending>());
        Pending* p = pending_pool_.back().get();
        p->client = this;
        p->timer.set_callback([p] { p->client->on_timeout(p); });
        return p;
    }
    Pending* p = free_;
    free_ = p->next_free;
    return p;
}

void Client::recycle(Pending* p) {
    loop_.cancel(p->timer);
    p->waiter = nullptr;
    p->conn = nullptr;
    p->script = nullptr;
    p->retried = false;
    p->next_free = free_;
    free_ = p;
}

Client::Pending* Client::send(Pending* p) {
    Conn* c = nullptr;
    for (size_t i = 0; i < conns_.size() && !c; ++i) {
        Conn* candidate = conns_[(next_conn_ + i) % conns_.size()].get();
        if (candidate->ready && candidate->ac) c = candidate;
    }
    if (!c) {
        recycle(p);
        return nullptr;
    }
    next_conn_ = (next_conn_ + 1) % conns_.size();
    if (redisAsyncCommandArgv(c->ac, &Client::reply_callback, p, static_cast<int>(p->lens.size()), p->ptrs.data(),
                              p->lens.data()) != REDIS_OK) {
        recycle(p);
        return nullptr;
    }
    p->conn = c;
    loop_.arm(p->timer, options_.command_timeout);
    return p;
}

Client::Pending* Client::submit(std::span<const std::string_view> argv, Waiter* waiter) {
    if (!up() || argv.empty()) return nullptr;
    Pending* p = acquire();
    p->waiter = waiter;
    p->set_args({argv});
    return send(p);
}

Client::Pending* Client::eval(const Script& script, std::span<const std::string_view> keys,
                              std::span<const std::string_view> args, Waiter* waiter) {
    if (!up()) return nullptr;
    Pending* p = acquire();
    p->waiter = waiter;
    p->script = &script;
    char numkeys[24];
    int n = snprintf(numkeys, sizeof numkeys, "%zu", keys.size());
    p->set_args({keys, args}, "EVALSHA", script.sha1, std::string_view(numkeys, static_cast<size_t>(n)));
    return send(p);
}

void Client::cancel(Pending* p) {
    if (!p) return;
    p->waiter = nullptr;
    loop_.cancel(p->timer);
}

void Client::flush(Pending* p) {
    if (p && p->conn && p->conn->ac) redisAsyncHandleWrite(p->conn->ac);
}

void Client::reply_callback(redisAsyncContext*, void* reply, void* privdata) {
    auto* p = static_cast<Pending*>(privdata);
    p->client->complete(p, static_cast<redisReply*>(reply));
}

void Client::complete(Pending* p, redisReply* reply) {
    if (reply && reply->type == REDIS_REPLY_ERROR && p->script && !p->retried && p->waiter && p->conn && p->conn->ac &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        // Redis lost the script (restarted, SCRIPT FLUSH): load it and repeat, on the same
        // connection, so the two commands run in order. The timeout keeps running.
        p->retried = true;
        const char* argv[] = {"SCRIPT", "LOAD", p->script->body.data()};
        size_t lens[] = {6, 4, p->script->body.size()};
        redisAsyncCommandArgv(p->conn->ac, nullptr, nullptr, 3, argv, lens);
        if (redisAsyncCommandArgv(p->conn->ac, &Client::reply_callback, p, static_cast<int>(p->lens.size()),
                                  p->ptrs.data(), p->lens.data()) == REDIS_OK)
            return;
    }
    Waiter* w = p->waiter;
    recycle(p);
    if (w) w->on_redis_reply(reply ? Result::Ok : Result::Down, reply);
}

void Client::on_timeout(Pending* p) {
    ++timeouts_;
    Waiter* w = p->waiter;
    p->waiter = nullptr;
    Conn* c = p->conn;
    if (w) w->on_redis_reply(Result::Timeout, nullptr);
    // A Redis too slow to answer in time is treated as down: every connection of the pool is
    // closed (every command on them is answered at once; Redis serves them all with one thread,
    // so the others would be as late) and reconnected with back-off, and meanwhile callers decide
    // without Redis. `p` is recycled by hiredis's null reply during the free.
    if (c)
        for (auto& conn : conns_) conn->drop("command timed out");
}

}  // namespace gw::redis
