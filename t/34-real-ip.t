#!/usr/bin/perl
# real_ip: the client address behind trusted proxies, with the real binary, a real backend and
# raw client sockets (127.0.0.2 is another source address of this host, so it is an untrusted
# peer while 127.0.0.1 is trusted):
#   1. X-Forwarded-For from a trusted peer: rate-limited (key: ip) and logged under the address
#      it names (two forged addresses, two buckets); several header lines are one list; the
#      next request on the connection is itself again; the upstream gets the incoming entries
#      and the client address appended;
#   2. the same header from an untrusted peer is ignored: one bucket, logged as the peer;
#   3. after a reload that no longer trusts 127.0.0.1: limited and logged under 127.0.0.1;
#   4. PROXY protocol v1 and v2 (hand-built bytes, split over writes, TLVs, LOCAL, UNKNOWN) on a
#      listener with `proxy_protocol: true` and `real_ip.from: proxy_protocol`: the header's
#      source is the client for rate limits, the access log and X-Forwarded-For; an untrusted
#      peer's header is read but not believed; a connection without a valid header is closed
#      without an answer, and one that sends none (or half of one) is closed after
#      proxy_protocol_timeout.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Socket qw(inet_pton AF_INET AF_INET6);
use Test::More;
use Time::HiRes qw(time);
use GatewayTest;
use Backend;
require_modules('ratelimit');  # the client address is seen through the rate limits (key: ip)

my $backend = Backend->new(name => 'a')->start;

sub conf {
    my ($real_ip) = @_;
    return <<"CONF";
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
access_log: {path: logs/access.log, format: json, flush: 100ms}
shutdown_timeout: 5s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%pp%%, proxy_protocol: true, proxy_protocol_timeout: 500ms}
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  app:
    servers: [{address: 127.0.0.1:%%be%%}]
rate_limit_zone_size: 1m
rate_limits:
  perip:  {key: ip, rate: 2/d, algorithm: fixed_window}
  perip2: {key: ip, rate: 2/d, algorithm: fixed_window}
routes:
  - {name: limited, match: {path: /limited}, return: {body: "ok"}, rate_limit: perip}
  - {name: limited2, match: {path: /limited2}, return: {body: "ok"}, rate_limit: perip2}
  - {name: log, match: {path_prefix: /log/}, return: {body: "logged"}}
  - {name: echo, match: {path_prefix: /echo}, upstream: app}
$real_ip
CONF
}

my $t = GatewayTest->new;
$t->set_port('be', $backend->port);
$t->write_conf(conf("real_ip: {from: x-forwarded-for, trusted: [127.0.0.1, \"::1\"]}"));
$t->start;
my $port = $t->port('http');
my $access = $t->dir . '/logs/access.log';

# The access log line of the request whose uri is exactly $uri, decoded.
sub log_entry { access_log_entry($access, $_[0]) }

sub logged_addr { my $e = log_entry($_[0]); $e ? $e->{remote_addr} : 'no log line' }

sub status { my $r = shift; $r ? $r->{status} : 'no response' }

sub echoed_xff {
    my ($r) = @_;
    return 'no response' unless $r && $r->{status} == 200;
    return echo_hdr(parse_json($r->{body}), 'x-forwarded-for') // 'none';
}

# --- 1. trusted peer ----------------------------------------------------------------------------

is(status(get_from('127.0.0.1', $port, '/limited?a1', ['X-Forwarded-For', '203.0.113.7'])), 200,
   'trusted peer, X-Forwarded-For 203.0.113.7: first request passes');
is(status(get_from('127.0.0.1', $port, '/limited?a2', ['X-Forwarded-For', '203.0.113.7'])), 200, 'second passes');
is(status(get_from('127.0.0.1', $port, '/limited?a3', ['X-Forwarded-For', '203.0.113.7'])), 429,
   'third is limited: the bucket of 203.0.113.7');
is(status(get_from('127.0.0.1', $port, '/limited?b1', ['X-Forwarded-For', '203.0.113.8'])), 200,
   'another forwarded address has a bucket of its own');
is(status(get_from('127.0.0.1', $port, '/limited?p1')), 200, 'and so has the peer itself');
is(logged_addr('/limited?a1'), '203.0.113.7', 'access log: remote_addr is the forwarded address');
is(logged_addr('/limited?a3'), '203.0.113.7', 'the limited request too');
is(logged_addr('/limited?b1'), '203.0.113.8', 'the other one');
is(logged_addr('/limited?p1'), '127.0.0.1', 'without the header: the peer');

get_from('127.0.0.1', $port, '/log/chain', ['X-Forwarded-For', '198.51.100.1, 203.0.113.9, 127.0.0.1'],
         ['X-Forwarded-For', '::1']);
is(logged_addr('/log/chain'), '203.0.113.9',
   'walked right to left over two header lines, past the trusted addresses');
get_from('127.0.0.1', $port, '/log/bad', ['X-Forwarded-For', '203.0.113.9, not-an-address']);
is(logged_addr('/log/bad'), '127.0.0.1', 'a malformed element stops the walk (the last good address stands)');

{
    my $c = http_connect($port);
    $c->send(build_request('GET', '/log/ka1', headers => [['X-Forwarded-For', '203.0.113.50']]));
    is(status($c->read_response), 200, 'keep-alive: first request');
    $c->send(build_request('GET', '/log/ka2'));
    is(status($c->read_response), 200, 'keep-alive: second request, without the header');
    is(logged_addr('/log/ka1'), '203.0.113.50', 'the first is logged under its forwarded address');
    is(logged_addr('/log/ka2'), '127.0.0.1', 'the second under the peer: nothing carries over');
}

is(echoed_xff(get_from('127.0.0.1', $port, '/echo/t', ['X-Forwarded-For', '198.51.100.1, 203.0.113.7'])),
   '198.51.100.1, 203.0.113.7, 127.0.0.1',
   'upstream X-Forwarded-For: the incoming entries, then the hop that sent them (a true hop list)');
is(echoed_xff(get_from('127.0.0.1', $port, '/echo/t')), '127.0.0.1', 'no incoming header: the peer');

# --- 2. untrusted peer --------------------------------------------------------------------------

is(status(get_from('127.0.0.2', $port, '/limited?u1', ['X-Forwarded-For', '198.51.100.1'])), 200,
   'untrusted peer, forged 198.51.100.1: passes');
is(status(get_from('127.0.0.2', $port, '/limited?u2', ['X-Forwarded-For', '198.51.100.2'])), 200,
   'forged 198.51.100.2: passes');
is(status(get_from('127.0.0.2', $port, '/limited?u3', ['X-Forwarded-For', '198.51.100.3'])), 429,
   'forged 198.51.100.3: limited - one bucket, the peer\'s');
is(logged_addr('/limited?u1'), '127.0.0.2', 'logged as the peer');
is(echoed_xff(get_from('127.0.0.2', $port, '/echo/u', ['X-Forwarded-For', '198.51.100.1'])),
   '198.51.100.1, 127.0.0.2', 'upstream X-Forwarded-For: the forged entry kept, the peer appended');

# --- 3. reload: 127.0.0.1 no longer trusted -----------------------------------------------------

# Reloads with $real_ip and waits until the workers of the old generation are gone, so that
# every new connection meets the new configuration.
sub reload {
    my ($real_ip, $gen) = @_;
    $t->write_conf(conf($real_ip));
    $t->signal('HUP');
    return wait_until(sub { my $st = $t->status_json; $st && $st->{generation} == $gen }, 10)
        && wait_until(sub { !grep { $_->{title} =~ /generation ${\ ($gen - 1)}\b/ } worker_pids($t->pid) }, 10);
}

ok(reload("real_ip: {trusted: [10.0.0.0/8]}", 2), 'reloaded');
is(status(get_from('127.0.0.1', $port, '/limited2?n1', ['X-Forwarded-For', '203.0.113.7'])), 200,
   'not trusted: first passes');
is(status(get_from('127.0.0.1', $port, '/limited2?n2', ['X-Forwarded-For', '203.0.113.8'])), 200, 'second passes');
is(status(get_from('127.0.0.1', $port, '/limited2?n3', ['X-Forwarded-For', '203.0.113.9'])), 429,
   'third is limited: all under 127.0.0.1');
is(logged_addr('/limited2?n1'), '127.0.0.1', 'and logged as 127.0.0.1');

# --- 4. PROXY protocol --------------------------------------------------------------------------

ok(reload("real_ip: {from: proxy_protocol, trusted: [127.0.0.1]}", 3), 'reloaded for PROXY');
my $pp = $t->port('pp');

sub v1 { my ($src) = @_; "PROXY TCP4 $src 127.0.0.1 40000 $pp\r\n" }

sub v2 {
    my ($cmd, $fam, $body) = @_;
    return "\r\n\r\n\0\r\nQUIT\n" . pack('CCn', $cmd, $fam, length $body) . $body;
}

sub v2_inet {
    my ($src) = @_;
    return v2(0x21, 0x11, inet_pton(AF_INET, $src) . inet_pton(AF_INET, '127.0.0.1') . pack('nn', 40000, $pp));
}

sub v2_inet6 {
    my ($src, $tlvs) = @_;
    return v2(0x21, 0x21, inet_pton(AF_INET6, $src) . inet_pton(AF_INET6, '::1') . pack('nn', 40000, $pp)
                          . ($tlvs // ''));
}

sub tlv { my ($type, $value) = @_; pack('Cn', $type, length $value) . $value }

# Sends @pieces one write each on a new connection from $local, then reads one response.
sub pp_request {
    my ($local, @pieces) = @_;
    my $c = http_connect($pp, local => $local) or return undef;
    for my $p (@pieces) { $c->send($p) or return undef }
    return $c->read_response;
}

sub req { my ($path, @headers) = @_; build_request('GET', $path, headers => \@headers) }

is(echoed_xff(pp_request('127.0.0.1', v1('198.51.100.10') . req('/echo/v1'))), '198.51.100.10',
   'PROXY v1: the upstream sees the source address');
is(logged_addr('/echo/v1'), '198.51.100.10', 'and it is logged');
is(echoed_xff(pp_request('127.0.0.1', v2_inet6('2001:db8::10', tlv(0x05, 'id-1') . tlv(0xEE, 'x' x 300))
                                      . req('/echo/v2', ['X-Forwarded-For', '10.1.1.1']))),
   '10.1.1.1, 2001:db8::10', 'PROXY v2 (IPv6, TLVs skipped): incoming entries kept, source appended');
is(logged_addr('/echo/v2'), '2001:db8::10', 'and logged');

# Split anywhere: in the signature, in the length, between header and request.
my $h2 = v2_inet('198.51.100.20');
is(echoed_xff(pp_request('127.0.0.1', substr($h2, 0, 5), substr($h2, 5, 9), substr($h2, 14, 5), substr($h2, 19),
                         req('/echo/split2'))),
   '198.51.100.20', 'PROXY v2 split over five writes');
my $h1 = v1('198.51.100.21');
my $r1 = req('/echo/split1');
is(echoed_xff(pp_request('127.0.0.1', substr($h1, 0, 3), substr($h1, 3, 20), substr($h1, 23) . substr($r1, 0, 10),
                         substr($r1, 10))),
   '198.51.100.21', 'PROXY v1 split, the request starting in the same write as its end');

is(echoed_xff(pp_request('127.0.0.1', v2(0x20, 0x00, '') . req('/echo/local'))), '127.0.0.1',
   'PROXY v2 LOCAL: the socket peer');
is(echoed_xff(pp_request('127.0.0.1', "PROXY UNKNOWN\r\n" . req('/echo/unknown'))), '127.0.0.1',
   'PROXY v1 UNKNOWN: the socket peer');
is(echoed_xff(pp_request('127.0.0.2', v1('198.51.100.66') . req('/echo/untrusted'))), '127.0.0.2',
   'an untrusted peer\'s PROXY header is read but not believed');

{
    my $c = http_connect($pp);
    $c->send(v1('198.51.100.30') . req('/log/pp-ka1'));
    is(status($c->read_response), 200, 'PROXY keep-alive: first request');
    $c->send(req('/log/pp-ka2', ['X-Forwarded-For', '203.0.113.1']));
    is(status($c->read_response), 200, 'second request');
    is(logged_addr('/log/pp-ka2'), '198.51.100.30', 'the whole connection is the PROXY source\'s');
}

is(status(pp_request('127.0.0.1', v1('198.51.100.40') . req('/limited?pa1'))), 200, 'PROXY source A: passes');
is(status(pp_request('127.0.0.1', v2_inet('198.51.100.40') . req('/limited?pa2'))), 200, 'A again (v2): passes');
is(status(pp_request('127.0.0.1', v1('198.51.100.40') . req('/limited?pa3'))), 429, 'A a third time: limited');
is(status(pp_request('127.0.0.1', v1('198.51.100.41') . req('/limited?pb1'))), 200, 'source B: its own bucket');

# Rejected: closed without a byte of answer, and an info line in the error log.
for my $case (['no header', req('/log/none')],
              ['a bad v1 header', "PROXY TCP4 198.51.100.1 127.0.0.1 1 99999\r\n" . req('/log/bad1')],
              ['a v2 header with a bad TLV', v2(0x21, 0x11, ("\0" x 12) . "\x01\x00\x09") . req('/log/bad2')]) {
    my ($what, $bytes) = @$case;
    my $c = http_connect($pp);
    $c->send($bytes);
    my ($closed, $extra) = $c->wait_closed(5);
    ok($closed, "$what: the connection is closed");
    is($extra, '', "$what: without an answer");
}
ok(wait_until(sub { $t->error_log =~ /client 127\.0\.0\.1 on 127\.0\.0\.1:$pp: no PROXY protocol header; closing/ }, 5),
   'the error log says why');

for my $case (['nothing', ''], ['half a header', substr(v1('198.51.100.1'), 0, 12)]) {
    my ($what, $bytes) = @$case;
    my $c = http_connect($pp);
    $c->send($bytes) if length $bytes;
    my $start = time;
    my ($closed, $extra) = $c->wait_closed(5);
    my $took = time - $start;
    ok($closed && $extra eq '', "sending $what: closed without an answer");
    ok($took >= 0.4 && $took < 4, sprintf('after proxy_protocol_timeout (500ms): took %.2f s', $took));
}
ok(wait_until(sub { $t->error_log =~ /sent no PROXY protocol header in time/ }, 5), 'the timeout is logged');

# The plain listener still serves without a PROXY header.
is(status(get_from('127.0.0.1', $port, '/log/plain')), 200, 'the other listener is unaffected');

$t->stop;
done_testing();
