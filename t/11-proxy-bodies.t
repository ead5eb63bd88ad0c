#!/usr/bin/perl
# Reverse proxy bodies and framing: Content-Length and chunked request bodies, chunked responses
# with trailers (dropped both ways: t/12-proxy-hostile.t; de-chunked for HTTP/1.0), close-delimited responses,
# HEAD / 204 / 304 without a body, 1xx informational responses, Expect: 100-continue, pipelining,
# and a route's own client_max_body_size (above and below http's).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;

my $be = Backend->new(name => 'a')->start;
my $t = GatewayTest->new;
$t->set_port('be_a', $be->port);
$t->write_conf(conf_head(1) . <<'EOF');
http:
  client_max_body_size: 10m
upstreams:
  main:
    servers: [{address: 127.0.0.1:%%be_a%%}]
routes:
  - name: upload
    match: {path_prefix: /big}
    strip_prefix: /big
    upstream: main
    client_max_body_size: 12m
  - name: small
    match: {path_prefix: /small}
    strip_prefix: /small
    upstream: main
    client_max_body_size: 1k
  - name: small-return
    match: {path: /small-return}
    return: {status: 204}
    client_max_body_size: 1k
  - name: all
    match: {path_prefix: /}
    upstream: main
EOF
$t->start;
my $port = $t->port('http');

sub ask { http_request($port, @_) }

# Sends the raw request on a new connection; returns (response, echo JSON).
sub echo_raw {
    my ($raw) = @_;
    my $r = ask($raw, timeout => 10);
    return ($r, $r ? parse_json($r->{body}) : undef);
}

# --- request bodies ------------------------------------------------------------------------------

{
    my $body = pattern(100_000);
    my ($r, $j) = echo_raw(build_request('POST', '/echo/cl', body => $body));
    is($r && $r->{status}, 200, 'Content-Length body: 200') or diag($r ? $r->{raw} : 'no response');
    is($j && $j->{body_length}, 100_000, 'Content-Length body: length');
    is($j && $j->{body_md5}, md5_hex($body), 'Content-Length body: content');
    is_deeply([echo_hdrs($j, 'content-length')], ['100000'], 'Content-Length forwarded unchanged');
    ok(!defined echo_hdr($j, 'transfer-encoding'), 'no Transfer-Encoding upstream');
    is($j && $j->{chunked}, 0, 'not chunked upstream');

    # empty body with Content-Length: 0
    ($r, $j) = echo_raw(build_request('POST', '/echo/empty', body => ''));
    is($j && $j->{body_length}, 0, 'empty Content-Length body');
    is(echo_hdr($j, 'content-length'), '0', 'Content-Length: 0 forwarded');

    # chunked, small pieces, with a trailer
    my $raw = build_request('POST', '/echo/chunked', headers => [['Transfer-Encoding', 'chunked']])
            . "3\r\nabc\r\n1;ext=1\r\nd\r\nA\r\n0123456789\r\n0\r\nX-Tr: t1\r\n\r\n";
    ($r, $j) = echo_raw($raw);
    is($r && $r->{status}, 200, 'chunked body: 200') or diag($r ? $r->{raw} : 'no response');
    is($j && $j->{body}, 'abcd0123456789', 'chunked body: content');
    is($j && $j->{chunked}, 1, 'chunked body forwarded chunked');
    is(lc(echo_hdr($j, 'transfer-encoding') // ''), 'chunked', 'Transfer-Encoding: chunked upstream');
    ok(!defined echo_hdr($j, 'content-length'), 'no Content-Length added to a chunked body');
    is_deeply($j && $j->{trailers}, [], 'request trailer dropped (never forwarded)');

    # chunked, big, odd pieces
    my $big = pattern(300_001);
    my $enc = '';
    my ($off, $i) = (0, 0);
    while ($off < length $big) {
        my $k = (7919, 1, 65537, 333)[$i++ % 4];
        $k = length($big) - $off if $k > length($big) - $off;
        $enc .= sprintf("%x\r\n", $k) . substr($big, $off, $k) . "\r\n";
        $off += $k;
    }
    $enc .= "0\r\n\r\n";
    ($r, $j) = echo_raw(build_request('PUT', '/echo/bigchunked', headers => [['Transfer-Encoding', 'chunked']]) . $enc);
    is($j && $j->{body_length}, 300_001, 'big chunked body: length');
    is($j && $j->{body_md5}, md5_hex($big), 'big chunked body: content');
}

# --- chunked responses -------------------------------------------------------------------------------

{
    my $r = ask(build_request('GET', '/chunked/100000?pieces=7'), timeout => 10);
    is($r && $r->{status}, 200, 'chunked response: 200');
    is(lc($r && $r->{headers}{'transfer-encoding'} // ''), 'chunked', 'chunked response passed chunked to HTTP/1.1');
    ok($r && !exists $r->{headers}{'content-length'}, 'no content-length on it');
    ok($r && $r->{body} eq pattern(100_000), 'chunked response: body intact');
    my %tr = map { lc $_->[0] => $_->[1] } @{ ($r && $r->{trailers}) || [] };
    is_deeply(\%tr, {}, 'response trailers dropped (never forwarded)');

    # HTTP/1.0 client: de-chunked, then closed
    my $c = http_connect($port, timeout => 10);
    $c->send("GET /chunked/100000?pieces=9 HTTP/1.0\r\nHost: proxy.test\r\n\r\n");
    $r = $c->read_response;
    is($r && $r->{status}, 200, 'HTTP/1.0 client: 200');
    ok($r && ($r->{headers}{'transfer-encoding'} // '') !~ /chunked/i, 'HTTP/1.0 client: not chunked');
    ok($r && $r->{body} eq pattern(100_000), 'HTTP/1.0 client: body de-chunked and intact')
        or diag('got ' . length($r ? $r->{body} : '') . ' bytes: ' . substr($r ? $r->{body} : '', 0, 200));
    ok($c->is_eof, 'HTTP/1.0 client: connection closed after the body');
}

# --- close-delimited responses ---------------------------------------------------------------------

{
    my $c = http_connect($port, timeout => 10);
    $c->send(build_request('GET', '/close-delimited/50000'));
    my $r = $c->read_response;
    is($r && $r->{status}, 200, 'close-delimited: 200');
    ok($r && !exists $r->{headers}{'content-length'}, 'close-delimited: no content-length');
    ok($r && ($r->{headers}{'transfer-encoding'} // '') eq '', 'close-delimited: sent close-delimited (no transfer-encoding)');
    ok($r && $r->{body} eq pattern(50_000), 'close-delimited: body intact')
        or diag('got ' . length($r ? $r->{body} : '') . ' bytes');
    ok($c->is_eof, 'close-delimited: client connection closed');
}

# --- HEAD, 204, 304 ----------------------------------------------------------------------------------

{
    my $c = http_connect($port, timeout => 5);
    $c->send(build_request('HEAD', '/bytes/1000'));
    my $r = $c->read_response(head => 1);
    is($r && $r->{status}, 200, 'HEAD: 200');
    is($r && $r->{headers}{'content-length'}, '1000', 'HEAD: content-length of the GET');
    $c->send(build_request('HEAD', '/chunked/1000'));
    $r = $c->read_response(head => 1);
    is($r && $r->{status}, 200, 'HEAD on a chunked resource: 200');
    for my $st (204, 304) {
        $c->send(build_request('GET', "/status/$st"));
        $r = $c->read_response;
        is($r && $r->{status}, $st, "$st passed");
        ok($r && !exists $r->{headers}{'transfer-encoding'}, "$st: no transfer-encoding");
    }
    $c->send(build_request('GET', '/bytes/10'));
    $r = $c->read_response;
    is($r && $r->{body}, pattern(10), 'the next response on the connection is intact: no body bytes were sent for HEAD/204/304');
    is($c->pending, '', 'nothing left over');
}

# --- 1xx informational responses ---------------------------------------------------------------------

{
    for my $code (103, 100) {
        my $c = http_connect($port, timeout => 5);
        $c->send(build_request('GET', "/info?code=$code"));
        my $r1 = $c->read_response;
        is($r1 && $r1->{status}, $code, "$code from the upstream forwarded to an HTTP/1.1 client");
        like($r1 && $r1->{headers}{link} // '', qr{</style\.css>; rel=preload}, "$code: its headers passed")
            if $code == 103;
        my $r2 = $c->read_response;
        is($r2 && "$r2->{status} $r2->{body}", '200 final', "$code: then the final response");
    }
    my $c = http_connect($port, timeout => 5);
    $c->send("GET /info?code=103 HTTP/1.0\r\nHost: proxy.test\r\n\r\n");
    my $r = $c->read_response;
    is($r && "$r->{status} $r->{body}", '200 final', '1xx not forwarded to an HTTP/1.0 client');
}

# --- Expect: 100-continue ----------------------------------------------------------------------------

{
    my $c = http_connect($port, timeout => 5);
    $c->send("POST /echo/expect HTTP/1.1\r\nHost: proxy.test\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
    my $r = $c->read_response(timeout => 5);
    is($r && $r->{status}, 100, 'Expect: 100-continue -> 100 Continue before the body');
    $c->send(pattern(5000));
    $r = $c->read_response(timeout => 5);
    is($r && $r->{status}, 200, 'then the upstream response');
    my $j = $r ? parse_json($r->{body}) : undef;
    is($j && $j->{body_length}, 5000, '100-continue: body forwarded');
    is($j && $j->{body_md5}, md5_hex(pattern(5000)), '100-continue: body intact');
    ok(!defined echo_hdr($j, 'expect'), 'Expect not forwarded upstream');
    $c->send(build_request('GET', '/id'));
    $r = $c->read_response;
    is($r && $r->{body}, 'a', 'connection usable afterwards (a single 100 was sent)');
}

# --- pipelining -----------------------------------------------------------------------------------

{
    my $c = http_connect($port, timeout => 10);
    $c->send(build_request('GET', '/slow-head/300')
             . build_request('GET', '/echo/two')
             . build_request('POST', '/echo/three', body => 'body-3')
             . build_request('GET', '/bytes/7'));
    my @r = map { $c->read_response } 1 .. 4;
    is($r[0] && $r[0]{body}, 'slow', 'pipelined 1 (slow) first');
    my $j2 = $r[1] ? parse_json($r[1]{body}) : undef;
    is($j2 && $j2->{path}, '/echo/two', 'pipelined 2 second');
    my $j3 = $r[2] ? parse_json($r[2]{body}) : undef;
    is($j3 && "$j3->{path} $j3->{body}", '/echo/three body-3', 'pipelined 3 (with a body) third');
    is($r[3] && $r[3]{body}, pattern(7), 'pipelined 4 last');
}

# --- a large Content-Length response ----------------------------------------------------------------

{
    my $r = ask(build_request('GET', '/bytes/2000000'), timeout => 20);
    is($r && $r->{headers}{'content-length'}, '2000000', 'large response: content-length passed');
    ok($r && $r->{body} eq pattern(2_000_000), 'large response: body intact');
}

# --- a route's own client_max_body_size ------------------------------------------------------------

sub status_of {
    my ($raw) = @_;
    my $r = ask($raw, timeout => 20);
    return $r ? $r->{status} : 'none';
}

{
    my $eleven = 11 * 1024 * 1024;
    # Only the head: a 413 comes before the body is read.
    my $head = build_request('POST', '/echo/x', headers => [['Content-Length', $eleven]]);
    is(status_of($head), 413, 'over http.client_max_body_size (10m) on a route without its own: 413');
    is(status_of(build_request('POST', '/big/echo/x', headers => [['Content-Length', 13 * 1024 * 1024]])), 413,
       'over the upload route\'s 12m: 413');
    my $body = pattern($eleven);
    my ($r, $j) = echo_raw(build_request('POST', '/big/upload', body => $body));
    is($r && $r->{status}, 200, 'an 11m body on the upload route (12m, above the global 10m): 200')
        or diag($r ? substr($r->{raw}, 0, 300) : 'no response');
    is($j && $j->{body_length}, $eleven, 'the 11m body reached the upstream whole');
    my $chunked = build_request('POST', '/big/upload', headers => [['Transfer-Encoding', 'chunked']])
                . sprintf("%x\r\n", $eleven) . $body . "\r\n0\r\n\r\n";
    ($r, $j) = echo_raw($chunked);
    is($r && $r->{status}, 200, 'an 11m chunked body on the upload route: 200');

    is(status_of(build_request('POST', '/small/echo/x', body => 'x' x 2000)), 413,
       'over the small route\'s 1k (below the global 10m): 413');
    is(status_of(build_request('POST', '/small/echo/x', body => 'x' x 1000)), 200, 'within 1k: 200');
    is(status_of(build_request('POST', '/small/echo/x', headers => [['Transfer-Encoding', 'chunked']])
                 . "801\r\n" . ('c' x 2049) . "\r\n0\r\n\r\n"), 413, 'a chunked body over 1k: 413');
    is(status_of(build_request('POST', '/echo/x', body => 'x' x 2000)), 200,
       'the same 2000 bytes on a route without its own limit: 200');
    is(status_of(build_request('POST', '/small-return', headers => [['Transfer-Encoding', 'chunked']])
                 . "801\r\n" . ('c' x 2049) . "\r\n0\r\n\r\n"), 413,
       'a return route with 1k: a chunked body over it is refused while discarded (413)');
    is(status_of(build_request('POST', '/small-return', body => 'x' x 100)), 204, 'a return route within 1k: 204');
}

done_testing();
