#!/usr/bin/perl
# max_conns per upstream server with a bounded queue, counted across the workers of the node
# (2 workers here): max_conns 1 with a queue of 2 serves 3 concurrent requests one after
# another and turns the 4th away with 503 at once; a queued request gets 503 after
# queue.timeout; a client that leaves while queued gives its place back; a worker killed
# while holding the slot gives it back too.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use File::Temp ();
use IO::Socket::INET;
use POSIX qw(_exit);
use GatewayTest;
use Backend;

# A backend that holds each request (GET /hold/MS) for MS ms and records when each started and
# ended ("S|E TIME PATH PORT" lines in one log, appended by one child process per connection), so
# that the test can see their concurrency. Two of them, on two ports.
my $tmp = File::Temp->newdir('gatewayd-t43-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $log = "$tmp/backend.log";
my @backend_pids;
END { kill 'KILL', -$_ for @backend_pids }
sub start_backend {
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 128,
                                       ReuseAddr => 1) or die "listen: $!";
    my $port = $listen->sockport;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        serve($listen, $port);
        _exit(0);
    }
    setpgrp($pid, $pid);
    push @backend_pids, $pid;
    close $listen;
    return $port;
}
sub serve {
    my ($listen, $port) = @_;
    setpgrp(0, 0);
    $SIG{CHLD} = 'IGNORE';
    while (1) {
        my $c = $listen->accept or next;
        my $pid = fork;
        if (defined $pid && $pid == 0) {
            my $buf = '';
            while (index($buf, "\r\n\r\n") < 0) {
                my $n = sysread($c, $buf, 4096, length $buf);
                _exit(0) unless $n;
            }
            my ($path) = $buf =~ m{^GET (\S+)};
            $path //= '-';
            my ($ms) = $path =~ m{^/hold/(\d+)};
            $ms //= 0;
            my $note = sub {
                open my $fh, '>>', $log or return;
                syswrite $fh, sprintf("%s %.6f %s %d\n", $_[0], time, $path, $port);
                close $fh;
            };
            $note->('S');
            sleep $ms / 1000;
            $note->('E');
            print $c "HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nheld";
            close $c;
            _exit(0);
        }
        close $c;
    }
}
my $backend_port = start_backend();
my $backend2_port = start_backend();

# The backends' records: [[S|E, time, path, port], ...] in time order.
sub records {
    open my $fh, '<', $log or return ();
    my @r = map { [split ' '] } <$fh>;
    return sort { $a->[1] <=> $b->[1] } @r;
}
sub started { scalar grep { $_->[0] eq 'S' } records() }

my $t = GatewayTest->new;
$t->set_port('be', $backend_port);
$t->set_port('be2', $backend2_port);
$t->write_conf(conf_head(2) . <<'EOF');
upstreams:
  busy:
    servers: [{address: 127.0.0.1:%%be%%, max_conns: 1}]
    queue: {size: 2, timeout: 5s}
    keepalive: 0
  short:
    servers: [{address: 127.0.0.1:%%be%%, max_conns: 1}]
    queue: {size: 1, timeout: 200ms}
    keepalive: 0
  drop:
    servers: [{address: 127.0.0.1:%%be%%, max_conns: 1}]
    queue: {size: 1, timeout: 5s}
    keepalive: 0
  two:
    servers: [{address: 127.0.0.1:%%be%%, max_conns: 1}, {address: 127.0.0.1:%%be2%%, max_conns: 1}]
    keepalive: 0
  dead:
    servers: [{address: "unix:%%PREFIX%%/no-such.sock", max_conns: 1}]   # connect() fails at once
    max_fails: 0
routes:
  - {name: busy, match: {path_prefix: /busy}, strip_prefix: /busy, upstream: busy}
  - {name: short, match: {path_prefix: /short}, strip_prefix: /short, upstream: short}
  - {name: drop, match: {path_prefix: /drop}, strip_prefix: /drop, upstream: drop}
  - {name: dead, match: {path_prefix: /dead}, strip_prefix: /dead, upstream: dead}
  - {name: two, match: {path_prefix: /two}, strip_prefix: /two, upstream: two}
EOF
$t->start;
my $port = $t->port('http');

sub metric {
    my ($name, %labels) = @_;
    my $m = $t->metrics or return -1;
    return metric_sum($m, $name, \%labels) // 0;
}
sub waiting { metric('gateway_upstream_queue_waiting', upstream => $_[0]) }
sub active  { metric('gateway_upstream_active_requests', upstream => $_[0]) }

# Sends GET $path on a new connection; returns the connection.
sub send_get {
    my ($path) = @_;
    my $c = http_connect($port, timeout => 10) or die "connect: $!";
    $c->send(build_request('GET', $path)) or die "send";
    return $c;
}

# --- max_conns 1, queue of 2: three served one after another, the fourth 503 at once -----------
{
    my $c1 = send_get('/busy/hold/300');
    ok(wait_until(sub { started() == 1 }, 5), 'the first request reached the backend');
    my $c2 = send_get('/busy/hold/300');
    ok(wait_until(sub { waiting('busy') == 1 }, 5), 'the second waits in the queue');
    my $c3 = send_get('/busy/hold/300');
    ok(wait_until(sub { waiting('busy') == 2 }, 5), 'the third waits in the queue');
    my $sent4 = time;
    my $c4 = send_get('/busy/hold/300');
    my $r4 = $c4->read_response(timeout => 5);
    my $took4 = time - $sent4;
    my $started_then = started();
    is($r4 && $r4->{status}, 503, 'the fourth: 503 (queue full)');
    like($r4 && $r4->{body}, qr/upstream busy/, '... upstream busy');
    is($r4 && $r4->{headers}{'retry-after'}, '1', '... with retry-after: 1');
    cmp_ok($started_then, '<=', 2, '... at once: before the third request started') or diag("took $took4 s");
    for my $c ($c1, $c2, $c3) {
        my $r = $c->read_response(timeout => 10);
        is($r && $r->{status}, 200, 'a queued request is served') or diag($c->error);
    }
    my @rec = grep { $_->[2] =~ m{^/hold/300} } records();
    is(scalar(@rec), 6, 'the backend saw three requests') or diag(explain \@rec);
    my ($now, $max) = (0, 0);
    for my $r (@rec) {
        $now += $r->[0] eq 'S' ? 1 : -1;
        $max = $now if $now > $max;
    }
    is($max, 1, 'never two at once at the backend');
    is(join('', map { $_->[0] } @rec), 'SESESE', 'one after another: each starts after the previous ended');
    ok(wait_until(sub { waiting('busy') == 0 && active('busy') == 0 }, 5), 'the queue is empty, nothing in flight');
    is(metric('gateway_upstream_queue_rejected_total', upstream => 'busy', reason => 'full'), 1,
       'one rejection counted (reason full)');
    like($t->error_log,
         qr/every server is at its max_conns for upstream "busy" and the queue is full, route: "busy", client: 127\.0\.0\.1: 503/,
         'the rejection is logged with its context');
}

# --- /status shows the limits ------------------------------------------------------------------
{
    my $st = $t->status_json;
    my ($busy) = grep { $_->{name} eq 'busy' } @{ $st->{upstreams} // [] };
    is($busy && $busy->{servers}[0]{max_conns}, 1, '/status: the server\'s max_conns');
    is($busy && $busy->{servers}[0]{active}, 0, '/status: ... and its requests in flight');
    is_deeply($busy && $busy->{queue}, {size => 2, waiting => 0}, '/status: the queue');
}

# --- a full server is skipped; with every server full and no queue, 503 at once ------------------
{
    unlink $log;
    my $c1 = send_get('/two/hold/600');
    ok(wait_until(sub { started() == 1 }, 5), 'one server holds a request');
    my $c2 = send_get('/two/hold/600');
    ok(wait_until(sub { started() == 2 }, 5), 'the next goes to the other server');
    my $r3 = send_get('/two/hold/600')->read_response(timeout => 5);
    is($r3 && $r3->{status}, 503, 'both full, no queue: 503');
    is(started(), 2, '... at once, without a third at any backend');
    is($c1->read_response(timeout => 5)->{status}, 200, 'the first completes');
    is($c2->read_response(timeout => 5)->{status}, 200, 'the second completes');
    my %ports = map { $_->[3] => 1 } records();
    is(scalar(keys %ports), 2, 'on two different servers');
    is(metric('gateway_upstream_queue_rejected_total', upstream => 'two', reason => 'full'), 1, 'counted (full)');
}

# --- a failed connect gives its slot back ---------------------------------------------------------
{
    for my $i (1 .. 3) {
        my $r = $t->get('/dead/x');
        is($r && $r->{status}, 502, "connect() failed at once: 502 (request $i), not 503 busy");
    }
    is(active('dead'), 0, 'no slot left held');
}

# --- queue timeout ------------------------------------------------------------------------------
{
    unlink $log;
    my $c1 = send_get('/short/hold/1000');
    ok(wait_until(sub { started() == 1 }, 5), 'a request holds the only slot');
    my $sent = time;
    my $c2 = send_get('/short/hold/1000');
    my $r2 = $c2->read_response(timeout => 5);
    my $took = time - $sent;
    is($r2 && $r2->{status}, 503, 'queued past queue.timeout: 503');
    like($r2 && $r2->{body}, qr/queue timeout/, '... upstream busy: queue timeout');
    cmp_ok($took, '>=', 0.18, '... after the timeout (200 ms)');
    cmp_ok($took, '<', 0.9, '... not after the slot freed (1 s)');
    is(started(), 1, 'the timed-out request never reached the backend');
    my $r1 = $c1->read_response(timeout => 5);
    is($r1 && $r1->{status}, 200, 'the one holding the slot completes');
    is(metric('gateway_upstream_queue_rejected_total', upstream => 'short', reason => 'timeout'), 1,
       'one timeout counted');
    is(waiting('short'), 0, 'its place is given back');
    like($t->error_log,
         qr/no server under its max_conns within queue\.timeout for upstream "short", route: "short", client: 127\.0\.0\.1: 503/,
         'the timeout is logged with its context');
}

# --- a client that leaves while queued frees its place ------------------------------------------
{
    unlink $log;
    my $c1 = send_get('/drop/hold/800');
    ok(wait_until(sub { started() == 1 }, 5), 'a request holds the only slot');
    my $c2 = send_get('/drop/hold/10');
    ok(wait_until(sub { waiting('drop') == 1 }, 5), 'a second waits (the queue is full)');
    $c2->close;
    ok(wait_until(sub { waiting('drop') == 0 }, 5), 'gone: its place is given back');
    my $c3 = send_get('/drop/hold/20');
    ok(wait_until(sub { waiting('drop') == 1 }, 5), 'a third takes the place');
    my $r3 = $c3->read_response(timeout => 5);
    is($r3 && $r3->{status}, 200, '... and is served once the slot frees');
    my $r1 = $c1->read_response(timeout => 5);
    is($r1 && $r1->{status}, 200, 'the first completes');
    is(join(' ', map { $_->[2] } grep { $_->[0] eq 'S' } records()), '/hold/800 /hold/20',
       'the request that left never reached the backend');
}

# --- a reload keeps the counts: the new generation waits for the old one's slot -----------------
{
    unlink $log;
    my $c1 = send_get('/drop/hold/1200');
    ok(wait_until(sub { started() == 1 && active('drop') == 1 }, 5), 'generation 1 holds the only slot');
    $t->write_conf(slurp($t->conf) =~ s/queue: \{size: 1, timeout: 5s\}/queue: {size: 1, timeout: 4s}/r);
    $t->signal('HUP');
    ok(wait_until(sub { $t->error_log =~ /configuration generation 2 is serving/ }, 10), 'reloaded');
    my $c2 = send_get('/drop/hold/10');
    ok(wait_until(sub { waiting('drop') == 1 }, 5), 'a request to generation 2 waits: the slot is still held');
    is(started(), 1, '... and did not reach the backend');
    my $r2 = $c2->read_response(timeout => 10);
    is($r2 && $r2->{status}, 200, 'served once generation 1 gave the slot back');
    my $r1 = $c1->read_response(timeout => 5);
    is($r1 && $r1->{status}, 200, 'the draining generation completed its request');
    my @rec = records();
    is(join('', map { $_->[0] } @rec), 'SESE', 'one after the other');
    cmp_ok(@rec == 4 ? $rec[2][1] - $rec[1][1] : 99, '<', 1.5,
           'woken by the old generation\'s release (well before queue.timeout)');
}

# --- a worker killed while it holds the slot gives it back ----------------------------------------
{
    unlink $log;
    my $c1 = send_get('/drop/hold/5000');
    ok(wait_until(sub { started() == 1 && active('drop') == 1 }, 5), 'a request holds the only slot');
    my @before;
    ok(wait_until(sub { @before = map { $_->{pid} } worker_pids($t->pid); @before == 2 }, 10),
       'two workers (the old generation is gone)');
    kill 'KILL', @before;
    ok(wait_until(sub {
        my @now = map { $_->{pid} } worker_pids($t->pid);
        @now == 2 && !grep { my $p = $_; grep { $_ == $p } @before } @now
    }, 10), 'the workers are respawned');
    ok(wait_until(sub { active('drop') == 0 }, 5), "the master settled the dead worker's slot");
    my $r = $t->get('/drop/hold/0');
    is($r && $r->{status}, 200, 'the server takes requests again');
}

done_testing;
