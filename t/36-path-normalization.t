#!/usr/bin/perl
# Path normalisation before routing (src/http/path.cc): every shape that hides a path from a
# route -- repeated slashes, dot segments plain or percent-encoded, encoded unreserved letters,
# Tomcat's "..;", double encoding, overlong UTF-8, absolute-form targets -- either reaches the
# route it names or is refused with 400, and the backend never receives "//", "/./", "/../" or an
# encoded dot segment. Also: http.escaped_slashes (keep, reject, decode), http.merge_slashes, and
# the methods the gateway answers itself (lower-case methods, TRACE, CONNECT, OPTIONS *).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use GatewayTest;
use Backend;

my $be = Backend->new(name => 'a')->start;

sub gateway {
    my ($http) = @_;
    my $t = GatewayTest->new;
    $t->set_port('be', $be->port);
    $t->write_conf(conf_head(1) . $http . <<'CONF');
upstreams:
  main:
    servers: [{address: 127.0.0.1:%%be%%}]
routes:
  - name: deny
    match: {path_prefix: /raw/admin/}
    return: {status: 403, body: "denied\n"}
  - name: raw
    match: {path_prefix: /raw/}
    upstream: main
  - name: strip
    match: {path_prefix: /s/}
    strip_prefix: /s
    upstream: main
  - name: re
    match: {path_regex: '^/re/([a-z]+)/([a-z]+)$'}
    rewrite: '/echo/$2/$1'
    upstream: main
  - name: trace-ok
    match: {path: /trace-ok, methods: [TRACE]}
    return: {status: 200, body: "traced\n"}
  - name: rest
    match: {path_prefix: /admin/}
    upstream: main
CONF
    $t->start;
    return $t;
}

my @received;   # every path the backend was sent, checked at the end

sub ask {
    my ($t, $method, $target, %o) = @_;
    my $r = http_request($t->port('http'), build_request($method, $target, %o));
    my $j = $r && $r->{status} == 200 ? parse_json($r->{body}) : undef;
    push @received, $j->{path} if $j && defined $j->{path};
    return ($r, $j);
}

sub status_of { my ($r) = @_; return $r ? $r->{status} : 'no response' }

my $t = gateway('');

# --- shapes that must reach the 403 route ----------------------------------------------------
for my $target ('/raw//admin/x', '/raw/./admin/x', '/raw/a/../admin/x', '/raw/%61dmin/x',
                '/raw/%61%64%6D%69%6E/x', '/raw/x/%2e%2e/admin/x', '/raw/x/%2e%2E/admin/x',
                '/raw/x/.%2E/admin/x', '/raw/x/%2E./admin/x', '/raw/./x/../admin/./x',
                '/raw///admin///x', '//raw/admin/x', '/raw/admin/.', '/raw/admin/x/..',
                '/raw/admin/x/%2e%2e', 'http://proxy.test/raw//admin/x',
                'http://proxy.test/raw/a/%2e%2e/admin/x') {
    my ($r) = ask($t, 'GET', $target);
    is(status_of($r), 403, "$target reaches the denying route");
}

# --- shapes that must be refused -------------------------------------------------------------
for my $target ('/..', '/../raw/admin/x', '/raw/../../admin', '/%2e%2e/raw/admin/x',
                '/raw/..;/admin/x', '/raw/.;/admin/x', '/raw/%2e%2e;/admin/x', '/raw/..%3B/admin/x',
                '/raw/%00admin', '/raw/a%0d%0aSet-Cookie:x', '/raw/%7f', '/raw/a%zz', '/raw/a%2',
                '/raw/%c0%ae%c0%ae/admin/x', '/raw/x/%c0%ae%c0%ae/admin', '/raw/%e0%80%ae',
                '/raw/%c0%afadmin', "/raw/\xc0\xae\xc0\xae/admin", "/raw/\xff") {
    my ($r) = ask($t, 'GET', $target);
    is(status_of($r), 400, "$target is refused with 400");
}

# --- what the backend receives ---------------------------------------------------------------
{
    my ($r, $j) = ask($t, 'GET', '/raw/%2e%2e/admin/x');
    is($j && $j->{path}, '/admin/x', '/raw/%2e%2e/admin/x climbs out of /raw/ to /admin/x (route "rest")');

    ($r, $j) = ask($t, 'GET', '/raw/%252e%252e/admin/x');
    is($j && $j->{path}, '/raw/%252e%252e/admin/x', 'double encoding stays literal: decoded once only');

    ($r, $j) = ask($t, 'GET', '/raw/x/../y//z/./?p=/../%2e&q=a//b');
    is($j && $j->{target}, '/raw/y/z/?p=/../%2e&q=a//b', 'the query is never touched');

    ($r, $j) = ask($t, 'GET', '/raw/caf%c3%a9/%7euser/%41');
    is($j && $j->{path}, '/raw/caf%C3%A9/~user/A', 'unreserved decoded, other encodings upper-cased');

    ($r, $j) = ask($t, 'GET', "/raw/caf\xc3\xa9");
    is($j && $j->{path}, "/raw/caf\xc3\xa9", 'well-formed raw UTF-8 passes as sent');

    ($r, $j) = ask($t, 'GET', '/s/a/%2E%2E/b//c');
    is($j && $j->{path}, '/b/c', 'strip_prefix works on the normalised path');
    ($r, $j) = ask($t, 'GET', '/s/../raw/admin/x');
    is(status_of($r), 403, '/s/../raw/admin/x is /raw/admin/x');

    ($r, $j) = ask($t, 'GET', '/re/%61b//./cd');
    is($j && $j->{path}, '/echo/cd/ab', 'regex captures see the normalised path');

    # keep (the default): encoded slashes are data, never separators
    ($r, $j) = ask($t, 'GET', '/raw/a%2f..%2fadmin/x');
    is($j && $j->{path}, '/raw/a%2F..%2Fadmin/x', 'escaped_slashes keep: %2F stays encoded, no climb');
    ($r, $j) = ask($t, 'GET', '/raw/a\\..\\admin');
    is($j && $j->{path}, '/raw/a%5C..%5Cadmin', 'escaped_slashes keep: a raw backslash is sent as %5C');

    ($r, $j) = ask($t, 'GET', '/raw//x');
    is($j && $j->{path}, '/raw/x', 'merge_slashes (default on)');
}

# --- methods ---------------------------------------------------------------------------------
{
    my ($r) = ask($t, 'delete', '/raw/x');
    is(status_of($r), 400, 'a lower-case method is refused');
    ($r) = ask($t, 'Get', '/raw/x');
    is(status_of($r), 400, 'a mixed-case method is refused');
    my $j;
    ($r, $j) = ask($t, 'PURGE', '/raw/x');
    is($j && $j->{method}, 'PURGE', 'an upper-case extension method is proxied');

    ($r) = ask($t, 'TRACE', '/raw/x');
    is(status_of($r), 405, 'TRACE: 405 where no route names it');
    like($r && $r->{headers}{allow} // '', qr/^GET, HEAD/, '405 carries Allow');
    ($r) = ask($t, 'TRACE', '/trace-ok');
    is(status_of($r), 200, 'TRACE: answered by a route that names it');
    ($r) = ask($t, 'CONNECT', 'proxy.test:443');
    is(status_of($r), 405, 'CONNECT: 405');

    my $c = http_connect($t->port('http'));
    $c->send("OPTIONS * HTTP/1.1\r\nHost: proxy.test\r\n\r\n");
    $r = $c->read_response;
    is(status_of($r), 200, 'OPTIONS * is answered by the gateway');
    like($r && $r->{headers}{allow} // '', qr/OPTIONS/, 'with Allow');
    $c->send(build_request('GET', '/raw/after-options'));
    $r = $c->read_response;
    is(status_of($r), 200, 'and the connection stays usable');
    $c->close;
}

# --- escaped_slashes: reject, merge_slashes: false -------------------------------------------
{
    my $t2 = gateway("http:\n  escaped_slashes: reject\n  merge_slashes: false\n");
    for my $target ('/raw/a%2Fb', '/raw/a%5cb', '/raw/a\\b', '/raw/a%2f..%2fadmin/x') {
        my ($r) = ask($t2, 'GET', $target);
        is(status_of($r), 400, "escaped_slashes reject: $target is 400");
    }
    my ($r, $j) = ask($t2, 'GET', '/raw//x');
    is($j && $j->{path}, '/raw//x', 'merge_slashes false keeps "//"');
    ($r, $j) = ask($t2, 'GET', '/raw/x//../y');
    is($j && $j->{path}, '/raw/x/y', 'merge_slashes false: ".." removes the empty segment');
    $t2->stop;
}

# --- escaped_slashes: decode -----------------------------------------------------------------
{
    my $t3 = gateway("http:\n  escaped_slashes: decode\n");
    my ($r) = ask($t3, 'GET', '/raw/a%2F..%2Fadmin/x');
    is(status_of($r), 403, 'escaped_slashes decode: %2F is a separator, so this is /raw/admin/x');
    ($r) = ask($t3, 'GET', '/raw/a\\..\\admin\\x');
    is(status_of($r), 403, 'escaped_slashes decode: so is a backslash');
    my $j;
    ($r, $j) = ask($t3, 'GET', '/raw/b%2fc');
    is($j && $j->{path}, '/raw/b/c', 'the upstream receives the decoded path');
    $t3->stop;
}

# --- the backend never saw a path that is not canonical --------------------------------------
ok(scalar(@received) >= 10, 'the backend was asked ' . scalar(@received) . ' times');
my @bad = grep { m{//|/\./|/\.\./|/\.\.?$|%2e}i && $_ ne '/raw//x' } @received;
is_deeply(\@bad, [], 'no upstream path has "//", "/./", "/../" or an encoded dot segment');

$t->stop;
done_testing;
