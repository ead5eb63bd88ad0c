#!/usr/bin/perl
# Proxy metrics: gateway_upstream_requests_total by class, gateway_upstream_response_seconds and
# gateway_overhead_seconds histograms, gateway_upstream_connections and
# gateway_upstream_active_requests gauges, gateway_upstream_retries_total and
# gateway_upstream_errors_total.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;

my $ba = Backend->new(name => 'a')->start;
my $bb = Backend->new(name => 'b')->start;
my $dead = dead_port();
my $t = GatewayTest->new;
$t->set_port('be_a', $ba->port);
$t->set_port('be_b', $bb->port);
$t->set_port('dead', $dead);
$t->write_conf(conf_head(1) . <<'EOF');
upstreams:
  u-m:
    servers: [{address: 127.0.0.1:%%be_a%%}]
  u-n:
    servers: [{address: 127.0.0.1:%%be_b%%}]
  u-r:
    servers: [{address: 127.0.0.1:%%dead%%}, {address: 127.0.0.1:%%be_a%%}]
routes:
  - {name: m1, match: {path_prefix: /m1/}, strip_prefix: /m1, upstream: u-m}
  - {name: m2, match: {path_prefix: /m2/}, strip_prefix: /m2, upstream: u-n}
  - name: m3
    match: {path_prefix: /m3/}
    strip_prefix: /m3
    upstream: u-r
    retries: {attempts: 2, on: [connect_failure], budget: 1}
EOF
$t->start;
my $port = $t->port('http');
my $A = "127.0.0.1:" . $ba->port;
my $B = "127.0.0.1:" . $bb->port;

sub get1 { http_request($port, build_request('GET', $_[0]), timeout => 10) }

my %want = (200 => 3, 404 => 2, 503 => 1, 302 => 1, 201 => 1);
my $n = 0;
for my $st (sort keys %want) {
    for (1 .. $want{$st}) {
        my $r = get1("/m1/status/$st");
        $n++ if $r && $r->{status} == $st;
    }
}
is($n, 8, 'm1: 8 requests answered with the upstream status');

# one slow request on m2, watched while in flight
my $c = http_connect($port, timeout => 10);
$c->send(build_request('GET', '/m2/slow-head/400'));
wait_until(sub { $bb->stats->{requests} >= 1 }, 5);
my $m = $t->metrics;
is(metric_sum($m, 'gateway_upstream_active_requests', { upstream => 'u-n', server => $B }), 1,
   'gateway_upstream_active_requests{upstream="u-n",server} 1 while the request is in flight');
is(metric_sum($m, 'gateway_upstream_connections', { upstream => 'u-n', state => 'active' }), 1,
   'gateway_upstream_connections{upstream="u-n",state="active"} 1 while in flight');
my $r = $c->read_response;
is($r && $r->{body}, 'slow', 'slow request answered');
get1('/m2/id') for 1 .. 2;

# one retried request on m3 (dead server, then a)
for (1 .. 2) {
    $r = get1('/m3/id');
    is($r && $r->{body}, 'a', 'm3 answered by a');
}

$m = $t->metrics;
ok(!@{ $m->{bad} }, 'metrics parse') or diag(join "\n", @{ $m->{bad} });

# --- types ----------------------------------------------------------------------------------------

my %types = (
    gateway_upstream_requests_total   => 'counter',
    gateway_upstream_response_seconds => 'histogram',
    gateway_overhead_seconds          => 'histogram',
    gateway_upstream_connections      => 'gauge',
    gateway_upstream_active_requests  => 'gauge',
    gateway_upstream_retries_total    => 'counter',
    gateway_upstream_errors_total     => 'counter',
);
is($m->{types}{$_}, $types{$_}, "# TYPE $_ $types{$_}") for sort keys %types;

# --- requests by class ----------------------------------------------------------------------------

for my $case (['2xx', 4], ['3xx', 1], ['4xx', 2], ['5xx', 1]) {
    my ($class, $count) = @$case;
    is(metric_sum($m, 'gateway_upstream_requests_total', { route => 'm1', upstream => 'u-m', server => $A, class => $class }),
       $count, "gateway_upstream_requests_total{route=\"m1\",upstream=\"u-m\",class=\"$class\"} $count");
}
is(metric_sum($m, 'gateway_upstream_requests_total', { route => 'm2', upstream => 'u-n', server => $B, class => '2xx' }), 3,
   'gateway_upstream_requests_total{route="m2",class="2xx"} 3');
is(metric_sum($m, 'gateway_upstream_requests_total', { route => 'm3', class => '2xx' }), 2,
   'm3: 2 answered requests (the refused try is not an upstream request with a class)');
is(metric_sum($m, 'gateway_http_requests_total', { route => 'm1', code => '404' }), 2,
   'gateway_http_requests_total{route="m1",code="404"} 2 for proxied routes');
is(metric_sum($m, 'gateway_http_requests_total', { route => 'm1', code => '200' }), 3,
   'gateway_http_requests_total{route="m1",code="200"} 3');

# --- histograms ---------------------------------------------------------------------------------

sub hist {
    my ($name, $filter) = @_;
    my @b = sort { $a->{le} <=> $b->{le} }
            map { { le => ($_->{labels}{le} =~ /Inf/ ? 9**9**9 : $_->{labels}{le}), v => $_->{value} } }
            metric_samples($m, "${name}_bucket", $filter);
    return {
        count   => metric_sum($m, "${name}_count", $filter),
        sum     => metric_sum($m, "${name}_sum", $filter),
        buckets => \@b,
    };
}

sub check_hist {
    my ($h, $what, $count) = @_;
    is($h->{count}, $count, "$what: _count $count");
    my @b = @{ $h->{buckets} };
    ok(@b >= 2, "$what: buckets");
    is(@b ? $b[-1]{v} : undef, $count, "$what: le=\"+Inf\" bucket = count");
    my $mono = 1;
    for my $i (1 .. $#b) { $mono = 0 if $b[$i]{v} < $b[$i - 1]{v} }
    ok($mono, "$what: buckets cumulative");
}

my $h = hist('gateway_upstream_response_seconds', { upstream => 'u-m', server => $A });
check_hist($h, 'gateway_upstream_response_seconds{upstream="u-m"}', 8);
ok(defined $h->{sum} && $h->{sum} < 1, 'u-m response time sum small');

$h = hist('gateway_upstream_response_seconds', { upstream => 'u-n', server => $B });
check_hist($h, 'gateway_upstream_response_seconds{upstream="u-n"}', 3);
ok(defined $h->{sum} && $h->{sum} >= 0.38 && $h->{sum} < 2, sprintf('u-n response time sum includes the 400ms wait (%s)', $h->{sum} // 'undef'));
my ($le_fast) = grep { $_->{le} >= 0.1 && $_->{le} < 0.4 } @{ $h->{buckets} };
is($le_fast && $le_fast->{v}, 2, 'u-n: the slow request is above the 0.1..0.4 s bucket, the fast two below') if $le_fast;

$h = hist('gateway_overhead_seconds', { route => 'm2' });
check_hist($h, 'gateway_overhead_seconds{route="m2"}', 3);
ok(defined $h->{sum} && $h->{sum} < 0.3, sprintf('overhead excludes the upstream time (sum %s < 0.3)', $h->{sum} // 'undef'));

$h = hist('gateway_overhead_seconds', { route => 'm1' });
is($h->{count}, 8, 'gateway_overhead_seconds{route="m1"}_count 8');

# --- connections, retries, errors ---------------------------------------------------------------

is(metric_sum($m, 'gateway_upstream_connections', { upstream => 'u-n', state => 'idle' }), 1,
   'gateway_upstream_connections{upstream="u-n",state="idle"} 1 after the requests');
is(metric_sum($m, 'gateway_upstream_connections', { upstream => 'u-n', state => 'active' }), 0,
   'gateway_upstream_connections{upstream="u-n",state="active"} 0 after the requests');
is(metric_sum($m, 'gateway_upstream_connections', { upstream => 'u-m', state => 'idle' }), 1,
   'gateway_upstream_connections{upstream="u-m",state="idle"} 1');
is(metric_sum($m, 'gateway_upstream_active_requests', { upstream => 'u-n' }), 0,
   'gateway_upstream_active_requests{upstream="u-n"} 0 afterwards');
is(metric_sum($m, 'gateway_upstream_retries_total', { route => 'm3', upstream => 'u-r' }), 1,
   'gateway_upstream_retries_total{route="m3",upstream="u-r"} 1');
is(metric_sum($m, 'gateway_upstream_errors_total', { upstream => 'u-r', server => "127.0.0.1:$dead", kind => 'connect_refused' }), 1,
   'gateway_upstream_errors_total{upstream="u-r",kind="connect_refused"} 1');
is(metric_sum($m, 'gateway_upstream_errors_total', { upstream => 'u-m' }) // 0, 0, 'no errors for u-m');

done_testing();
