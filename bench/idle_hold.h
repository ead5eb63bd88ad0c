/* bench/idle_hold.h: the "hold" phase that bench/idle_conns.c and bench/tls_conns.c share once
 * their connections are open and idle (bench/README, scenarios 3 and 7).
 *
 * Until stdin ends or `stop` is set: each line read on stdin is answered with "open N" (the
 * connections still idle, from count_open), and an event on a connection (its index in the
 * epoll data) goes to on_event, which closes it if the server did. */
#ifndef GATEWAYD_BENCH_IDLE_HOLD_H
#define GATEWAYD_BENCH_IDLE_HOLD_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static void idle_hold(int ep, volatile sig_atomic_t *stop, int (*count_open)(void *ctx),
                      void (*on_event)(void *ctx, uint32_t index), void *ctx) {
    struct epoll_event evs[512];
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
    char line[256];
    size_t line_len = 0;
    while (!*stop) {
        int n = epoll_wait(ep, evs, 512, 1000);
        if (n < 0) { if (errno == EINTR) continue; break; }
        int eof = 0;
        for (int e = 0; e < n; e++) {
            if (evs[e].data.u32 == UINT32_MAX) {
                ssize_t r = read(0, line + line_len, sizeof line - 1 - line_len);
                if (r <= 0) { eof = 1; break; }
                line_len += (size_t)r;
                char *nl;
                while ((nl = memchr(line, '\n', line_len)) != NULL) {
                    printf("open %d\n", count_open(ctx));
                    fflush(stdout);
                    size_t used = (size_t)(nl - line) + 1;
                    memmove(line, nl + 1, line_len - used);
                    line_len -= used;
                }
                if (line_len == sizeof line - 1) line_len = 0;
                continue;
            }
            on_event(ctx, evs[e].data.u32);
        }
        if (eof) break;
    }
}

#endif
