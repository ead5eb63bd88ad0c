/*
 * tunnels: many concurrent WebSocket-style upgraded connections, for t/19-many-tunnels.t.
 * Plain POSIX + epoll, no dependencies:  cc -O2 -o tunnels tunnels.c
 *
 *   tunnels server PORTFILE
 *       Listens on 127.0.0.1:0 and writes the port to PORTFILE. Accepts any number of
 *       connections; on each reads the request head up to CRLFCRLF, answers
 *       "HTTP/1.1 101 Switching Protocols" (Upgrade: websocket, Connection: Upgrade) and then
 *       echoes every byte it receives on that connection. Runs until killed (or until its
 *       parent process is gone).
 *
 *   tunnels client PORT PATH N
 *       Opens N connections to 127.0.0.1:PORT (nonblocking connects, at most WINDOW of them
 *       connecting or waiting for their answer at any time, so the listener's accept queue is
 *       never overrun), sends a WebSocket upgrade request for PATH on each and waits for a 101
 *       on each. Then, with all of them open at once, sends a distinct 8-byte token on every
 *       upgraded connection and checks that the same token comes back on the same connection.
 *       Prints "open=O upgraded=U echoed=E" and a second line with the phase timings, then
 *       blocks reading stdin until it is closed (the tunnels stay open meanwhile), closes
 *       everything and exits 0 when U == E == N, else 1. Problems go to stderr.
 *       Environment: TUNNELS_WINDOW (default 256), TUNNELS_TIMEOUT (seconds per phase, 45).
 *
 * Both modes raise RLIMIT_NOFILE to the hard limit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 1024
#define HEAD_MAX 8192
#define TOKEN_LEN 8

static const char RESPONSE_101[] =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tunnels: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static rlim_t raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die("getrlimit: %s", strerror(errno));
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) die("setrlimit(%llu): %s", (unsigned long long)rl.rlim_max, strerror(errno));
    }
    return rl.rlim_cur;
}

static void ep_ctl(int ep, int op, int fd, uint32_t events, uint32_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u32 = data;
    if (epoll_ctl(ep, op, fd, &ev) != 0) die("epoll_ctl(%d, fd %d): %s", op, fd, strerror(errno));
}

/* ------------------------------------------------------------------------------------------ */
/* server                                                                                      */

struct sconn {
    int open;
    int upgraded;
    size_t hlen;
    char *head;     /* the request head until it is complete */
    char *out;      /* bytes not yet written back (the 101, echoes) */
    size_t olen, ooff;
};

static struct sconn *sconns;
static size_t nsconns;

static void s_close(int ep, int fd) {
    struct sconn *c = &sconns[fd];
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(c->head);
    free(c->out);
    memset(c, 0, sizeof *c);
}

/* Queues or writes data; returns -1 when the connection failed. */
static int s_send(int ep, int fd, const char *data, size_t len) {
    struct sconn *c = &sconns[fd];
    if (c->olen == c->ooff) {
        while (len > 0) {
            ssize_t n = write(fd, data, len);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;
                return -1;
            }
            data += n;
            len -= (size_t)n;
        }
        if (len == 0) return 0;
        free(c->out);
        c->out = NULL;
        c->olen = c->ooff = 0;
    }
    /* keep the rest and stop reading until it is written: memory stays bounded */
    char *p = realloc(c->out, c->olen + len);
    if (!p) die("out of memory");
    memcpy(p + c->olen, data, len);
    c->out = p;
    c->olen += len;
    ep_ctl(ep, EPOLL_CTL_MOD, fd, EPOLLOUT, (uint32_t)fd);
    return 0;
}

static void s_flush(int ep, int fd) {
    struct sconn *c = &sconns[fd];
    while (c->ooff < c->olen) {
        ssize_t n = write(fd, c->out + c->ooff, c->olen - c->ooff);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            s_close(ep, fd);
            return;
        }
        c->ooff += (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->olen = c->ooff = 0;
    ep_ctl(ep, EPOLL_CTL_MOD, fd, EPOLLIN | EPOLLRDHUP, (uint32_t)fd);
}

static void s_read(int ep, int fd) {
    struct sconn *c = &sconns[fd];
    char buf[65536];
    for (;;) {
        if (c->olen > c->ooff) return; /* waiting for EPOLLOUT */
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            s_close(ep, fd);
            return;
        }
        if (n == 0) {
            s_close(ep, fd);
            return;
        }
        if (c->upgraded) {
            if (s_send(ep, fd, buf, (size_t)n) < 0) { s_close(ep, fd); return; }
            continue;
        }
        if (c->hlen + (size_t)n > HEAD_MAX) {
            fprintf(stderr, "tunnels server: request head too large on fd %d\n", fd);
            s_close(ep, fd);
            return;
        }
        memcpy(c->head + c->hlen, buf, (size_t)n);
        c->hlen += (size_t)n;
        char *end = memmem(c->head, c->hlen, "\r\n\r\n", 4);
        if (!end) continue;
        size_t used = (size_t)(end - c->head) + 4;
        c->upgraded = 1;
        if (s_send(ep, fd, RESPONSE_101, sizeof RESPONSE_101 - 1) < 0) { s_close(ep, fd); return; }
        /* bytes after the head belong to the tunnel: echo them */
        if (c->hlen > used && s_send(ep, fd, c->head + used, c->hlen - used) < 0) { s_close(ep, fd); return; }
        free(c->head);
        c->head = NULL;
        c->hlen = 0;
    }
}

static int run_server(const char *portfile) {
    rlim_t lim = raise_nofile();
    nsconns = (size_t)lim + 16;
    sconns = calloc(nsconns, sizeof *sconns);
    if (!sconns) die("calloc");
    pid_t parent = getppid();

    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l < 0) die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0) die("bind: %s", strerror(errno));
    if (listen(l, 65535) != 0) die("listen: %s", strerror(errno));
    socklen_t alen = sizeof a;
    if (getsockname(l, (struct sockaddr *)&a, &alen) != 0) die("getsockname: %s", strerror(errno));

    /* write the port atomically: the test polls for the file */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", portfile);
    FILE *f = fopen(tmp, "w");
    if (!f) die("open %s: %s", tmp, strerror(errno));
    fprintf(f, "%u\n", (unsigned)ntohs(a.sin_port));
    if (fclose(f) != 0) die("write %s: %s", tmp, strerror(errno));
    if (rename(tmp, portfile) != 0) die("rename %s: %s", tmp, strerror(errno));

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1: %s", strerror(errno));
    const uint32_t LISTENER = UINT32_MAX;
    ep_ctl(ep, EPOLL_CTL_ADD, l, EPOLLIN, LISTENER);

    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, 1000);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        if (getppid() != parent) return 0; /* the test is gone */
        for (int i = 0; i < n; i++) {
            uint32_t id = evs[i].data.u32;
            if (id == LISTENER) {
                for (;;) {
                    int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED) continue;
                        if (errno == EMFILE || errno == ENFILE) {
                            fprintf(stderr, "tunnels server: accept: %s\n", strerror(errno));
                            usleep(10000);
                        }
                        break;
                    }
                    if ((size_t)fd >= nsconns) { close(fd); continue; }
                    struct sconn *c = &sconns[fd];
                    c->open = 1;
                    c->head = malloc(HEAD_MAX);
                    if (!c->head) die("out of memory");
                    ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP, (uint32_t)fd);
                }
                continue;
            }
            int fd = (int)id;
            if (!sconns[fd].open) continue;
            if (evs[i].events & EPOLLOUT) {
                s_flush(ep, fd);
                if (!sconns[fd].open) continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s_read(ep, fd);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* client                                                                                      */

enum { C_IDLE, C_CONNECTING, C_SENDING, C_WAIT101, C_UPGRADED, C_SENT_TOKEN, C_ECHOED, C_FAILED };

struct cconn {
    int fd;
    int state;
    size_t off;     /* bytes of the request (or token) written */
    size_t hlen;    /* bytes of the response head (or echo) received */
    char buf[512];
};

static struct cconn *cc;
static long nfail_connect, nfail_eof, nfail_status, nfail_write, nfail_echo, nfail_timeout;
static int reported;

static void c_fail(int ep, struct cconn *c, long *counter, const char *what) {
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = C_FAILED;
    (*counter)++;
    if (reported++ < 10) fprintf(stderr, "tunnels client: connection %ld: %s\n", (long)(c - cc), what);
}

/* The token of connection i: "t" and 7 digits (n is at most 1,000,000, so tokens are distinct). */
static void make_token(char tok[32], long i) { snprintf(tok, 32, "t%07ld", i % 10000000); }

static int parse_env_int(const char *name, int def) {
    const char *v = getenv(name);
    if (!v || !*v) return def;
    int x = atoi(v);
    return x > 0 ? x : def;
}

static int run_client(int port, const char *path, long n) {
    rlim_t lim = raise_nofile();
    if ((rlim_t)n + 64 > lim)
        fprintf(stderr, "tunnels client: %ld connections but RLIMIT_NOFILE is %llu\n", n, (unsigned long long)lim);
    int window = parse_env_int("TUNNELS_WINDOW", 256);
    double phase_timeout = parse_env_int("TUNNELS_TIMEOUT", 45);
    signal(SIGPIPE, SIG_IGN);

    char req[1024];
    int reqlen = snprintf(req, sizeof req,
                          "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                          path);
    if (reqlen <= 0 || reqlen >= (int)sizeof req) die("path too long");

    cc = calloc((size_t)n, sizeof *cc);
    if (!cc) die("calloc");
    for (long i = 0; i < n; i++) cc[i].fd = -1;

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1: %s", strerror(errno));
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);

    long next = 0, inflight = 0, opened = 0, upgraded = 0, done1 = 0;
    struct epoll_event evs[MAX_EVENTS];
    double t0 = now();
    double deadline = t0 + phase_timeout;

    /* --- phase 1: connect and upgrade, at most `window` in progress at once */
    while (done1 < n) {
        while (inflight < window && next < n) {
            struct cconn *c = &cc[next];
            uint32_t id = (uint32_t)next;
            next++;
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                c_fail(ep, c, &nfail_connect, strerror(errno));
                done1++;
                continue;
            }
            c->fd = fd;
            int r = connect(fd, (struct sockaddr *)&a, sizeof a);
            if (r != 0 && errno != EINPROGRESS) {
                c_fail(ep, c, &nfail_connect, strerror(errno));
                done1++;
                continue;
            }
            c->state = C_CONNECTING;
            ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLOUT, id);
            inflight++;
        }
        if (done1 >= n) break;
        double left = deadline - now();
        if (left <= 0) break;
        int k = epoll_wait(ep, evs, MAX_EVENTS, left > 1 ? 1000 : (int)(left * 1000) + 1);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < k; i++) {
            struct cconn *c = &cc[evs[i].data.u32];
            uint32_t e = evs[i].events;
            if (c->state == C_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
                if (err) {
                    c_fail(ep, c, &nfail_connect, strerror(err));
                    inflight--, done1++;
                    continue;
                }
                if (!(e & EPOLLOUT)) continue;
                opened++;
                c->state = C_SENDING;
            }
            if (c->state == C_SENDING) {
                while (c->off < (size_t)reqlen) {
                    ssize_t w = write(c->fd, req + c->off, (size_t)reqlen - c->off);
                    if (w < 0) {
                        if (errno == EINTR) continue;
                        break;
                    }
                    c->off += (size_t)w;
                }
                if (c->off < (size_t)reqlen) {
                    if (errno == EAGAIN) continue;
                    c_fail(ep, c, &nfail_write, strerror(errno));
                    inflight--, done1++;
                    continue;
                }
                c->state = C_WAIT101;
                ep_ctl(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN | EPOLLRDHUP, evs[i].data.u32);
                continue;
            }
            if (c->state == C_WAIT101) {
                ssize_t r = read(c->fd, c->buf + c->hlen, sizeof c->buf - 1 - c->hlen);
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (r <= 0) {
                    c_fail(ep, c, &nfail_eof, r == 0 ? "closed before the response head" : strerror(errno));
                    inflight--, done1++;
                    continue;
                }
                c->hlen += (size_t)r;
                c->buf[c->hlen] = 0;
                char *end = memmem(c->buf, c->hlen, "\r\n\r\n", 4);
                if (!end) {
                    if (c->hlen >= sizeof c->buf - 1) {
                        c_fail(ep, c, &nfail_status, "response head too large");
                        inflight--, done1++;
                    }
                    continue;
                }
                if (strncmp(c->buf, "HTTP/1.1 101 ", 13) != 0) {
                    char line[128];
                    size_t ll = strcspn(c->buf, "\r\n");
                    snprintf(line, sizeof line, "not a 101: %.*s", (int)(ll < 100 ? ll : 100), c->buf);
                    c_fail(ep, c, &nfail_status, line);
                    inflight--, done1++;
                    continue;
                }
                /* keep what followed the head: it would be tunnel data */
                size_t used = (size_t)(end - c->buf) + 4;
                memmove(c->buf, c->buf + used, c->hlen - used);
                c->hlen -= used;
                c->off = 0;
                c->state = C_UPGRADED;
                upgraded++;
                inflight--, done1++;
                /* silent until phase 2 */
                ep_ctl(ep, EPOLL_CTL_MOD, c->fd, 0, evs[i].data.u32);
                continue;
            }
            /* an upgraded connection closed or sent something: look at it in phase 2 */
        }
    }
    double t1 = now();
    for (long i = 0; i < n; i++) {
        struct cconn *c = &cc[i];
        if (c->state == C_CONNECTING || c->state == C_SENDING || c->state == C_WAIT101 || c->state == C_IDLE) {
            c_fail(ep, c, &nfail_timeout, c->state == C_IDLE ? "not started before the deadline" : "no 101 before the deadline");
        }
    }

    /* --- phase 2: with every tunnel open, a distinct token on each, echoed on the same one */
    long echoed = 0, pending = 0;
    deadline = now() + phase_timeout;
    for (long i = 0; i < n; i++) {
        struct cconn *c = &cc[i];
        if (c->state != C_UPGRADED) continue;
        char tok[32];
        make_token(tok, i);
        ssize_t w;
        do w = write(c->fd, tok, TOKEN_LEN);
        while (w < 0 && errno == EINTR);
        if (w != TOKEN_LEN) { /* 8 bytes always fit a fresh socket's buffer */
            c_fail(ep, c, &nfail_write, w < 0 ? strerror(errno) : "short write");
            continue;
        }
        c->state = C_SENT_TOKEN;
        ep_ctl(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN | EPOLLRDHUP, (uint32_t)i);
        pending++;
    }
    while (pending > 0) {
        double left = deadline - now();
        if (left <= 0) break;
        int k = epoll_wait(ep, evs, MAX_EVENTS, left > 1 ? 1000 : (int)(left * 1000) + 1);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < k; i++) {
            uint32_t id = evs[i].data.u32;
            struct cconn *c = &cc[id];
            if (c->state != C_SENT_TOKEN) continue;
            if (c->hlen < TOKEN_LEN) {
                ssize_t r = read(c->fd, c->buf + c->hlen, TOKEN_LEN - c->hlen);
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (r <= 0) {
                    c_fail(ep, c, &nfail_eof, r == 0 ? "tunnel closed before the echo" : strerror(errno));
                    pending--;
                    continue;
                }
                c->hlen += (size_t)r;
            }
            if (c->hlen < TOKEN_LEN) continue;
            char tok[32];
            make_token(tok, (long)id);
            pending--;
            if (memcmp(c->buf, tok, TOKEN_LEN) != 0) {
                char what[96];
                snprintf(what, sizeof what, "echo mismatch: got %.8s, want %s", c->buf, tok);
                c_fail(ep, c, &nfail_echo, what);
                continue;
            }
            c->state = C_ECHOED;
            echoed++;
            ep_ctl(ep, EPOLL_CTL_MOD, c->fd, 0, id);
        }
    }
    double t2 = now();
    if (pending > 0) {
        for (long i = 0; i < n; i++)
            if (cc[i].state == C_SENT_TOKEN) c_fail(ep, &cc[i], &nfail_timeout, "no echo before the deadline");
    }

    printf("open=%ld upgraded=%ld echoed=%ld\n", opened, upgraded, echoed);
    printf("upgrade_seconds=%.3f echo_seconds=%.3f failed_connect=%ld failed_eof=%ld failed_status=%ld "
           "failed_write=%ld failed_echo=%ld failed_timeout=%ld\n",
           t1 - t0, t2 - t1, nfail_connect, nfail_eof, nfail_status, nfail_write, nfail_echo, nfail_timeout);
    fflush(stdout);

    /* --- hold every tunnel open until the test closes our stdin */
    char sink[256];
    for (;;) {
        ssize_t r = read(0, sink, sizeof sink);
        if (r > 0) continue;
        if (r < 0 && errno == EINTR) continue;
        break;
    }
    for (long i = 0; i < n; i++)
        if (cc[i].fd >= 0) close(cc[i].fd);
    close(ep);
    return upgraded == n && echoed == n ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "server") == 0) return run_server(argv[2]);
    if (argc == 5 && strcmp(argv[1], "client") == 0) {
        int port = atoi(argv[2]);
        long n = atol(argv[4]);
        if (port <= 0 || port > 65535 || n <= 0 || n > 1000000) die("bad port or count");
        return run_client(port, argv[3], n);
    }
    fprintf(stderr, "usage: tunnels server PORTFILE\n       tunnels client PORT PATH N\n");
    return 2;
}
