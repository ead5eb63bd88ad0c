// A Redis client for the worker's own event loop: hiredis's asynchronous API, with an adapter
// (written here) that registers hiredis's descriptor in our epoll loop, timeouts on our timers,
// a small pool of connections, reconnection with back-off, and Lua scripts called by EVALSHA
// (loaded on every connect, reloaded on NOSCRIPT).
//
// Failure is a normal state, not an exception: a command that times out closes every connection
// of the pool (every command waiting on them is answered at once), and while no connection is
// ready the client says so (up() is false, submit() refuses) so that callers decide locally at
// once instead of waiting for a timeout per request.
//
// Every command has the command timeout, those sent on connecting too: a new connection is
// ready only once Redis has answered them (SCRIPT LOAD of each script, and TIME) in time, so a
// Redis that accepts connections but answers slowly or not at all is probed in the background,
// never by a request. The back-off between attempts (min_backoff doubling up to max_backoff)
// starts afresh only after a connection has stayed ready for max_backoff: a Redis that answers
// the probe and then times out again is retried less and less often, not every few hundred ms.
//
// Per command there is no allocation once warmed up: pending commands come from a pool, and
// their argument buffers keep their capacity.
//
// One client per worker may serve several modules (src/core/services/registry.h makes it for the
// configuration's `redis:` section): each adds the scripts it needs, whenever it starts using the
// client, and listens to up/down changes alongside the others.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "event/loop.h"

struct redisAsyncContext;
struct redisReply;

namespace gw::redis {

enum class Result : uint8_t {
    Ok,       // a reply (which may itself be a Redis error reply: check reply->type)
    Timeout,  // no reply within the command timeout
    Down,     // the connection was lost before the reply
};

// Receives the outcome of a command, exactly once (unless cancelled first). `reply` is only
// valid during the call, and null unless the result is Ok.
class Waiter {
  public:
    virtual void on_redis_reply(Result result, const redisReply* reply) = 0;

  protected:
    ~Waiter() = default;
};

struct Options {
    std::string host = "127.0.0.1";  // or a unix socket path when `unix_path` is set
    uint16_t port = 6379;
    std::string unix_path;
    event::Millis connect_timeout = 1000;
    event::Millis command_timeout = 50;
    int pool = 1;                     // connections
    event::Millis min_backoff = 100;  // between reconnection attempts, doubling...
    event::Millis max_backoff = 5000; // ...up to this
};

// A Lua script known to the client by its SHA-1 (computed here).
struct Script {
    explicit Script(std::string body);
    std::string body;
    std::string sha1;  // 40 hex digits
};

class Client {
  public:
    Client(event::Loop& loop, Options options);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Scripts to load on every connection. One added after start() is loaded at once on the
    // connections already open (ahead of any EVALSHA sent on them after this call: a connection
    // runs its commands in order); the NOSCRIPT retry covers the rest.
    void add_script(const Script* script);
    void start();

    // At least one connection is connected, with the scripts loaded.
    bool up() const { return ready_count_ > 0; }
    std::string_view last_error() const { return last_error_; }

    // An opaque handle of a command in flight, for cancel().
    struct Pending;

    // Sends a command (Redis protocol arguments). Returns nullptr, without calling `waiter`, when
    // no connection is ready.
    Pending* submit(std::span<const std::string_view> argv, Waiter* waiter);
    // EVALSHA script numkeys keys... args...; on NOSCRIPT (a Redis restarted without the script)
    // the script is loaded again and the call repeated once, within the same timeout.
    Pending* eval(const Script& script, std::span<const std::string_view> keys,
                  std::span<const std::string_view> args, Waiter* waiter);
    // The waiter will not be called (it is going away). The command itself still completes.
    void cancel(Pending* pending);
    // Writes the command now instead of when the loop next finds the socket writable: for a
    // command that must reach Redis before what the caller writes next (an idempotency
    // record before the response it records reaches the client, who may retry on another node).
    void flush(Pending* pending);

    // Redis's clock (TIME, in microseconds) at the moment a command sent now would time out
    // here, as far as the last connection's TIME reply tells (it errs early, by up to that
    // round trip); 0 before any. A script given it can refuse to act on a command that came too
    // late to be waited for.
    int64_t deadline_us() const;
    // Reads Redis's clock again (TIME, with the command timeout), for deadline_us(): when a
    // script says a call came past its deadline although it was answered in time, one of the
    // clocks has been set since the connection read it.
    void refresh_clock();

    // Counters, for metrics and tests.
    uint64_t connects() const { return connects_; }
    uint64_t timeouts() const { return timeouts_; }

    // Called when up() changes, in the order added: every module that shares the client hears
    // it. A listener removes itself before it goes away (from inside a call too); one added
    // during a call hears the next change. The client's own closing (its destructor) is not
    // reported.
    using StateCallback = void (*)(void* ctx, bool up);
    void add_state_listener(StateCallback fn, void* ctx);
    void remove_state_listener(StateCallback fn, void* ctx);

  private:
    struct Conn;
    friend struct Conn;

    Pending* acquire();
    void recycle(Pending* p);
    Pending* send(Pending* p);
    void complete(Pending* p, redisReply* reply);
    void on_timeout(Pending* p);
    void connection_ready(Conn& c, bool ready);
    void notify_state(bool up);
    void set_clock(const redisReply* reply);

    struct ClockReader final : Waiter {
        Client* client = nullptr;
        bool pending = false;
        void on_redis_reply(Result result, const redisReply* reply) override;
    };
    static void reply_callback(redisAsyncContext* ac, void* reply, void* privdata);

    event::Loop& loop_;
    Options options_;
    std::vector<const Script*> scripts_;
    struct StateListener {
        StateCallback fn;  // nullptr: removed during a notification, erased after it
        void* ctx;
    };
    std::vector<StateListener> listeners_;
    int notifying_ = 0;  // depth of notify_state() calls in progress
    std::vector<std::unique_ptr<Conn>> conns_;
    std::vector<std::unique_ptr<Pending>> pending_pool_;
    Pending* free_ = nullptr;
    size_t next_conn_ = 0;
    int ready_count_ = 0;
    uint64_t connects_ = 0;
    uint64_t timeouts_ = 0;
    int64_t clock_offset_us_ = 0;  // Redis's clock minus ours (CLOCK_REALTIME)
    bool clock_known_ = false;
    ClockReader clock_reader_;
    std::string last_error_;
    bool stopping_ = false;
};

}  // namespace gw::redis
