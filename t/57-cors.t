#!/usr/bin/perl
# CORS (issue 15) and the admin listeners' authentication, with the real binary and a real backend:
#   1. preflights answered by the gateway before auth (204 with the policy's fields, never
#      proxied, no credential asked for), from exact and wildcard origins;
#   2. preflights refused (another origin, the bare domain of a wildcard, a method or a header not
#      listed): 403 without CORS fields, with Vary;
#   3. actual requests: an allowed origin gets Access-Control-Allow-Origin (its own, never "*" with
#      credentials), -Allow-Credentials, -Expose-Headers; another origin and no origin get none;
#      Vary: Origin always;
#   4. the gateway's own answers carry them too: a 401 from auth is readable by the browser app;
#   5. the upstream's own Access-Control-* fields are replaced (and dropped for other origins);
#   6. a "*" policy without credentials: "*", and never for the origin "null";
#   7. `gatewayd -t` errors at FILE:LINE:COL and the -T round trip.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::SHA qw(sha256_hex);
use Test::More;
use GatewayTest;
use Backend;

my $t = GatewayTest->new;
require_modules('cors', 'auth');

my $api_key = 'k3y-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 24);
spew($t->dir . '/api-keys.yaml', "partner-one:\n  - \"sha256:" . sha256_hex($api_key) . "\"\n");

my $backend = Backend->new(name => 'be')->start;
$t->set_port('be', $backend->port);
$t->write_conf(<<'CONF');
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  be:
    servers: [{address: 127.0.0.1:%%be%%}]
  self:
    servers: [{address: 127.0.0.1:%%http%%}]
auth:
  api_keys:
    partners: {from: [header:x-api-key], keys_file: api-keys.yaml}
cors:
  web:
    origins: ["https://app.example.com", "https://*.example.com"]
    methods: [GET, POST, DELETE]
    headers: [authorization, content-type, x-api-key]
    expose_headers: [x-request-id]
    credentials: true
    max_age: 10m
  open: {origins: "*", methods: [GET]}
routes:
  - {name: orders, match: {path_prefix: /orders/}, cors: web, auth: [partners], upstream: be}
  # An upstream with CORS fields of its own: this gateway's own route, behind /reflect/ (/reflect/acao-src).
  - name: acao-src
    match: {path: /acao-src}
    return:
      body: "from upstream"
      headers: {access-control-allow-origin: "*", access-control-allow-methods: PUT, access-control-expose-headers: secret}
  - {name: reflect, match: {path_prefix: /reflect/}, strip_prefix: /reflect, cors: web, upstream: self}
  - {name: public, match: {path_prefix: /public/}, cors: open, upstream: be}
  - {name: plain, match: {path_prefix: /}, upstream: be}
CONF
$t->start;
my $port = $t->port('http');

my $app = 'https://app.example.com';
sub req {
    my ($method, $path, %h) = @_;
    return http_get($port, $path, \%h, method => $method);
}
sub status { my $r = shift; $r ? $r->{status} : 'no response' }
sub hdr { my ($r, $n) = @_; $r ? $r->{headers}{$n} : undef }
# The response's Access-Control-* field names, sorted.
sub cors_fields { my $r = shift; $r ? join(',', sort grep { /^access-control-/ } keys %{ $r->{headers} }) : 'no response' }
sub preflight {
    my ($path, $origin, $method, $headers) = @_;
    return req('OPTIONS', $path, Origin => $origin, 'Access-Control-Request-Method' => $method,
               (defined $headers ? ('Access-Control-Request-Headers' => $headers) : ()));
}
my $vary_preflight = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

# --- 1. preflights answered ----------------------------------------------------------------------
{
    $backend->reset_stats;
    my $r = preflight('/orders/1', $app, 'DELETE', 'authorization,x-api-key');
    is(status($r), 204, 'a preflight on an auth route: 204, no credential asked for');
    is(hdr($r, 'access-control-allow-origin'), $app, '... Access-Control-Allow-Origin: the origin');
    is(hdr($r, 'access-control-allow-methods'), 'GET, POST, DELETE', '... -Allow-Methods');
    is(hdr($r, 'access-control-allow-headers'), 'authorization,x-api-key', '... -Allow-Headers: the requested ones');
    is(hdr($r, 'access-control-allow-credentials'), 'true', '... -Allow-Credentials');
    is(hdr($r, 'access-control-max-age'), '600', '... -Max-Age in seconds');
    is(hdr($r, 'vary'), $vary_preflight, '... Vary on the three fields');
    is(hdr($r, 'www-authenticate'), undef, '... no challenge');
    is($r->{body}, '', '... no body');

    $r = preflight('/orders/1', 'https://a.b.example.com', 'POST', 'Content-Type');
    is(status($r), 204, 'a wildcard origin, two labels deep: 204');
    is(hdr($r, 'access-control-allow-origin'), 'https://a.b.example.com', '... its own origin echoed');
    is(status(preflight('/orders/1', 'https://APP.example.com', 'GET')), 204, 'hosts compare in any case');
    is($backend->stats->{requests} // 0, 0, 'preflights never reach the upstream');
}

# --- 2. preflights refused -----------------------------------------------------------------------
{
    for my $case (['another origin', 'https://evil.test', 'GET', undef],
                  ['the bare domain of a wildcard', 'https://example.com', 'GET', undef],
                  ['another scheme', 'http://app.example.com', 'GET', undef],
                  ['another port', 'https://app.example.com:8443', 'GET', undef],
                  ['a look-alike domain', 'https://app.example.com.evil.test', 'GET', undef],
                  ['a method not listed', $app, 'PUT', undef],
                  ['a header not listed', $app, 'POST', 'content-type, x-other'],
                  ['the origin "null"', 'null', 'GET', undef]) {
        my ($what, $origin, $method, $headers) = @$case;
        my $r = preflight('/orders/1', $origin, $method, $headers);
        is(status($r), 403, "preflight refused for $what: 403");
        is(cors_fields($r), '', '... without CORS fields');
        is(hdr($r, 'vary'), $vary_preflight, '... with Vary');
    }
}

# --- 3. actual requests --------------------------------------------------------------------------
{
    my $r = req('GET', '/orders/1', Origin => $app, 'X-Api-Key' => $api_key);
    is(status($r), 200, 'an actual request from an allowed origin with a key: 200 from the upstream');
    is(hdr($r, 'access-control-allow-origin'), $app, '... Access-Control-Allow-Origin: the origin, not "*"');
    is(hdr($r, 'access-control-allow-credentials'), 'true', '... -Allow-Credentials');
    is(hdr($r, 'access-control-expose-headers'), 'x-request-id', '... -Expose-Headers');
    is(hdr($r, 'vary'), 'Origin', '... Vary: Origin');
    is(hdr($r, 'access-control-allow-methods'), undef, '... and no preflight fields');

    $r = req('GET', '/orders/1', Origin => 'https://evil.test', 'X-Api-Key' => $api_key);
    is(status($r), 200, 'another origin: the request still goes through (CORS is the browser\'s check)');
    is(cors_fields($r), '', '... without CORS fields');
    is(hdr($r, 'vary'), 'Origin', '... with Vary: Origin');

    $r = req('GET', '/orders/1', 'X-Api-Key' => $api_key);
    is(cors_fields($r), '', 'no Origin: no CORS fields');
    is(hdr($r, 'vary'), 'Origin', '... Vary: Origin all the same (a cache must not reuse it for an origin)');

    $r = req('GET', '/plain', Origin => $app);
    is(status($r), 200, 'a route without cors:');
    is(cors_fields($r) . (hdr($r, 'vary') // ''), '', '... gets neither CORS fields nor Vary');
}

# --- 4. the gateway's own answers ----------------------------------------------------------------
{
    my $r = req('GET', '/orders/1', Origin => 'https://x.example.com');
    is(status($r), 401, 'no key: 401 from auth');
    is(hdr($r, 'access-control-allow-origin'), 'https://x.example.com', '... with Access-Control-Allow-Origin, so the app can read it');
    is(hdr($r, 'access-control-allow-credentials'), 'true', '... and -Allow-Credentials');
    like(hdr($r, 'www-authenticate') // '', qr/realm="partners"/, '... and its challenge');
    is(hdr($r, 'vary'), 'Origin', '... Vary: Origin');
    $r = req('GET', '/orders/1', Origin => 'https://evil.test');
    is(status($r), 401, 'another origin: 401');
    is(cors_fields($r), '', '... without CORS fields');
}

# --- 5. the upstream's own fields ----------------------------------------------------------------
{
    my $r = req('GET', '/acao-src', Origin => $app);
    is(hdr($r, 'access-control-allow-origin'), '*', 'the upstream itself says Access-Control-Allow-Origin: *');
    $r = req('GET', '/reflect/acao-src', Origin => $app);
    is($r->{body}, 'from upstream', 'through a CORS route:');
    is_deeply([map { "$_->[0]: $_->[1]" } grep { $_->[0] =~ /^access-control-/i } @{ $r->{header_list} }],
              ["access-control-allow-origin: $app", 'access-control-allow-credentials: true',
               'access-control-expose-headers: x-request-id'],
              '... the policy\'s fields replace the upstream\'s');
    $r = req('GET', '/reflect/acao-src', Origin => 'https://evil.test');
    is(cors_fields($r), '', '... and for another origin the upstream\'s are dropped, not passed on');
}

# --- 6. "*" without credentials ------------------------------------------------------------------
{
    my $r = req('GET', '/public/x', Origin => 'https://any.where');
    is(hdr($r, 'access-control-allow-origin'), '*', 'a "*" policy: Access-Control-Allow-Origin: *');
    is(hdr($r, 'access-control-allow-credentials'), undef, '... never with -Allow-Credentials');
    is(cors_fields(req('GET', '/public/x', Origin => 'null')), '', '... and not for the origin "null"');
    $r = preflight('/public/x', 'https://any.where', 'GET');
    is(status($r), 204, 'a "*" preflight: 204');
    is(hdr($r, 'access-control-allow-origin'), '*', '... with "*"');
}

# --- 7. -t and -T --------------------------------------------------------------------------------
{
    my $r = $t->run('-T', '-p', $t->dir, '-c', $t->conf);
    is($r->{exit}, 0, 'gatewayd -T') or diag($r->{out});
    like($r->{stdout}, qr/^cors:\n  "web":\n    origins: \["https:\/\/app\.example\.com", "https:\/\/\*\.example\.com"\]\n/m,
         '-T shows the policies');
    like($r->{stdout}, qr/cors: "web"/, '... and a route\'s policy');
    spew($t->path('dumped.conf'), $r->{stdout});
    my $back = $t->run('-t', '-p', $t->dir, '-c', $t->path('dumped.conf'));
    is($back->{exit}, 0, 'the dump loads again') or diag($back->{out});

    my $bad = $t->path('bad.conf');
    spew($bad, <<'CONF');
listeners: [{address: 127.0.0.1:1}]
cors:
  web: {origins: ["*"], credentials: true}
  app: {origins: ["https://app.example.com/"]}
routes:
  - {name: a, match: {path_prefix: /}, cors: wen, return: {body: x}}
CONF
    my $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
    isnt($e->{exit}, 0, 'gatewayd -t refuses it');
    like($e->{out}, qr/bad\.conf:3:19: cors\.web\.origins: "\*" with credentials: true/, '"*" with credentials at its FILE:LINE:COL');
    like($e->{out}, qr/bad\.conf:4:19: cors\.app\.origins\[0\]: "https:\/\/app\.example\.com\/": an origin has no path/, 'an origin with a path');
    like($e->{out}, qr/bad\.conf:6:46: routes\[0\]\.cors: unknown CORS policy "wen" \(did you mean "web"\?\)/, 'an unknown policy, with a suggestion');
}

$t->stop;
$backend->stop;
done_testing();
