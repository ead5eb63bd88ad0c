/*
 * idle_conns: open N keep-alive connections to HOST:PORT, send one request on
 * each, read its whole response, and then hold every connection open and idle.
 *
 *     idle_conns HOST PORT COUNT [PATH] [MAX_IN_FLIGHT] [TIMEOUT_S]
 *
 * Used by bench/run (scenario 3) to measure a proxy's memory per idle
 * connection.  Plain POSIX sockets and epoll, no dependencies.
 *
 * Protocol on stdin/stdout (line based):
 *   - once every connection has either completed its request or failed, it
 *     prints   "ready OK FAILED"   (OK connections are now idle);
 *   - each line read from stdin then prints   "open N"   (how many of the OK
 *     connections the server has not closed);
 *   - at EOF on stdin (or SIGTERM) it closes everything and exits 0.
 * Progress and errors go to stderr.  Exit status 1 if nothing could be set up.
 *
 * Responses are framed by Content-Length only (the bench's targets always send
 * it); a chunked or close-delimited response counts as failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "idle_hold.h"

enum state { ST_NONE, ST_CONNECTING, ST_SENDING, ST_READING, ST_IDLE, ST_CLOSED, ST_FAILED };

struct conn {
    int fd;
    enum state st;
    size_t sent;
    size_t got;          /* bytes of response read so far */
    long need;           /* total response size once the head is parsed, else -1 */
    char head[2048];     /* the first bytes of the response, for parsing the head */
    size_t head_len;
};

static volatile sig_atomic_t stop_flag;
static void on_term(int sig) { (void)sig; stop_flag = 1; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Returns the total response length (head + body) once the head is complete,
 * -1 if more bytes are needed, -2 if the response is unusable. */
static long parse_head(const char *buf, size_t len) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return len >= 2047 ? -2 : -1;
    size_t head_len = (size_t)(end - buf) + 4;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0) return -2;
    const char *p = buf;
    long clen = -1;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        if (!eol) break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
            clen = strtol(p + 15, NULL, 10);
        p = eol + 2;
    }
    if (clen < 0) return -2;
    return (long)head_len + clen;
}

struct hold { struct conn *c; int count; int ep; };

static int hold_open(void *ctx) {
    struct hold *h = ctx;
    int n = 0;
    for (int i = 0; i < h->count; i++) if (h->c[i].st == ST_IDLE) n++;
    return n;
}

/* An idle connection turned readable: the server closed it (or sent what it should not). */
static void hold_event(void *ctx, uint32_t index) {
    struct hold *h = ctx;
    struct conn *k = &h->c[index];
    if (k->st != ST_IDLE) return;
    epoll_ctl(h->ep, EPOLL_CTL_DEL, k->fd, NULL);
    close(k->fd); k->fd = -1; k->st = ST_CLOSED;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s HOST PORT COUNT [PATH] [MAX_IN_FLIGHT] [TIMEOUT_S]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    int count = atoi(argv[3]);
    const char *path = argc > 4 ? argv[4] : "/";
    int max_in_flight = argc > 5 ? atoi(argv[5]) : 256;
    double timeout = argc > 6 ? atof(argv[6]) : 60.0;
    if (count <= 0 || port <= 0 || max_in_flight <= 0) {
        fprintf(stderr, "idle_conns: bad arguments\n");
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "idle_conns: %s is not an IPv4 address\n", host);
        return 2;
    }

    char req[512];
    int req_len = snprintf(req, sizeof req,
                           "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: gatewayd-bench-idle\r\n\r\n",
                           path, host, port);

    struct conn *c = calloc((size_t)count, sizeof *c);
    if (!c) { perror("calloc"); return 1; }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) { perror("epoll_create1"); return 1; }

    int started = 0, in_flight = 0, ok = 0, failed = 0;
    int first_errno = 0;
    double deadline = now_s() + timeout;
    struct epoll_event evs[512];

    while (ok + failed < count && !stop_flag) {
        /* start new connections up to the in-flight limit */
        while (started < count && in_flight < max_in_flight) {
            struct conn *k = &c[started];
            k->need = -1;
            k->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (k->fd < 0) {
                if (!first_errno) first_errno = errno;
                k->st = ST_FAILED; failed++; started++;
                continue;
            }
            int one = 1;
            setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            int r = connect(k->fd, (struct sockaddr *)&addr, sizeof addr);
            if (r < 0 && errno != EINPROGRESS) {
                if (!first_errno) first_errno = errno;
                close(k->fd); k->fd = -1;
                k->st = ST_FAILED; failed++; started++;
                continue;
            }
            k->st = ST_CONNECTING;
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)started};
            epoll_ctl(ep, EPOLL_CTL_ADD, k->fd, &ev);
            started++;
            in_flight++;
        }
        if (now_s() > deadline) {
            fprintf(stderr, "idle_conns: timed out with %d connections still in flight\n", in_flight);
            for (int i = 0; i < started; i++)
                if (c[i].st == ST_CONNECTING || c[i].st == ST_SENDING || c[i].st == ST_READING) {
                    close(c[i].fd); c[i].fd = -1; c[i].st = ST_FAILED; failed++; in_flight--;
                }
            for (int i = started; i < count; i++) { c[i].st = ST_FAILED; failed++; }
            started = count;
            break;
        }
        int n = epoll_wait(ep, evs, 512, 200);
        if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
        for (int e = 0; e < n; e++) {
            struct conn *k = &c[evs[e].data.u32];
            int fail = 0;
            if (k->st == ST_CONNECTING) {
                int err = 0; socklen_t el = sizeof err;
                getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) { if (!first_errno) first_errno = err; fail = 1; }
                else {
                    k->st = ST_SENDING;
                    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = evs[e].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &ev);
                }
            }
            if (!fail && k->st == ST_SENDING) {
                ssize_t w = send(k->fd, req + k->sent, (size_t)req_len - k->sent, MSG_NOSIGNAL);
                if (w > 0) k->sent += (size_t)w;
                else if (w < 0 && errno != EAGAIN) { if (!first_errno) first_errno = errno; fail = 1; }
                if (!fail && k->sent == (size_t)req_len) {
                    k->st = ST_READING;
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = evs[e].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &ev);
                }
            }
            if (!fail && k->st == ST_READING && (evs[e].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
                char buf[65536];
                for (;;) {
                    ssize_t r = recv(k->fd, buf, sizeof buf, 0);
                    if (r > 0) {
                        if (k->head_len < sizeof k->head - 1) {
                            size_t take = sizeof k->head - 1 - k->head_len;
                            if ((size_t)r < take) take = (size_t)r;
                            memcpy(k->head + k->head_len, buf, take);
                            k->head_len += take;
                        }
                        k->got += (size_t)r;
                        if (k->need < 0) {
                            long need = parse_head(k->head, k->head_len);
                            if (need == -2) { fail = 1; break; }
                            k->need = need;
                        }
                        if (k->need >= 0 && (long)k->got > k->need) { fail = 1; break; }
                        continue;
                    }
                    if (r == 0) { fail = 1; break; }        /* closed before / after the response */
                    if (errno == EAGAIN) break;
                    if (errno == EINTR) continue;
                    if (!first_errno) first_errno = errno;
                    fail = 1; break;
                }
                if (!fail && k->need >= 0 && (long)k->got == k->need) {
                    k->st = ST_IDLE; ok++; in_flight--;
                    /* keep watching for the server closing it */
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = evs[e].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &ev);
                }
            } else if (!fail && k->st == ST_IDLE) {
                /* an idle connection became readable: the server closed it (or sent junk) */
                epoll_ctl(ep, EPOLL_CTL_DEL, k->fd, NULL);
                close(k->fd); k->fd = -1; k->st = ST_CLOSED;
            }
            if (fail) {
                epoll_ctl(ep, EPOLL_CTL_DEL, k->fd, NULL);
                close(k->fd); k->fd = -1;
                k->st = ST_FAILED; failed++; in_flight--;
            }
        }
    }
    if (first_errno) fprintf(stderr, "idle_conns: first error: %s\n", strerror(first_errno));
    int closed_early = 0;
    for (int i = 0; i < count; i++) if (c[i].st == ST_CLOSED) closed_early++;
    printf("ready %d %d\n", ok - closed_early, failed + closed_early);
    fflush(stdout);
    if (ok == 0) return 1;

    /* hold: watch stdin for commands and idle connections for closes */
    struct hold h = {c, count, ep};
    idle_hold(ep, &stop_flag, hold_open, hold_event, &h);
    for (int i = 0; i < count; i++) if (c[i].fd > 0) close(c[i].fd);
    return 0;
}
