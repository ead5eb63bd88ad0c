#!/usr/bin/perl
# Upstream keep-alive pool: reuse, keepalive_requests, keepalive: 0, keepalive_timeout, a pooled
# connection closed by the upstream (retried once on a fresh connection for free), and the
# gateway_upstream_connections gauges.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;

my %be = (
    a  => Backend->new(name => 'a')->start,
    d  => Backend->new(name => 'd')->start,
    e  => Backend->new(name => 'e')->start,
    f  => Backend->new(name => 'f')->start,
    cn => Backend->new(name => 'cn', close_nth => 2)->start,        # closes a connection when its 2nd request arrives
    it => Backend->new(name => 'it', idle_timeout => 0.3)->start,   # closes keep-alive connections idle 300ms
);

my $t = GatewayTest->new;
$t->set_port("be_$_", $be{$_}->port) for keys %be;
$t->write_conf(conf_head(1) . <<'EOF');
upstreams:
  u-a:
    servers: [{address: 127.0.0.1:%%be_a%%}]
  u-kr:
    servers: [{address: 127.0.0.1:%%be_d%%}]
    keepalive_requests: 3
  u-k0:
    servers: [{address: 127.0.0.1:%%be_e%%}]
    keepalive: 0
  u-kt:
    servers: [{address: 127.0.0.1:%%be_f%%}]
    keepalive_timeout: 300ms
  u-cn:
    servers: [{address: 127.0.0.1:%%be_cn%%}]
  u-it:
    servers: [{address: 127.0.0.1:%%be_it%%}]
routes:
  - {name: a, match: {path_prefix: /a/}, strip_prefix: /a, upstream: u-a}
  - {name: kr, match: {path_prefix: /kr/}, strip_prefix: /kr, upstream: u-kr}
  - {name: k0, match: {path_prefix: /k0/}, strip_prefix: /k0, upstream: u-k0}
  - {name: kt, match: {path_prefix: /kt/}, strip_prefix: /kt, upstream: u-kt}
  - {name: cn, match: {path_prefix: /cn/}, strip_prefix: /cn, upstream: u-cn}
  - {name: it, match: {path_prefix: /it/}, strip_prefix: /it, upstream: u-it}
EOF
$t->start;
my $port = $t->port('http');

sub get1 {
    my ($path) = @_;
    return http_request($port, build_request('GET', $path), timeout => 10);
}

sub conns_gauge {
    my ($upstream, $state) = @_;
    my $m = $t->metrics or return -1;
    return metric_sum($m, 'gateway_upstream_connections', { upstream => $upstream, state => $state });
}

# --- reuse --------------------------------------------------------------------------------------

{
    my %conn;
    my $ok = 0;
    for my $i (1 .. 20) {
        my $r = get1("/a/echo/$i");    # a new client connection each time
        my $j = $r ? parse_json($r->{body}) : undef;
        $ok++ if $j && $j->{path} eq "/echo/$i";
        $conn{ $j ? $j->{conn} : 'none' }++;
    }
    is($ok, 20, '20 requests proxied');
    my $s = $be{a}->stats;
    is($s->{requests}, 20, 'backend saw 20 requests');
    is($s->{connections}, 1, 'over a single pooled upstream connection (sequential requests, one worker)');
    is(scalar keys %conn, 1, 'every request reported the same upstream connection');
    is(conns_gauge('u-a', 'idle'), 1, 'gateway_upstream_connections{upstream="u-a",state="idle"} 1');
    is(conns_gauge('u-a', 'active'), 0, 'gateway_upstream_connections{upstream="u-a",state="active"} 0');

    # in flight: active 1, idle 0
    my $c = http_connect($port, timeout => 10);
    my $n0 = $be{a}->stats->{requests};
    $c->send(build_request('GET', '/a/slow-head/1500'));
    wait_until(sub { $be{a}->stats->{requests} > $n0 }, 5);
    is(conns_gauge('u-a', 'active'), 1, 'during a request: active 1');
    is(conns_gauge('u-a', 'idle'), 0, 'during a request: idle 0 (the pooled connection is in use)');
    my $m = $t->metrics;
    is(metric_sum($m, 'gateway_upstream_active_requests', { upstream => 'u-a' }), 1,
       'gateway_upstream_active_requests{upstream="u-a"} 1 during the request');
    my $r = $c->read_response;
    is($r && $r->{body}, 'slow', 'slow request answered');
    ok(wait_until(sub { conns_gauge('u-a', 'idle') == 1 && conns_gauge('u-a', 'active') == 0 }, 3),
       'afterwards: back to idle 1, active 0');
    $m = $t->metrics;
    is(metric_sum($m, 'gateway_upstream_active_requests', { upstream => 'u-a' }), 0,
       'gateway_upstream_active_requests back to 0');
    is($be{a}->stats->{connections}, 1, 'still one upstream connection');
}

# --- keepalive_requests -----------------------------------------------------------------------------

{
    my $ok = 0;
    for my $i (1 .. 10) {
        my $r = get1("/kr/id");
        $ok++ if $r && $r->{status} == 200 && $r->{body} eq 'd';
    }
    is($ok, 10, 'keepalive_requests 3: 10 requests proxied');
    my $s = $be{d}->stats;
    is($s->{connections}, 4, 'keepalive_requests 3: 10 requests used 4 upstream connections');
    is_deeply([sort { $a <=> $b } values %{ $s->{conns} }], [1, 3, 3, 3], 'at most 3 requests per connection');
}

# --- keepalive: 0 -------------------------------------------------------------------------------------

{
    my $ok = 0;
    for (1 .. 5) {
        my $r = get1('/k0/id');
        $ok++ if $r && $r->{status} == 200;
    }
    is($ok, 5, 'keepalive 0: 5 requests proxied');
    is($be{e}->stats->{connections}, 5, 'keepalive 0: a new upstream connection per request');
    ok(wait_until(sub { $be{e}->stats->{closed} == 5 }, 3), 'keepalive 0: each closed after its response');
    is(conns_gauge('u-k0', 'idle') // 0, 0, 'keepalive 0: no idle connection');
}

# --- keepalive_timeout ------------------------------------------------------------------------

{
    my $r = get1('/kt/id');
    is($r && $r->{body}, 'f', 'keepalive_timeout: request proxied');
    my $t0 = time;
    ok(wait_until(sub { $be{f}->stats->{closed} >= 1 }, 5), 'keepalive_timeout 300ms: the idle pooled connection is closed');
    my $dt = time - $t0;
    ok($dt >= 0.2, sprintf('not before the timeout (%.2fs)', $dt));
    ok(wait_until(sub { (conns_gauge('u-kt', 'idle') // 0) == 0 }, 3), 'idle gauge back to 0');
    $r = get1('/kt/id');
    is($r && $r->{body}, 'f', 'next request on a new connection');
    is($be{f}->stats->{connections}, 2, 'two upstream connections in all');
}

# --- the upstream closes a pooled connection ---------------------------------------------------------

{
    my @got;
    for (1 .. 6) {
        my $r = get1('/cn/id');
        push @got, $r ? "$r->{status} $r->{body}" : 'none';
    }
    is_deeply(\@got, [('200 cn') x 6],
              'pooled connection closed by the upstream when the request arrived: retried on a fresh connection, every request succeeds');
    my $s = $be{cn}->stats;
    is($s->{connections}, 6, 'one fresh connection per request after the first');
    is($s->{requests}, 11, 'each pooled attempt was tried once (11 requests seen)');
    my $m = $t->metrics;
    is(metric_sum($m, 'gateway_upstream_retries_total', { route => 'cn' }) // 0, 0,
       'the free retry is not counted in gateway_upstream_retries_total');

    # a backend closing idle keep-alive connections on its own (300ms)
    @got = ();
    for my $i (1 .. 3) {
        my $r = get1('/it/id');
        push @got, $r ? "$r->{status} $r->{body}" : 'none';
        # wait until the backend has closed the now idle pooled connection
        wait_until(sub { $be{it}->stats->{closed} >= $i }, 5) or diag("backend did not close connection $i");
        sleep 0.05;
    }
    is_deeply(\@got, [('200 it') x 3], 'upstream closing idle pooled connections: every request succeeds');
    is($be{it}->stats->{connections}, 3, 'a new connection each time');
    is(metric_sum($t->metrics, 'gateway_upstream_retries_total', { route => 'it' }) // 0, 0, 'no retries counted');
}

done_testing();
