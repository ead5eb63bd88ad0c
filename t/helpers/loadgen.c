/*
 * loadgen: a keep-alive HTTP/1.1 load generator that counts every failed request, for the
 * integration tests that reload, upgrade or kill parts of gatewayd under load (t/lib/Load.pm
 * builds and drives it). C11, libc and Linux only (epoll, signalfd), one thread, no other libs:
 *
 *     cc -O2 -o loadgen t/helpers/loadgen.c
 *
 *     loadgen -p PORT [-c CONNS=50] [-d SECONDS=0] [-u PATH=/] [-H HOST=localhost]
 *             [-r REPORTFILE] [-t TIMEOUT_MS=10000]
 *
 * It opens CONNS connections to 127.0.0.1:PORT (never any other address). On each one it sends
 * "GET PATH HTTP/1.1\r\nHost: HOST\r\n\r\n", reads the whole response (status line, headers up to
 * 64 KiB, then a body framed by Content-Length, or chunked with trailers, or -- with neither --
 * read until the server closes; 1xx interim responses are skipped; 204 and 304 have no body),
 * records it and at once sends the next request on the same connection.
 *
 * Counting. Every request written ("sent") ends as exactly one of: "ok" (a complete final
 * response with a 2xx status) or one failure. Failures are counted in "failed" and by reason:
 *
 *   status_NNN           a complete final response with the non-2xx status NNN (the connection
 *                        is kept if the response allows it)
 *   reset                ECONNRESET/EPIPE while writing the request or reading the response
 *   eof_before_response  the server closed the connection (FIN) after the request was written
 *                        and before any byte of its response arrived. This includes a server
 *                        that closes an idle keep-alive connection "gracefully" just as the next
 *                        request goes out: the client cannot tell the two apart, and a real
 *                        client sees exactly this error.
 *   eof_mid_response     the server closed after part of the response (head or body) arrived
 *   bad_response         malformed response: bad status line or header line, bad
 *                        Content-Length or chunk framing, head or trailers over 64 KiB, a 101,
 *                        unsolicited bytes that do not parse as a response
 *   timeout              no complete response within TIMEOUT_MS of writing the request (the
 *                        connection is closed and opened again); also every request still
 *                        outstanding when the final report is made
 *   io_error             any other error of read/write on the connection
 *
 * Connection attempts that fail are counted as failed requests too, but no request was sent on
 * them:
 *
 *   connect_refused      connect() answered ECONNREFUSED
 *   connect_timeout      connect() did not complete within TIMEOUT_MS
 *   connect_failed       socket() or connect() failed otherwise (EADDRNOTAVAIL, EMFILE, ...)
 *
 * so at the end (after "done 1"): ok + failed == sent + connect_refused + connect_timeout +
 * connect_failed, and during the run the same holds with "inflight" (requests sent, not yet
 * ended) added to the left side.
 *
 * A failed connection attempt is retried after 10 ms (no busy loop). After any other failure the
 * connection is opened again at once, unless that connection never got a complete response
 * since it was opened and the failure is no timeout (a server that accepts and closes at once):
 * then also after 10 ms.
 *
 * Not failures: a response with "Connection: close" (a token of the header, any case) or an
 * HTTP/1.0 response without "Connection: keep-alive", or a response delimited by the end of
 * the connection: once it has been read completely, loadgen closes the connection and opens a
 * new one ("reconnects").
 *
 * Stopping: after SECONDS (when not 0) or on SIGTERM/SIGINT (read from a signalfd), no new
 * request is sent and no connection is opened; the requests already sent may finish for up to
 * TIMEOUT_MS, those still outstanding then count as "timeout". Then the final report (ending with
 * "done 1") goes to stdout and loadgen exits 0. Its parent's death stops it the same way
 * (PR_SET_PDEATHSIG sends it a SIGTERM). Bad usage exits 2.
 *
 * The report, one item per line, names stable (more lines may be added later):
 *
 *   ok N                 complete 2xx responses
 *   failed N             failures of all kinds (see above)
 *   sent N               requests written (at least started)
 *   connects N           connection attempts (connect() calls)
 *   reconnects N         connections closed and opened again because a response said so
 *   max_latency_ms N     longest time from writing a request to its complete response
 *   inflight N           requests sent that have not ended yet
 *   established N        connection attempts that succeeded
 *   elapsed_ms N         since loadgen started
 *   status CODE N        complete final responses by status code (2xx and others)
 *   body KEY N           complete final responses by body: KEY is the first 64 bytes of the
 *                        body, every byte outside printable ASCII replaced by '.', every space by
 *                        '_' (so "hello world\n" -> "hello_world."), "-" for an empty body. At
 *                        most 32 distinct keys; further ones are counted as "other".
 *   failure REASON N     failures by reason (see above)
 *   done 1               only in the final report
 *
 * With -r FILE the current report is also written about every 100 ms (and a last time, final)
 * to FILE.tmp, which is then renamed to FILE, so a reader never sees a partial report.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX (64 * 1024)            /* response head, and trailers, at most this */
#define BUF_INIT 16384                  /* input buffer per connection, grown for big heads */
#define BUF_MAX (HEAD_MAX + 4096)
#define CHUNK_LINE_MAX 4096             /* a chunk-size line (with extensions) */
#define BODY_KEY_MAX 64
#define BODY_VARIANTS 32
#define RETRY_NS (10 * 1000000LL)       /* wait before a new connection attempt after a failure */
#define TICK_NS (5 * 1000000LL)         /* timers (deadlines, retries) are checked this often */
#define REPORT_NS (100 * 1000000LL)
#define MAX_EVENTS 1024
#define READS_PER_EVENT 8
#define SIG_TAG UINT64_MAX

enum cstate {
    C_IDLE,        /* no socket; a connection attempt is due at retry_at */
    C_CONNECTING,  /* connect() in progress */
    C_ACTIVE,      /* connected, a request outstanding (being written and/or answered) */
    C_DONE         /* closed for good (stopping) */
};

enum phase { P_HEAD, P_BODY_LEN, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_CRLF, P_TRAILERS, P_BODY_EOF };

enum reason {
    R_CONNECT_REFUSED, R_CONNECT_TIMEOUT, R_CONNECT_FAILED,
    R_RESET, R_EOF_BEFORE, R_EOF_MID, R_BAD, R_TIMEOUT, R_IO_ERROR,
    R_COUNT
};
static const char *const reason_name[R_COUNT] = {
    "connect_refused", "connect_timeout", "connect_failed",
    "reset", "eof_before_response", "eof_mid_response", "bad_response", "timeout", "io_error",
};

struct conn {
    int fd;
    enum cstate state;
    uint32_t gen;         /* bumped on every new socket: stale epoll events are ignored */
    uint32_t events;      /* events registered with epoll (0: not registered) */
    int64_t retry_at;     /* C_IDLE */
    int64_t deadline;     /* C_CONNECTING, C_ACTIVE */
    int64_t req_start;
    size_t wpos;          /* bytes of the request written */
    int answered;         /* a complete response arrived since this socket connected */
    /* input */
    char *buf;
    size_t off, len, cap; /* unparsed input is buf[off, len) */
    size_t scan;          /* P_HEAD: resume the search for the blank line here (from off) */
    size_t trailer_bytes;
    enum phase phase;
    uint64_t left;        /* P_BODY_LEN, P_CHUNK_DATA */
    int got;              /* some bytes of a response to the current request arrived */
    int status;
    int close_after;      /* the connection ends after this response */
    int body_len;
    char body[BODY_KEY_MAX];
};

/* --- options and state --------------------------------------------------------------------- */

static int opt_port;
static int opt_conns = 50;
static double opt_duration;
static const char *opt_path = "/";
static const char *opt_host = "localhost";
static const char *opt_report;
static long opt_timeout_ms = 10000;

static char *request;
static size_t request_len;
static struct sockaddr_in target;
static int ep = -1;
static struct conn *conns;
static int stopping;
static int64_t t_start, stop_deadline;

static uint64_t n_ok, n_failed, n_sent, n_connects, n_established, n_reconnects, n_inflight;
static int64_t max_latency_ns;
static uint64_t status_count[1000];
static uint64_t status_fail[1000];
static uint64_t reason_count[R_COUNT];
static struct { char key[BODY_KEY_MAX + 1]; uint64_t n; } bodies[BODY_VARIANTS];
static int n_bodies;
static uint64_t body_other;

static void start_connect(struct conn *c);
static void start_request(struct conn *c);

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* --- the report ---------------------------------------------------------------------------- */

static void report(FILE *f, int final, int64_t now) {
    fprintf(f, "ok %llu\n", (unsigned long long)n_ok);
    fprintf(f, "failed %llu\n", (unsigned long long)n_failed);
    fprintf(f, "sent %llu\n", (unsigned long long)n_sent);
    fprintf(f, "connects %llu\n", (unsigned long long)n_connects);
    fprintf(f, "reconnects %llu\n", (unsigned long long)n_reconnects);
    fprintf(f, "max_latency_ms %lld\n", (long long)(max_latency_ns / 1000000));
    fprintf(f, "inflight %llu\n", (unsigned long long)n_inflight);
    fprintf(f, "established %llu\n", (unsigned long long)n_established);
    fprintf(f, "elapsed_ms %lld\n", (long long)((now - t_start) / 1000000));
    for (int s = 0; s < 1000; s++)
        if (status_count[s]) fprintf(f, "status %d %llu\n", s, (unsigned long long)status_count[s]);
    for (int i = 0; i < n_bodies; i++)
        fprintf(f, "body %s %llu\n", bodies[i].key, (unsigned long long)bodies[i].n);
    if (body_other) fprintf(f, "body other %llu\n", (unsigned long long)body_other);
    for (int r = 0; r < R_COUNT; r++)
        if (reason_count[r]) fprintf(f, "failure %s %llu\n", reason_name[r], (unsigned long long)reason_count[r]);
    for (int s = 0; s < 1000; s++)
        if (status_fail[s]) fprintf(f, "failure status_%03d %llu\n", s, (unsigned long long)status_fail[s]);
    if (final) fprintf(f, "done 1\n");
}

static void write_report_file(int final, int64_t now) {
    static char *tmp;
    static int warned;
    if (!opt_report) return;
    if (!tmp) {
        size_t n = strlen(opt_report) + 5;
        tmp = malloc(n);
        if (!tmp) die("out of memory");
        snprintf(tmp, n, "%s.tmp", opt_report);
    }
    FILE *f = fopen(tmp, "w");
    int ok = f != NULL;
    if (f) {
        report(f, final, now);
        if (fclose(f) != 0) ok = 0;
    }
    if (ok && rename(tmp, opt_report) != 0) ok = 0;
    if (!ok && !warned) {
        fprintf(stderr, "loadgen: cannot write the report %s: %s\n", opt_report, strerror(errno));
        warned = 1;
    }
}

/* --- connections --------------------------------------------------------------------------- */

static void set_events(struct conn *c, uint32_t ev) {
    if (c->events == ev) return;
    struct epoll_event e;
    memset(&e, 0, sizeof e);
    e.events = ev;
    e.data.u64 = ((uint64_t)c->gen << 32) | (uint64_t)(c - conns);
    if (epoll_ctl(ep, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e) != 0)
        die("epoll_ctl: %s", strerror(errno));
    c->events = ev;
}

static void conn_close(struct conn *c) {
    if (c->fd >= 0) close(c->fd);    /* also removes it from the epoll set */
    c->fd = -1;
    c->events = 0;
    c->off = c->len = 0;
    c->scan = 0;
    c->phase = P_HEAD;
    c->got = 0;
}

/* After a failure or the end of a connection: closed for good when stopping, else a new
 * connection now or after RETRY_NS. */
static void conn_again(struct conn *c, int delay) {
    if (stopping) {
        c->state = C_DONE;
        return;
    }
    if (delay) {
        c->state = C_IDLE;
        c->retry_at = now_ns() + RETRY_NS;
        return;
    }
    start_connect(c);
}

static void fail(struct conn *c, enum reason r) {
    n_failed++;
    reason_count[r]++;
    if (c->state == C_ACTIVE) n_inflight--;
    int connect_failure = r == R_CONNECT_REFUSED || r == R_CONNECT_TIMEOUT || r == R_CONNECT_FAILED;
    int delay = connect_failure || (!c->answered && r != R_TIMEOUT);
    conn_close(c);
    c->state = C_IDLE;
    conn_again(c, delay);
}

static void connect_error(struct conn *c, int err) {
    fail(c, err == ECONNREFUSED ? R_CONNECT_REFUSED : R_CONNECT_FAILED);
}

static void established(struct conn *c) {
    n_established++;
    c->answered = 0;
    start_request(c);
}

static void start_connect(struct conn *c) {
    n_connects++;
    c->gen++;
    c->answered = 0;
    c->state = C_CONNECTING;
    c->deadline = now_ns() + opt_timeout_ms * 1000000LL;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        connect_error(c, errno);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&target, sizeof target) == 0) {
        established(c);
        return;
    }
    if (errno != EINPROGRESS) {
        connect_error(c, errno);
        return;
    }
    set_events(c, EPOLLOUT);
}

/* Writes what is left of the request. 0 when the connection failed. */
static int do_write(struct conn *c) {
    while (c->wpos < request_len) {
        ssize_t n = send(c->fd, request + c->wpos, request_len - c->wpos, MSG_NOSIGNAL);
        if (n > 0) {
            c->wpos += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, EPOLLIN | EPOLLOUT);
            return 1;
        }
        fail(c, n < 0 && (errno == EPIPE || errno == ECONNRESET) ? R_RESET : R_IO_ERROR);
        return 0;
    }
    set_events(c, EPOLLIN);
    return 1;
}

static void start_request(struct conn *c) {
    if (stopping) {
        conn_close(c);
        c->state = C_DONE;
        return;
    }
    int64_t now = now_ns();
    n_sent++;
    n_inflight++;
    c->state = C_ACTIVE;
    c->wpos = 0;
    c->req_start = now;
    c->deadline = now + opt_timeout_ms * 1000000LL;
    c->phase = P_HEAD;
    c->scan = 0;
    c->got = c->len > c->off;    /* bytes left over from the last response are this one's */
    c->body_len = 0;
    c->close_after = 0;
    do_write(c);
}

/* --- response parsing ---------------------------------------------------------------------- */

static int lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch; }

static int token_eq(const char *s, size_t n, const char *lit) {
    size_t m = strlen(lit);
    if (n != m) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != lit[i]) return 0;
    return 1;
}

static int is_ws(int ch) { return ch == ' ' || ch == '\t'; }

/* Calls fn for each comma-separated token of a header value (trimmed, maybe empty). */
static void for_tokens(const char *v, size_t n, void (*fn)(const char *, size_t, void *), void *arg) {
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && v[j] != ',') j++;
        size_t a = i, b = j;
        while (a < b && is_ws((unsigned char)v[a])) a++;
        while (b > a && is_ws((unsigned char)v[b - 1])) b--;
        fn(v + a, b - a, arg);
        i = j + 1;
    }
}

struct head_info { int conn_close, conn_keep, te, te_chunked, has_cl; uint64_t cl; };

static void conn_token(const char *t, size_t n, void *arg) {
    struct head_info *h = arg;
    if (token_eq(t, n, "close")) h->conn_close = 1;
    if (token_eq(t, n, "keep-alive")) h->conn_keep = 1;
}

static void te_token(const char *t, size_t n, void *arg) {
    struct head_info *h = arg;
    if (n == 0) return;
    h->te = 1;
    h->te_chunked = token_eq(t, n, "chunked");    /* the last coding counts */
}

/* Parses the response head p[0, n) (ending with its blank line). Returns -1 when malformed, 0
 * for an interim (1xx) response, 1 for a final response with a body to read (phase set), 2 for
 * a complete final response without a body. Sets c->status and c->close_after. */
static int parse_head(struct conn *c, const char *p, size_t n) {
    struct head_info h;
    memset(&h, 0, sizeof h);
    const char *end = p + n;
    const char *nl = memchr(p, '\n', n);
    if (!nl) return -1;
    size_t ll = (size_t)(nl - p);
    if (ll && p[ll - 1] == '\r') ll--;
    /* HTTP/1.x SSS[ reason] */
    if (ll < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' || p[8] != ' ')
        return -1;
    if (p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
        return -1;
    if (ll > 12 && p[12] != ' ') return -1;
    int http10 = p[7] == '0';
    int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

    const char *l = nl + 1;
    while (l < end) {
        nl = memchr(l, '\n', (size_t)(end - l));
        if (!nl) return -1;
        size_t len = (size_t)(nl - l);
        if (len && l[len - 1] == '\r') len--;
        if (len == 0) break;    /* the blank line */
        if (is_ws((unsigned char)l[0])) return -1;    /* obsolete line folding */
        const char *colon = memchr(l, ':', len);
        if (!colon || colon == l) return -1;
        for (const char *q = l; q < colon; q++)
            if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f) return -1;
        size_t nlen = (size_t)(colon - l);
        const char *v = colon + 1, *ve = l + len;
        while (v < ve && is_ws((unsigned char)*v)) v++;
        while (ve > v && is_ws((unsigned char)ve[-1])) ve--;
        size_t vlen = (size_t)(ve - v);
        if (token_eq(l, nlen, "content-length")) {
            if (vlen == 0 || vlen > 18) return -1;
            uint64_t x = 0;
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9') return -1;
                x = x * 10 + (uint64_t)(v[i] - '0');
            }
            if (h.has_cl && h.cl != x) return -1;
            h.has_cl = 1;
            h.cl = x;
        } else if (token_eq(l, nlen, "transfer-encoding")) {
            for_tokens(v, vlen, te_token, &h);
        } else if (token_eq(l, nlen, "connection")) {
            for_tokens(v, vlen, conn_token, &h);
        }
        l = nl + 1;
    }

    c->status = status;
    if (status < 200) return status == 101 ? -1 : 0;    /* we never asked for an upgrade */
    c->close_after = h.conn_close || (http10 && !h.conn_keep);
    if (status == 204 || status == 304) return 2;
    if (h.te) {
        if (h.te_chunked) {
            c->phase = P_CHUNK_SIZE;
        } else {
            c->phase = P_BODY_EOF;    /* RFC 9112 6.3: read until the connection closes */
            c->close_after = 1;
        }
        return 1;
    }
    if (h.has_cl) {
        if (h.cl == 0) return 2;
        c->phase = P_BODY_LEN;
        c->left = h.cl;
        return 1;
    }
    c->phase = P_BODY_EOF;
    c->close_after = 1;
    return 1;
}

static void record_body(struct conn *c, const char *p, size_t n) {
    size_t room = BODY_KEY_MAX - (size_t)c->body_len;
    if (n > room) n = room;
    memcpy(c->body + c->body_len, p, n);
    c->body_len += (int)n;
}

/* Takes up to c->left body bytes from the buffer. 1 when c->left reached 0. */
static int take_body(struct conn *c) {
    size_t n = c->len - c->off;
    if ((uint64_t)n > c->left) n = (size_t)c->left;
    record_body(c, c->buf + c->off, n);
    c->off += n;
    c->left -= n;
    return c->left == 0;
}

/* Parses buffered input. 1: a final response is complete; 0: more input needed; -1: malformed. */
static int parse(struct conn *c) {
    for (;;) {
        const char *p = c->buf + c->off;
        size_t n = c->len - c->off;
        switch (c->phase) {
        case P_HEAD: {
            size_t i = c->scan, end = 0;
            while (i < n) {
                const char *q = memchr(p + i, '\n', n - i);
                if (!q) { i = n; break; }
                size_t k = (size_t)(q - p);
                if (k + 1 >= n) { i = k; break; }
                if (p[k + 1] == '\n') { end = k + 2; break; }
                if (p[k + 1] == '\r') {
                    if (k + 2 >= n) { i = k; break; }
                    if (p[k + 2] == '\n') { end = k + 3; break; }
                }
                i = k + 1;
            }
            if (!end) {
                c->scan = i;
                return n > HEAD_MAX ? -1 : 0;
            }
            if (end > HEAD_MAX) return -1;
            int r = parse_head(c, p, end);
            if (r < 0) return -1;
            c->off += end;
            c->scan = 0;
            if (r == 2) return 1;
            break;    /* r == 0: an interim response, the next head follows; r == 1: the body */
        }
        case P_BODY_LEN:
            return take_body(c);
        case P_CHUNK_SIZE: {
            const char *q = memchr(p, '\n', n);
            if (!q) return n > CHUNK_LINE_MAX ? -1 : 0;
            size_t ll = (size_t)(q - p);
            if (ll > CHUNK_LINE_MAX) return -1;
            size_t i = 0;
            uint64_t size = 0;
            for (; i < ll; i++) {
                int ch = lower((unsigned char)p[i]), d;
                if (ch >= '0' && ch <= '9') d = ch - '0';
                else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
                else break;
                if (size >> 56) return -1;
                size = size * 16 + (uint64_t)d;
            }
            if (i == 0) return -1;
            while (i < ll && is_ws((unsigned char)p[i])) i++;
            if (i < ll && p[i] != ';' && !(p[i] == '\r' && i + 1 == ll)) return -1;
            c->off += ll + 1;
            if (size == 0) {
                c->phase = P_TRAILERS;
                c->trailer_bytes = 0;
            } else {
                c->phase = P_CHUNK_DATA;
                c->left = size;
            }
            break;
        }
        case P_CHUNK_DATA:
            if (!take_body(c)) return 0;
            c->phase = P_CHUNK_CRLF;
            break;
        case P_CHUNK_CRLF:
            if (n == 0) return 0;
            if (p[0] == '\n') {
                c->off += 1;
            } else if (p[0] == '\r') {
                if (n < 2) return 0;
                if (p[1] != '\n') return -1;
                c->off += 2;
            } else {
                return -1;
            }
            c->phase = P_CHUNK_SIZE;
            break;
        case P_TRAILERS: {
            const char *q = memchr(p, '\n', n);
            if (!q) return c->trailer_bytes + n > HEAD_MAX ? -1 : 0;
            size_t ll = (size_t)(q - p) + 1;
            c->trailer_bytes += ll;
            if (c->trailer_bytes > HEAD_MAX) return -1;
            c->off += ll;
            if (ll == 1 || (ll == 2 && p[0] == '\r')) return 1;
            break;
        }
        case P_BODY_EOF:
            record_body(c, p, n);
            c->off += n;
            return 0;
        }
    }
}

static void count_body(struct conn *c) {
    char key[BODY_KEY_MAX + 1];
    int n = c->body_len;
    if (n == 0) {
        strcpy(key, "-");
    } else {
        for (int i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)c->body[i];
            key[i] = ch == ' ' ? '_' : (ch > ' ' && ch < 0x7f) ? (char)ch : '.';
        }
        key[n] = 0;
    }
    for (int i = 0; i < n_bodies; i++) {
        if (strcmp(bodies[i].key, key) == 0) {
            bodies[i].n++;
            return;
        }
    }
    if (n_bodies < BODY_VARIANTS) {
        memcpy(bodies[n_bodies].key, key, sizeof key);
        bodies[n_bodies].n = 1;
        n_bodies++;
        return;
    }
    body_other++;
}

/* A final response to the outstanding request is complete. */
static void finish_response(struct conn *c) {
    int64_t lat = now_ns() - c->req_start;
    if (lat > max_latency_ns) max_latency_ns = lat;
    n_inflight--;
    c->answered = 1;
    status_count[c->status]++;
    count_body(c);
    if (c->status >= 200 && c->status < 300) {
        n_ok++;
    } else {
        n_failed++;
        status_fail[c->status]++;
    }
}

/* The response is complete and the connection is to end: close it and open a new one. */
static void end_connection(struct conn *c) {
    conn_close(c);
    if (stopping) {
        c->state = C_DONE;
        return;
    }
    n_reconnects++;
    c->state = C_IDLE;
    start_connect(c);
}

/* Parses what arrived; completes responses and sends the next requests. 0 when the connection
 * was closed (or replaced by a new one). */
static int consume(struct conn *c) {
    while (c->state == C_ACTIVE) {
        int r = parse(c);
        if (r == 0) return 1;
        if (r < 0) {
            fail(c, R_BAD);
            return 0;
        }
        finish_response(c);
        if (c->close_after) {
            end_connection(c);
            return 0;
        }
        if (c->off == c->len) c->off = c->len = 0;
        start_request(c);    /* bytes left over, if any, are parsed as its response */
    }
    return 0;
}

static void on_eof(struct conn *c) {
    if (c->phase == P_BODY_EOF) {    /* the response ends with the connection */
        finish_response(c);
        end_connection(c);
        return;
    }
    fail(c, c->got ? R_EOF_MID : R_EOF_BEFORE);
}

static void on_readable(struct conn *c) {
    uint32_t gen = c->gen;
    for (int i = 0; i < READS_PER_EVENT && c->state == C_ACTIVE && c->gen == gen; i++) {
        if (c->off > 0) {
            memmove(c->buf, c->buf + c->off, c->len - c->off);
            c->len -= c->off;
            c->off = 0;
        }
        if (!c->buf || c->len == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : BUF_INIT;
            if (cap > BUF_MAX) cap = BUF_MAX;
            if (cap == c->cap) {    /* cannot happen: parse() rejects a full buffer first */
                fail(c, R_BAD);
                return;
            }
            char *nb = realloc(c->buf, cap);
            if (!nb) die("out of memory");
            c->buf = nb;
            c->cap = cap;
        }
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n > 0) {
            c->len += (size_t)n;
            c->got = 1;
            if (!consume(c)) return;
            continue;
        }
        if (n == 0) {
            on_eof(c);
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        fail(c, errno == ECONNRESET || errno == EPIPE ? R_RESET : R_IO_ERROR);
        return;
    }
}

static void on_event(struct conn *c, uint32_t ev) {
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t sl = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0) err = errno;
        if (err == 0 && (ev & EPOLLOUT)) {
            established(c);
        } else if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
            connect_error(c, err ? err : ECONNRESET);
        }
        return;
    }
    if (c->state != C_ACTIVE) return;
    uint32_t gen = c->gen;
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) on_readable(c);
    if (c->state == C_ACTIVE && c->gen == gen && (ev & EPOLLOUT) && c->wpos < request_len)
        do_write(c);
}

/* --- stopping and timers ------------------------------------------------------------------- */

static void begin_stop(void) {
    if (stopping) return;
    stopping = 1;
    stop_deadline = now_ns() + opt_timeout_ms * 1000000LL;
    for (int i = 0; i < opt_conns; i++) {
        struct conn *c = &conns[i];
        if (c->state == C_IDLE || c->state == C_CONNECTING) {
            conn_close(c);
            c->state = C_DONE;
        }
    }
}

static void check_timers(int64_t now) {
    for (int i = 0; i < opt_conns; i++) {
        struct conn *c = &conns[i];
        switch (c->state) {
        case C_IDLE:
            if (!stopping && now >= c->retry_at) start_connect(c);
            break;
        case C_CONNECTING:
            if (now >= c->deadline) fail(c, R_CONNECT_TIMEOUT);
            break;
        case C_ACTIVE:
            if (now >= c->deadline || (stopping && now >= stop_deadline)) fail(c, R_TIMEOUT);
            break;
        case C_DONE:
            break;
        }
    }
}

/* --- main ---------------------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen -p PORT [-c CONNS=50] [-d SECONDS=0 (0: until SIGTERM/SIGINT)] [-u PATH=/]\n"
            "               [-H HOSTHEADER=localhost] [-r REPORTFILE] [-t TIMEOUT_MS=10000]\n");
    exit(2);
}

static long num_arg(const char *s, long lo, long hi, const char *what) {
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) die("bad %s: %s (%ld..%ld)", what, s, lo, hi);
    return v;
}

static void check_token(const char *s, const char *what) {
    if (!*s) die("empty %s", what);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p >= 0x7f) die("bad %s: no spaces or control characters allowed", what);
}

int main(int argc, char **argv) {
    int o;
    while ((o = getopt(argc, argv, "p:c:d:u:H:r:t:h")) != -1) {
        switch (o) {
        case 'p': opt_port = (int)num_arg(optarg, 1, 65535, "port"); break;
        case 'c': opt_conns = (int)num_arg(optarg, 1, 1000000, "connection count"); break;
        case 'd': {
            char *e;
            opt_duration = strtod(optarg, &e);
            if (e == optarg || *e || !(opt_duration >= 0) || opt_duration > 1e7)
                die("bad duration: %s", optarg);
            break;
        }
        case 'u': opt_path = optarg; break;
        case 'H': opt_host = optarg; break;
        case 'r': opt_report = optarg; break;
        case 't': opt_timeout_ms = num_arg(optarg, 1, 86400000L, "timeout"); break;
        default: usage();
        }
    }
    if (optind != argc || !opt_port) usage();
    check_token(opt_path, "path");
    check_token(opt_host, "host");

    size_t rl = strlen(opt_path) + strlen(opt_host) + 64;
    request = malloc(rl);
    if (!request) die("out of memory");
    request_len = (size_t)snprintf(request, rl, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", opt_path, opt_host);

    memset(&target, 0, sizeof target);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)opt_port);
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* descriptors: one per connection plus a few */
    struct rlimit rlim;
    if (getrlimit(RLIMIT_NOFILE, &rlim) == 0 && rlim.rlim_cur != RLIM_INFINITY &&
        rlim.rlim_cur < (rlim_t)opt_conns + 32) {
        rlim.rlim_cur = rlim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rlim);
        getrlimit(RLIMIT_NOFILE, &rlim);
        if (rlim.rlim_cur != RLIM_INFINITY && rlim.rlim_cur < (rlim_t)opt_conns + 32)
            die("%d connections need %d descriptors; RLIMIT_NOFILE allows %llu", opt_conns,
                opt_conns + 32, (unsigned long long)rlim.rlim_cur);
    }

    /* signals: SIGTERM/SIGINT through a signalfd (their disposition may have been inherited as
     * "ignore", which would discard them: reset it); the parent's death also stops us */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    if (sigprocmask(SIG_BLOCK, &ss, NULL) != 0) die("sigprocmask: %s", strerror(errno));
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) die("signalfd: %s", strerror(errno));

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1: %s", strerror(errno));
    struct epoll_event se;
    memset(&se, 0, sizeof se);
    se.events = EPOLLIN;
    se.data.u64 = SIG_TAG;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &se) != 0) die("epoll_ctl: %s", strerror(errno));

    conns = calloc((size_t)opt_conns, sizeof *conns);
    if (!conns) die("out of memory");
    t_start = now_ns();
    for (int i = 0; i < opt_conns; i++) {
        conns[i].fd = -1;
        conns[i].state = C_IDLE;
        conns[i].retry_at = t_start;
    }
    write_report_file(0, t_start);
    int64_t end_at = opt_duration > 0 ? t_start + (int64_t)(opt_duration * 1e9) : 0;
    int64_t next_tick = t_start, next_report = t_start + REPORT_NS;
    static struct epoll_event evs[MAX_EVENTS];

    for (;;) {
        int64_t now = now_ns();
        if (!stopping && end_at && now >= end_at) begin_stop();
        if (now >= next_tick) {
            check_timers(now);
            next_tick = now + TICK_NS;
        }
        if (stopping && n_inflight == 0) break;
        if (opt_report && now >= next_report) {
            write_report_file(0, now);
            next_report = now + REPORT_NS;
        }
        int64_t wait_ns = next_tick - now;
        int timeout = wait_ns <= 0 ? 0 : (int)((wait_ns + 999999) / 1000000);
        int n = epoll_wait(ep, evs, MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            if (d == SIG_TAG) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {}
                begin_stop();
                continue;
            }
            struct conn *c = &conns[(uint32_t)d];
            if ((uint32_t)(d >> 32) != c->gen || c->fd < 0) continue;    /* stale */
            on_event(c, evs[i].events);
        }
    }
    int64_t t_end = now_ns();
    write_report_file(1, t_end);
    report(stdout, 1, t_end);
    fflush(stdout);
    return 0;
}
