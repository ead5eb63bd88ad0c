#!/usr/bin/perl
# Error pages (`error_pages:` at the top level and per route, `intercept_errors:`), with the real
# binary and a real backend:
#   1. the gateway's own errors take the page for their status: 502 (no server answers) from a
#      route's page with variables ($status, $request_id, $uri), 504 from the top-level 5xx
#      class, 404 (no route) from the top-level 404 page with its content type; other fields of
#      the error head stay (Allow on a 405); HEAD gets the head only;
#   2. a status without a page keeps the JSON error body;
#   3. intercept_errors: an upstream's 500 body is replaced by the route's page, its 503 by the
#      top-level 5xx page; without intercept_errors the upstream's own body passes; a 4xx without
#      a page passes too;
#   4. a page from a file is sent as it is ('$' included);
#   5. -T shows the pages and loads back; -t reports bad ones at FILE:LINE:COL.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use GatewayTest;
use Backend;

my $t = GatewayTest->new;
require_modules('error_pages');

my $backend = Backend->new(name => 'a')->start;
$t->set_port('be', $backend->port);
$t->set_port('dead', free_port());  # nothing listens there: connect refused, 502
GatewayTest::spew($t->path('page.html'), "<p>price: \$5 - \$request_id stays</p>\n");

$t->write_conf(<<'CONF');
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
shutdown_timeout: 5s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
error_pages:
  404: {body: '{"missing": "$uri"}', content_type: application/json}
  5xx: {body: "<h1>$status, sorry</h1>\n"}
  4xx: {file: page.html}
upstreams:
  app: {servers: [{address: 127.0.0.1:%%be%%}]}
  dead: {servers: [{address: 127.0.0.1:%%dead%%}]}
routes:
  - name: down
    match: {path_prefix: /down}
    upstream: dead
    error_pages:
      502: {body: "route page: $status for $uri (id $request_id)\n", content_type: text/plain}
  - name: slow
    match: {path_prefix: /slow-head}
    upstream: app
    timeout: {read: 200ms}
  - name: intercepting
    match: {path_prefix: /i/}
    upstream: app
    strip_prefix: /i
    intercept_errors: true
    error_pages: {500: {body: "intercepted $status\n", content_type: text/plain}}
  - name: passing
    match: {path_prefix: /status/}
    upstream: app
  - name: local
    match: {path: /local}
    return: {status: 200, body: "ok"}
CONF
$t->start;
my $port = $t->port('http');

# --- 1. the gateway's own errors ----------------------------------------------------------------

{
    my $r = $t->get('/down/x?q=1');
    is($r->{status}, 502, 'no server answers: 502');
    is($r->{headers}{'content-type'}, 'text/plain', '... with the route page\'s content type');
    my $id = $r->{headers}{'x-request-id'};
    is($r->{body}, "route page: 502 for /down/x (id $id)\n", '... and its body, variables rendered');
    is($r->{headers}{'content-length'}, length($r->{body}), '... and a Content-Length that fits');
}
{
    my $r = $t->get('/slow-head/2000');
    is($r->{status}, 504, 'the upstream is too slow: 504');
    is($r->{body}, "<h1>504, sorry</h1>\n", '... the top-level 5xx page (a class)');
    is($r->{headers}{'content-type'}, 'text/html; charset=utf-8', '... with the default content type');
}
{
    my $r = $t->get('/nowhere/at/all');
    is($r->{status}, 404, 'no route: 404');
    is($r->{headers}{'content-type'}, 'application/json', '... with the top-level 404 page\'s type');
    is($r->{body}, '{"missing": "/nowhere/at/all"}', '... and body (the exact status before the class)');
}
{
    my $r = http_request($port, "TRACE /local HTTP/1.1\r\nHost: x\r\n\r\n");
    is($r->{status}, 405, 'TRACE: 405');
    like($r->{headers}{allow} // '', qr/GET/, '... the Allow field stays');
    is($r->{body}, "<p>price: \$5 - \$request_id stays</p>\n", '... the 4xx page from a file, sent as it is');
}
{
    my $r = $t->get('/down/head', {}, method => 'HEAD');
    is($r->{status}, 502, 'HEAD: 502');
    is($r->{body} // '', '', '... with no body');
}

# --- 2. a status without a page -----------------------------------------------------------------

{
    my $r = http_request($port, "GET /local HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n");
    is($r->{status}, 413, 'a body too large: 413');
    is($r->{headers}{'content-type'}, 'text/html; charset=utf-8', '... the 4xx class page applies');
}

# --- 3. intercept_errors ------------------------------------------------------------------------

{
    my $r = $t->get('/i/status/500');
    is($r->{status}, 500, 'intercepting route, upstream 500: the status stays');
    is($r->{body}, "intercepted 500\n", '... the body is the route\'s page');
    is($r->{headers}{'x-backend'}, undef, '... and none of the upstream\'s fields');
    $r = $t->get('/i/status/503');
    is($r->{body}, "<h1>503, sorry</h1>\n", 'upstream 503: the top-level 5xx page');
    $r = $t->get('/i/status/200');
    is($r->{status}, 200, 'a 200 passes untouched');
    $r = $t->get('/status/500');
    is($r->{status}, 500, 'a route without intercept_errors: the upstream 500...');
    is($r->{body}, 'status 500', '... with its own body');
    is($r->{headers}{'x-backend'}, 'a', '... and fields');
}

# --- 5. -T and -t -------------------------------------------------------------------------------

{
    my $r = $t->run('-T', '-p', $t->dir, '-c', $t->conf);
    is($r->{exit}, 0, '-T succeeds') or diag($r->{out});
    like($r->{stdout}, qr/^error_pages:\n  "404":\n    body: "\{\\"missing\\": \\"\$uri\\"\}"\n    content_type: "application\/json"\n/m,
         '-T: the top-level pages');
    like($r->{stdout}, qr/^ +intercept_errors: true\n/m, '-T: intercept_errors');
    $t->write_conf($r->{stdout}, 'dumped.conf');
    my $back = $t->run('-t', '-p', $t->dir, '-c', $t->path('dumped.conf'));
    is($back->{exit}, 0, 'the dump loads back') or diag($back->{out});

    my $bad = $t->write_conf(<<'CONF', 'bad.conf');
listeners:
  - address: 127.0.0.1:%%bad%%
error_pages:
  302: {body: x}
  500: {body: "$stauts"}
  501: {body: x, file: page.html}
  502: {file: no-such-page.html}
  503: {}
routes:
  - name: r
    match: {path: /}
    return: {body: ""}
    intercept_errors: true
CONF
    my $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
    isnt($e->{exit}, 0, '-t: bad pages are refused');
    like($e->{out}, qr/\Q$bad\E:4:3: error_pages: "302" is not an error status \(400\.\.599, or 4xx, 5xx\)/, '-t: not an error status');
    like($e->{out}, qr/\Q$bad\E:5:\d+: error_pages\.500\.body: unknown variable "\$stauts" \(did you mean "\$status"\?\)/,
         '-t: an unknown variable, with a suggestion');
    like($e->{out}, qr/\Q$bad\E:6:\d+: error_pages\.501\.file: body and file cannot be used together/, '-t: body and file');
    like($e->{out}, qr/\Q$bad\E:7:\d+: error_pages\.502\.file: cannot read ".*no-such-page\.html": No such file/, '-t: a missing file');
    like($e->{out}, qr/\Q$bad\E:8:\d+: error_pages\.503: a page needs a body or a file/, '-t: an empty page');
    like($e->{out}, qr/\Q$bad\E:13:5: routes\[0\]\.intercept_errors: only for routes that proxy/, '-t: intercept_errors on a return route');
}

done_testing;
