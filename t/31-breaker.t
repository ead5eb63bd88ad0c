#!/usr/bin/perl
# Circuit breakers with the real binary, two workers and real backends: a server that keeps failing
# (503s, or a dead port) is opened after the configured failures and gets no more requests, also
# not as a retry; when every server of an upstream is open the gateway answers 503 at once with
# Retry-After and contacts no backend; after open_for the breaker is half-open and lets exactly
# half_open_probes requests through across both workers, and close_after successes close it; a
# failed probe re-opens it with the back-off; the state survives a reload and a binary upgrade;
# gateway_circuit_state and gateway_circuit_transitions_total. About 5 s.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;
require_modules('breaker');

my %be;
$be{$_} = Backend->new(name => $_)->start for qw(a b c d);
my $dead = dead_port();

my $t = GatewayTest->new;
$t->set_port("be_$_", $be{$_}->port) for qw(a b c d);
$t->set_port('dead', $dead);
my $conf = conf_head(2) . <<'EOF';
upstreams:
  app:
    servers: [{address: 127.0.0.1:%%be_a%%}, {address: 127.0.0.1:%%be_b%%}]
    circuit_breaker:
      consecutive_failures: 3
      open_for: 4s
      max_open_for: 1m
      half_open_probes: 2
      close_after: 2
  solo:
    servers: [{address: 127.0.0.1:%%be_c%%}]
    circuit_breaker: {consecutive_failures: 3, open_for: 1s, half_open_probes: 4, close_after: 3}
  retried:
    servers: [{address: 127.0.0.1:%%dead%%}, {address: 127.0.0.1:%%be_b%%}]
    circuit_breaker: {consecutive_failures: 3, open_for: 1m}
  ratio:
    servers: [{address: 127.0.0.1:%%be_d%%}]
    circuit_breaker: {failure_ratio: 50%, min_requests: 10, consecutive_failures: 0, open_for: 1m}
routes:
  - {name: app, match: {path_prefix: /app/}, upstream: app, strip_prefix: /app}
  - {name: solo, match: {path_prefix: /solo/}, upstream: solo, strip_prefix: /solo}
  - name: retried
    match: {path_prefix: /retried/}
    upstream: retried
    strip_prefix: /retried
    retries: {attempts: 2, on: [connect_failure], budget: 1}
  - {name: ratio, match: {path_prefix: /ratio/}, upstream: ratio, strip_prefix: /ratio}
EOF
$t->write_conf($conf);
my $started = time;
$t->start;
my $port = $t->port('http');
my %addr = map { $_ => "127.0.0.1:" . $be{$_}->port } qw(a b c d);
$addr{dead} = "127.0.0.1:$dead";

sub get { my ($path) = @_; return http_get($port, $path, {}, timeout => 10) }

sub state_of {
    my ($upstream, $server) = @_;
    my $m = $t->metrics or return -1;
    return metric_sum($m, 'gateway_circuit_state', { upstream => $upstream, server => $addr{$server} }) // -1;
}

sub entered {
    my ($upstream, $server, $to) = @_;
    my $m = $t->metrics or return -1;
    return metric_sum($m, 'gateway_circuit_transitions_total',
                      { upstream => $upstream, server => $addr{$server}, to => $to }) // -1;
}

sub hits { my ($name, $re) = @_; return $be{$name}->count_requests($re) }

sub log_has {
    my ($re) = @_;
    return wait_until(sub { $t->error_log =~ $re }, 3);
}

# --- the metrics exist from the start ------------------------------------------------------------

{
    my $m = $t->metrics;
    is($m->{types}{gateway_circuit_state}, 'gauge', 'gateway_circuit_state is a gauge');
    is($m->{types}{gateway_circuit_transitions_total}, 'counter', 'gateway_circuit_transitions_total is a counter');
    is(scalar(metric_samples($m, 'gateway_circuit_state')), 6, 'one state per server with a breaker');
    is(metric_sum($m, 'gateway_circuit_state'), 0, 'all closed');
    is(metric_sum($m, 'gateway_circuit_transitions_total'), 0, 'no transitions yet');
    is(scalar(metric_samples($m, 'gateway_circuit_transitions_total', { upstream => 'app', server => $addr{a} })), 3,
       'transitions counted by to: open, half_open, closed');
}

# --- consecutive failures open the breaker; requests stop reaching the server --------------------

{
    my $n = 0;
    until (state_of('app', 'a') == 1 || $n >= 40) {
        get('/app/fail-on/a/503');
        $n++;
    }
    is(state_of('app', 'a'), 1, "a's breaker opened (after $n requests over both workers)");
    is(hits('a', qr{^/fail-on/a/503$}), 3, 'a got exactly consecutive_failures (3) failing requests');
    is(state_of('app', 'b'), 0, "b's breaker is closed (its answers were 200)");
    ok(log_has(qr/\[notice\].*circuit breaker of upstream "app", server "\Q$addr{a}\E": closed -> open \(3 consecutive failures; open for 4s\)/),
       'the transition is logged: upstream, server, from -> to, why');

    my $a_before = $be{a}->stats->{requests};
    my @got = map { my $r = get('/app/id'); $r ? "$r->{status} $r->{body}" : 'none' } 1 .. 20;
    is_deeply(\@got, [('200 b') x 20], '20 requests: all answered by b');
    is($be{a}->stats->{requests}, $a_before, 'a saw none of them');
}

# --- every server open: 503 at once, with Retry-After, no backend contacted ----------------------

{
    my $n = 0;
    until (state_of('app', 'b') == 1 || $n >= 10) {
        get('/app/fail-on/b/503');
        $n++;
    }
    is(state_of('app', 'b'), 1, "b's breaker opened too");
    is(hits('b', qr{^/fail-on/b/503$}), 3, 'b got exactly 3 failing requests');

    my $m0 = $t->metrics;
    my $rejected0 = metric_sum($m0, 'gateway_http_requests_total', { route => 'app', code => '503' }) // 0;
    my $errors0 = metric_sum($m0, 'gateway_upstream_errors_total', { upstream => 'app' }) // 0;
    my $upstream0 = metric_sum($m0, 'gateway_upstream_requests_total', { upstream => 'app' }) // 0;
    my %before = map { $_ => $be{$_}->stats->{requests} } qw(a b);
    my $t0 = time;
    my @r = map { get('/app/id') } 1 .. 10;
    my $took = time - $t0;
    is_deeply([map { $_ ? $_->{status} : 0 } @r], [(503) x 10], 'every request: 503');
    ok($took < 2, sprintf('answered at once (10 requests in %.3f s)', $took));
    my $ra = $r[0]{headers}{'retry-after'} // '';
    like($ra, qr/^[1-4]$/, "Retry-After: $ra (seconds until the first breaker turns half-open)");
    is($r[0]{headers}{'content-type'}, 'application/json', 'JSON body');
    my $j = parse_json($r[0]{body});
    is($j && $j->{status}, 503, 'body names the status');
    like($j && $j->{error}, qr/circuit breaker open/, 'and says why');
    is_deeply({ map { $_ => $be{$_}->stats->{requests} } qw(a b) }, \%before, 'no backend was contacted');
    my $m1 = $t->metrics;
    is(metric_sum($m1, 'gateway_upstream_errors_total', { upstream => 'app' }) // 0, $errors0,
       'rejected requests are no upstream errors');
    is(metric_sum($m1, 'gateway_upstream_requests_total', { upstream => 'app' }) // 0, $upstream0,
       'nor upstream requests');
    is(metric_sum($m1, 'gateway_http_requests_total', { route => 'app', code => '503' }) - $rejected0, 10,
       'the 503s are counted for the route');
    is(entered('app', 'a', 'open'), 1, 'the rejections did not re-open a');
}

# --- the state survives a reload -----------------------------------------------------------------

{
    $t->write_conf($conf . "# reloaded\n");
    my $gen0 = $t->status_json->{generation};
    $t->signal('HUP');
    ok(wait_until(sub { my $s = $t->status_json; $s && $s->{generation} > $gen0
                            && !grep { $_->{generation} == $gen0 } @{ $s->{workers} } }, 10),
       'reloaded: the new generation serves alone');
    ok(time - $started < 4, 'still within the open period') or diag('the reload took too long');
    is(state_of('app', 'a'), 1, 'a is still open after the reload');
    is(state_of('app', 'b'), 1, 'b is still open after the reload');
    is(entered('app', 'a', 'open'), 1, 'its transition count went on (not reset, not doubled)');
    my %before = map { $_ => $be{$_}->stats->{requests} } qw(a b);
    my $r = get('/app/id');
    is($r && $r->{status}, 503, 'the new workers answer 503 too');
    is_deeply({ map { $_ => $be{$_}->stats->{requests} } qw(a b) }, \%before, 'without contacting a backend');
}

# --- half-open: exactly half_open_probes requests get through, across both workers --------------

{
    my $n = 0;
    until (state_of('solo', 'c') == 1 || $n >= 10) {
        get('/solo/fail-on/c/503');
        $n++;
    }
    is(state_of('solo', 'c'), 1, "solo's only server opened");
    my $opened = time;
    ok(wait_until(sub { state_of('solo', 'c') == 2 }, 5, 0.05), 'it turns half-open after open_for (1s), with no request');
    my $waited = time - $opened;
    ok($waited > 0.7, sprintf('not before (%.2f s)', $waited));
    is(entered('solo', 'c', 'half_open'), 1, 'one transition to half_open');

    # 16 concurrent requests on 16 connections (spread over both workers by SO_REUSEPORT); each
    # would stall 1 s on c. Only 4 may reach it; the others find no ticket and get 503 at once.
    # Requests answered per worker, from /status read on one keep-alive connection: always the
    # same worker, which counts each /status after answering it. Two reads before tell which
    # worker that is (the one whose count grew by one).
    my $admin = http_connect($t->port('admin'), timeout => 10);
    my $per_worker = sub {
        $admin->send("GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
        my $r = $admin->read_response or return {};
        my $j = parse_json($r->{body}) or return {};
        return { map { $_->{pid} => $_->{requests} } @{ $j->{workers} } };
    };
    my $first = $per_worker->();
    my $before = $per_worker->();
    my ($admin_worker) = grep { ($before->{$_} // 0) - ($first->{$_} // 0) == 1 } keys %$before;
    $be{c}->reset_stats;
    my @conns = map { http_connect($port, timeout => 10) } 1 .. 16;
    $_->send("GET /solo/slow-on/c/1000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") for @conns;
    my @st = map { my $r = $_->read_response; $r ? $r->{status} : 0 } @conns;
    $_->close for @conns;
    # A worker counts a proxied request when its upstream exchange ends, which can be a moment
    # after the client has the last byte: read until the counts settle (each read adds one to
    # the admin worker's count).
    my (@shares, $reads);
    wait_until(sub {
        my $after = $per_worker->();
        $reads++;
        @shares = map { ($after->{$_} // 0) - ($before->{$_} // 0) - ($_ eq ($admin_worker // '') ? $reads : 0) }
                  sort keys %$before;
        return @shares == 2 && $shares[0] + $shares[1] >= 16;
    }, 3, 0.02);
    ok(defined $admin_worker, 'the worker serving /status is known');
    is(scalar(@shares), 2, 'two workers');
    is($shares[0] + $shares[1], 16, 'the 16 requests were answered by them');
    ok(!grep({ $_ < 1 } @shares), "both workers took part (@shares)");
    is(scalar(grep { $_ == 200 } @st), 4, 'exactly half_open_probes (4) requests went through, over both workers');
    is(scalar(grep { $_ == 503 } @st), 12, 'the 12 others: 503');
    is(hits('c', qr{^/slow-on/c/1000$}), 4, 'c received exactly 4 requests');
    ok(wait_until(sub { state_of('solo', 'c') == 0 }, 3), 'close_after (3) successes closed it');
    is(entered('solo', 'c', 'closed'), 1, 'one transition to closed');
    ok(log_has(qr/server "\Q$addr{c}\E": half-open -> closed \(3 probe requests succeeded\)/), 'logged');
    my @ok = map { my $r = get('/solo/id'); $r ? $r->{status} : 0 } 1 .. 5;
    is_deeply(\@ok, [(200) x 5], 'closed: requests flow again');
}

# --- connect failures; retries never go to an open server ---------------------------------------

{
    my @got = map { my $r = get('/retried/id'); $r ? "$r->{status} $r->{body}" : 'none' } 1 .. 30;
    is_deeply(\@got, [('200 b') x 30], 'every request answered by b (the dead port retried to it)');
    my $m = $t->metrics;
    is(state_of('retried', 'dead'), 1, 'the dead server is open');
    is(metric_sum($m, 'gateway_upstream_errors_total', { upstream => 'retried', kind => 'connect_refused' }), 3,
       'exactly 3 connect failures: none once open');
    is(metric_sum($m, 'gateway_upstream_retries_total', { route => 'retried' }), 3, 'and 3 retries');
    ok(log_has(qr/server "\Q$addr{dead}\E": closed -> open \(3 consecutive failures; open for 1m\)/), 'logged');
}

# --- the failure ratio over the window, with min_requests ---------------------------------------

{
    my @states;
    for my $i (1 .. 10) {
        get($i % 2 ? '/ratio/id' : '/ratio/fail-on/d/503');    # ok, fail, ok, fail, ...
        push @states, state_of('ratio', 'd');
    }
    is_deeply(\@states, [(0) x 9, 1], 'opened by the 10th request: 5 of 10 failed (50%, min_requests 10)');
    ok(log_has(qr/server "\Q$addr{d}\E": closed -> open \(5 of 10 requests failed in 10s; open for 1m\)/),
       'logged with the counts');
}

# --- after open_for: a failed probe re-opens with the back-off; successes close ----------------

{
    ok(wait_until(sub { state_of('app', 'a') == 2 && state_of('app', 'b') == 2 }, 8, 0.05),
       'app: both servers half-open after open_for (4s)');
    my $n = 0;
    until ((state_of('app', 'a') == 1 && state_of('app', 'b') == 0) || $n >= 20) {
        get('/app/fail-on/a/503');
        $n++;
    }
    is(state_of('app', 'a'), 1, "a's failed probe re-opened it");
    ok(log_has(qr/server "\Q$addr{a}\E": half-open -> open \(a probe request failed; open for 8s\)/),
       'for twice open_for (back-off)');
    is(state_of('app', 'b'), 0, "b's two successful probes closed it");
    is(entered('app', 'a', 'open'), 2, 'a: two openings');
    is(entered('app', 'b', 'closed'), 1, 'b: one close');
    my @got = map { my $r = get('/app/id'); $r ? "$r->{status} $r->{body}" : 'none' } 1 .. 6;
    is_deeply(\@got, [('200 b') x 6], 'requests go to b alone');
}

# --- and a binary upgrade: the new master inherits the zone with the breakers -------------------

{
    my $r = $t->run({ timeout => 20 }, '-p', $t->dir, '-c', $t->conf, '-s', 'upgrade');
    is($r->{exit}, 0, 'gatewayd -s upgrade') or diag($r->{out});
    my ($new) = $r->{out} =~ /done: master (\d+) serves/;
    $t->adopt_master($new) if $new;
    ok(log_has(qr/shared memory zone "breaker" adopted from the previous binary/), 'the breaker zone was adopted');
    is(state_of('app', 'a'), 1, 'a is still open under the new binary');
    is(state_of('app', 'b'), 0, 'b is still closed');
    is(entered('app', 'a', 'open'), 2, "a's transition counts went on");
    my %before = map { $_ => $be{$_}->stats->{requests} } qw(a b);
    my @got = map { my $r = get('/app/id'); $r ? "$r->{status} $r->{body}" : 'none' } 1 .. 4;
    is_deeply(\@got, [('200 b') x 4], 'the new workers keep a out');
    is($be{a}->stats->{requests}, $before{a}, 'a saw none of them');
}

ok(time - $started < 15, sprintf('the whole test took %.1f s', time - $started));
done_testing();
