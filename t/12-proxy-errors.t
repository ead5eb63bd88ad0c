#!/usr/bin/perl
# Reverse proxy errors: connection refused, closed or reset before any response byte, an invalid
# response head (502), read and connect timeouts (504; a route's timeout.connect over the
# upstream's connect_timeout), an upstream failing after the response
# head (client connection closed, body cut), no usable server, the error log line and
# gateway_upstream_errors_total by kind.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;

my $be = Backend->new(name => 'a')->start;
my $dead = dead_port();
my $dead2 = dead_port();
my $hole = blackhole_port();
my $hole_ok = !Backend::connect_completes($hole, 0.5);

my $t = GatewayTest->new;
$t->set_port('be_a', $be->port);
$t->set_port('dead', $dead);
$t->set_port('dead2', $dead2);
$t->set_port('hole', $hole);
$t->write_conf(conf_head(1) . <<'EOF');
upstreams:
  up-dead:
    servers: [{address: 127.0.0.1:%%dead%%}]
  up-dead2:
    servers: [{address: 127.0.0.1:%%dead2%%}]
    all_down: reject
  up-live:
    servers: [{address: 127.0.0.1:%%be_a%%}]
  up-hole:
    servers: [{address: 127.0.0.1:%%hole%%}]
    connect_timeout: 300ms
    all_down: reject
  up-hole-slow:
    servers: [{address: 127.0.0.1:%%hole%%}]
    connect_timeout: 10s
    all_down: reject
routes:
  - name: r-refused
    match: {path_prefix: /refused}
    upstream: up-dead
  - name: r-nousable
    match: {path_prefix: /nousable}
    upstream: up-dead2
  - name: r-live
    match: {path_prefix: /live}
    strip_prefix: /live
    upstream: up-live
    timeout: {read: 300ms}
  - name: r-hole-route
    match: {path_prefix: /hole-route}
    upstream: up-hole-slow
    timeout: {connect: 300ms}
  - name: r-hole
    match: {path_prefix: /hole}
    upstream: up-hole
EOF
$t->start;
my $port = $t->port('http');

sub errors_of {
    my ($upstream, $kind) = @_;
    my $m = $t->metrics or return -1;
    return metric_sum($m, 'gateway_upstream_errors_total', { upstream => $upstream, kind => $kind }) // 0;
}

# GET $path on a new connection; returns (response, decoded JSON body, seconds taken).
sub get_err {
    my ($path, %o) = @_;
    my $t0 = time;
    my $r = http_request($port, build_request('GET', $path, %o), timeout => 10);
    return ($r, $r ? parse_json($r->{body}) : undef, time - $t0);
}

sub is_error_json {
    my ($r, $j, $status, $what, $error) = @_;
    is($r && $r->{status}, $status, "$what: $status") or diag($r ? $r->{raw} : 'no response');
    like($r && $r->{headers}{'content-type'} // '', qr{^application/json}, "$what: JSON content-type");
    ok($j && ref $j eq 'HASH' && $j->{status} == $status && defined $j->{error} && length $j->{error},
       "$what: body {\"status\":$status,\"error\":...}") or diag($r && $r->{body});
    is($j && $j->{error}, $error, "$what: error \"$error\"") if defined $error;
}

# --- connection refused ----------------------------------------------------------------------

{
    my ($r, $j) = get_err('/refused/x?q=1');
    is_error_json($r, $j, 502, 'connection refused');
    my $line;
    ok(wait_until(sub {
        ($line) = grep { /r-refused/ && /up-dead\b/ && /127\.0\.0\.1:$dead\b/ } split /\n/, $t->error_log;
        $line;
    }, 5), 'error log line names the route, the upstream and the server') or diag($t->error_log);
    like($line // '', qr/\[(error|warn)\]/, 'logged at [error] or [warn]');
    (my $rest = $line // '') =~ s/127\.0\.0\.1:$dead\b//g;
    like($rest, qr/\b127\.0\.0\.1\b/, 'error log line names the client (127.0.0.1)');
    like($line // '', qr{/refused/x}, 'error log line names the request');
    is(errors_of('up-dead', 'connect_refused'), 1, 'gateway_upstream_errors_total{kind="connect_refused"} 1');
    my $m = $t->metrics;
    my ($s) = metric_samples($m, 'gateway_upstream_errors_total', { upstream => 'up-dead', kind => 'connect_refused' });
    is($s && $s->{labels}{server}, "127.0.0.1:$dead", 'server label is the configured address');
    is(metric_sum($m, 'gateway_http_requests_total', { route => 'r-refused', code => '502' }), 1,
       'gateway_http_requests_total{route="r-refused",code="502"} 1');
}

# --- no usable server ----------------------------------------------------------------------------

{
    my ($r, $j) = get_err('/nousable/1');
    is_error_json($r, $j, 502, 'first request to a refusing server');
    ($r, $j) = get_err('/nousable/2');
    is_error_json($r, $j, 503, 'second request, the only server out (passive check, all_down: reject)',
                  'upstream unavailable: all servers down');
    is(errors_of('up-dead2', 'connect_refused'), 1, 'the skipped server was not tried again (one connect_refused)');
}

# --- closed / reset before any response byte, invalid response --------------------------------

{
    my $before = errors_of('up-live', 'reset');
    my ($r, $j) = get_err('/live/reset');
    is_error_json($r, $j, 502, 'upstream closed without answering');
    is(errors_of('up-live', 'reset'), $before + 1, 'counted as kind="reset"');

    $before = errors_of('up-live', 'reset');
    ($r, $j) = get_err('/live/reset?rst=1');
    is_error_json($r, $j, 502, 'upstream reset (RST) without answering');
    is(errors_of('up-live', 'reset'), $before + 1, 'counted as kind="reset"');

    $before = errors_of('up-live', 'invalid_response');
    ($r, $j) = get_err('/live/garbage');
    is_error_json($r, $j, 502, 'invalid response head');
    is(errors_of('up-live', 'invalid_response'), $before + 1, 'counted as kind="invalid_response"');

    # the upstream is still fine for the next request
    ($r) = get_err('/live/id');
    is($r && "$r->{status} $r->{body}", '200 a', 'upstream usable after the errors (a reset is not a connect failure)');
}

# --- read timeout ------------------------------------------------------------------------------

{
    my $before = errors_of('up-live', 'timeout');
    my ($r, $j, $dt) = get_err('/live/slow-head/2000');
    is_error_json($r, $j, 504, 'read timeout before the response head', 'upstream timed out');
    ok($dt >= 0.25 && $dt < 1.9, sprintf('answered after timeout.read (300ms): %.3fs', $dt));
    is(errors_of('up-live', 'timeout'), $before + 1, 'counted as kind="timeout"');
}

# --- connect timeout ---------------------------------------------------------------------------

SKIP: {
    skip 'cannot make a connect hang on this host (accept queue overflow does not drop SYNs)', 17 unless $hole_ok;
    my $before = errors_of('up-hole', 'connect_timeout');
    my ($r, $j, $dt) = get_err('/hole/x');
    is_error_json($r, $j, 504, 'connect timeout', 'upstream connect timed out');
    ok($dt >= 0.25 && $dt < 2.5, sprintf('answered after connect_timeout (300ms): %.3fs', $dt));
    is(errors_of('up-hole', 'connect_timeout'), $before + 1, 'counted as kind="connect_timeout"');
    # the server that timed out a connect is out for fail_timeout (10 s): with all_down: reject,
    # answered at once
    ($r, $j, $dt) = get_err('/hole/y');
    is_error_json($r, $j, 503, 'after a connect timeout, the only server out', 'upstream unavailable: all servers down');
    ok($dt < 0.25, sprintf('answered without a connect attempt (%.3fs)', $dt));
    is(errors_of('up-hole', 'connect_timeout'), $before + 1, 'no second connect_timeout');

    # The route's timeout.connect (300ms) wins over its upstream's connect_timeout (10s).
    ($r, $j, $dt) = get_err('/hole-route/x');
    is_error_json($r, $j, 504, 'route timeout.connect', 'upstream connect timed out');
    ok($dt >= 0.25 && $dt < 2.5, sprintf('answered after the route\'s timeout.connect (300ms), not 10s: %.3fs', $dt));
}

# --- failure after the response head ---------------------------------------------------------

{
    my $c = http_connect($port, timeout => 10);
    $c->send(build_request('GET', '/live/close-mid/10000'));
    my ($closed, $got) = $c->wait_closed(5);
    ok($closed, 'upstream closed mid-body: the client connection is closed');
    my ($head, $body) = split /\r\n\r\n/, $got, 2;
    like($head // '', qr{^HTTP/1\.1 200 }, 'the response head was sent');
    like($head // '', qr/\r\ncontent-length: 10000\r?(\n|$)/i, 'with the upstream content-length');
    is(length($body // ''), 5000, 'the body is cut where the upstream stopped');

    $c = http_connect($port, timeout => 10);
    my $t0 = time;
    $c->send(build_request('GET', '/live/slow-body/3000'));
    ($closed, $got) = $c->wait_closed(5);
    my $dt = time - $t0;
    ok($closed, 'read timeout mid-body: the client connection is closed');
    ($head, $body) = split /\r\n\r\n/, $got, 2;
    like($head // '', qr{^HTTP/1\.1 200 }, 'read timeout mid-body: the head was sent');
    is($body, 'a' x 10, 'read timeout mid-body: body cut after what arrived');
    ok($dt < 2.5, sprintf('read timeout mid-body: closed after timeout.read, not the upstream (%.3fs)', $dt));
}

done_testing();
