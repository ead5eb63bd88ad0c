/*
 * tls_conns: TLS load for bench/run's tls scenario.  OpenSSL, epoll, one thread,
 * non-blocking sockets and handshakes.
 *
 *     tls_conns load HOST PORT CONCURRENCY SECONDS full|resume [PATH] [SNI]
 *
 *   keeps CONCURRENCY connections going for SECONDS: each connects, makes a TLS
 *   handshake, sends one `GET PATH` with `Connection: close`, reads the whole
 *   response, sends close_notify and closes; then its slot starts the next one.
 *   With "resume" a slot offers, on each new connection, the session (TLS 1.3:
 *   the newest ticket) its previous connection received, as a browser does; with
 *   "full" it never offers one.  Each slot's first connection is not measured (in
 *   "resume" mode it is the full handshake that gets the first session): the
 *   measurement starts when every slot has finished one.  At the end it prints one
 *   line,
 *
 *     result conns N reused R server_reused SR server_marked SM failed F
 *            elapsed S p50_ms P p99_ms Q cpu_pct C
 *
 *   N connections finished in the measured window (handshake + request +
 *   response), R of them resumed as the client's OpenSSL saw it
 *   (SSL_session_reused), SR of them resumed as the server said it (the last
 *   character of an X-Bench-TLS response field, the server's $ssl_session_reused:
 *   "r" or "."; SM responses had the field), F failures (connect, handshake,
 *   response), P and Q the 50th and 99th percentiles of a connection's time from
 *   connect() to the response's last byte, C the CPU this process used in the
 *   window, in percent of one CPU (near 100: the client is the bottleneck).
 *
 *     tls_conns idle HOST PORT COUNT [PATH] [MAX_IN_FLIGHT] [TIMEOUT_S] [SNI]
 *
 *   as bench/idle_conns over TLS: opens COUNT connections (full handshakes), makes
 *   one keep-alive `GET PATH` on each, reads its response and holds them all open
 *   and idle.  Then it prints "ready OK FAILED"; each line read from stdin prints
 *   "open N" (the OK connections the server has not closed); at EOF on stdin (or
 *   SIGTERM) it closes everything and exits 0.
 *
 * Certificates are not verified (the bench makes a self-signed one).  Responses
 * are framed by Content-Length only (the bench's targets always send it).
 * Progress and errors go to stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "idle_hold.h"

enum state { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_WRITING, ST_READING, ST_IDLE, ST_CLOSED, ST_FAILED };

struct conn {
    int fd;
    SSL *ssl;
    enum state st;
    SSL_SESSION *session; /* resume mode: what the next connection of the slot offers */
    int measured;         /* started inside the measured window */
    int done_once;        /* the slot has finished a connection */
    double started;       /* connect() time */
    size_t sent;
    size_t got;           /* response bytes so far */
    long need;            /* whole response size once the head is parsed, else -1 */
    char head[2048];
    size_t head_len;
};

static volatile sig_atomic_t stop_flag;
static void on_term(int sig) { (void)sig; stop_flag = 1; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The whole response's length once its head is complete, -1 if more bytes are
 * needed, -2 if it is unusable.  *tls gets the last character of X-Bench-TLS
 * ('r' resumed, '.' not) or 0 without that field. */
static long parse_head(const char *buf, size_t len, char *tls) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return len >= 2047 ? -2 : -1;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || memcmp(buf + 9, "200", 3) != 0) return -2;
    long clen = -1;
    *tls = 0;
    for (const char *p = buf; p < end;) {
        const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        if (!eol) break;
        size_t n = (size_t)(eol - p);
        if (n > 15 && strncasecmp(p, "content-length:", 15) == 0) clen = strtol(p + 15, NULL, 10);
        if (n > 12 && strncasecmp(p, "x-bench-tls:", 12) == 0) {
            const char *v = eol;
            while (v > p + 12 && (v[-1] == ' ' || v[-1] == '\t')) v--;
            if (v > p + 12) *tls = v[-1];
        }
        p = eol + 2;
    }
    if (clen < 0) return -2;
    return (long)(end - buf) + 4 + clen;
}

/* ---------------------------------------------------------------- shared state */
static SSL_CTX *ctx;
static struct sockaddr_in addr;
static char req[600];
static int req_len;
static const char *sni;
static int ep;
static int first_errno;
static char first_error[256];

static void note_error(const char *what) {
    if (first_error[0]) return;
    unsigned long e = ERR_peek_error();
    if (e) {
        char buf[200];
        ERR_error_string_n(e, buf, sizeof buf);
        snprintf(first_error, sizeof first_error, "%s: %s", what, buf);
    } else if (errno) {
        snprintf(first_error, sizeof first_error, "%s: %s", what, strerror(errno));
    } else {
        snprintf(first_error, sizeof first_error, "%s", what);
    }
    ERR_clear_error();
}

static void drop(struct conn *k, int shutdown) {
    if (k->ssl) {
        /* close_notify marks the session as cleanly finished: OpenSSL makes a session
         * of a connection freed without it not resumable. */
        if (shutdown) SSL_shutdown(k->ssl);
        SSL_free(k->ssl);
        k->ssl = NULL;
    }
    if (k->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, k->fd, NULL);
        close(k->fd);
        k->fd = -1;
    }
    ERR_clear_error();
}

/* Starts a connection in slot i; 0 on success. */
static int start(struct conn *k, uint32_t i, int resume) {
    k->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k->fd < 0) { if (!first_errno) first_errno = errno; return -1; }
    int one = 1;
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    k->started = now_s();
    k->sent = k->got = k->head_len = 0;
    k->need = -1;
    if (connect(k->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        if (!first_errno) first_errno = errno;
        close(k->fd); k->fd = -1;
        return -1;
    }
    k->ssl = SSL_new(ctx);
    if (!k->ssl || SSL_set_fd(k->ssl, k->fd) != 1) { note_error("SSL_new"); drop(k, 0); return -1; }
    if (sni) SSL_set_tlsext_host_name(k->ssl, sni);
    if (resume && k->session) SSL_set_session(k->ssl, k->session);
    SSL_set_connect_state(k->ssl);
    k->st = ST_CONNECTING;
    /* Edge-triggered, both directions, once: each event drives the state machine until
     * OpenSSL or the socket would block. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, k->fd, &ev);
    return 0;
}

/* Advances a connection.  Returns 1 when its response is complete, 0 when it waits,
 * -1 on failure.  *tls: see parse_head. */
static int drive(struct conn *k, char *tls) {
    if (k->st == ST_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) { if (!first_errno) first_errno = err; return -1; }
        k->st = ST_HANDSHAKE;
    }
    if (k->st == ST_HANDSHAKE) {
        int r = SSL_connect(k->ssl);
        if (r != 1) {
            int e = SSL_get_error(k->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
            note_error("handshake");
            return -1;
        }
        k->st = ST_WRITING;
    }
    if (k->st == ST_WRITING) {
        int r = SSL_write(k->ssl, req + k->sent, req_len - (int)k->sent);
        if (r <= 0) {
            int e = SSL_get_error(k->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
            note_error("write");
            return -1;
        }
        k->sent += (size_t)r;
        if (k->sent < (size_t)req_len) return 0;
        k->st = ST_READING;
    }
    if (k->st == ST_READING) {
        char buf[32768];
        for (;;) {
            int r = SSL_read(k->ssl, buf, sizeof buf);
            if (r <= 0) {
                int e = SSL_get_error(k->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
                note_error(e == SSL_ERROR_ZERO_RETURN ? "closed before the response's end" : "read");
                return -1;
            }
            if (k->head_len < sizeof k->head - 1) {
                size_t take = sizeof k->head - 1 - k->head_len;
                if ((size_t)r < take) take = (size_t)r;
                memcpy(k->head + k->head_len, buf, take);
                k->head_len += take;
            }
            k->got += (size_t)r;
            if (k->need < 0) {
                long need = parse_head(k->head, k->head_len, tls);
                if (need == -2) { note_error("not a 200 response with Content-Length"); return -1; }
                k->need = need;
            }
            if (k->need >= 0 && (long)k->got > k->need) { note_error("more bytes than Content-Length"); return -1; }
            if (k->need >= 0 && (long)k->got == k->need) return 1;
        }
    }
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p) {
    if (!n) return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ---------------------------------------------------------------- load */
static int run_load(int conc, double seconds, int resume) {
    struct conn *c = calloc((size_t)conc, sizeof *c);
    size_t lat_cap = 1 << 16, lat_n = 0;
    double *lat = malloc(lat_cap * sizeof *lat);
    if (!c || !lat) { perror("malloc"); return 1; }
    for (int i = 0; i < conc; i++) c[i].fd = -1;

    long conns = 0, reused = 0, server_reused = 0, server_marked = 0, failed = 0, primed = 0;
    double t_start = 0, t_end = 0, cpu0 = 0;
    int measuring = 0;
    double give_up = now_s() + 30;   /* every slot must finish a first connection by then */
    for (int i = 0; i < conc; i++)
        if (start(&c[i], (uint32_t)i, resume) < 0) { failed++; c[i].st = ST_FAILED; }
    struct epoll_event evs[512];
    while (!stop_flag) {
        double now = now_s();
        if (!measuring && now > give_up) {
            fprintf(stderr, "tls_conns: only %ld of %d slots finished a first connection in 30 s\n", primed, conc);
            break;
        }
        if (measuring && now >= t_end) break;
        int n = epoll_wait(ep, evs, 512, 100);
        if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
        for (int e = 0; e < n; e++) {
            struct conn *k = &c[evs[e].data.u32];
            if (k->fd < 0) continue;
            char tls = 0;
            int r = drive(k, &tls);
            if (r == 0) continue;
            if (r > 0) {
                double t = now_s();
                if (k->measured && t <= t_end) {
                    conns++;
                    reused += SSL_session_reused(k->ssl) == 1;
                    server_marked += tls != 0;
                    server_reused += tls == 'r';
                    if (lat_n == lat_cap) {
                        lat_cap *= 2;
                        double *m = realloc(lat, lat_cap * sizeof *lat);
                        if (!m) { perror("realloc"); return 1; }
                        lat = m;
                    }
                    lat[lat_n++] = (t - k->started) * 1000;
                }
                if (resume) {
                    SSL_SESSION *s = SSL_get1_session(k->ssl);
                    if (s && SSL_SESSION_is_resumable(s)) {
                        SSL_SESSION_free(k->session);
                        k->session = s;
                    } else {
                        SSL_SESSION_free(s);
                    }
                }
                if (!k->done_once) { k->done_once = 1; primed++; }
                drop(k, 1);
            } else {
                failed++;   /* in the warm-up too: every connection must work */
                drop(k, 0);
            }
            if (!measuring && primed == conc) {
                measuring = 1;
                t_start = now_s();
                t_end = t_start + seconds;
                cpu0 = cpu_s();
            }
            if (start(k, evs[e].data.u32, resume) < 0) {
                failed++;
                continue;
            }
            k->measured = measuring;
        }
    }
    double elapsed = measuring ? now_s() - t_start : 0;
    double cpu = measuring ? cpu_s() - cpu0 : 0;
    qsort(lat, lat_n, sizeof *lat, cmp_double);
    if (first_errno) fprintf(stderr, "tls_conns: first socket error: %s\n", strerror(first_errno));
    if (first_error[0]) fprintf(stderr, "tls_conns: first error: %s\n", first_error);
    printf("result conns %ld reused %ld server_reused %ld server_marked %ld failed %ld elapsed %.3f "
           "p50_ms %.3f p99_ms %.3f cpu_pct %.1f\n",
           conns, reused, server_reused, server_marked, failed, elapsed, pct(lat, lat_n, 0.50),
           pct(lat, lat_n, 0.99), elapsed > 0 ? cpu * 100 / elapsed : 0);
    fflush(stdout);
    return measuring ? 0 : 1;
}

/* ---------------------------------------------------------------- idle */
struct hold { struct conn *c; int count; };

static int hold_open(void *ctx) {
    struct hold *h = ctx;
    int n = 0;
    for (int i = 0; i < h->count; i++) n += h->c[i].st == ST_IDLE;
    return n;
}

/* An idle connection turned readable: the server closed it (a read that does not want more). */
static void hold_event(void *ctx, uint32_t index) {
    struct hold *h = ctx;
    struct conn *k = &h->c[index];
    if (k->st != ST_IDLE || k->fd < 0) return;
    char b[256];
    int r = SSL_read(k->ssl, b, sizeof b);
    if (r <= 0 && SSL_get_error(k->ssl, r) == SSL_ERROR_WANT_READ) return;
    drop(k, 0);
    k->st = ST_CLOSED;
}

static int run_idle(int count, int max_in_flight, double timeout) {
    struct conn *c = calloc((size_t)count, sizeof *c);
    if (!c) { perror("calloc"); return 1; }
    for (int i = 0; i < count; i++) c[i].fd = -1;
    int started = 0, in_flight = 0, ok = 0, failed = 0;
    double deadline = now_s() + timeout;
    struct epoll_event evs[512];
    while (ok + failed < count && !stop_flag) {
        while (started < count && in_flight < max_in_flight) {
            if (start(&c[started], (uint32_t)started, 0) < 0) { c[started].st = ST_FAILED; failed++; }
            else in_flight++;
            started++;
        }
        if (now_s() > deadline) {
            fprintf(stderr, "tls_conns: timed out with %d connections still in flight\n", in_flight);
            for (int i = 0; i < started; i++)
                if (c[i].st >= ST_CONNECTING && c[i].st <= ST_READING) { drop(&c[i], 0); c[i].st = ST_FAILED; failed++; }
            for (int i = started; i < count; i++) { c[i].st = ST_FAILED; failed++; }
            break;
        }
        int n = epoll_wait(ep, evs, 512, 200);
        if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
        for (int e = 0; e < n; e++) {
            struct conn *k = &c[evs[e].data.u32];
            if (k->fd < 0) continue;
            if (k->st == ST_IDLE) {
                /* Something arrived on an idle connection: a TLS record that is not data
                 * (OpenSSL consumes it and wants more), or the server closing it. */
                char b[256];
                int r = SSL_read(k->ssl, b, sizeof b);
                int err = r <= 0 ? SSL_get_error(k->ssl, r) : SSL_ERROR_NONE;
                if (r <= 0 && err == SSL_ERROR_WANT_READ) continue;
                drop(k, 0);
                k->st = ST_CLOSED;
                continue;
            }
            char tls = 0;
            int r = drive(k, &tls);
            if (r == 0) continue;
            in_flight--;
            if (r > 0) { k->st = ST_IDLE; ok++; }
            else { drop(k, 0); k->st = ST_FAILED; failed++; }
        }
    }
    if (first_errno) fprintf(stderr, "tls_conns: first socket error: %s\n", strerror(first_errno));
    if (first_error[0]) fprintf(stderr, "tls_conns: first error: %s\n", first_error);
    int closed_early = 0;
    for (int i = 0; i < count; i++) closed_early += c[i].st == ST_CLOSED;
    printf("ready %d %d\n", ok - closed_early, failed + closed_early);
    fflush(stdout);
    if (ok == 0) return 1;

    struct hold h = {c, count};
    idle_hold(ep, &stop_flag, hold_open, hold_event, &h);
    for (int i = 0; i < count; i++) if (c[i].fd >= 0) drop(&c[i], 0);
    return 0;
}

static int usage(const char *me) {
    fprintf(stderr,
            "usage: %s load HOST PORT CONCURRENCY SECONDS full|resume [PATH] [SNI]\n"
            "       %s idle HOST PORT COUNT [PATH] [MAX_IN_FLIGHT] [TIMEOUT_S] [SNI]\n", me, me);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 5) return usage(argv[0]);
    int load = strcmp(argv[1], "load") == 0;
    if (!load && strcmp(argv[1], "idle") != 0) return usage(argv[0]);
    if (load && argc < 7) return usage(argv[0]);
    const char *host = argv[2];
    int port = atoi(argv[3]);
    int count = atoi(argv[4]);
    const char *path = "/";
    int resume = 0, max_in_flight = 256;
    double seconds = 0, timeout = 60;
    if (load) {
        seconds = atof(argv[5]);
        if (strcmp(argv[6], "resume") == 0) resume = 1;
        else if (strcmp(argv[6], "full") != 0) return usage(argv[0]);
        if (argc > 7) path = argv[7];
        if (argc > 8) sni = argv[8];
    } else {
        if (argc > 5) path = argv[5];
        if (argc > 6) max_in_flight = atoi(argv[6]);
        if (argc > 7) timeout = atof(argv[7]);
        if (argc > 8) sni = argv[8];
    }
    if (port <= 0 || count <= 0 || max_in_flight <= 0 || (load && seconds <= 0)) {
        fprintf(stderr, "tls_conns: bad arguments\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "tls_conns: %s is not an IPv4 address\n", host);
        return 2;
    }
    req_len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gatewayd-bench-tls\r\n%s\r\n",
                       path, sni ? sni : host, load ? "Connection: close\r\n" : "");
    if (req_len <= 0 || req_len >= (int)sizeof req) { fprintf(stderr, "tls_conns: path too long\n"); return 2; }

    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) { fprintf(stderr, "tls_conns: SSL_CTX_new failed\n"); return 1; }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* The client keeps its sessions itself (one per slot), not in OpenSSL's cache. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) { perror("epoll_create1"); return 1; }
    return load ? run_load(count, seconds, resume) : run_idle(count, max_in_flight, timeout);
}
