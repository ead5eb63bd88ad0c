#!/usr/bin/perl
# Hostile backends and clients (issue 11 §1b, §4): each case is a real misbehaving peer.
#   - endless 1xx interim responses: bounded, then 502, worker memory stays flat
#   - "Connection: content-length": the length is kept, the client connection closed after it
#   - trailers: request and response trailers are dropped; response header changes reach 1xx
#   - a 101 with an empty or other Upgrade, Transfer-Encoding: gzip, a HEAD answer with two
#     Content-Lengths: 502
#   - HTTP/1.0 without Host gets a Host upstream; repeated X-Forwarded-For are combined in order
#   - the gateway's own 502/504 keep a fully read request's connection; an unread body closes it

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use GatewayTest;
use Backend;

my $be = Backend->new(name => 'a')->start;
my $dead = dead_port();

my $t = GatewayTest->new;
$t->set_port('be_a', $be->port);
$t->set_port('dead', $dead);
# Every error is logged: the test reads single lines (logs.repeat_interval would hold back
# repeats of the same server's failures).
$t->write_conf(conf_head(1) . <<'EOF');
logs: {repeat_interval: 0}
upstreams:
  app:
    servers: [{address: 127.0.0.1:%%be_a%%}]
  gone:
    servers: [{address: 127.0.0.1:%%dead%%}]
  slow:
    servers: [{address: 127.0.0.1:%%be_a%%}]
routes:
  - name: slow
    match: {path_prefix: /slow/}
    strip_prefix: /slow
    upstream: slow
    timeout: {read: 300ms}
  - name: ops
    match: {path_prefix: /ops/}
    strip_prefix: /ops
    upstream: app
    response_headers:
      set: {x-gw: yes}
      remove: [link]
  - name: gone
    match: {path_prefix: /gone/}
    upstream: gone
  - name: main
    match: {path_prefix: /}
    upstream: app
    timeout: {read: 2s}
EOF
$t->start;
my $port = $t->port('http');
my ($worker) = map { $_->{pid} } $t->workers;

sub conn { http_connect($port, timeout => 5) or die "connect: $!" }

# --- 1xx flood ------------------------------------------------------------------------------------
{
    my $base = rss_kb($worker);
    my $c = conn();
    $c->send(build_request('GET', '/info-flood'));
    # The client reads nothing until the gateway has given up on the flood.
    ok(wait_until(sub { $t->error_log =~ /too many interim responses/ }, 5), '1xx flood: cut (logged)');
    my $grown = rss_kb($worker) - $base;
    ok($grown < 8192, "1xx flood: worker memory bounded (grew $grown KiB)");
    my ($interim, $r) = (0);
    while (($r = $c->read_response) && $r->{status} == 103) { $interim++ }
    is($r && $r->{status}, 502, '1xx flood: 502 after the interim heads');
    ok($interim >= 1 && $interim <= 16, "1xx flood: at most 16 interim heads passed ($interim)");
    is($r && $r->{headers}{connection}, 'keep-alive', '1xx flood: the request was read, the connection stays');
    $c->send(build_request('GET', '/id'));
    my $r2 = $c->read_response;
    is($r2 && $r2->{body}, 'a', '1xx flood: the next request on the connection is answered');
}

# --- Connection naming a framing header --------------------------------------------------------------
for my $h ('content-length', 'keep-alive,Content-Length') {
    my $c = conn();
    $c->send(build_request('GET', "/conn-framing?h=$h") . build_request('GET', '/id'));
    my $r = $c->read_response;
    is($r && $r->{headers}{'content-length'}, '5', "Connection: $h: Content-Length kept");
    is($r && $r->{body}, 'hello', "Connection: $h: body");
    is($r && $r->{headers}{connection}, 'close', "Connection: $h: the client connection is closed after it");
    my ($closed, $extra) = $c->wait_closed(5);
    ok($closed && $extra eq '', "Connection: $h: closed, the pipelined request not answered on it")
        or diag("extra: $extra");
}

# --- trailers ------------------------------------------------------------------------------------------
{
    my $c = conn();
    my $chunked = build_request('POST', '/echo', headers => [['Transfer-Encoding', 'chunked']])
        . "5\r\nhello\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\nX-Request-Id: evil\r\nContent-Length: 99\r\n"
        . "Host: evil.test\r\nX-Ok: 1\r\n\r\n";
    $c->send($chunked . build_request('GET', '/id'));
    my $r = $c->read_response;
    my $j = $r && parse_json($r->{body});
    is($j && $j->{body}, 'hello', 'request trailers: body forwarded');
    is_deeply($j && $j->{trailers}, [], 'request trailers: none forwarded');
    is($j && echo_hdr($j, 'x-forwarded-for'), '127.0.0.1', 'request trailers: X-Forwarded-For is the gateway\'s');
    my $r2 = $c->read_response;
    is($r2 && $r2->{body}, 'a', 'request trailers: the pipelined request after them is intact');

    $r = http_request($port, build_request('GET', '/evil-trailers'));
    is($r && $r->{body}, 'hello', 'response trailers: body');
    is_deeply($r && $r->{trailers}, [], 'response trailers: none passed (no Set-Cookie smuggled)');
    ok($r && !exists $r->{headers}{'set-cookie'}, 'response trailers: no Set-Cookie');

    # Response header changes apply to interim heads too.
    $c = conn();
    $c->send(build_request('GET', '/ops/info?code=103&delay=0'));
    my $i = $c->read_response;
    is($i && $i->{status}, 103, '1xx: interim head passed');
    is($i && $i->{headers}{'x-gw'}, 'yes', '1xx: response_headers set applies');
    ok($i && !exists $i->{headers}{link}, '1xx: response_headers remove applies');
    my $f = $c->read_response;
    is($f && $f->{status}, 200, '1xx: then the final response');
}

# --- framing and protocol errors from the backend: 502 ------------------------------------------------------
{
    my $ws = build_request('GET', '/ws-bad', headers => [['Upgrade', 'websocket'], ['Connection', 'Upgrade'],
        ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13']]);
    my $r = http_request($port, $ws);
    is($r && $r->{status}, 502, '101 with an empty Upgrade: 502');
    (my $h2c = $ws) =~ s{/ws-bad}{/ws-bad?u=h2c};
    $r = http_request($port, $h2c);
    is($r && $r->{status}, 502, '101 switching to a protocol not asked for: 502');
    $r = http_request($port, build_request('GET', '/te/gzip'));
    is($r && $r->{status}, 502, 'Transfer-Encoding: gzip: 502');
    $r = http_request($port, build_request('GET', '/te/gzip,chunked'));
    is($r && $r->{status}, 502, 'Transfer-Encoding: gzip,chunked: 502');
    $r = http_request($port, build_request('HEAD', '/head-cl'), head => 1);
    is($r && $r->{status}, 502, 'HEAD answered with conflicting Content-Length: 502');
    like($t->error_log, qr/upstream sent an invalid response.*HEAD \/head-cl/, 'logged with the request');
}

# --- Host and X-Forwarded-For -------------------------------------------------------------------------------
{
    my $r = http_request($port, "GET /echo HTTP/1.0\r\n\r\n");
    my $j = $r && parse_json($r->{body});
    is($j && echo_hdr($j, 'host'), 'app', 'HTTP/1.0 without Host: the upstream name is sent as Host');
    $r = http_request($port, build_request('GET', '/echo', headers => [['X-Forwarded-For', '192.0.2.1'],
        ['X-Other', 'x'], ['X-Forwarded-For', '192.0.2.2, 192.0.2.3']]));
    $j = $r && parse_json($r->{body});
    is_deeply([ $j ? echo_hdrs($j, 'x-forwarded-for') : () ], ['192.0.2.1, 192.0.2.2, 192.0.2.3, 127.0.0.1'],
              'several X-Forwarded-For: one, combined in order, client appended');
}

# --- the gateway's own errors and keep-alive -------------------------------------------------------------
{
    my $c = conn();
    $c->send(build_request('GET', '/gone/x'));
    my $r = $c->read_response;
    is($r && $r->{status}, 502, 'own 502');
    is($r && $r->{headers}{connection}, 'keep-alive', 'own 502 after a complete request: keep-alive');
    $c->send(build_request('GET', '/id'));
    my $r2 = $c->read_response;
    is($r2 && $r2->{status}, 200, 'own 502: the next request on the same connection succeeds');

    # A 504 (read timeout before the response head) too.
    $c->send(build_request('GET', '/slow/slow-head/1500'));
    $r = $c->read_response;
    is($r && $r->{status}, 504, 'own 504');
    is($r && $r->{headers}{connection}, 'keep-alive', 'own 504 after a complete request: keep-alive');
    $c->send(build_request('GET', '/id'));
    $r2 = $c->read_response;
    is($r2 && $r2->{status}, 200, 'own 504: the next request on the same connection succeeds');

    $c = conn();
    $c->send(build_request('POST', '/gone/x', headers => [['Content-Length', '100000']]) . ('x' x 10));
    $r = $c->read_response;
    is($r && $r->{status}, 502, 'own 502 with the body unread');
    is($r && $r->{headers}{connection}, 'close', 'own 502 with the body unread: connection: close');
    my ($closed) = $c->wait_closed(5);
    ok($closed, 'own 502 with the body unread: the connection is closed');
}

done_testing;
