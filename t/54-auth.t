#!/usr/bin/perl
# Authentication (issue 15, first part: JWT with keys from a file, API keys), with the real binary,
# a real backend, and tokens minted by Debian's python3-jwt (t/helpers/jwt-mint.py):
#   1. no credential: 401 with a challenge for each provider, never proxied;
#   2. RS256, ES256 and EdDSA tokens pass; the claims reach the backend as configured, and a
#      client's own X-User-Id never does; $consumer in the access log and in a return body;
#   3. refused tokens, each a 401 with RFC 6750's error_description: expired, not yet valid,
#      wrong audience, wrong issuer, "none", an algorithm off the allow-list, HS256 signed with
#      the RSA public key, a tampered payload, an unknown kid, another key's signature; two
#      Authorization fields: 400;
#   4. require: a token without the scope is 403 insufficient_scope, with it 200;
#   5. API keys: a key from the file passes as its consumer, another is 401; keys and tokens
#      never reach the logs;
#   6. a per-consumer rate limit, exact across 2 workers; a claim:NAME rate limit;
#   7. gateway_auth_requests_total;
#   8. `gatewayd -t` errors at FILE:LINE:COL and the -T round trip.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::SHA qw(sha256_hex);
use Test::More;
use GatewayTest;
use JwtMint;
use Backend;

my $t = GatewayTest->new;
require_modules('auth');
JwtMint::skip_unless_available();
my $keys = JwtMint::keys($t->dir . '/keys');
sub mint { JwtMint::mint($keys, @_) }    # tokens for a list of specs (see jwt-mint.py)

my $now = time;
sub claims { my %c = (iss => 'https://id.test/', aud => 'api', sub => 'alice', iat => $now - 10, exp => $now + 600, @_); \%c }

my $api_key = 'k3y-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 24);
spew($t->dir . '/api-keys.yaml', "partner-one:\n  - \"sha256:" . sha256_hex($api_key) . "\"\n");

my $backend = Backend->new(name => 'be')->start;
$t->set_port('be', $backend->port);
$t->write_conf(<<'CONF');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
access_log: {path: logs/access.log, format: json, fields: {uri: $request_uri, status: $status, consumer: $consumer}, flush: 100ms}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  be:
    servers: [{address: 127.0.0.1:%%be%%}]
auth:
  jwt:
    main:
      issuer: https://id.test/
      audiences: [api, other]
      jwks: {file: keys/jwks.json}
      algorithms: [RS256, ES256, EdDSA]
      forward_claims: {sub: x-user-id, tenant: x-tenant-id}
    scoped:
      jwks: {file: keys/jwks.json}
      algorithms: [ES256]
      require: {scope: "orders:write"}
    hmac:
      secret_file: keys/hs.secret
      algorithms: [HS256]
  api_keys:
    partners: {keys_file: api-keys.yaml}
rate_limits:
  per-consumer: {key: consumer, rate: 5/m, algorithm: fixed_window}
  per-tenant: {key: claim:tenant, rate: 3/m, algorithm: fixed_window}
routes:
  - {name: orders, match: {path_prefix: /orders/}, auth: [main, partners], upstream: be}
  - {name: limited, match: {path_prefix: /limited/}, auth: [main, partners], rate_limit: [per-consumer], return: {body: "ok $consumer"}}
  - {name: tenant, match: {path_prefix: /tenant/}, auth: [main], rate_limit: [per-tenant], return: {body: "ok"}}
  - {name: scoped, match: {path_prefix: /scoped/}, auth: [scoped], return: {body: "scoped $consumer"}}
  - {name: hmac, match: {path_prefix: /hmac/}, auth: [hmac], return: {body: "hmac $consumer"}}
  - {name: open, match: {path_prefix: /}, upstream: be}
CONF
$t->start;
my $port = $t->port('http');
my $access = $t->dir . '/logs/access.log';

sub get { my ($path, %h) = @_; http_get($port, $path, \%h) }
sub bearer { (Authorization => "Bearer $_[0]") }
sub status { my $r = shift; $r ? $r->{status} : 'no response' }
sub challenge { my $r = shift; $r ? $r->{headers}{'www-authenticate'} // '' : '' }

# --- 1. no credential ---------------------------------------------------------------------------
{
    $backend->reset_stats;
    my $r = get('/orders/1');
    is(status($r), 401, 'no credential: 401');
    is(challenge($r), 'Bearer realm="main", ApiKey realm="partners"', '... with a challenge for each provider');
    is(parse_json($r->{body})->{error}, 'unauthorized: no credentials', '... and the JSON body says why');
    is($backend->stats->{requests} // 0, 0, '... never proxied');
    is(status(get('/orders/1', Authorization => 'Basic dXNlcjpwYXNz')), 401,
       'an Authorization of another scheme is no credential of theirs: 401');
    is(status(get('/anything')), 200, 'a route without auth: 200');
}

# --- 2. good tokens -----------------------------------------------------------------------------
my ($rs, $es, $ed) = mint(
    { alg => 'RS256', kid => 'rsa', key => 'rsa', claims => claims(tenant => 'acme') },
    { alg => 'ES256', kid => 'ec',  key => 'ec',  claims => claims(sub => 'bob', aud => ['x', 'other']) },
    { alg => 'EdDSA', kid => 'ed',  key => 'ed',  claims => claims(sub => 'carol') },
);
{
    my $r = get('/orders/rs', bearer($rs), 'X-User-Id' => 'admin', 'X-Tenant-Id' => 'evil');
    is(status($r), 200, 'RS256 token: 200');
    my $j = parse_json($r->{body});
    is_deeply([echo_hdrs($j, 'x-user-id')], ['alice'], 'the backend gets x-user-id from sub, and only it (the client\'s is dropped)');
    is_deeply([echo_hdrs($j, 'x-tenant-id')], ['acme'], '... x-tenant-id from the tenant claim');
    is(echo_hdr($j, 'authorization'), "Bearer $rs", '... and the Authorization field itself');
    my $e = access_log_entry($access, '/orders/rs');
    is($e && $e->{consumer}, 'alice', '$consumer in the access log is the subject');
    is(status(get('/orders/es', bearer($es))), 200, 'ES256 token (aud a list holding one of ours): 200');
    is(status(get('/orders/ed', bearer($ed))), 200, 'EdDSA token: 200');
    $r = get('/orders/noclaim', bearer($es), 'X-Tenant-Id' => 'evil');
    is_deeply([echo_hdrs(parse_json($r->{body}), 'x-tenant-id')], [], 'a claim the token lacks: no field, and the client\'s never');
    is(get('/orders/x', bearer($rs)) && get('/orders/x', bearer($rs))->{status}, 200, 'the same token again (cached): 200');
}

# --- 3. refused tokens ---------------------------------------------------------------------------
{
    my @cases = (
        ['token expired', { alg => 'ES256', kid => 'ec', key => 'ec', claims => claims(exp => $now - 120) }],
        ['token not yet valid', { alg => 'ES256', kid => 'ec', key => 'ec', claims => claims(nbf => $now + 300) }],
        ['wrong audience', { alg => 'ES256', kid => 'ec', key => 'ec', claims => claims(aud => 'someone-else') }],
        ['wrong issuer', { alg => 'ES256', kid => 'ec', key => 'ec', claims => claims(iss => 'https://evil.test/') }],
        ['unsupported token', { alg => 'none', claims => claims() }],
        ['algorithm not allowed', { alg => 'ES384', kid => 'ec', key => 'other-ec', claims => claims() }],
        ['algorithm not allowed', { alg => 'HS256', kid => 'rsa', key => 'rsa-pub-as-hmac', claims => claims() }],
        ['no key for the token', { alg => 'ES256', kid => 'nope', key => 'ec', claims => claims() }],
        ['invalid signature', { alg => 'ES256', kid => 'ec', key => 'other-ec', claims => claims() }],
        ['token without expiry', { alg => 'ES256', kid => 'ec', key => 'ec', claims => { iss => 'https://id.test/', aud => 'api', sub => 'x' } }],
    );
    my @tokens = mint(map { $_->[1] } @cases);
    for my $i (0 .. $#cases) {
        my ($why, $spec) = @{ $cases[$i] };
        my $r = get("/orders/bad$i", bearer($tokens[$i]));
        is(status($r), 401, "refused ($why, $spec->{alg}): 401");
        is(challenge($r), qq{Bearer realm="main", error="invalid_token", error_description="$why"}, '... saying why');
    }
    # A payload changed after signing.
    my ($h, $p, $s) = split /\./, $rs;
    (my $forged = $p) =~ tr/A-Za-z/B-ZAb-za/;
    is(challenge(get('/orders/forged', bearer("$h.$forged.$s"))) =~ /error_description="(invalid signature|malformed token)"/ ? 1 : 0, 1,
       'a tampered payload: invalid (signature or shape)');
    my $r = http_request($port, "GET /orders/two HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $rs\r\nAuthorization: Bearer $es\r\n\r\n");
    is(status($r), 400, 'two Authorization fields: 400');
    like(challenge($r), qr/error="invalid_request"/, '... invalid_request');
    like($t->error_log, qr/request refused by auth \(route "orders", provider "main"\): token expired/,
         'a refusal is logged at info with its reason');
}

# --- 4. require ----------------------------------------------------------------------------------
{
    my ($none, $read, $write, $list) = mint(
        { alg => 'ES256', kid => 'ec', key => 'ec', claims => claims() },
        { alg => 'ES256', kid => 'ec', key => 'ec', claims => claims(scope => 'orders:read') },
        { alg => 'ES256', kid => 'ec', key => 'ec', claims => claims(sub => 'dave', scope => 'orders:read orders:write') },
        { alg => 'ES256', kid => 'ec', key => 'ec', claims => claims(sub => 'erin', scope => ['orders:write']) },
    );
    my $r = get('/scoped/a', bearer($none));
    is(status($r), 403, 'require: a token without the scope: 403');
    is(challenge($r), 'Bearer realm="scoped", error="insufficient_scope"', '... insufficient_scope');
    is(status(get('/scoped/b', bearer($read))), 403, '... another scope: 403');
    $r = get('/scoped/c', bearer($write));
    is(status($r), 200, '... the scope among several: 200');
    is($r->{body}, 'scoped dave', '... $consumer in a return body');
    is(status(get('/scoped/d', bearer($list))), 200, '... the scope in a list: 200');
    is(status(get('/scoped/e', bearer($rs))), 401, 'an RS256 token on a provider that allows ES256 only: 401');
}

# --- HS256 ---------------------------------------------------------------------------------------
{
    my ($hs, $confused) = mint({ alg => 'HS256', claims => claims(sub => 'hank') },
                               { alg => 'HS256', key => 'rsa-pub-as-hmac', claims => claims() });
    my $r = get('/hmac/1', bearer($hs));
    is(status($r), 200, 'HS256 with the secret file: 200');
    is($r->{body}, 'hmac hank', '... its subject is the consumer');
    is(challenge(get('/hmac/2', bearer($confused))), 'Bearer realm="hmac", error="invalid_token", error_description="invalid signature"',
       'HS256 signed with the RSA public key as secret: invalid signature');
}

# --- 5. API keys ---------------------------------------------------------------------------------
{
    my $r = get('/orders/key', 'X-Api-Key' => $api_key);
    is(status($r), 200, 'an API key from the file: 200');
    my $e = access_log_entry($access, '/orders/key');
    is($e && $e->{consumer}, 'partner-one', '... its consumer in the access log');
    $r = get('/orders/badkey', 'X-Api-Key' => "${api_key}x");
    is(status($r), 401, 'another key: 401');
    is(challenge($r), 'ApiKey realm="partners"', '... with its challenge');
    is(status(get('/orders/both', 'X-Api-Key' => $api_key, bearer($rs))), 200,
       'a token and a key: the first provider listed decides (main)');
    my $logs = (slurp($access) // '') . $t->error_log;
    unlike($logs, qr/\Q$api_key\E/, 'the API key appears in no log');
    unlike($logs, qr/\Q$rs\E/, 'nor does a token');
}

# --- 6. rate limits by consumer and by claim, across 2 workers ----------------------------------
{
    my ($frank, $grace) = mint({ alg => 'ES256', kid => 'ec', key => 'ec', claims => claims(sub => 'frank') },
                               { alg => 'ES256', kid => 'ec', key => 'ec', claims => claims(sub => 'grace') });
    my @conns = map { http_connect($port, timeout => 5) } 1 .. 8;
    $_->send("GET /limited/f HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $frank\r\nConnection: close\r\n\r\n") for @conns;
    my @st = map { my $r = $_->read_response; $r ? $r->{status} : 0 } @conns;
    is(scalar(grep { $_ == 200 } @st), 5, 'per-consumer 5/m: exactly 5 of 8 concurrent requests of one consumer pass (2 workers)');
    is(scalar(grep { $_ == 429 } @st), 3, '... the other 3 get 429');
    is(status(get('/limited/g', bearer($grace))), 200, '... another consumer is not limited by them');
    is(status(get('/limited/k', 'X-Api-Key' => $api_key)), 200, '... nor an API key\'s consumer');
    my ($t1, $t2, $t3) = mint(map { { alg => 'ES256', kid => 'ec', key => 'ec', claims => claims(sub => "u$_", tenant => 'initech') } } 1 .. 3);
    my @ok = map { status(get('/tenant/x', bearer($_))) } ($t1, $t2, $t3, $t1);
    is_deeply(\@ok, [200, 200, 200, 429], 'claim:tenant 3/m: three users of one tenant share it');
}

# --- 7. metrics ----------------------------------------------------------------------------------
{
    my $m = $t->metrics;
    ok(metric_sum($m, 'gateway_auth_requests_total', { route => 'orders', provider => 'main', result => 'ok' }) >= 5,
       'gateway_auth_requests_total counts the tokens that passed');
    ok(metric_sum($m, 'gateway_auth_requests_total', { route => 'orders', provider => 'main', result => 'invalid' }) >= 10,
       '... and those refused');
    is(metric_sum($m, 'gateway_auth_requests_total', { route => 'scoped', provider => 'scoped', result => 'forbidden' }), 2,
       '... and those forbidden');
}

# --- 8. -t and -T --------------------------------------------------------------------------------
{
    my $r = $t->run('-T', '-p', $t->dir, '-c', $t->conf);
    is($r->{exit}, 0, 'gatewayd -T') or diag($r->{out});
    like($r->{stdout}, qr/^auth:\n  jwt:\n    "main":\n      issuer: "https:\/\/id.test\/"/m, '-T shows the providers');
    like($r->{stdout}, qr/auth: \["main", "partners"\]/, '... and a route\'s list');
    spew($t->path('dumped.conf'), $r->{stdout});
    my $back = $t->run('-t', '-p', $t->dir, '-c', $t->path('dumped.conf'));
    is($back->{exit}, 0, 'the dump loads again') or diag($back->{out});

    my $bad = $t->path('bad.conf');
    spew($bad, <<'CONF');
listeners: [{address: 127.0.0.1:1}]
auth:
  jwt:
    main:
      jwks: {file: keys/jwks.json}
      algorithms: [RS256, none]
  api_keys:
    partners: {keys_file: bad-keys.yaml}
  basic:
    ops: {htpasswd: ops.htpasswd}
routes:
  - {name: a, match: {path_prefix: /}, auth: [mains], return: {body: x}}
CONF
    spew($t->path('bad-keys.yaml'), "someone:\n  - plain-secret-key\n");
    spew($t->path('ops.htpasswd'), "ops:\$2y\$05\$abcdefghijklmnopqrstuuJ2r7bD3pF0bT9yCzB9Pm0s8iXJdK8mS\n");
    my $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
    isnt($e->{exit}, 0, 'gatewayd -t refuses it');
    like($e->{out}, qr/bad\.conf:6:27: auth\.jwt\.main\.algorithms\[1\]: "none" \(an unsigned token\) is never accepted/, '"none" at its FILE:LINE:COL');
    like($e->{out}, qr/bad-keys\.yaml:2:5: someone: expected "sha256:"/, 'a key instead of its digest: at the keys file\'s LINE:COL');
    unlike($e->{out}, qr/plain-secret-key/, '... without quoting the key');
    like($e->{out}, qr/bad\.conf:12:47: routes\[0\]\.auth\[0\]: unknown auth provider "mains" \(did you mean "main"\?\)/, 'an unknown provider, with a suggestion');
}

done_testing();
