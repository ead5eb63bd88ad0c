#!/usr/bin/perl
# JWT key sets fetched over https:// by the master (issue 15): the JWKS server is `openssl
# s_server -WWW` (a real TLS peer; it serves the files of its directory, one connection at a time,
# and ends each answer by closing), its certificate issued by a private CA; two workers.
#   1. with `ca:` naming that CA: the set is fetched and verifies a token; the fetch is counted;
#   2. key rotation over https: a token with a new kid is accepted after a refetch;
#   3. a server whose certificate the configured CA did not issue: every fetch fails, counted and
#      logged with the verification's reason, and tokens are refused (no set was ever good);
#   4. the system's trust store by default (no `ca:`): the private CA is not in it, so the same
#      server is refused too;
#   5. an external authorizer at an https:// URL (s_server -WWW answers 200 for a file that
#      exists: allowed), and one whose certificate the CA did not issue (on_error: deny, 503);
#   6. at load: `ca:` that cannot be read or holds no certificate, FILE:LINE:COL; -T shows `ca:`.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP;
use Time::HiRes qw(time sleep);
use Test::More;
use GatewayTest;
use JwtMint;
use TestCerts;

my $t = GatewayTest->new;
require_modules('auth', 'tls');
plan skip_all => 'the openssl command is not installed' unless TestCerts::available();
JwtMint::skip_unless_available();

my $dir = $t->dir;
my $certs = TestCerts->new($dir);
$certs->ca('ca');
$certs->ca('other-ca');
$certs->cert('idp', ca => 'ca', cn => 'idp.test', san => 'DNS:idp.test,IP:127.0.0.1');
$certs->cert('stranger', ca => 'other-ca', cn => 'idp.test', san => 'DNS:idp.test,IP:127.0.0.1');

my $keys_a = JwtMint::keys("$dir/keys-a");
my $keys_b = JwtMint::keys("$dir/keys-b");
my $now = time;
my %claims = (iss => 'https://id.test/', aud => 'api', sub => 'alice', iat => int($now) - 10, exp => int($now) + 3600);
my ($a_rsa) = JwtMint::mint($keys_a, { alg => 'RS256', kid => 'rsa', key => 'rsa', claims => \%claims });
my ($b_ec) = JwtMint::mint($keys_b, { alg => 'ES256', kid => 'ec-new', key => 'ec', claims => { %claims, sub => 'bob' } });

my $json = JSON::PP->new->canonical;
my $set_a = $json->decode(slurp("$keys_a/jwks.json"));
my ($b_ec_jwk) = grep { $_->{kid} eq 'ec' } @{ $json->decode(slurp("$keys_b/jwks.json"))->{keys} };

# The https servers: s_server -WWW serves $www/jwks.json as "HTTP/1.0 200 ok" and closes.
my $www = "$dir/www";
mkdir $www;
sub serve { my ($set) = @_; spew("$www/jwks.json.tmp", $json->encode($set)); rename "$www/jwks.json.tmp", "$www/jwks.json" }
serve($set_a);


my $good = $certs->s_server_www($www, 'idp');
my $stranger = $certs->s_server_www($www, 'stranger');
$t->set_port('good', $good);
$t->set_port('stranger', $stranger);

$t->write_conf(<<'CONF');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
auth:
  jwt:
    good:
      issuer: https://id.test/
      audiences: [api]
      jwks: {url: "https://127.0.0.1:%%good%%/jwks.json", ca: ca.pem, refresh: 1h, timeout: 2s, kid_miss_interval: 1s}
      algorithms: [RS256, ES256]
    wrong_ca:
      issuer: https://id.test/
      audiences: [api]
      jwks: {url: "https://127.0.0.1:%%stranger%%/jwks.json", ca: ca.pem, refresh: 1h, timeout: 2s}
      algorithms: [RS256, ES256]
    system_store:
      issuer: https://id.test/
      audiences: [api]
      jwks: {url: "https://127.0.0.1:%%good%%/jwks.json", refresh: 1h, timeout: 2s}
      algorithms: [RS256, ES256]
  external:
    authz: {url: "https://127.0.0.1:%%good%%/allow", ca: ca.pem, timeout: 2s}
    stranger: {url: "https://127.0.0.1:%%stranger%%/allow", ca: ca.pem, timeout: 2s, on_error: deny}
routes:
  - {name: good, match: {path_prefix: /good/}, auth: [good], return: {body: "ok $consumer"}}
  - {name: ext, match: {path_prefix: /ext/}, auth: [authz], return: {body: "ok $consumer"}}
  - {name: ext-stranger, match: {path_prefix: /ext-stranger/}, auth: [stranger], return: {body: "ok $consumer"}}
  - {name: wrong, match: {path_prefix: /wrong/}, auth: [wrong_ca], return: {body: "ok $consumer"}}
  - {name: system, match: {path_prefix: /system/}, auth: [system_store], return: {body: "ok $consumer"}}
CONF
$t->start;
my $port = $t->port('http');
sub get { my ($path, $token) = @_; http_get($port, $path, { Authorization => "Bearer $token" }) }
sub status { my $r = shift; $r ? $r->{status} : 'no response' }
sub fetched {
    my ($provider, $result) = @_;
    return metric_sum($t->metrics, 'gateway_auth_jwks_fetches_total', { provider => $provider, result => $result }) // 0;
}

# --- 1. fetched over TLS, verified against ca: ----------------------------------------------------
ok(wait_until(sub { fetched('good', 'ok') >= 1 }, 10), 'the set is fetched over https (counted ok)')
    or diag($t->error_log);
my $r = get('/good/x', $a_rsa);
is(status($r), 200, 'a token verifies with the set fetched over https');
is($r && $r->{body}, 'ok alice', '... as its subject');
is(fetched('good', 'failed'), 0, 'no failed fetch for it');

# --- 2. rotation over https -----------------------------------------------------------------------
serve({ keys => [@{ $set_a->{keys} }, { %$b_ec_jwk, kid => 'ec-new' }] });
is(status(get('/good/x', $b_ec)), 200, 'a token with a new kid verifies after a refetch over https');
ok(fetched('good', 'ok') >= 2, '... which is counted');

# --- 3. a certificate from another CA ---------------------------------------------------------------
ok(wait_until(sub { fetched('wrong_ca', 'failed') >= 1 }, 10), 'a server the CA did not certify: the fetch fails (counted)');
is(fetched('wrong_ca', 'ok'), 0, '... never ok');
like($t->error_log, qr/auth\.jwt\.wrong_ca: fetching https:\/\/127\.0\.0\.1:\d+\/jwks\.json failed \(tls: [^)]*certificate[^)]*\)/,
     '... logged with the verification\'s reason');
is(status(get('/wrong/x', $a_rsa)), 401, '... and its tokens are refused');

# --- 4. the system's trust store by default -------------------------------------------------------
ok(wait_until(sub { fetched('system_store', 'failed') >= 1 }, 10), 'without ca: the system trust store does not know the private CA');
is(fetched('system_store', 'ok'), 0, '... so nothing was accepted');
is(status(get('/system/x', $a_rsa)), 401, '... and its tokens are refused');

# --- 5. an external authorizer over https ---------------------------------------------------------
spew("$www/allow", "yes\n");
$r = http_get($port, '/ext/x');
is(status($r), 200, 'an https:// authorizer allows (its certificate verified against ca:)');
is($r && $r->{body}, 'ok authz', '... the consumer is the provider');
$r = http_get($port, '/ext-stranger/x');
is(status($r), 503, 'an authorizer the CA did not certify: on_error deny (503)');
unlike($r ? $r->{body} : '', qr/certificate|verify/, '... the client is not told why');
like($t->error_log, qr/auth.*stranger.*certificate verify failed|certificate verify failed.*stranger/,
     '... logged with the verification\'s reason');

# --- 6. at load -----------------------------------------------------------------------------------
{
    my $d = $t->run('-T', '-p', $dir, '-c', $t->conf);
    is($d->{exit}, 0, 'gatewayd -T') or diag($d->{out});
    like($d->{stdout}, qr/url: "https:\/\/127\.0\.0\.1:\d+\/jwks\.json"\n(?:\s+\S+: .*\n)*?\s+ca: "\Q$dir\E\/ca\.pem"/, '-T shows ca: as an absolute path');
    spew("$dir/not-a-ca.pem", "hello\n");
    my $bad = "$dir/bad.conf";
    spew($bad, <<'CONF');
listeners: [{address: 127.0.0.1:1}]
auth:
  jwt:
    a: {jwks: {url: "https://127.0.0.1:1/jwks.json", ca: missing.pem}, algorithms: [RS256]}
    b: {jwks: {url: "https://127.0.0.1:1/jwks.json", ca: not-a-ca.pem}, algorithms: [RS256]}
routes:
  - {name: a, match: {path_prefix: /}, auth: [a, b], return: {body: x}}
CONF
    my $e = $t->run('-t', '-p', $dir, '-c', $bad);
    isnt($e->{exit}, 0, 'gatewayd -t refuses a bad ca:');
    like($e->{out}, qr/bad\.conf:4:\d+: auth\.jwt\.a\.jwks\.ca: cannot read "[^"]*missing\.pem"/, 'an unreadable CA file, at FILE:LINE:COL');
    like($e->{out}, qr/bad\.conf:5:\d+: auth\.jwt\.b\.jwks\.ca: "[^"]*not-a-ca\.pem" holds no PEM certificate/, 'a file without a certificate');
}

$t->stop;
done_testing();
