#!/usr/bin/perl
# QUIT (graceful stop): an in-flight request is finished with connection: close; keep-alive
# connections are closed; the master exits within shutdown_timeout and removes its pid file.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use GatewayTest;

sub config {
    my ($shutdown, $keepalive) = @_;
    return <<"EOF";
worker_processes: 2
pid: logs/gatewayd.pid
error_log: logs/error.log
shutdown_timeout: $shutdown
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
    admin: true
http:
  keepalive_timeout: $keepalive
routes:
  - name: upload
    match: {path: /upload}
    return: {status: 200, body: "stored\\n"}
EOF
}

# --- an in-flight request is finished -------------------------------------------------------------

{
    my $t = GatewayTest->new;
    $t->write_conf(config('20s', '60s'));
    $t->start;
    my $pidfile = $t->dir . '/logs/gatewayd.pid';
    ok(-f $pidfile, 'pid file present');

    my $c = http_connect($t->port('http'));
    # a first request proves the connection was accepted by a worker
    $c->send("GET /upload HTTP/1.1\r\nHost: x\r\n\r\n");
    my $r = $c->read_response;
    is($r && $r->{status}, 200, 'first request on the connection');
    is($r && lc $r->{headers}{connection}, 'keep-alive', 'connection: keep-alive before QUIT');

    # half a request: head and 5 of 10 body bytes
    $c->send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
    # let the worker read what was sent (the request is then in flight, not merely queued)
    select(undef, undef, undef, 0.2);
    my @w = $t->workers;
    ok($t->signal('QUIT'), 'QUIT sent');
    ok(wait_until(sub { grep { $_->{title} eq 'gatewayd: worker process (generation 1, draining)' } $t->workers }, 3),
       'a worker is titled draining while it finishes the request') or diag(explain [$t->workers]);
    ok($t->alive, 'master still running while a request is in flight');

    ok($c->send('67890'), 'rest of the body sent after QUIT');
    $r = $c->read_response;
    ok($r, 'in-flight request answered') or diag($c->error);
    is($r && $r->{status}, 200, 'in-flight request: 200');
    is($r && $r->{body}, "stored\n", 'in-flight request: body');
    is($r && lc($r->{headers}{connection} // ''), 'close', 'in-flight request: connection: close');
    my ($closed, $extra) = $c->wait_closed(5);
    ok($closed, 'connection closed after the response');
    is($extra, '', 'nothing after the response');

    my $t0 = time;
    ok($t->wait_exit(5), 'master exits once the request is done (well before shutdown_timeout 20s)');
    is($t->exit_status, 0, 'master exit status 0');
    ok(wait_until(sub { !grep { proc_alive($_->{pid}) } @w }, 3), 'workers gone');
    ok(!-e $pidfile, 'pid file removed');
}

# --- idle keep-alive connections and shutdown_timeout ---------------------------------------------

{
    my $t = GatewayTest->new;
    $t->write_conf(config('2s', '60s'));
    $t->start;
    my $pidfile = $t->dir . '/logs/gatewayd.pid';

    my ($ca, $cb) = map { http_connect($t->port('http')) } 1 .. 2;
    for my $c ($ca, $cb) {
        $c->send("GET /upload HTTP/1.1\r\nHost: x\r\n\r\n");
        my $r = $c->read_response;
        is($r && $r->{status}, 200, 'keep-alive connection opened and used');
    }

    my @w = $t->workers;
    my $t0 = time;
    ok($t->signal('QUIT'), 'QUIT sent');
    # the master passes QUIT on to the workers: wait until every worker is draining, so the
    # request below is certainly made during the drain
    ok(wait_until(sub { !grep { proc_alive($_->{pid}) && proc_title($_->{pid}) !~ /draining/ } @w }, 3),
       'all workers draining') or diag(explain [$t->workers]);

    # A: its next request is answered with connection: close, then it is closed
    $ca->send("GET /upload HTTP/1.1\r\nHost: x\r\n\r\n");
    my $r = $ca->read_response;
    is($r && $r->{status}, 200, 'next request on a keep-alive connection after QUIT is answered');
    is($r && lc($r->{headers}{connection} // ''), 'close', '... with connection: close');
    my ($closed) = $ca->wait_closed(5);
    ok($closed, '... and the connection is closed');

    # B stays idle: closed silently by shutdown_timeout (2s) at the latest
    my ($bclosed, $extra) = $cb->wait_closed(6);
    my $bt = time - $t0;
    ok($bclosed, 'idle keep-alive connection closed');
    is($extra, '', 'idle connection closed without a response');
    ok($bt < 4, "idle connection closed within shutdown_timeout 2s (+ margin): ${\ sprintf '%.2f', $bt}s");

    ok($t->wait_exit(8), 'master exits');
    my $et = time - $t0;
    ok($et < 4.5, "master exited within shutdown_timeout 2s (+ margin): ${\ sprintf '%.2f', $et}s");
    ok(!-e $pidfile, 'pid file removed');
}

# --- shutdown_timeout cuts a request that never completes -----------------------------------------

{
    my $t = GatewayTest->new;
    $t->write_conf(config('1s', '60s'));
    $t->start;
    my $c = http_connect($t->port('http'));
    $c->send("GET /upload HTTP/1.1\r\nHost: x\r\n\r\n");
    my $r = $c->read_response;
    is($r && $r->{status}, 200, 'connection in use');
    $c->send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12");
    select(undef, undef, undef, 0.2);
    my $t0 = time;
    $t->signal('QUIT');
    ok($t->wait_exit(6), 'master exits although a request never completes');
    my $et = time - $t0;
    ok($et < 3.5, "... within shutdown_timeout 1s (+ margin): ${\ sprintf '%.2f', $et}s");
    my ($closed) = $c->wait_closed(2);
    ok($closed, 'the stalled connection was closed');
}

done_testing();
