#!/usr/bin/perl
# OpenTelemetry traces (issue 18): gatewayd -> real backends, spans exported to a real OTLP/HTTP
# JSON receiver (t/helpers/otlp_receiver.py, Python's standard library):
#   1. structure: a server span per sampled request (parent: the incoming span), a client span
#      per upstream attempt (its id is the one the backend received in traceparent), a retried
#      request has two; trace id kept, tracestate passed through, attributes (url.path without
#      the query, the consumer, the cache's status, the rate limits' outcome), 5xx -> status
#      error, a request auth refuses is traced, HTTP/2; the collector's auth header is sent (and
#      not in -T);
#   2. sampling: `sample: 0` traces only sampled incoming traceparents (a new trace goes upstream
#      unsampled, -00); `tracing: false` routes are not traced; `sample: 0.1` over 10,000
#      requests gives 1,000 +- 20%;
#   3. a dead collector (port closed) and a stalling one: requests keep their latency, the
#      drop/failure metrics count; a collector back after being down receives spans again; the
#      exports go on across reloads; a graceful stop flushes what is buffered;
#   4. an https:// collector (the tls module's client, the collector's CA from otlp.ca);
#   5. config errors at FILE:LINE:COL.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Digest::SHA qw(sha256_hex);
use GatewayTest;
use Backend;
use Load;
use TestCerts;

require_modules('tracing', 'cache', 'ratelimit', 'auth');
my $python = '/usr/bin/python3';
plan skip_all => 'python3 is needed for the OTLP receiver' unless -x $python;

my $t = GatewayTest->new;
my $spans_file = $t->dir . '/spans.jsonl';

# The receiver, on a port of its own (started again on the same port for "back after down").
my ($rx_pid, $rx_out, $rx_port);
sub start_receiver {
    my ($port) = @_;
    $rx_pid = open($rx_out, '-|', $python, "$FindBin::Bin/helpers/otlp_receiver.py", $spans_file, $port // 0)
        or BAIL_OUT("cannot start otlp_receiver.py: $!");
    my $p = <$rx_out>;
    BAIL_OUT('otlp_receiver.py did not start') unless defined $p;
    chomp $p;
    $rx_port = $p;
}
sub stop_receiver {
    return unless $rx_pid;
    kill 'KILL', $rx_pid;
    local $?;  # (close's wait status must not become the script's)
    close $rx_out;
    $rx_pid = undef;
}
END { stop_receiver() }
start_receiver();
$t->set_port('otlp', $rx_port);
$t->set_port('dead', Backend::dead_port());
$t->set_port('deadcol', Backend::dead_port());

my $be = Backend->new(name => 'a')->start;
my $api_key = 'k3y-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 24);
spew($t->dir . '/api-keys.yaml', "partner-one:\n  - \"sha256:" . sha256_hex($api_key) . "\"\n");
$t->set_port('be', $be->port);

sub config {
    my (%o) = @_;
    my $sample = $o{sample} // 0;
    my $endpoint = $o{endpoint} // 'http://127.0.0.1:%%otlp%%/v1/traces';
    my $flush = $o{flush} // '100ms';
    return <<"CONF";
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
logs: {repeat_interval: 1s}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
  - {address: 127.0.0.1:%%h2%%, http2: prior_knowledge}
tracing:
  otlp: {endpoint: "$endpoint", timeout: 300ms, batch: 512, flush: $flush, headers: {authorization: "Bearer sekrit-token"}}
  sample: $sample
  service_name: gw-test
auth:
  api_keys:
    partners: {keys_file: api-keys.yaml}
cache:
  zones: {main: {size: 4m}}
rate_limits:
  lim: {key: ip, rate: 100000/s, burst: 100000, algorithm: token_bucket}
upstreams:
  be:
    servers: [{address: 127.0.0.1:%%be%%}]
  rf:
    servers: [{address: 127.0.0.1:%%dead%%}, {address: 127.0.0.1:%%be%%}]
routes:
  - name: plain
    match: {path_prefix: /p/}
    strip_prefix: /p
    upstream: be
  - name: retry
    match: {path_prefix: /r/}
    strip_prefix: /r
    upstream: rf
    retries: {attempts: 2, on: [connect_failure], budget: 1}
  - name: cached
    match: {path_prefix: /c/}
    strip_prefix: /c
    upstream: be
    cache: {zone: main, default_ttl: 1h}
    rate_limit: [lim]
  - name: keyed
    match: {path_prefix: /k/}
    strip_prefix: /k
    upstream: be
    auth: [partners]
  - name: off
    match: {path_prefix: /off/}
    strip_prefix: /off
    upstream: be
    tracing: false
CONF
}

# Every span the receiver stored so far: list of {span, service, headers}.
sub all_spans {
    my @out;
    open(my $fh, '<', $spans_file) or return ();
    while (my $line = <$fh>) {
        my $rec = parse_json($line) or next;
        if ($rec->{invalid}) {
            fail("an export is not valid OTLP JSON: $rec->{invalid}");
            next;
        }
        for my $rs (@{ $rec->{export}{resourceSpans} }) {
            my %res = map { $_->{key} => $_->{value} } @{ $rs->{resource}{attributes} };
            for my $ss (@{ $rs->{scopeSpans} }) {
                push @out, { span => $_, service => $res{'service.name'}{stringValue}, headers => $rec->{headers} }
                    for @{ $ss->{spans} };
            }
        }
    }
    close $fh;
    return @out;
}
sub spans_of_trace {
    my ($trace) = @_;
    return grep { $_->{span}{traceId} eq $trace } all_spans();
}
sub wait_spans {
    my ($trace, $n, $timeout) = @_;
    my @s;
    wait_until(sub { @s = spans_of_trace($trace); @s >= $n }, $timeout // 5, 0.05);
    return @s;
}
sub attrs {
    my ($span) = @_;
    my %a;
    for (@{ $span->{attributes} // [] }) {
        my $v = $_->{value};
        $a{ $_->{key} } = exists $v->{stringValue} ? $v->{stringValue} : $v->{intValue};
    }
    return \%a;
}
sub hex_id { my ($n) = @_; join '', map { sprintf '%02x', int(rand(256)) } 1 .. $n }
# The traceparent and tracestate the backend received (its /echo JSON).
sub echoed {
    my ($r) = @_;
    my $j = parse_json($r->{body}) or return {};
    my %h;
    for (@{ $j->{headers} }) { $h{ lc $_->[0] } = $_->[1] }
    return \%h;
}
sub metric {
    my ($name, $labels) = @_;
    my $m = $t->metrics or return 0;
    return metric_sum($m, $name, $labels) // 0;
}

$t->write_conf(config(sample => 0));
$t->start;

# --- 1. structure ------------------------------------------------------------------------------
my $trace = hex_id(16);
my $parent = hex_id(8);
my $r = $t->get("/p/echo?token=sekrit-query", {
    traceparent => "00-$trace-$parent-01", tracestate => 'vendor=abc,other=1', 'user-agent' => 'trace-test/1.0' });
is($r && $r->{status}, 200, 'sampled request proxied');
my $h = echoed($r);
like($h->{traceparent} // '', qr/^00-$trace-[0-9a-f]{16}-01$/, 'upstream traceparent keeps the trace id, sampled');
isnt(substr($h->{traceparent} // '', 36, 16), $parent, '... with a span id of ours');
is($h->{tracestate}, 'vendor=abc,other=1', 'tracestate passed through unchanged');
my @s = wait_spans($trace, 2);
is(scalar @s, 2, 'a server and a client span arrive');
my ($server) = grep { $_->{span}{kind} == 2 } @s;
my ($client) = grep { $_->{span}{kind} == 3 } @s;
ok($server && $client, 'kinds: server (2) and client (3)');
SKIP: {
    skip 'spans missing', 20 unless $server && $client;
    my ($ss, $cs) = ($server->{span}, $client->{span});
    is($ss->{parentSpanId}, $parent, 'server span: parent is the incoming span');
    is($cs->{parentSpanId}, $ss->{spanId}, 'client span: child of the server span');
    is($cs->{spanId}, substr($h->{traceparent}, 36, 16), 'the backend got the client span id in traceparent');
    is($ss->{name}, 'GET plain', 'server span name: METHOD route');
    is($server->{service}, 'gw-test', 'service.name');
    my $a = attrs($ss);
    is($a->{'http.request.method'}, 'GET', 'http.request.method');
    is($a->{'url.path'}, '/p/echo', 'url.path, without the query');
    is($a->{'http.route'}, 'plain', 'http.route');
    is($a->{'http.response.status_code'}, 200, 'http.response.status_code');
    is($a->{'client.address'}, '127.0.0.1', 'client.address');
    is($a->{'user_agent.original'}, 'trace-test/1.0', 'user_agent.original');
    is($a->{'network.protocol.version'}, '1.1', 'network.protocol.version');
    is($a->{'gateway.upstream.address'}, "127.0.0.1:" . $be->port, 'gateway.upstream.address');
    is($a->{'gateway.retries'}, 0, 'gateway.retries');
    is($a->{'gateway.request_id'}, $r->{headers}{'x-request-id'}, 'gateway.request_id');
    unlike(join(' ', map { $_ // '' } %$a), qr/sekrit/, 'no secret in any attribute');
    ok(!$ss->{status} || !$ss->{status}{code}, 'a 200 is not an error');
    ok($ss->{startTimeUnixNano} <= $cs->{startTimeUnixNano} && $cs->{endTimeUnixNano} <= $ss->{endTimeUnixNano} + 1000,
       'the client span lies within the server span');
    ok(abs($ss->{startTimeUnixNano} / 1e9 - time) < 30, 'times are unix nanoseconds');
    my $ca = attrs($cs);
    is($ca->{'server.address'}, '127.0.0.1', 'client span: server.address');
    is($ca->{'server.port'}, $be->port, 'client span: server.port');
    is($ca->{'http.response.status_code'}, 200, 'client span: status');
    is($server->{headers}{authorization}, 'Bearer sekrit-token', 'the collector gets otlp.headers');
    like($server->{headers}{'content-type'}, qr{^application/json}, '... and JSON');
}

# A client that goes away before its response: the server span still arrives, as an error.
{
    my $tr = hex_id(16);
    my $c = http_connect($t->port('http'));
    $c->send("GET /p/slow-head/400 HTTP/1.1\r\nHost: x\r\ntraceparent: 00-$tr-" . hex_id(8) . "-01\r\n\r\n");
    sleep 0.1;
    $c->close;
    my @x = wait_spans($tr, 1);
    my ($gone) = grep { $_->{span}{kind} == 2 } @x;
    ok($gone, 'a client that went away: its server span is exported');
    is($gone && $gone->{span}{status}{code}, 2, '... with status ERROR');
    like($gone && $gone->{span}{status}{message} // '', qr/went away/, '... saying the client went away');
}

# A retried request: two client spans, the first failed (connect refused). The balancer tries
# the dead server first on one of the first requests (then it is skipped as down).
my %sent;
for (1 .. 4) {
    my $tr = hex_id(16);
    my $resp = $t->get('/r/echo', { traceparent => "00-$tr-" . hex_id(8) . '-01' });
    $sent{$tr} = $resp;
}
is(scalar(grep { $_ && $_->{status} == 200 } values %sent), 4, 'requests to the retry route answered');
$trace = undef;
wait_until(sub {
    for my $tr (keys %sent) {
        my @x = spans_of_trace($tr);
        if (@x >= 3) { $trace = $tr; return 1 }
    }
    0 }, 5, 0.1);
ok($trace, 'a retried request was traced with three spans');
$trace //= (keys %sent)[0];
$r = $sent{$trace};
$h = echoed($r);
@s = spans_of_trace($trace);
my @clients = sort { $a->{span}{startTimeUnixNano} <=> $b->{span}{startTimeUnixNano} } grep { $_->{span}{kind} == 3 } @s;
($server) = grep { $_->{span}{kind} == 2 } @s;
is(scalar @clients, 2, 'two client spans for two attempts');
SKIP: {
    skip 'spans missing', 6 unless @clients == 2 && $server;
    isnt($clients[0]{span}{spanId}, $clients[1]{span}{spanId}, 'each attempt has its own span id');
    is($clients[0]{span}{status}{code}, 2, 'the refused attempt is an error');
    is(attrs($clients[0]{span})->{'error.type'}, 'connect_refused', '... connect_refused');
    is($clients[1]{span}{spanId}, substr($h->{traceparent}, 36, 16), 'the retry sent its own span id');
    is(attrs($server->{span})->{'gateway.retries'}, 1, 'gateway.retries 1');
    is($_->{span}{parentSpanId}, $server->{span}{spanId}, 'attempt span is a child of the server span') for @clients;
}

# 5xx -> status error.
$trace = hex_id(16);
$r = $t->get('/p/status/503', { traceparent => "00-$trace-" . hex_id(8) . '-01' });
is($r && $r->{status}, 503, '503 proxied');
@s = wait_spans($trace, 2);
($server) = grep { $_->{span}{kind} == 2 } @s;
is($server && $server->{span}{status}{code}, 2, '5xx: the server span has status error');
is($server && attrs($server->{span})->{'http.response.status_code'}, 503, '... and its status code');

# The consumer an auth provider set; a refused request is traced too (first in the filter order).
my @kt = map { hex_id(16) } 1 .. 2;
is($t->get('/k/id', { traceparent => "00-$kt[0]-" . hex_id(8) . '-01', 'x-api-key' => $api_key })->{status}, 200, 'API key accepted');
is($t->get('/k/id', { traceparent => "00-$kt[1]-" . hex_id(8) . '-01' })->{status}, 401, 'no key: 401');
my @ks = wait_spans($kt[0], 2);
($server) = grep { $_->{span}{kind} == 2 } @ks;
is($server && attrs($server->{span})->{'gateway.consumer'}, 'partner-one', 'gateway.consumer');
my @ks2 = wait_spans($kt[1], 1);
is(scalar @ks2, 1, 'a request auth refused has its server span (and no client span)');
is(@ks2 && attrs($ks2[0]{span})->{'http.response.status_code'}, 401, '... with its 401');
ok(@ks2 && !$ks2[0]{span}{status}, '... which is not an error of the gateway');
unlike(slurp($spans_file) // '', qr/\Q$api_key\E/, 'the API key is in no span');

# An HTTP/2 request (h2c, curl).
SKIP: {
    skip 'no curl', 3 unless system('curl --version >/dev/null 2>&1') == 0;
    my $tr = hex_id(16);
    my $out = `curl -s --http2-prior-knowledge -H 'traceparent: 00-$tr-00f067aa0ba902b7-01' http://127.0.0.1:@{[$t->port('h2')]}/p/echo`;
    like($out, qr/"traceparent"/, 'h2 request proxied');
    my @h2 = wait_spans($tr, 2);
    my ($h2s) = grep { $_->{span}{kind} == 2 } @h2;
    is($h2s && attrs($h2s->{span})->{'network.protocol.version'}, '2', 'an HTTP/2 request: network.protocol.version 2');
    is(scalar(grep { $_->{span}{kind} == 3 } @h2), 1, '... and its client span');
}

# The cache's status and the rate limits' outcome.
my @ct = map { hex_id(16) } 1 .. 2;
$t->get('/c/id', { traceparent => "00-$_-" . hex_id(8) . '-01' }) for @ct;
my @miss = wait_spans($ct[0], 2);
my @hit = wait_spans($ct[1], 1);
($server) = grep { $_->{span}{kind} == 2 } @miss;
is($server && attrs($server->{span})->{'gateway.cache_status'}, 'MISS', 'gateway.cache_status MISS');
is($server && attrs($server->{span})->{'gateway.ratelimit'}, 'allowed', 'gateway.ratelimit allowed');
($server) = grep { $_->{span}{kind} == 2 } @hit;
is($server && attrs($server->{span})->{'gateway.cache_status'}, 'HIT', 'gateway.cache_status HIT');
is(scalar(grep { $_->{span}{kind} == 3 } @hit), 0, 'a cache hit has no client span');

# --- 2. sampling decisions -------------------------------------------------------------------
my $before = () = all_spans();
$r = $t->get('/p/echo');
$h = echoed($r);
like($h->{traceparent} // '', qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'sample 0: a new trace goes upstream unsampled');
my $unsampled = '00-' . hex_id(16) . '-' . hex_id(8) . '-00';
$r = $t->get('/p/echo', { traceparent => $unsampled });
is(echoed($r)->{traceparent}, $unsampled, 'an unsampled incoming traceparent is passed on as it is');
my $sampled_off = '00-' . hex_id(16) . '-' . hex_id(8) . '-01';
$r = $t->get('/off/echo', { traceparent => $sampled_off });
is(echoed($r)->{traceparent}, $sampled_off, 'tracing: false route: traceparent passed on as it is');
# a marker request, sampled: once it arrived, the others would have too
$trace = hex_id(16);
$t->get('/p/echo', { traceparent => "00-$trace-" . hex_id(8) . '-01' });
wait_spans($trace, 2);
my $after = () = all_spans();
is($after - $before, 2, 'sample 0: only the sampled request was traced (not the off route, not the unsampled ones)');

my $cfg = $t->run('-T', '-p', $t->dir, '-c', $t->conf);
like($cfg->{stdout}, qr/^tracing:\n  otlp:\n    endpoint: "http:\/\/127\.0\.0\.1:\d+\/v1\/traces"/m, '-T dumps tracing');
like($cfg->{stdout}, qr/tracing: false/, '-T dumps a route\'s tracing: false');
unlike($cfg->{stdout} . $cfg->{stderr}, qr/sekrit-token/, '-T does not show otlp.headers values');

# sample: 0.1 over 10,000 requests.
my $gen = 1;
sub reload_conf {
    my (%o) = @_;
    $t->write_conf(config(%o));
    $t->signal('HUP');
    $gen++;
    ok(wait_until(sub { my $s = $t->status_json; $s && $s->{generation} == $gen }, 10, 0.05), "reloaded to generation $gen");
}
reload_conf(sample => 0.1);
my $lg_bin = Load::build($t->dir);
my $n_before = () = grep { $_->{span}{kind} == 2 } all_spans();
my $lg = Load->start(bin => $lg_bin, port => $t->port('http'), connections => 8, path => '/p/id', dir => $t->dir);
$lg->wait_ok(10000, 60) or diag(Load::summary($lg->progress));
my $rep = $lg->stop;
my $n = $rep->{ok};
ok($n >= 10000, "load: $n requests");
my $servers;
wait_until(sub { $servers = (() = grep { $_->{span}{kind} == 2 } all_spans()) - $n_before; $servers >= $n * 0.08 && do { sleep 0.5; 1 } }, 10, 0.2);
$servers = (() = grep { $_->{span}{kind} == 2 } all_spans()) - $n_before;
my $want = $n * 0.1;
ok($servers >= $want * 0.8 && $servers <= $want * 1.2, "sample 0.1: $servers server spans for $n requests (want $want +- 20%)");
is(metric('gateway_tracing_spans_total', { outcome => 'dropped_buffer_full' }), 0, 'no span dropped for a full buffer');
ok(metric('gateway_tracing_exports_total', { result => 'ok' }) > 0, 'gateway_tracing_exports_total{result="ok"}');
ok(metric('gateway_tracing_spans_total', { outcome => 'exported' }) >= $servers, 'gateway_tracing_spans_total{outcome="exported"}');

# --- 3. a dead collector, a stalling one, and one that comes back ------------------------------
# Latency of N sequential requests on one keep-alive connection: the slowest, in seconds.
sub max_latency {
    my ($path, $count) = @_;
    my $c = http_connect($t->port('http')) or return 99;
    my $max = 0;
    for (1 .. $count) {
        my $t0 = time;
        $c->send("GET $path HTTP/1.1\r\nHost: x\r\n\r\n");
        my $resp = $c->read_response or return 99;
        return 99 unless $resp->{status} == 200;
        my $d = time - $t0;
        $max = $d if $d > $max;
    }
    return $max;
}
my $base = max_latency('/off/id', 300);

reload_conf(sample => 1, endpoint => 'http://127.0.0.1:%%deadcol%%/v1/traces');
my $err0 = metric('gateway_tracing_exports_total', { result => 'error' });
my $drop0 = metric('gateway_tracing_spans_total', { outcome => 'dropped_export_failed' });
my $lat = max_latency('/p/id', 300);
ok($lat < $base + 0.05, sprintf('dead collector: the slowest request took %.1f ms (%.1f ms without tracing)', $lat * 1000, $base * 1000));
ok(wait_until(sub { metric('gateway_tracing_exports_total', { result => 'error' }) > $err0 }, 5, 0.1), 'dead collector: export errors counted');
ok(wait_until(sub { metric('gateway_tracing_spans_total', { outcome => 'dropped_export_failed' }) > $drop0 }, 5, 0.1),
   'dead collector: its spans counted as dropped_export_failed');
like($t->error_log, qr/tracing: export of \d+ spans to http:\/\/127\.0\.0\.1:\d+\/v1\/traces failed: .*refused/,
     'the failure is logged with the endpoint and the error');

# Stalling: the receiver holds every export without answering.
my $mode = http_get($rx_port, '/mode?set=stall');
is($mode && $mode->{body}, 'stall', 'receiver stalls');
reload_conf(sample => 1);
$err0 = metric('gateway_tracing_exports_total', { result => 'error' });
$lat = max_latency('/p/id', 300);
ok($lat < $base + 0.05, sprintf('stalling collector: the slowest request took %.1f ms', $lat * 1000));
ok(wait_until(sub { metric('gateway_tracing_exports_total', { result => 'error' }) > $err0 }, 5, 0.1), 'stalling collector: timed-out exports counted');

# Back: the receiver answers again; spans arrive after the back-off.
http_get($rx_port, '/mode?set=ok');
my $back = hex_id(16);
ok(wait_until(sub {
    $t->get('/p/id', { traceparent => "00-$back-" . hex_id(8) . '-01' });
    scalar spans_of_trace($back) }, 40, 0.5), 'a collector back after being down receives spans again');

# Down and up again on the same port (a restarted collector).
stop_receiver();
$t->get('/p/id') for 1 .. 20;
sleep 0.5;
start_receiver($rx_port);
$back = hex_id(16);
ok(wait_until(sub {
    $t->get('/p/id', { traceparent => "00-$back-" . hex_id(8) . '-01' });
    scalar spans_of_trace($back) }, 40, 0.5), 'a restarted collector receives spans again');

# --- graceful stop flushes ---------------------------------------------------------------------
reload_conf(sample => 0, flush => '1h');
sleep 0.3;
my $last = hex_id(16);
$t->get('/p/id', { traceparent => "00-$last-" . hex_id(8) . '-01' });
sleep 0.2;
is(scalar spans_of_trace($last), 0, 'flush 1h: the span waits in the buffer');
$t->signal('QUIT');
ok($t->wait_exit(10), 'graceful stop');
is(scalar spans_of_trace($last), 2, 'a graceful stop exports what is buffered');

# --- 4. an https:// collector ------------------------------------------------------------------
SKIP: {
    skip 'no tls module or no openssl', 3 unless has_modules('tls') && TestCerts::available();
    my $t2 = GatewayTest->new;
    my $certs = TestCerts->new($t2->dir);
    $certs->ca('ca');
    $certs->cert('collector', ca => 'ca', cn => 'collector.test', san => 'IP:127.0.0.1');
    my $tls_file = $t2->dir . '/tls-spans.jsonl';
    my $tls_pid = open(my $tls_out, '-|', $python, "$FindBin::Bin/helpers/otlp_receiver.py", $tls_file, 0,
                       $certs->path('collector'), $certs->path('collector', 'key'))
        or BAIL_OUT("cannot start otlp_receiver.py: $!");
    my $tls_port = <$tls_out>;
    chomp $tls_port;
    $t2->set_port('otlps', $tls_port);
    $t2->set_port('be', $be->port);
    my $ca = $certs->path('ca');
    $t2->write_conf(<<"CONF");
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
tracing:
  otlp: {endpoint: "https://127.0.0.1:%%otlps%%/v1/traces", ca: "$ca", flush: 100ms}
  sample: 1
upstreams:
  be:
    servers: [{address: 127.0.0.1:%%be%%}]
routes:
  - name: tls-traced
    match: {path_prefix: /}
    upstream: be
CONF
    $t2->start;
    my $tr = hex_id(16);
    is($t2->get('/id', { traceparent => "00-$tr-" . hex_id(8) . '-01' })->{status}, 200, 'request through the https-exporting gateway');
    ok(wait_until(sub { (slurp($tls_file) // '') =~ /$tr/ }, 5, 0.1), 'spans arrive at an https:// collector')
        or diag($t2->error_log);
    like(slurp($tls_file) // '', qr/"name": "GET tls-traced"/, '... whole');
    $t2->stop;
    kill 'KILL', $tls_pid;
    { local $?; close $tls_out; }
}

# --- 5. config errors ----------------------------------------------------------------------------
my $bad = $t->write_conf(<<'CONF', 'bad.conf');
listeners:
  - address: 127.0.0.1:%%http%%
tracing:
  otlp: {endpoint: "ftp://collector/v1/traces"}
  sample: 1.5
routes:
  - name: r
    match: {path_prefix: /}
    return: {status: 200}
CONF
my $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
isnt($e->{exit}, 0, 'a bad tracing section is refused');
like($e->{stderr}, qr/bad\.conf:4:\d+: .*tracing\.otlp\.endpoint: an endpoint is an http:\/\/ or https:\/\/ URL/, 'bad endpoint at FILE:LINE:COL');
like($e->{stderr}, qr/bad\.conf:5:\d+: .*tracing\.sample: 1\.5 is out of range/, 'sample 1.5 at FILE:LINE:COL');

done_testing;
