#!/usr/bin/perl
# Access rules (`access:` on listeners and routes), with the real binary, a real backend and raw
# client sockets from several loopback addresses (127.0.0.2 and 127.0.0.3 are other source
# addresses of this host):
#   1. route rules: an allowed network 200, a hole in it (deny wins) 403 with the JSON body and
#      an access log line, an allow list of one bare address, a route without rules; the rules
#      come before the route's rate limit (a refused request uses none of its budget);
#   2. listener rules: every request on the listener (also one no route matches: 403, not
#      404), then the route's own rules; an admin listener's rules;
#   3. behind real_ip: X-Forwarded-For from a trusted peer decides, from another peer it is
#      ignored; a refused request is never proxied;
#   4. IPv6 on [::1] (skipped where the host has no IPv6 loopback);
#   5. a refused request with a body is answered at once and the connection closed;
#   6. gateway_access_denied_total{route,listener} on /metrics;
#   7. a reload that changes the rules;
#   8. `gatewayd -T` shows the rules, and `gatewayd -t` reports bad ones at FILE:LINE:COL.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Select;
use IO::Socket::IP;
use Test::More;
use Time::HiRes qw(time);
use GatewayTest;
use Backend;

my $t = GatewayTest->new;

# A gatewayd built without the module (./configure --without-access) skips all of this.
require_modules('access');

my $have_ratelimit = has_modules('ratelimit');
my $have_v6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1) ? 1 : 0;

my $backend = Backend->new(name => 'a')->start;
$t->set_port('be', $backend->port);

sub conf {
    my ($one_rules) = @_;
    my $v6 = $have_v6 ? "  - address: \"[::1]:%%v6%%\"\n" : '';
    # The rate-limit route only where the module is built in (./configure --without-ratelimit).
    my $limited = $have_ratelimit
        ? "  - {name: limited, match: {path: /limited}, return: {body: \"ok\"}, rate_limit: once, access: {deny: 127.0.0.3}}\n"
          . "rate_limit_zone_size: 1m\nrate_limits:\n  once: {key: global, rate: 1/d, algorithm: fixed_window}\n"
        : '';
    return <<"CONF";
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
access_log: {path: logs/access.log, format: json, flush: 100ms, log_admin: true}
shutdown_timeout: 5s
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%guarded%%
    access: {allow: 127.0.0.1}
$v6  - {address: 127.0.0.1:%%admin%%, admin: true}
  - {address: 127.0.0.1:%%admin2%%, admin: true, access: {deny: [127.0.0.3]}}
upstreams:
  app:
    servers: [{address: 127.0.0.1:%%be%%}]
routes:
  - {name: open, match: {path: /open}, return: {body: "open"}}
  - name: lan
    match: {path_prefix: /lan}
    return: {body: "lan"}
    access:
      deny: [127.0.0.3]
      allow: [127.0.0.0/8]
  - {name: one, match: {path: /one}, return: {body: "one"}, access: $one_rules}
  - {name: v6, match: {path: /v6}, return: {body: "v6"}, access: {allow: ["::1/128"]}}
  - {name: echo, match: {path_prefix: /echo}, upstream: app, access: {allow: [203.0.113.0/24, "2001:db8::/32"]}}
${limited}real_ip: {from: x-forwarded-for, trusted: [127.0.0.1]}
CONF
}

$t->write_conf(conf('{allow: 127.0.0.2}'));
$t->start;
my $port = $t->port('http');
my $guarded = $t->port('guarded');
my $access = $t->dir . '/logs/access.log';

# Denials expected in gateway_access_denied_total, by "route listener".
my %denied;
sub expect_denied { my ($route, $port) = @_; $denied{"$route 127.0.0.1:$port"}++ }

sub status { my $r = shift; $r ? $r->{status} : 'no response' }
sub status_from { status(get_from(@_)) }

# The access log line of the request whose uri is exactly $uri, decoded.
sub log_entry { access_log_entry($access, $_[0]) }

# --- 1. route rules -----------------------------------------------------------------------------

is(status_from('127.0.0.1', $port, '/lan/a'), 200, 'allowed network (127.0.0.0/8): 127.0.0.1 gets 200');
is(status_from('127.0.0.2', $port, '/lan/b'), 200, '... and 127.0.0.2');
{
    my $r = get_from('127.0.0.3', $port, '/lan/denied');
    is(status($r), 403, '127.0.0.3, in the allowed network and in deny: 403 (deny wins)');
    expect_denied('lan', $port);
    is($r && $r->{headers}{'content-type'}, 'application/json', '... of type application/json');
    is_deeply($r && parse_json($r->{body}), { status => 403, error => 'access denied' }, '... with the JSON error body');
    my $e = log_entry('/lan/denied');
    is($e && $e->{status}, 403, 'the access log shows 403');
    is($e && $e->{remote_addr}, '127.0.0.3', '... for the client');
    is($e && $e->{route}, 'lan', '... and the route');
}
is(status_from('127.0.0.2', $port, '/one'), 200, 'allow list of one bare address: that address passes');
is(status_from('127.0.0.1', $port, '/one'), 403, '... any other is refused');
expect_denied('one', $port);
SKIP: {
    skip 'built without the ratelimit module', 3 unless $have_ratelimit;
    is(status_from('127.0.0.3', $port, '/limited'), 403, 'a route with rules and a rate limit: refused...');
    expect_denied('limited', $port);
    is(status_from('127.0.0.1', $port, '/limited'), 200,
       '... before the rate limit: the refused request used none of its budget (1 a day)');
    is(status_from('127.0.0.1', $port, '/limited'), 429, '... which the allowed one did');
}
is(status_from('127.0.0.3', $port, '/open'), 200, 'a route without rules on a listener without rules: 200');
is(status_from('127.0.0.3', $port, '/nowhere'), 404, 'no route matched, no listener rules: 404 as before');
ok(wait_until(sub { $t->error_log =~ /\[info\].*client 127\.0\.0\.3 on 127\.0\.0\.1:$port: access forbidden by the route's rules \(route "lan"\)/ }, 5),
   'the refusal is logged at info with the client, the listener and the route');

# --- 2. listener rules --------------------------------------------------------------------------

is(status_from('127.0.0.1', $guarded, '/open'), 200, 'listener allowing 127.0.0.1: it passes');
is(status_from('127.0.0.2', $guarded, '/open'), 403, '... 127.0.0.2 is refused, on a route without rules');
expect_denied('open', $guarded);
is(status_from('127.0.0.2', $guarded, '/nowhere'), 403, '... also when no route matches (403, not 404)');
expect_denied('', $guarded);
is(status_from('127.0.0.1', $guarded, '/nowhere'), 404, 'the allowed client still gets 404 there');
is(status_from('127.0.0.2', $guarded, '/one'), 403,
   'the route allows 127.0.0.2, the listener does not: refused (listener rules first)');
expect_denied('one', $guarded);
is(status_from('127.0.0.1', $guarded, '/one'), 403, 'the listener allows 127.0.0.1, the route does not: refused');
expect_denied('one', $guarded);
is(status_from('127.0.0.3', $t->port('admin2'), '/health'), 403, 'admin listener denying 127.0.0.3: 403');
expect_denied('', $t->port('admin2'));
is(status_from('127.0.0.2', $t->port('admin2'), '/health'), 200, '... others get its endpoints');

# --- 3. behind real_ip --------------------------------------------------------------------------

$backend->reset_stats;
is(status_from('127.0.0.1', $port, '/echo/x', ['X-Forwarded-For', '203.0.113.5']), 200,
   'trusted peer forwarding 203.0.113.5 (allowed): proxied, 200');
is(status_from('127.0.0.1', $port, '/echo/y', ['X-Forwarded-For', '203.0.113.5, 198.51.100.1']), 403,
   'trusted peer forwarding 198.51.100.1 (the rightmost untrusted address): 403');
expect_denied('echo', $port);
is(status_from('127.0.0.1', $port, '/echo/z'), 403, 'the trusted peer itself, without the header: 403');
expect_denied('echo', $port);
is(status_from('127.0.0.2', $port, '/echo/w', ['X-Forwarded-For', '203.0.113.5']), 403,
   'an untrusted peer forging X-Forwarded-For: the header is ignored, 403');
expect_denied('echo', $port);
is(status_from('127.0.0.1', $port, '/lan/fwd', ['X-Forwarded-For', '127.0.0.3']), 403,
   'trusted peer forwarding 127.0.0.3 on a route denying it: 403');
expect_denied('lan', $port);
is(log_entry('/lan/fwd') && log_entry('/lan/fwd')->{remote_addr}, '127.0.0.3', '... logged as the forwarded client');
is($backend->count_requests(qr{^/echo/}), 1, 'only the allowed request reached the backend');

# --- 4. IPv6 ------------------------------------------------------------------------------------

SKIP: {
    skip 'no IPv6 loopback on this host', 4 unless $have_v6;
    my $v6 = $t->port('v6');
    is(status(v6_get($v6, '/v6')), 200, '[::1] on a route allowing ::1/128: 200');
    is(status(v6_get($v6, '/lan/v6')), 403, '[::1] on a route allowing 127.0.0.0/8 only: 403 (another family)');
    $denied{"lan [::1]:$v6"}++;
    is(status(v6_get($v6, '/echo/v6', 'X-Forwarded-For: 2001:db8::7')), 403,
       '::1 (not a trusted peer: its X-Forwarded-For is ignored) is outside 2001:db8::/32: 403');
    $denied{"echo [::1]:$v6"}++;
    is(status_from('127.0.0.1', $port, '/echo/v4mapped', ['X-Forwarded-For', '::ffff:203.0.113.9']), 200,
       'a forwarded IPv4-mapped address matches the IPv4 network');
}

# GET $path over IPv6 to [::1]:$port, with extra header lines; the response or undef.
sub v6_get {
    my ($port, $path, @headers) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $port, Timeout => 5) or return undef;
    binmode $s;
    print {$s} "GET $path HTTP/1.1\r\nHost: v6.test\r\n" . join('', map { "$_\r\n" } @headers)
        . "Connection: close\r\n\r\n";
    my ($buf, $deadline) = ('', time + 5);
    my $sel = IO::Select->new($s);
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    close $s;
    my ($status) = $buf =~ m{^HTTP/1\.1 (\d{3}) } or return undef;
    return { status => $status, body => (split /\r\n\r\n/, $buf, 2)[1] };
}

# --- 5. a refused request with a body -----------------------------------------------------------

{
    my $c = http_connect($port, local => '127.0.0.3', timeout => 5);
    $c->send("POST /lan/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" . ('x' x 1000));
    my $r = $c->read_response;
    is(status($r), 403, 'a refused POST is answered without its body being read');
    expect_denied('lan', $port);
    is($r && $r->{headers}{connection}, 'close', '... with connection: close');
    my ($closed) = $c->wait_closed(5);
    ok($closed, '... and the connection is closed');
}

# --- 6. metrics ---------------------------------------------------------------------------------

{
    my $m;
    # The access log is written at most 100ms late; the counters at once, in shared memory.
    $m = $t->metrics;
    is($m && $m->{types}{gateway_access_denied_total}, 'counter', 'gateway_access_denied_total is a counter');
    for my $key (sort keys %denied) {
        my ($route, $listener) = split / /, $key, 2;
        is(metric_sum($m, 'gateway_access_denied_total', { route => $route, listener => $listener }) // 0,
           $denied{$key}, "gateway_access_denied_total{route=\"$route\",listener=\"$listener\"} is $denied{$key}");
    }
    my $total = 0;
    $total += $_ for values %denied;
    is(metric_sum($m, 'gateway_access_denied_total') // 0, $total, "$total refusals in all, no other series");
}

# --- 7. reload ----------------------------------------------------------------------------------

{
    $t->write_conf(conf('{deny: 127.0.0.2}'));
    my $gen = $t->status_json->{generation};
    $t->signal('HUP');
    ok(wait_until(sub { my $s = $t->status_json; $s && $s->{generation} > $gen }, 10), 'reloaded');
    ok(wait_until(sub { !grep { $_->{title} =~ /generation $gen\b/ } worker_pids($t->pid) }, 10),
       'the old workers are gone');
    is(status_from('127.0.0.2', $port, '/one'), 403, 'after the reload, route one denies 127.0.0.2');
    is(status_from('127.0.0.1', $port, '/one'), 200, '... and lets 127.0.0.1 through');
}

# --- 8. -T and -t -------------------------------------------------------------------------------

{
    my $r = $t->run('-T', '-p', $t->dir, '-c', $t->conf);
    is($r->{exit}, 0, '-T succeeds') or diag($r->{out});
    like($r->{stdout}, qr/^ +- address: "127\.0\.0\.1:$guarded"\n(?: +\w+: .*\n)* +access:\n +allow: \["127\.0\.0\.1\/32"\]\n/m,
         '-T: the listener\'s rules, a bare address with its prefix length');
    like($r->{stdout}, qr/^ +- name: "lan"\n(?:(?! +- name).*\n)* +access:\n +allow: \["127\.0\.0\.0\/8"\]\n +deny: \["127\.0\.0\.3\/32"\]\n/m,
         '-T: the route\'s rules');
    $t->write_conf($r->{stdout}, 'dumped.conf');
    my $back = $t->run('-t', '-p', $t->dir, '-c', $t->path('dumped.conf'));
    is($back->{exit}, 0, 'the dump loads back') or diag($back->{out});

    my $bad = $t->write_conf(<<'CONF', 'bad.conf');
listeners:
  - address: 127.0.0.1:%%bad%%
    acess: {allow: [10.0.0.0/8]}
routes:
  - name: r
    match: {path: /}
    return: {body: ""}
    access:
      allow: [10.0.0.1/8, 10.0.0.0/33]
      denny: [192.0.2.1]
  - {name: s, match: {path: /s}, return: {body: ""}, access: {deny: []}}
  - {name: t, match: {path: /t}, return: {body: ""}, access: {allow: [10.1.2.3], deny: [10.0.0.0/8]}}
CONF
    my $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
    isnt($e->{exit}, 0, '-t: a configuration with bad rules is refused');
    like($e->{out}, qr/\Q$bad\E:3:5: unknown key "acess" \(did you mean "access"\?\)/,
         '-t: an unknown listener key, with a suggestion among the module\'s keys');
    like($e->{out}, qr/\Q$bad\E:9:15: routes\[0\]\.access\.allow\[0\]: "10\.0\.0\.1\/8" has host bits set \(the network is 10\.0\.0\.0\/8\)/,
         '-t: host bits set, at FILE:LINE:COL');
    like($e->{out}, qr/\Q$bad\E:9:27: routes\[0\]\.access\.allow\[1\]: prefix length 33 is out of range \(0\.\.32\)/,
         '-t: a prefix out of range');
    like($e->{out}, qr/\Q$bad\E:10:7: unknown key "denny" \(did you mean "deny"\?\)/, '-t: an unknown key in access');
    like($e->{out}, qr/\Q$bad\E:11:69: routes\[1\]\.access\.deny: at least one address or network is required/,
         '-t: an empty list');
    like($e->{out}, qr/\[warn\] \Q$bad\E:12:71: warning: routes\[2\]\.access\.allow\[0\]: 10\.1\.2\.3\/32 is inside 10\.0\.0\.0\/8 of deny, which wins: it is refused all the same/,
         '-t: a warning for an allowed address that a denied network overrides');
}

done_testing;
