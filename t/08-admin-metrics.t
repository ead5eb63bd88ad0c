#!/usr/bin/perl
# Admin listener: /health, /health/ready, /status, /metrics (Prometheus text, summed over the
# workers), 404 for anything else.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use GatewayTest;

my $t = GatewayTest->new;
$t->write_conf(<<'EOF');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: logs/error.log
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
    admin: true
routes:
  - name: hello
    match: {path: /hello}
    return: {status: 200, body: "hello\n"}
  - name: created
    match: {path: /create}
    return: {status: 201, body: "created\n"}
EOF
$t->start;
my $master = $t->pid;

# --- health and status -------------------------------------------------------------------------

{
    my $r = $t->admin_get('/health');
    is($r && $r->{status}, 200, '/health 200');
    is_deeply(parse_json($r && $r->{body}), { status => 'ok' }, '/health body {"status":"ok"}');
    like($r && $r->{headers}{'content-type'}, qr{^application/json}, '/health is JSON');

    $r = $t->admin_get('/health/ready');
    is($r && $r->{status}, 200, '/health/ready 200');
    is_deeply(parse_json($r && $r->{body}), { status => 'ready', generation => 1 },
              '/health/ready body {"status":"ready","generation":1}');

    $r = $t->admin_get('/status');
    is($r && $r->{status}, 200, '/status 200');
    my $s = parse_json($r && $r->{body});
    ok($s && ref $s eq 'HASH', '/status is a JSON object') or diag($r && $r->{body});
    $s ||= {};
    is($s->{version}, '0.1.0', 'version');
    is($s->{generation}, 1, 'generation');
    ok(defined $s->{uptime_seconds} && $s->{uptime_seconds} =~ /^\d+(\.\d+)?$/ && $s->{uptime_seconds} < 60,
       'uptime_seconds');
    is($s->{master_pid}, $master, 'master_pid');
    my @w = @{ $s->{workers} || [] };
    is(scalar @w, 2, 'workers array has worker_processes (2) entries');
    is_deeply([sort map { $_->{slot} } @w], [0, 1], 'slots 0 and 1');
    my %pids = map { $_->{pid} => 1 } @w;
    is(scalar keys %pids, 2, 'distinct worker pids');
    is_deeply([sort { $a <=> $b } keys %pids], [map { $_->{pid} } $t->workers],
              'worker pids are the children of the master');
    for my $w (@w) {
        is($w->{generation}, 1, "worker slot $w->{slot}: generation 1");
        is($w->{state}, 'ready', "worker slot $w->{slot}: state ready");
        ok(defined $w->{requests} && $w->{requests} =~ /^\d+$/, "worker slot $w->{slot}: requests is a number");
        ok(defined $w->{connections} && $w->{connections} =~ /^\d+$/, "worker slot $w->{slot}: connections is a number");
    }

    for my $p ('/nope', '/index.html', '/health/', '/statusx', '/status/live/', '/metrics/x') {
        $r = $t->admin_get($p);
        is($r && $r->{status}, 404, "admin $p -> 404");
        my $j = parse_json($r && $r->{body});
        ok($j && $j->{status} == 404 && defined $j->{error}, "admin $p -> 404 JSON") or diag($r && $r->{body});
    }

    # the admin endpoints are not served on a plain listener
    $r = $t->get('/health');
    is($r && $r->{status}, 404, '/health on the plain listener -> no route (404)');
}

# --- metrics -------------------------------------------------------------------------------------

# The plain listener's /health above was one unmatched request.
my %sent = ('hello|200' => 1 - 1, 'created|201' => 0, '|404' => 1);
my $N = 1;
{
    my @plan = ((['/hello', 'hello', 200]) x 20, (['/create', 'created', 201]) x 10, (['/none', '', 404]) x 9);
    my $fail = 0;
    for my $p (@plan) {
        my ($path, $route, $code) = @$p;
        my $r = $t->get($path);    # a fresh connection each time
        $fail++ unless $r && $r->{status} == $code;
        $sent{"$route|$code"}++;
        $N++;
    }
    is($fail, 0, 'all requests answered with the expected status');
}
is($N, 40, '40 requests sent');

my $r = $t->admin_get('/metrics');
is($r && $r->{status}, 200, '/metrics 200');
like($r && $r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'content-type text/plain; version=0.0.4');
my $m = parse_metrics($r ? $r->{body} : '');
is_deeply($m->{bad}, [], 'every sample line parses as Prometheus text') or diag(explain $m->{bad});
ok(scalar @{ $m->{samples} } > 0, 'some samples');

my %base;
for my $s (@{ $m->{samples} }) {
    my $n = $s->{name};
    my $b = $n;
    if (!$m->{types}{$n}) { $b =~ s/_(bucket|sum|count)$// }
    $base{$b} = 1;
}
my @untyped = grep { !$m->{types}{$_} } sort keys %base;
is_deeply(\@untyped, [], 'every series has a # TYPE');

is($m->{types}{gateway_http_requests_total}, 'counter', 'gateway_http_requests_total is a counter');
is($m->{types}{gateway_http_request_duration_seconds}, 'histogram', 'duration is a histogram');
is($m->{types}{gateway_connections_active}, 'gauge', 'gateway_connections_active is a gauge');
is($m->{types}{gateway_config_generation}, 'gauge', 'gateway_config_generation is a gauge');
is($m->{types}{gateway_config_reloads_total}, 'counter', 'gateway_config_reloads_total is a counter');
is($m->{types}{gateway_worker_restarts_total}, 'counter', 'gateway_worker_restarts_total is a counter');

# counters are updated when a request completes: allow them a moment
ok(wait_until(sub { $m = $t->metrics; (metric_sum($m, 'gateway_http_requests_total') // 0) >= 40 }, 3),
   'requests counted');
is(metric_sum($m, 'gateway_http_requests_total'), 40, 'sum of gateway_http_requests_total is exactly 40');
my %got;
for my $s (metric_samples($m, 'gateway_http_requests_total')) {
    $got{"$s->{labels}{route}|$s->{labels}{code}"} += $s->{value} if defined $s->{labels}{route};
}
delete $sent{$_} for grep { !$sent{$_} } keys %sent;
is_deeply(\%got, \%sent, 'per route/code split: hello|200 20, created|201 10, |404 10')
    or diag(explain \%got);

is(metric_sum($m, 'gateway_http_request_duration_seconds_count'), 30,
   'duration _count sums to the 30 matched requests');
is(metric_sum($m, 'gateway_http_request_duration_seconds_count', { route => 'hello' }), 20, 'duration count hello 20');
is(metric_sum($m, 'gateway_http_request_duration_seconds_count', { route => 'created' }), 10, 'duration count created 10');
for my $route ('hello', 'created') {
    my @b = sort { $a->[0] <=> $b->[0] }
            map { [$_->{labels}{le} eq '+Inf' ? 9**9**9 : $_->{labels}{le}, $_->{value}] }
            grep { defined $_->{labels}{le} }
            metric_samples($m, 'gateway_http_request_duration_seconds_bucket', { route => $route });
    ok(@b >= 2, "$route: histogram buckets");
    my $mono = 1;
    for my $i (1 .. $#b) { $mono = 0 if $b[$i][1] < $b[ $i - 1 ][1] }
    ok($mono, "$route: buckets are cumulative");
    my ($inf) = grep { $_->[0] == 9**9**9 } @b;
    is($inf && $inf->[1], metric_sum($m, 'gateway_http_request_duration_seconds_count', { route => $route }),
       "$route: +Inf bucket equals _count");
    my $sum = metric_sum($m, 'gateway_http_request_duration_seconds_sum', { route => $route });
    ok(defined $sum && $sum >= 0 && $sum < 30, "$route: _sum present");
}

is(metric_sum($m, 'gateway_config_generation'), 1, 'gateway_config_generation 1');
is(metric_sum($m, 'gateway_worker_restarts_total'), 0, 'gateway_worker_restarts_total 0');
ok(defined metric_sum($m, 'gateway_connections_active'), 'gateway_connections_active present');
ok(!defined metric_sum($m, 'gateway_config_reloads_total', { result => 'failed' })
   || metric_sum($m, 'gateway_config_reloads_total', { result => 'failed' }) == 0, 'no failed reloads');

# admin requests are not counted
$t->admin_get('/metrics') for 1 .. 3;
$t->admin_get('/status');
$m = $t->metrics;
is(metric_sum($m, 'gateway_http_requests_total'), 40, 'admin requests are not counted');

# connections_active counts an open connection
{
    my @held = map { http_connect($t->port('http')) } 1 .. 3;
    for my $c (@held) {
        $c->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        $c->read_response;
    }
    ok(wait_until(sub { ($t->metrics && metric_sum($t->metrics, 'gateway_connections_active') // 0) >= 3 }, 3),
       'gateway_connections_active counts 3 held connections');
    $_->close for @held;
    ok(wait_until(sub { (metric_sum($t->metrics, 'gateway_connections_active') // 99) <= 1 }, 3),
       'gateway_connections_active drops when they close');
}

# --- both workers served requests (the kernel spreads fresh connections) ---------------------------

{
    my $st;
    my $extra = 0;
    my $both = wait_until(sub {
        $st = $t->status_json;
        my @w = @{ $st->{workers} || [] };
        return 1 if @w == 2 && !grep { !$_->{requests} } @w;
        $t->get('/hello') for 1 .. 20;
        $extra += 20;
        return $extra > 400 ? 'gave up' : 0;
    }, 10, 0);
    ok($both && $both eq '1', 'both workers show requests > 0 in /status') or diag(explain $st);
    my $total = 0;
    $total += $_->{requests} for @{ $st->{workers} || [] };
    ok($total >= 40 + 3 + $extra, "worker request counts add up to at least the requests made ($total)");
}

done_testing();
