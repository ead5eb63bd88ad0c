#!/usr/bin/perl
# Reverse proxy retries: on connect failure, on a 503 / 5xx / timeout when listed in `on`, never to
# a server already tried, at most attempts-1 retries, POST only with non_idempotent, not once the
# body was forwarded, within the retry budget; gateway_upstream_retries_total.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use GatewayTest;
use Backend;

my %be;
$be{$_} = Backend->new(name => $_)->start for qw(a b c);
my $dead = dead_port();

my $t = GatewayTest->new;
$t->set_port("be_$_", $be{$_}->port) for qw(a b c);
$t->set_port('dead', $dead);
$t->write_conf(conf_head(1) . <<'EOF');
http:
  client_max_body_size: 10m
upstreams:
  u-rf:
    servers: [{address: 127.0.0.1:%%dead%%}, {address: 127.0.0.1:%%be_b%%}]
  u-ab:
    servers: [{address: 127.0.0.1:%%be_a%%}, {address: 127.0.0.1:%%be_b%%}]
  u-abc:
    servers: [{address: 127.0.0.1:%%be_a%%}, {address: 127.0.0.1:%%be_b%%}, {address: 127.0.0.1:%%be_c%%}]
routes:
  - name: r-connect
    match: {path_prefix: /connect}
    strip_prefix: /connect
    upstream: u-rf
    retries: {attempts: 2, on: [connect_failure], budget: 1}
  - name: r-503
    match: {path_prefix: /r503}
    strip_prefix: /r503
    upstream: u-ab
    retries: {attempts: 2, on: [503], budget: 1}
  - name: r-none
    match: {path_prefix: /none}
    strip_prefix: /none
    upstream: u-ab
  - name: r-post
    match: {path_prefix: /post}
    strip_prefix: /post
    upstream: u-ab
    retries: {attempts: 2, on: [503], budget: 1}
  - name: r-postni
    match: {path_prefix: /pni}
    strip_prefix: /pni
    upstream: u-ab
    retries: {attempts: 2, on: [503], non_idempotent: true, budget: 1}
  - name: r-att2
    match: {path_prefix: /att2}
    strip_prefix: /att2
    upstream: u-abc
    retries: {attempts: 2, on: [503], budget: 1}
  - name: r-att3
    match: {path_prefix: /att3}
    strip_prefix: /att3
    upstream: u-abc
    retries: {attempts: 3, on: [503], budget: 1}
  - name: r-att5
    match: {path_prefix: /att5}
    strip_prefix: /att5
    upstream: u-abc
    retries: {attempts: 5, on: [503], budget: 1}
  - name: r-5xx
    match: {path_prefix: /r5xx}
    strip_prefix: /r5xx
    upstream: u-abc
    retries: {attempts: 3, on: [5xx], budget: 1}
  - name: r-timeout
    match: {path_prefix: /to}
    strip_prefix: /to
    upstream: u-ab
    timeout: {read: 300ms}
    retries: {attempts: 2, on: [timeout], budget: 1}
  - name: r-budget
    match: {path_prefix: /budget}
    strip_prefix: /budget
    upstream: u-abc
    retries: {attempts: 2, on: [503], budget: 0.2}
EOF
$t->start;
my $port = $t->port('http');

sub retries {
    my ($route) = @_;
    my $m = $t->metrics or return -1;
    return metric_sum($m, 'gateway_upstream_retries_total', { route => $route }) // 0;
}

sub hits {
    my ($name, $re) = @_;
    return $be{$name}->count_requests($re);
}

sub req {
    my ($method, $path, %o) = @_;
    return http_request($port, build_request($method, $path, %o), timeout => 10);
}

# --- connect failure -> another server -------------------------------------------------------------

{
    # a PUT with a body: the body was not forwarded when the connect failed, so it can be replayed
    my @st;
    for my $i (1 .. 3) {
        my $r = req('PUT', "/connect/echo/put$i", body => "put-body-$i");
        my $j = $r ? parse_json($r->{body}) : undef;
        push @st, $r ? $r->{status} : 0;
        is($j && "$j->{backend} $j->{body}", "b put-body-$i", "PUT $i (body) answered by the live server, body intact");
        last if retries('r-connect') >= 1;
    }
    is(retries('r-connect'), 1, 'the refused connect was retried once');
    my @bodies;
    for my $i (1 .. 10) {
        my $r = req('GET', '/connect/id');
        push @bodies, $r ? "$r->{status} $r->{body}" : 'none';
    }
    is_deeply(\@bodies, [('200 b') x 10], 'GETs all answered by the live server');
    is(retries('r-connect'), 1, 'the refused server is skipped afterwards: still one retry');
    my $m = $t->metrics;
    is(metric_sum($m, 'gateway_upstream_retries_total', { route => 'r-connect', upstream => 'u-rf' }), 1,
       'gateway_upstream_retries_total{route="r-connect",upstream="u-rf"} 1');
    is(metric_sum($m, 'gateway_upstream_errors_total', { upstream => 'u-rf', kind => 'connect_refused' }), 1,
       'one connect_refused');
}

# --- 503 retried to the other server ----------------------------------------------------------------

{
    my $a0 = hits('a', qr{^/fail-on/a/503$});
    my @got;
    for (1 .. 10) {
        my $r = req('GET', '/r503/fail-on/a/503');
        push @got, $r ? "$r->{status} $r->{body}" : 'none';
    }
    is_deeply(\@got, [('200 b') x 10], '503 from a retried on b: every answer 200 from b');
    my $a_hits = hits('a', qr{^/fail-on/a/503$}) - $a0;
    ok($a_hits >= 1, "a was tried ($a_hits times)");
    is(retries('r-503'), $a_hits, 'one retry per request that reached a');
}

# --- not retried: status not listed -------------------------------------------------------------

{
    my $a0 = hits('a', qr{^/fail-on/a/503$});
    my $n503 = 0;
    for (1 .. 4) {
        my $r = req('GET', '/none/fail-on/a/503');
        $n503++ if $r && $r->{status} == 503 && $r->{body} eq 'fail a';
    }
    my $a_hits = hits('a', qr{^/fail-on/a/503$}) - $a0;
    ok($a_hits >= 1, 'route without retries: a was reached');
    is($n503, $a_hits, 'without retries the 503 reaches the client each time');
    is(retries('r-none'), 0, 'no retries counted');
}

# --- POST: only with non_idempotent ------------------------------------------------------------------

{
    my $a0 = hits('a', qr{^/fail-on/a/503$});
    my $n503 = 0;
    for (1 .. 4) {
        my $r = req('POST', '/post/fail-on/a/503', body => '');
        $n503++ if $r && $r->{status} == 503;
    }
    my $a_hits = hits('a', qr{^/fail-on/a/503$}) - $a0;
    ok($a_hits >= 1, 'POST reached a');
    is($n503, $a_hits, 'POST not retried: each 503 from a reaches the client');
    is(retries('r-post'), 0, 'no retry for POST');

    $a0 = hits('a', qr{^/fail-on/a/503$});
    my @got;
    for (1 .. 4) {
        my $r = req('POST', '/pni/fail-on/a/503', body => '');
        push @got, $r ? "$r->{status} $r->{body}" : 'none';
    }
    $a_hits = hits('a', qr{^/fail-on/a/503$}) - $a0;
    is_deeply(\@got, [('200 b') x 4], 'non_idempotent: POST (no body) retried on b');
    ok($a_hits >= 1, 'non_idempotent: a was tried');
    is(retries('r-postni'), $a_hits, 'non_idempotent: one retry per request that reached a');

    # A body the gateway still holds in its input buffer is replayed on a retry; a body too big
    # to keep (it streamed through) cannot be, so that request is not retried.
    {
        $a0 = hits('a', qr{^/fail-on/a/503$});
        my $r0 = retries('r-503');
        my @got;
        for (1 .. 4) {
            my $r = req('PUT', '/r503/fail-on/a/503', body => pattern(1000));
            push @got, $r ? $r->{status} : 'none';
        }
        $a_hits = hits('a', qr{^/fail-on/a/503$}) - $a0;
        ok($a_hits >= 1, 'PUT with a 1000-byte body reached a');
        is_deeply(\@got, [(200) x 4], 'PUT whose 1000-byte body is still buffered: retried on b, 200');
        is(retries('r-503') - $r0, $a_hits, 'one retry counted per request that reached a (1000 bytes)');
        my $b_echo = req('PUT', '/r503/upload', body => pattern(1000));
        like($b_echo && $b_echo->{body} // '', qr/\b1000\b/, 'the replayed body arrives whole');
    }
    {
        my $size = 4_000_000;
        $a0 = hits('a', qr{^/fail-on/a/503$});
        my $n = 0;
        my $r0 = retries('r-503');
        for (1 .. 4) {
            my $r = req('PUT', '/r503/fail-on/a/503', body => pattern($size));
            $n++ if $r && $r->{status} == 503;
        }
        $a_hits = hits('a', qr{^/fail-on/a/503$}) - $a0;
        ok($a_hits >= 1, "PUT with a $size-byte body reached a");
        is($n, $a_hits, "PUT whose $size-byte body streamed through is not retried: the 503 reaches the client");
        is(retries('r-503') - $r0, 0, "no retry counted for it ($size bytes)");
    }
}

# --- attempts bound, each retry on a server not tried yet --------------------------------------------

{
    for my $case (['att2', 2, 1], ['att3', 3, 2], ['att5', 3, 2]) {
        my ($route, $tries, $retries) = @$case;
        my %h0 = map { $_ => hits($_, qr{^/status/503$}) } qw(a b c);
        my $r = req('GET', "/$route/status/503");
        is($r && $r->{status}, 503, "$route: every try answered 503 -> 503 to the client");
        my %d = map { $_ => hits($_, qr{^/status/503$}) - $h0{$_} } qw(a b c);
        my $total = $d{a} + $d{b} + $d{c};
        is($total, $tries, "$route: $tries tries in all");
        ok(!grep({ $d{$_} > 1 } qw(a b c)), "$route: no server tried twice")
            or diag(join ' ', map { "$_=$d{$_}" } qw(a b c));
        is(retries("r-$route"), $retries, "$route: $retries retries counted");
    }
}

# --- 5xx and timeout ------------------------------------------------------------------------------

{
    my @got;
    for (1 .. 6) {
        my $r = req('GET', '/r5xx/fail-on/a/500');
        push @got, $r ? $r->{status} : 0;
    }
    is_deeply(\@got, [(200) x 6], 'on: [5xx] retries a 500');

    my $a0 = hits('a', qr{^/slow-on/a/});
    my (@ok, $slowest);
    $slowest = 0;
    for (1 .. 4) {
        my $t0 = time;
        my $r = req('GET', '/to/slow-on/a/1500');
        my $dt = time - $t0;
        $slowest = $dt if $dt > $slowest;
        push @ok, $r ? "$r->{status} $r->{body}" : 'none';
    }
    my $a_hits = hits('a', qr{^/slow-on/a/}) - $a0;
    is_deeply(\@ok, [('200 b') x 4], 'on: [timeout]: a read timeout on a is retried on b');
    ok($a_hits >= 1, 'a was tried');
    ok($slowest < 1.3, sprintf('the retry happened after timeout.read, not the upstream answer (slowest %.2fs)', $slowest));
    is(retries('r-timeout'), $a_hits, 'one retry per timed-out try');
}

# --- retry budget -----------------------------------------------------------------------------------

{
    my %h0 = map { $_ => hits($_, qr{^/status/503$}) } qw(a b c);
    my $n503 = 0;
    for (1 .. 20) {
        my $r = req('GET', '/budget/status/503');
        $n503++ if $r && $r->{status} == 503;
    }
    is($n503, 20, 'budget: all 20 requests answered 503');
    my $rt = retries('r-budget');
    ok($rt >= 3 && $rt <= 5, "budget 0.2 over 20 requests: at least 3, at most ~4 retries (got $rt)");
    my $total = 0;
    $total += hits($_, qr{^/status/503$}) - $h0{$_} for qw(a b c);
    is($total, 20 + $rt, 'tries = requests + counted retries');
}

done_testing();
