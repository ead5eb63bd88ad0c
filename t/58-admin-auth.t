#!/usr/bin/perl
# The admin listeners' authentication (`admin_auth:`, issue 15), with the real binary:
#   1. /health and /health/ready stay open; /status and /metrics need the bearer token (401 with a
#      challenge without it, or with another token, or with two Authorization fields);
#   2. an address outside `allow` is refused 403 even with the token;
#   3. the ordinary listener is not touched; refusals are counted; the token never reaches a log;
#   4. a new token is read on HUP (the old one then fails);
#   5. protect_health: true guards the health endpoints too;
#   6. `gatewayd -t` errors at FILE:LINE:COL (a short token, a bad network, no token_file) and the
#      -T round trip, which shows the file but never the token.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use GatewayTest;

my $t = GatewayTest->new;
require_modules('admin_auth');

sub token { join '', map { ('a' .. 'z', 'A' .. 'Z', 0 .. 9)[rand 62] } 1 .. 40 }
my $token = token();
spew($t->path('admin.token'), "$token\n");

my $conf = <<'CONF';
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
admin_auth:
  token_file: admin.token
  allow: [127.0.0.1, "::1"]
  protect_health: PROTECT
routes:
  - {name: hello, match: {path: /hello}, return: {body: "hello"}}
CONF
sub write_conf { my ($protect) = @_; (my $c = $conf) =~ s/PROTECT/$protect/; $t->write_conf($c) }
write_conf('false');
$t->start;
my $admin = $t->port('admin');

sub admin {
    my ($path, %h) = @_;
    return http_get($admin, $path, \%h);
}
sub status { my $r = shift; $r ? $r->{status} : 'no response' }
sub bearer { (Authorization => "Bearer $_[0]") }

# --- 1. health open, the rest guarded ------------------------------------------------------------
{
    is(status(admin('/health')), 200, '/health without a token: 200 (load balancers)');
    is(status(admin('/health/ready')), 200, '/health/ready without a token: 200');
    my $r = admin('/status');
    is(status($r), 401, '/status without a token: 401');
    is($r->{headers}{'www-authenticate'}, 'Bearer realm="admin"', '... with a Bearer challenge');
    is(parse_json($r->{body})->{error}, 'admin token required', '... and a JSON error');
    is(status(admin('/metrics', bearer(token()))), 401, 'another token: 401');
    is(status(admin('/metrics', bearer(substr($token, 0, -1)))), 401, 'the token less its last byte: 401');
    is(status(admin('/metrics', bearer("${token}x"))), 401, 'the token and one byte more: 401');
    is(status(admin('/metrics', Authorization => "Basic $token")), 401, 'the token under another scheme: 401');
    $r = admin('/status', bearer($token));
    is(status($r), 200, 'the token: 200');
    ok(parse_json($r->{body})->{workers}, '... with the status object');
    is(status(admin('/metrics', Authorization => "bearer $token")), 200, 'the scheme in any case');
    is(status(admin('/nothing', bearer($token))), 404, 'an unknown endpoint with the token: 404 as before');
    $r = http_request($admin, "GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
                              . "Authorization: Bearer $token\r\n\r\n");
    is(status($r), 401, 'two Authorization fields: 401');
}

# --- 2. the address ------------------------------------------------------------------------------
{
    my $c = GatewayTest::Conn->new($admin, local => '127.0.0.2');
    $c->send("GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n\r\n");
    my $r = $c->read_response;
    is(status($r), 403, 'an address outside allow, with the token: 403');
    is($r->{headers}{'www-authenticate'}, undef, '... and no challenge: a token would not help');
    $c->close;
    $c = GatewayTest::Conn->new($admin, local => '127.0.0.2');
    $c->send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    is(status($c->read_response), 200, '... /health stays open to it');
    $c->close;
}

# --- 3. the rest of the gateway, counters, logs --------------------------------------------------
{
    is(status(http_get($t->port('http'), '/hello')), 200, 'the ordinary listener needs no token');
    is(status(http_get($t->port('http'), '/status')), 404, '... and serves no admin endpoint');
    my $m = parse_metrics(admin('/metrics', bearer($token))->{body});
    my ($r401) = map { $_->{value} } grep { $_->{labels}{status} eq '401' } metric_samples($m, 'gateway_admin_auth_refused_total');
    my ($r403) = map { $_->{value} } grep { $_->{labels}{status} eq '403' } metric_samples($m, 'gateway_admin_auth_refused_total');
    is($r401, 6, 'gateway_admin_auth_refused_total{status="401"} counts the 401s');
    is($r403, 1, '... {status="403"} the 403');
    my $log = $t->error_log;
    like($log, qr/admin request for \/status refused: its address is not in admin_auth\.allow/, 'refusals are logged');
    unlike($log, qr/\Q$token\E/, '... never with the token');
}

# --- 4. a new token on HUP -----------------------------------------------------------------------
{
    my $new = token();
    spew($t->path('admin.token'), $new);
    $t->signal('HUP');
    ok(wait_until(sub { status(admin('/status', bearer($new))) == 200 }, 10), 'after HUP the new token is accepted');
    # (A worker of the old generation may take a request or two while it stops accepting.)
    ok(wait_until(sub { status(admin('/status', bearer($token))) == 401 }, 10), '... and the old one refused');
    $token = $new;
}

# --- 5. protect_health ---------------------------------------------------------------------------
{
    write_conf('true');
    $t->signal('HUP');
    # (Until the old generation's workers stop accepting, one of them may still answer 200.)
    ok(wait_until(sub { status(admin('/health')) == 401 && status(admin('/health/ready')) == 401 }, 10),
       'protect_health: true: /health and /health/ready without a token are 401');
    is(status(admin('/health/ready', bearer($token))), 200, '... and 200 with it');
}

# --- 6. -t and -T --------------------------------------------------------------------------------
{
    my $r = $t->run('-T', '-p', $t->dir, '-c', $t->conf);
    is($r->{exit}, 0, 'gatewayd -T') or diag($r->{out});
    my $file = $t->path('admin.token');
    like($r->{stdout}, qr/^admin_auth:\n  token_file: "\Q$file\E"\n  allow: \["127\.0\.0\.1\/32", "::1\/128"\]\n  protect_health: true\n/m,
         '-T shows admin_auth');
    unlike($r->{stdout}, qr/\Q$token\E/, '... never the token');
    spew($t->path('dumped.conf'), $r->{stdout});
    my $back = $t->run('-t', '-p', $t->dir, '-c', $t->path('dumped.conf'));
    is($back->{exit}, 0, 'the dump loads again') or diag($back->{out});

    spew($t->path('short.token'), "short-secret\n");
    my $bad = $t->path('bad.conf');
    spew($bad, <<'CONF');
listeners: [{address: 127.0.0.1:1, admin: true}]
admin_auth: {token_file: short.token, allow: [10.0.0.0/33]}
CONF
    my $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
    isnt($e->{exit}, 0, 'gatewayd -t refuses a short token');
    like($e->{out}, qr/bad\.conf:2:26: admin_auth\.token_file: the token in "[^"]*short\.token" is 12 bytes; at least 32 are required/,
         '... at its FILE:LINE:COL');
    unlike($e->{out}, qr/short-secret/, '... without quoting it');
    like($e->{out}, qr/bad\.conf:2:47: admin_auth\.allow\[0\]: /, 'a bad network at its FILE:LINE:COL');
    spew($bad, "listeners: [{address: 127.0.0.1:1, admin: true}]\nadmin_auth: {allow: [10.0.0.0/8]}\n");
    $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
    like($e->{out}, qr/bad\.conf:2:13: admin_auth: missing required key "token_file"/, 'token_file is required');
}

$t->stop;
done_testing();
