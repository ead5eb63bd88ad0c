#!/usr/bin/perl
# HTTP/1.1 server: response shape, keep-alive, pipelining, HEAD, request bodies, 100-continue,
# route precedence, limits and timeouts, and malformed / smuggling-shaped requests.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use GatewayTest;

my $t = GatewayTest->new;
$t->write_conf(<<'EOF');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: logs/error.log
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
    admin: true
http:
  max_header_size: 1k
  max_uri_size: 512
  max_headers: 10
  client_max_body_size: 1k
  client_header_timeout: 300ms
  keepalive_timeout: 1s
  keepalive_requests: 5
routes:
  - name: exact
    match: {path: /a}
    return: {body: "exact"}
  - name: prefix-short
    match: {path_prefix: /a}
    return: {body: "prefix-short"}
  - name: prefix-long
    match: {path_prefix: /a/b}
    return: {body: "prefix-long"}
  - name: host-exact
    match: {host: api.example.com}
    return: {body: "host-exact"}
  - name: host-exact-path
    match: {host: api.example.com, path: /a}
    return: {body: "host-exact-path"}
  - name: host-wild
    match: {host: "*.example.com"}
    return: {body: "host-wild"}
  - name: host-wild-long
    match: {host: "*.v2.example.com"}
    return: {body: "host-wild-long"}
  - name: post-only
    match: {path: /m, methods: [POST]}
    return: {status: 201, body: "post-only"}
  - name: m-any
    match: {path: /m}
    return: {body: "m-any"}
  - name: tie-first
    match: {path_prefix: /tie}
    return: {body: "tie-first"}
  - name: tie-second
    match: {path_prefix: /tie}
    return: {body: "tie-second"}
  - name: custom
    match: {path: /h}
    return:
      status: 202
      body: '{"x":1}'
      headers: {content-type: application/json, x-custom: abc}
  - name: empty
    match: {path: /empty}
    return: {status: 200}
  - name: lower-method
    match: {path: /lm, methods: GET}
    return: {body: "lower-method"}
EOF
$t->start;
my $port = $t->port('http');

my $DATE = qr/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

sub req {
    my ($method, $path, %h) = @_;
    my $host = delete $h{Host} // 'www.test';
    my $s = "$method $path HTTP/1.1\r\nHost: $host\r\n";
    $s .= "$_: $h{$_}\r\n" for sort keys %h;
    return "$s\r\n";
}

sub one {
    my ($raw, %opt) = @_;
    return http_request($port, $raw, %opt);
}

# --- response shape ----------------------------------------------------------------------------

{
    my $r = one(req('GET', '/a'));
    ok($r, 'GET /a answered');
    is($r->{proto}, 'HTTP/1.1', 'HTTP/1.1 response');
    is($r->{status}, 200, 'status 200');
    is($r->{body}, 'exact', 'body');
    is($r->{headers}{server}, 'gatewayd', 'server: gatewayd');
    like($r->{headers}{date} // '', $DATE, 'date header (IMF-fixdate)');
    is($r->{headers}{'content-length'}, 5, 'content-length');
    is(lc($r->{headers}{connection} // ''), 'keep-alive', 'connection: keep-alive');
    is($r->{headers}{'content-type'}, 'text/plain', 'default content-type text/plain');
    ok(!exists $r->{headers}{'transfer-encoding'}, 'no transfer-encoding');

    $r = one(req('GET', '/h'));
    is($r->{status}, 202, 'configured status 202');
    is($r->{body}, '{"x":1}', 'configured body');
    is($r->{headers}{'content-type'}, 'application/json', 'configured content-type kept');
    is($r->{headers}{'x-custom'}, 'abc', 'configured header');
    my @ct = grep { lc $_->[0] eq 'content-type' } @{ $r->{header_list} };
    is(scalar @ct, 1, 'a single content-type');

    $r = one(req('GET', '/empty'));
    is($r->{status}, 200, 'empty body route');
    is($r->{headers}{'content-length'}, '0', 'content-length: 0');
    is($r->{body}, '', 'empty body');
}

# --- route precedence ------------------------------------------------------------------------------

{
    my @cases = (
        # method, path, host, status, body
        ['GET', '/a', 'www.test', 200, 'exact'],
        ['GET', '/a/b', 'www.test', 200, 'prefix-long'],
        ['GET', '/a/b/c?x=1', 'www.test', 200, 'prefix-long'],
        ['GET', '/a/x', 'www.test', 200, 'prefix-short'],
        ['GET', '/a?q=1', 'www.test', 200, 'exact'],
        ['GET', '/a', 'api.example.com', 200, 'host-exact-path'],
        ['GET', '/zzz', 'api.example.com', 200, 'host-exact'],
        ['GET', '/zzz', 'API.Example.COM', 200, 'host-exact'],
        ['GET', '/a', 'foo.example.com', 200, 'host-wild'],
        ['GET', '/m', 'a.b.example.com', 200, 'host-wild'],
        ['GET', '/a', 'x.v2.example.com', 200, 'host-wild-long'],
        ['POST', '/m', 'www.test', 201, 'post-only'],
        ['GET', '/m', 'www.test', 200, 'm-any'],
        ['PUT', '/m', 'www.test', 200, 'm-any'],
        ['GET', '/tie/1', 'www.test', 200, 'tie-first'],
        ['GET', '/lm', 'www.test', 200, 'lower-method'],
    );
    for my $c (@cases) {
        my ($m, $p, $h, $st, $body) = @$c;
        my $extra = $m eq 'GET' ? '' : "Content-Length: 0\r\n";
        my $r = one("$m $p HTTP/1.1\r\nHost: $h\r\n$extra\r\n");
        is($r && "$r->{status} $r->{body}", "$st $body", "route: $m $h $p -> $body");
    }

    for my $c (['GET', '/nothing'], ['POST', '/lm'], ['GET', '/'], ['GET', '/tiE']) {
        my ($m, $p) = @$c;
        my $extra = $m eq 'GET' ? '' : "Content-Length: 0\r\n";
        my $r = one("$m $p HTTP/1.1\r\nHost: www.test\r\n$extra\r\n");
        is($r && $r->{status}, 404, "no route: $m $p -> 404");
        is($r && $r->{headers}{'content-type'}, 'application/json', '404 content-type application/json');
        is_deeply(parse_json($r && $r->{body}), { status => 404, error => 'no route matches the request' },
                  '404 JSON body {"status":404,"error":"no route matches the request"}');
        like($r && $r->{body}, qr/^\{"status":404,"error":"no route matches the request"\}\n?$/, '404 body bytes');
    }
}

# --- keep-alive, pipelining, HEAD, bodies ------------------------------------------------------------

{
    my $c = http_connect($port);
    $c->send(req('GET', '/a'));
    my $r1 = $c->read_response;
    $c->send(req('GET', '/a/b'));
    my $r2 = $c->read_response;
    is($r1 && $r1->{body}, 'exact', 'keep-alive: first response');
    is($r2 && $r2->{body}, 'prefix-long', 'keep-alive: second response on the same connection');
    is($r2 && lc $r2->{headers}{connection}, 'keep-alive', 'keep-alive: still keep-alive');
}

{
    my $c = http_connect($port);
    $c->send(req('GET', '/a') . req('GET', '/a/b') . req('GET', '/a/x'));
    my @b = map { my $r = $c->read_response; $r ? $r->{body} : undef } 1 .. 3;
    is_deeply(\@b, ['exact', 'prefix-long', 'prefix-short'], 'pipelining: 3 responses in order');
}

{
    my $c = http_connect($port);
    $c->send(req('HEAD', '/a') . req('GET', '/a/b'));
    my $h = $c->read_response(head => 1);
    is($h && $h->{status}, 200, 'HEAD: 200');
    is($h && $h->{headers}{'content-length'}, 5, 'HEAD: content-length of the GET body');
    my $g = $c->read_response;
    ok($g && $g->{proto} eq 'HTTP/1.1' && $g->{body} eq 'prefix-long',
       'HEAD: no body (the next pipelined response follows at once)') or diag(explain $g);
}

{
    my $c = http_connect($port);
    $c->send("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             . "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n" . req('GET', '/a/b'));
    my $r1 = $c->read_response;
    my $r2 = $c->read_response;
    is($r1 && "$r1->{status} $r1->{body}", '200 exact', 'chunked request body read and discarded');
    is($r2 && "$r2->{status} $r2->{body}", '200 prefix-long', 'next pipelined request after a chunked body');
}

{
    my $c = http_connect($port);
    $c->send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world" . req('GET', '/a/x'));
    my $r1 = $c->read_response;
    my $r2 = $c->read_response;
    is($r1 && $r1->{body}, 'exact', 'content-length body read and discarded');
    is($r2 && $r2->{body}, 'prefix-short', 'next pipelined request after a content-length body');
}

{
    my $c = http_connect($port);
    $c->send("POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    is($r && $r->{status}, 100, 'Expect: 100-continue -> 100 Continue first');
    like($r && "$r->{proto} $r->{status} $r->{reason}", qr/^HTTP\/1\.1 100 Continue$/, 'HTTP/1.1 100 Continue');
    $c->send('hello');
    $r = $c->read_response;
    is($r && "$r->{status} $r->{body}", '200 exact', 'then the final response');
}

{
    # HTTP/1.0: close by default, keep-alive on request
    my $c = http_connect($port);
    $c->send("GET /a HTTP/1.0\r\n\r\n");
    my $r = $c->read_response;
    is($r && "$r->{status} $r->{body}", '200 exact', 'HTTP/1.0 without Host served');
    is($r && lc($r->{headers}{connection} // ''), 'close', 'HTTP/1.0: connection: close');
    my ($closed) = $c->wait_closed(3);
    ok($closed, 'HTTP/1.0: connection closed');

    $c = http_connect($port);
    $c->send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    $r = $c->read_response;
    is($r && lc($r->{headers}{connection} // ''), 'keep-alive', 'HTTP/1.0 keep-alive honoured');
    $c->send("GET /a/b HTTP/1.0\r\n\r\n");
    $r = $c->read_response;
    is($r && $r->{body}, 'prefix-long', 'HTTP/1.0 keep-alive: second request');

    $c = http_connect($port);
    $c->send(req('GET', '/a', Connection => 'close'));
    $r = $c->read_response;
    is($r && lc($r->{headers}{connection} // ''), 'close', 'Connection: close -> connection: close');
    ($closed) = $c->wait_closed(3);
    ok($closed, 'Connection: close -> closed');
}

{
    # keepalive_requests: 5
    my $c = http_connect($port);
    my @conn;
    for (1 .. 5) {
        $c->send(req('GET', '/a'));
        my $r = $c->read_response;
        push @conn, $r ? lc($r->{headers}{connection} // '') : 'none';
    }
    is_deeply(\@conn, [('keep-alive') x 4, 'close'], 'keepalive_requests 5: the fifth response closes');
    my ($closed) = $c->wait_closed(3);
    ok($closed, 'closed after keepalive_requests');
}

# --- timeouts --------------------------------------------------------------------------------------------

{
    # idle keep-alive connection closed silently at keepalive_timeout (1s)
    my $c = http_connect($port);
    $c->send(req('GET', '/a'));
    my $r = $c->read_response;
    my $t0 = time;
    my ($closed, $extra) = $c->wait_closed(6);
    my $el = time - $t0;
    ok($closed, 'idle keep-alive connection closed');
    is($extra, '', '... silently');
    ok($el > 0.7 && $el < 4, sprintf('... at keepalive_timeout 1s (%.2fs)', $el));
}

for my $case (['a stalled first request', ''], ['a stalled second request', req('GET', '/a')]) {
    my ($name, $before) = @$case;
    my $c = http_connect($port);
    if ($before) {
        $c->send($before);
        $c->read_response;
    }
    my $t0 = time;
    $c->send("GET /a HTTP/1.1\r\nHost: x\r\n");    # the head never ends
    my $r = $c->read_response(timeout => 5);
    my $el = time - $t0;
    is($r && $r->{status}, 408, "$name: 408 after client_header_timeout");
    ok($el > 0.2 && $el < 3, sprintf("$name: after about 300ms (%.2fs)", $el));
    is($r && lc($r->{headers}{connection} // ''), 'close', "$name: connection: close");
    my ($closed) = $c->wait_closed(3);
    ok($closed, "$name: closed");
}

# --- errors: exact status, JSON body, connection closed --------------------------------------------------

sub expect_error {
    my ($name, $raw, $status) = @_;
    my $c = http_connect($port);
    $c->send($raw);
    my $r = $c->read_response(timeout => 5);
    ok($r, "$name: answered") or diag('error: ' . ($c->error // ''));
    is($r && $r->{status}, $status, "$name: $status");
    is($r && lc($r->{headers}{connection} // ''), 'close', "$name: connection: close");
    is($r && $r->{headers}{'content-type'}, 'application/json', "$name: JSON");
    my $j = $r && parse_json($r->{body});
    ok($j && ref $j eq 'HASH' && $j->{status} == $status && defined $j->{error} && length $j->{error},
       "$name: {\"status\":$status,\"error\":...}") or diag($r ? $r->{body} : '');
    my ($closed) = $c->wait_closed(3);
    ok($closed, "$name: connection closed");
}

my $H = "Host: x\r\n";
expect_error('CL+TE', "POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
expect_error('TE+CL', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400);
expect_error('duplicate CL (same value)', "POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400);
expect_error('duplicate CL (different values)', "POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400);
expect_error('CL not a number', "POST /a HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n", 400);
expect_error('CL negative', "POST /a HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n", 400);
expect_error('TE gzip', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n", 501);
expect_error('TE gzip, chunked', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
expect_error('TE on HTTP/1.0', "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
expect_error('obs-fold', "GET /a HTTP/1.1\r\n${H}X-Folded: a\r\n  b\r\n\r\n", 400);
expect_error('bare LF', "GET /a HTTP/1.1\nHost: x\n\n", 400);
expect_error('bare LF in one header line', "GET /a HTTP/1.1\r\n${H}X-A: b\nX-B: c\r\n\r\n", 400);
expect_error('bare CR', "GET /a HTTP/1.1\r\n${H}X-A: b\rc\r\n\r\n", 400);
expect_error('missing Host', "GET /a HTTP/1.1\r\nX-A: b\r\n\r\n", 400);
expect_error('two Host headers', "GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
expect_error('space before colon', "GET /a HTTP/1.1\r\n${H}Content-Length : 0\r\n\r\n", 400);
expect_error('garbage request line', "HELLO\r\n\r\n", 400);
expect_error('bad chunk size', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400);
expect_error('header over max_header_size (1k)', "GET /a HTTP/1.1\r\n${H}X-Big: " . ('b' x 1100) . "\r\n\r\n", 431);
expect_error('too many headers (max 10)',
             "GET /a HTTP/1.1\r\n$H" . join('', map { "X-H$_: v\r\n" } 1 .. 12) . "\r\n", 431);
expect_error('URI over max_uri_size (512)', 'GET /a?' . ('u' x 600) . " HTTP/1.1\r\n$H\r\n", 414);
expect_error('body over client_max_body_size (1k)', "POST /a HTTP/1.1\r\n${H}Content-Length: 2000\r\n\r\n", 413);
expect_error('chunked body over client_max_body_size (1k)',
             "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n801\r\n" . ('c' x 2049) . "\r\n0\r\n\r\n", 413);
expect_error('HTTP/2.0', "GET /a HTTP/2.0\r\n$H\r\n", 505);
expect_error('unsupported Expect', "POST /a HTTP/1.1\r\n${H}Expect: something-else\r\nContent-Length: 1\r\n\r\nx", 417);

# an error on a pipelined connection: earlier requests are answered, nothing after the error
{
    my $c = http_connect($port);
    $c->send(req('GET', '/a') . "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx"
             . req('GET', '/a/b'));
    my $r1 = $c->read_response;
    my $r2 = $c->read_response;
    is($r1 && $r1->{body}, 'exact', 'pipeline with a bad request: the first is answered');
    is($r2 && $r2->{status}, 400, 'pipeline with a bad request: 400 for the bad one');
    my ($closed, $extra) = $c->wait_closed(3);
    ok($closed, 'pipeline with a bad request: closed');
    is($extra, '', 'pipeline with a bad request: the request after it is not answered');
}

# the gateway is still healthy after all that
{
    my $r = one(req('GET', '/a'));
    is($r && $r->{body}, 'exact', 'still serving after the error cases');
    ok($t->alive, 'master alive');
    is(scalar(() = $t->workers), 2, 'both workers alive (no crash)');
}

done_testing();
