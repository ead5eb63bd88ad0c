#!/usr/bin/perl
# A route's `grpc: true` (issue 17; gateway.conf(5) gRPC), with the real binary, nghttp (h2c) and
# curl (HTTP/1.1), against Backend.pm and an address nothing listens on:
#   1. the gateway's own errors to a gRPC call are gRPC statuses: 200, grpc-status and
#      grpc-message in one HEADERS frame with END_STREAM (Trailers-Only) - 502 UNAVAILABLE (14),
#      429 RESOURCE_EXHAUSTED (8, Retry-After kept), 404 UNIMPLEMENTED (12); the access log and
#      gateway_http_requests_total keep the HTTP status; over HTTP/1.1 too;
#   2. a request that is not gRPC (another content-type) on the same route keeps the JSON error;
#      a route without grpc: true keeps it for gRPC requests too;
#   3. grpc-timeout caps the route's timeouts: 1S against a backend that answers after 3 s ends
#      with DEADLINE_EXCEEDED (4) after about a second, not the route's 10 s; an invalid value is
#      ignored (the route's own read timeout, shortened for the test, applies);
#   4. gateway_grpc_responses_total{route,grpc_status}: the gateway's answers, and an upstream's
#      grpc-status from its chunked trailers (h2 trailers);
#   5. configuration: grpc must be a boolean; -T prints it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;
use H2Client;

if (my $why = H2Client::missing('nghttp')) { plan skip_all => $why }
plan skip_all => 'gatewayd built without the grpc module' unless has_modules('grpc');

my $t = GatewayTest->new;
my $dir = $t->dir;

sub handler {
    my ($c, $req) = @_;
    if ($req->{path} eq '/grpc.Ok/Call') {
        # a gRPC-shaped answer over HTTP/1.1: one message, then grpc-status in the trailers
        $c->read_body($req);
        $c->write_all("HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\nTransfer-Encoding: chunked\r\n"
                      . "Trailer: grpc-status\r\n\r\n7\r\n\0\0\0\0\2\x0a\0\r\n0\r\ngrpc-status: 0\r\ngrpc-message: fine\r\n\r\n");
        return 1;
    }
    return undef;
}
my $backend = Backend->new(name => 'be', handler => \&handler)->start;
$t->set_port('be', $backend->port);
$t->set_port('dead', Backend::dead_port());

my $conf = <<'EOF';
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
access_log: {path: logs/access.log, flush: 50ms}
listeners:
  - {address: 127.0.0.1:%%h2c%%, http2: true}
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  be: {servers: [{address: 127.0.0.1:%%be%%}]}
  dead: {servers: [{address: 127.0.0.1:%%dead%%}], max_fails: 0}
EOF
$conf .= "rate_limits:\n  two: {key: global, rate: 2/h, burst: 2, algorithm: token_bucket}\n" if has_modules('ratelimit');
$conf .= "routes:\n";
$conf .= "  - {name: g-limited, match: {path_prefix: /grpc.Limited/}, upstream: be, grpc: true, rate_limit: two}\n"
    if has_modules('ratelimit');
$conf .= <<'EOF';
  - {name: g-dead, match: {path_prefix: /grpc.Dead/}, upstream: dead, grpc: true}
  - {name: g-slow, match: {path_prefix: /grpc.Slow/}, strip_prefix: /grpc.Slow, upstream: be, grpc: true, timeout: {read: 10s}}
  - {name: g-slowish, match: {path_prefix: /grpc.Slowish/}, strip_prefix: /grpc.Slowish, upstream: be, grpc: true, timeout: {read: 1500ms}}
  - {name: g-ok, match: {path_prefix: /grpc.Ok/}, upstream: be, grpc: true}
  - {name: g-none, match: {path: /grpc.None/Call}, return: {status: 404}, grpc: true}
  - {name: plain-dead, match: {path_prefix: /plain.Dead/}, upstream: dead}
EOF
$t->write_conf($conf);
$t->start;
my $port = $t->port('h2c');
my $msg = "$dir/msg.bin";
open(my $fh, '>:raw', $msg) or die;
print $fh "\0\0\0\0\7\x0a\5world";
close $fh;

# One gRPC call with nghttp: the frames of the response.
sub call {
    my ($path, %o) = @_;
    my @h = ('-H', ':method: POST', '-H', 'content-type: ' . ($o{type} // 'application/grpc'), '-H', 'te: trailers');
    push @h, '-H', "grpc-timeout: $o{timeout}" if $o{timeout};
    my $t0 = time;
    my $c = run_cmd({ timeout => $o{wait} // 20 }, 'nghttp', '-v', @h, '-d', $msg, "http://127.0.0.1:$port$path");
    my $frames = nghttp_frames($c->{out});
    my @heads = grep { $_->{dir} eq 'recv' && $_->{type} eq 'HEADERS' } @$frames;
    my @data = grep { $_->{dir} eq 'recv' && $_->{type} eq 'DATA' } @$frames;
    return { heads => \@heads, data => \@data, secs => time - $t0, out => $c->{out} };
}
sub field { my ($h, $n) = @_; header_of($h->{headers}, $n) }

sub trailers_only {
    my ($r, $code, $what) = @_;
    is(scalar @{ $r->{heads} }, 1, "$what: one HEADERS frame") or diag($r->{out});
    my $h = $r->{heads}[0] || { headers => [], flags => 0 };
    is(field($h, ':status'), 200, "$what: :status 200");
    is($h->{flags} & 0x1, 1, "$what: END_STREAM on the HEADERS (Trailers-Only)");
    is(field($h, 'grpc-status'), $code, "$what: grpc-status $code");
    is(field($h, 'content-type'), 'application/grpc', "$what: content-type application/grpc");
    is(scalar @{ $r->{data} }, 0, "$what: no DATA");
    return $h;
}

sub metrics { $t->metrics }
sub grpc_count {
    my ($route, $status) = @_;
    return GatewayTest::metric_sum(metrics(), 'gateway_grpc_responses_total', { route => $route, grpc_status => $status }) // 0;
}
sub http_count {
    my ($route, $code) = @_;
    return GatewayTest::metric_sum(metrics(), 'gateway_http_requests_total', { route => $route, code => $code }) // 0;
}

subtest 'the gateway\'s own errors are gRPC statuses' => sub {
    my $h = trailers_only(call('/grpc.Dead/Call'), 14, 'upstream down (502)');
    like(field($h, 'grpc-message') // '', qr/upstream/, 'grpc-message says why');
    ok(field($h, 'x-request-id'), 'x-request-id still on the answer');
    is(grpc_count('g-dead', 14), 1, 'gateway_grpc_responses_total{grpc_status="14"}');
    is(http_count('g-dead', 502), 1, 'gateway_http_requests_total keeps the HTTP status 502');
    ok(wait_until(sub { (slurp("$dir/logs/access.log") // '') =~ m{"uri":"/grpc\.Dead/Call","protocol":"HTTP/2\.0","status":502} }, 5),
       'the access log keeps 502 (protocol HTTP/2.0)');

    trailers_only(call('/grpc.None/Call'), 12, 'no such method: a route answering 404');

  SKIP: {
        skip 'no ratelimit module', 6 unless has_modules('ratelimit');
        call('/grpc.Limited/Call') for 1 .. 2;  # the budget (the backend answers 404: fine)
        my $h = trailers_only(call('/grpc.Limited/Call'), 8, 'rate limited (429)');
        ok(field($h, 'retry-after'), 'Retry-After kept');
    }

    # HTTP/1.1 (gRPC-Web and proxies in front speak it): the same answer in a head
    my $r = run_cmd({ timeout => 10 }, 'curl', '-s', '-D', '-', '-o', '/dev/null', '-H', 'content-type: application/grpc+proto',
                    '--data-binary', "\@$msg", "http://127.0.0.1:$port/grpc.Dead/Call");
    like($r->{out}, qr{^HTTP/1\.1 200 OK\r\n}, 'HTTP/1.1: 200');
    like($r->{out}, qr{\r\ngrpc-status: 14\r\n}, 'HTTP/1.1: grpc-status 14 (application/grpc+proto is gRPC)');
    like($r->{out}, qr{\r\ncontent-length: 0\r\n}, 'HTTP/1.1: no body');
};

subtest 'what is not gRPC keeps the HTTP error' => sub {
    my $r = run_cmd({ timeout => 10 }, 'nghttp', '-v', '-H', ':method: POST', '-H', 'content-type: application/json',
                    '-d', $msg, "http://127.0.0.1:$port/grpc.Dead/Call");
    my ($h) = grep { $_->{dir} eq 'recv' && $_->{type} eq 'HEADERS' } @{ nghttp_frames($r->{out}) };
    is(field($h, ':status'), 502, 'a JSON request on a grpc route: 502');
    ok(!defined field($h, 'grpc-status'), '... without grpc-status');
    my $p = call('/plain.Dead/Call');
    is(field($p->{heads}[0], ':status'), 502, 'a gRPC request on a route without grpc: true: 502');
};

subtest 'grpc-timeout caps the route\'s timeouts' => sub {
    my $r = call('/grpc.Slow/slow-head/3000', timeout => '1S');
    trailers_only($r, 4, 'grpc-timeout 1S, backend 3 s');
    ok($r->{secs} >= 0.9 && $r->{secs} < 2.5, sprintf('after about a second (%.2f s), not the route\'s 10 s', $r->{secs}));
    is(http_count('g-slow', 504), 1, 'counted as the 504 it is');
    my $long = call('/grpc.Slowish/slow-head/3000', timeout => '10S');
    trailers_only($long, 4, 'grpc-timeout 10S: the route\'s read timeout 1.5 s is shorter and applies');
    ok($long->{secs} >= 1.3 && $long->{secs} < 2.8, sprintf('after about 1.5 s (%.2f s)', $long->{secs}));
    my $bad = call('/grpc.Slowish/slow-head/3000', timeout => '1x');
    trailers_only($bad, 4, 'an invalid grpc-timeout is ignored (the route\'s 1.5 s)');
    ok($bad->{secs} >= 1.3, sprintf('... so not a 1 s deadline (%.2f s)', $bad->{secs}));
};

subtest 'an upstream\'s grpc-status from its trailers' => sub {
    my $r = call('/grpc.Ok/Call');
    my @heads = @{ $r->{heads} };
    is(scalar @heads, 2, 'HEADERS, DATA, trailing HEADERS') or diag($r->{out});
    is(field($heads[0], ':status'), 200, ':status 200');
    is(field($heads[1], 'grpc-status'), '0', 'grpc-status 0 in the trailers');
    is(field($heads[1], 'grpc-message'), 'fine', 'grpc-message in the trailers');
    ok(wait_until(sub { grpc_count('g-ok', 0) == 1 }, 5), 'gateway_grpc_responses_total{route="g-ok",grpc_status="0"} 1');
};

subtest 'configuration' => sub {
    my $bad = "$dir/bad.conf";
    open(my $b, '>', $bad) or die;
    print $b "error_log: {path: $dir/logs/t.log}\nlisteners: [{address: 127.0.0.1:1}]\nroutes:\n  - {name: x, match: {path: /}, return: {status: 200}, grpc: 3}\n";
    close $b;
    my $r = $t->run('-t', '-p', $dir, '-c', $bad);
    isnt($r->{exit}, 0, 'grpc: 3 is refused');
    like($r->{stderr}, qr/bad\.conf:4:\d+: .*grpc/, '... with FILE:LINE:COL');
    my $d = $t->run('-T', '-p', $dir, '-c', $t->{conf});
    like($d->{stdout}, qr/name: "?g-dead"?.*?\bgrpc: true/s, '-T prints grpc: true');
};

done_testing;
