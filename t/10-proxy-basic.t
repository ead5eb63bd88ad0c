#!/usr/bin/perl
# Reverse proxy basics: the request line and headers the upstream gets (strip_prefix, rewrite,
# query, hop-by-hop removal both ways, X-Forwarded-*, X-Request-Id, traceparent, request_headers
# and response_headers), routing by header / query / host / method, unix socket upstreams, and the
# 404 when nothing matches.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use GatewayTest;
use Backend;

my %be;
$be{$_} = Backend->new(name => $_)->start for qw(a b c d e);

my $t = GatewayTest->new;
$be{u} = Backend->new(name => 'u', unix => $t->dir . '/u.sock')->start;
$t->set_port("be_$_", $be{$_}->port) for qw(a b c d e);

$t->write_conf(conf_head(1) . <<'EOF');
upstreams:
  main:
    servers: [{address: 127.0.0.1:%%be_a%%}]
  hdr:
    servers: [{address: 127.0.0.1:%%be_b%%}]
  qry:
    servers: [{address: 127.0.0.1:%%be_c%%}]
  mth:
    servers: [{address: 127.0.0.1:%%be_d%%}]
  hst:
    servers: [{address: 127.0.0.1:%%be_e%%}]
  sock:
    servers: [{address: "unix:%%PREFIX%%/u.sock"}]
routes:
  - name: plain
    match: {path_prefix: /plain}
    upstream: main
  - name: strip
    match: {path_prefix: /strip}
    strip_prefix: /strip
    upstream: main
  - name: rw
    match: {path_regex: '^/rw/([a-z]+)/([0-9]+)$'}
    rewrite: '/echo/$2/$1'
    upstream: main
  - name: hdrs
    match: {path_prefix: /hdrs}
    strip_prefix: /hdrs
    upstream: main
    request_headers:
      set: {x-added: v1, user-agent: gatewayd-test, x-forwarded-proto: https}
      remove: [x-secret]
    response_headers:
      set: {x-resp: r1, x-kept: replaced}
      remove: [x-secret-resp]
  - name: by-header
    match: {path_prefix: /route, headers: {x-version: "2"}}
    upstream: hdr
  - name: by-query
    match: {path_prefix: /route, query: {beta: "1"}}
    upstream: qry
  - name: by-method
    match: {path_prefix: /route, methods: [POST]}
    upstream: mth
  - name: route-default
    match: {path_prefix: /route}
    upstream: main
  - name: by-host
    match: {host: api.test, path_prefix: /route}
    upstream: hst
  - name: unix
    match: {path_prefix: /unix}
    upstream: sock
EOF
$t->start;
my $port = $t->port('http');

sub ask {
    my ($raw, %opt) = @_;
    return http_request($port, $raw, %opt);
}

# Sends a request; returns (response, decoded echo JSON).
sub echo {
    my ($method, $target, %o) = @_;
    my $r = ask(build_request($method, $target, %o), head => $method eq 'HEAD');
    my $j = $r ? parse_json($r->{body}) : undef;
    return ($r, $j);
}

# --- request line, path, query ---------------------------------------------------------------

{
    my ($r, $j) = echo('GET', '/plain/echo?x=1&y=%20z&x=2', host => 'www.example.test:8080');
    is($r && $r->{status}, 200, 'GET proxied: 200') or diag($r ? $r->{raw} : 'no response');
    is($j && $j->{backend}, 'a', 'reached backend a');
    is($j && $j->{method}, 'GET', 'method GET');
    is($j && $j->{target}, '/plain/echo?x=1&y=%20z&x=2', 'target and query unchanged');
    is($j && $j->{proto}, 'HTTP/1.1', 'upstream request is HTTP/1.1');
    is_deeply([echo_hdrs($j, 'host')], ['www.example.test:8080'], 'Host passed unchanged (once)');
    is($r && $r->{proto}, 'HTTP/1.1', 'response HTTP/1.1');
    is($r && lc($r->{headers}{connection} // ''), 'keep-alive', 'response connection: keep-alive');
    is($r && $r->{headers}{'x-backend'}, 'a', 'upstream response header passed');
    is($r && $r->{headers}{'content-type'}, 'application/json', 'upstream content-type passed');

    ($r, $j) = echo('POST', '/plain/echo', body => 'hello world', headers => [['Content-Type', 'text/plain']]);
    is($r && $r->{status}, 200, 'POST proxied: 200');
    is($j && $j->{method}, 'POST', 'method POST');
    is($j && $j->{body}, 'hello world', 'POST body forwarded');
    is(echo_hdr($j, 'content-length'), '11', 'Content-Length forwarded');
    is(echo_hdr($j, 'content-type'), 'text/plain', 'Content-Type forwarded');
    ok(!defined echo_hdr($j, 'transfer-encoding'), 'no Transfer-Encoding added');

    for my $m (qw(PUT DELETE PATCH OPTIONS)) {
        ($r, $j) = echo($m, "/plain/m", body => "x$m");
        is($j && "$j->{method} $j->{body}", "$m x$m", "$m proxied with its body");
    }

    # several requests on one client connection
    my $c = http_connect($port);
    my @got;
    for my $i (1 .. 3) {
        $c->send(build_request('GET', "/plain/seq/$i"));
        my $x = $c->read_response;
        my $jj = $x ? parse_json($x->{body}) : undef;
        push @got, $jj ? $jj->{path} : 'none';
    }
    is_deeply(\@got, ['/plain/seq/1', '/plain/seq/2', '/plain/seq/3'], 'keep-alive client connection: 3 proxied requests');
}

# --- strip_prefix and rewrite ------------------------------------------------------------------

{
    my (undef, $j) = echo('GET', '/strip/echo/z?q=1');
    is($j && $j->{target}, '/echo/z?q=1', 'strip_prefix: /strip/echo/z?q=1 -> /echo/z?q=1');
    (undef, $j) = echo('GET', '/strip');
    is($j && $j->{target}, '/', 'strip_prefix leaving nothing -> /');
    (undef, $j) = echo('GET', '/strip?only=query');
    is($j && $j->{target}, '/?only=query', 'strip_prefix leaving nothing, query kept -> /?only=query');
    (undef, $j) = echo('GET', '/rw/abc/42?k=v&k2=%2F');
    is($j && $j->{target}, '/echo/42/abc?k=v&k2=%2F', 'rewrite with $2/$1 captures, query kept');
    (undef, $j) = echo('GET', '/rw/abc/42');
    is($j && $j->{target}, '/echo/42/abc', 'rewrite without a query');
}

# --- hop-by-hop headers ------------------------------------------------------------------------

{
    my ($r, $j) = echo('GET', '/plain/echo', headers => [
        ['Connection', 'keep-alive, X-Foo'],
        ['X-Foo', 'must-not-pass'],
        ['Keep-Alive', 'timeout=5'],
        ['TE', 'trailers'],
        ['Trailer', 'X-T'],
        ['Upgrade', 'foo/1'],
        ['Proxy-Authorization', 'Basic Zm9vOmJhcg=='],
        ['Proxy-Connection', 'keep-alive'],
        ['Proxy-Foo', 'bar'],
        ['X-Keep', 'yes'],
        ['Authorization', 'Bearer abc'],
    ]);
    is($r && $r->{status}, 200, 'request with hop-by-hop headers proxied');
    for my $h ('x-foo', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-authorization',
               'proxy-connection', 'proxy-foo', 'transfer-encoding') {
        ok(!defined echo_hdr($j, $h), "request: $h not forwarded")
            or diag("$h: " . echo_hdr($j, $h));
    }
    unlike(lc(echo_hdr($j, 'connection') // ''), qr/x-foo/, 'request: the client Connection header is not forwarded');
    is(echo_hdr($j, 'x-keep'), 'yes', 'request: end-to-end header kept');
    is(echo_hdr($j, 'authorization'), 'Bearer abc', 'request: Authorization kept');

    my ($r2) = echo(q(GET), q(/strip/hop));
    is($r2 && $r2->{status}, 200, 'response with hop-by-hop headers');
    my $h = $r2 ? $r2->{headers} : {};
    ok(!exists $h->{'x-hop'}, 'response: header named by Connection removed');
    ok(!exists $h->{'keep-alive'}, 'response: Keep-Alive removed');
    ok(!exists $h->{'proxy-connection'}, 'response: Proxy-Connection removed');
    is(lc($h->{connection} // ''), 'keep-alive', 'response: the gateway\'s own connection: keep-alive only');
    is($h->{'x-kept'}, 'yes', 'response: end-to-end header kept');
    is($h->{'x-secret-resp'}, 'hidden', 'response: other headers kept');
    is($r2 && $r2->{body}, 'hop', 'response body');
}

# --- X-Forwarded-*, X-Request-Id, traceparent ----------------------------------------------------

{
    my ($r, $j) = echo('GET', '/plain/echo', host => 'fwd.test:81');
    is_deeply([echo_hdrs($j, 'x-forwarded-for')], ['127.0.0.1'], 'X-Forwarded-For: client ip');
    is_deeply([echo_hdrs($j, 'x-forwarded-proto')], ['http'], 'X-Forwarded-Proto: http');
    is_deeply([echo_hdrs($j, 'x-forwarded-host')], ['fwd.test:81'], 'X-Forwarded-Host: the client Host');

    ($r, $j) = echo('GET', '/plain/echo', headers => [['X-Forwarded-For', '10.1.2.3']]);
    is_deeply([echo_hdrs($j, 'x-forwarded-for')], ['10.1.2.3, 127.0.0.1'], 'X-Forwarded-For appended');

    ($r, $j) = echo('GET', '/plain/echo', headers => [['X-Forwarded-For', '10.1.2.3, 10.4.5.6']]);
    is(echo_hdr($j, 'x-forwarded-for'), '10.1.2.3, 10.4.5.6, 127.0.0.1', 'X-Forwarded-For list appended');

    # X-Request-Id generated
    ($r, $j) = echo('GET', '/plain/echo');
    my @ids = echo_hdrs($j, 'x-request-id');
    is(scalar @ids, 1, 'one X-Request-Id upstream');
    like($ids[0] // '', qr/^[0-9a-f]{32}$/, 'generated X-Request-Id: 32 lowercase hex');
    is($r && $r->{headers}{'x-request-id'}, $ids[0], 'response x-request-id is the id sent upstream');
    my (undef, $j2) = echo('GET', '/plain/echo');
    isnt(echo_hdr($j2, 'x-request-id') // '', $ids[0] // 'x', 'a new id per request');

    # X-Request-Id passed through
    ($r, $j) = echo('GET', '/plain/echo', headers => [['X-Request-Id', 'req-abc-123']]);
    is_deeply([echo_hdrs($j, 'x-request-id')], ['req-abc-123'], 'client X-Request-Id kept');
    is($r && $r->{headers}{'x-request-id'}, 'req-abc-123', 'and echoed on the response');

    # traceparent created
    ($r, $j) = echo('GET', '/plain/echo');
    my @tp = echo_hdrs($j, 'traceparent');
    is(scalar @tp, 1, 'one traceparent upstream');
    like($tp[0] // '', qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'traceparent created: 00-<32 hex>-<16 hex>-01');
    unlike($tp[0] // '', qr/^00-0{32}-|-0{16}-/, 'created ids are not all zero');

    # a valid traceparent is propagated
    my $valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    ($r, $j) = echo('GET', '/plain/echo', headers => [['traceparent', $valid]]);
    is_deeply([echo_hdrs($j, 'traceparent')], [$valid], 'valid traceparent propagated');

    # an invalid one is replaced
    ($r, $j) = echo('GET', '/plain/echo', headers => [['traceparent', '00-xyz-bad-01']]);
    @tp = echo_hdrs($j, 'traceparent');
    is(scalar @tp, 1, 'invalid traceparent: one traceparent upstream');
    like($tp[0] // '', qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'invalid traceparent replaced by a new one');
}

# --- request_headers / response_headers ------------------------------------------------------------

{
    my ($r, $j) = echo('GET', '/hdrs/echo', headers => [['User-Agent', 'curl/8'], ['X-Secret', 's3cr3t'], ['X-Other', 'o']]);
    is($r && $r->{status}, 200, 'route with header ops');
    is_deeply([echo_hdrs($j, 'x-added')], ['v1'], 'request_headers set adds');
    is_deeply([echo_hdrs($j, 'user-agent')], ['gatewayd-test'], 'request_headers set replaces');
    ok(!defined echo_hdr($j, 'x-secret'), 'request_headers remove');
    is(echo_hdr($j, 'x-other'), 'o', 'other headers untouched');
    is_deeply([echo_hdrs($j, 'x-forwarded-proto')], ['https'], 'request_headers set applied after the X-Forwarded-* headers');

    ($r) = echo('GET', '/hdrs/hop');
    is($r && $r->{headers}{'x-resp'}, 'r1', 'response_headers set adds');
    is($r && $r->{headers}{'x-kept'}, 'replaced', 'response_headers set replaces');
    my @kept = $r ? grep { lc $_->[0] eq 'x-kept' } @{ $r->{header_list} } : ();
    is(scalar @kept, 1, 'replaced header appears once');
    ok($r && !exists $r->{headers}{'x-secret-resp'}, 'response_headers remove');
    like($r && $r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, 'x-request-id on the response');
}

# --- routing by header, query, method, host ----------------------------------------------------------

{
    my @cases = (
        # method, target, headers, host, expected backend
        ['GET', '/route/echo', [['X-Version', '2']], undef, 'b', 'header x-version: 2'],
        ['GET', '/route/echo', [['X-Version', '3']], undef, 'a', 'header x-version: 3 -> default'],
        ['GET', '/route/echo?beta=1', [], undef, 'c', 'query beta=1'],
        ['GET', '/route/echo?alpha=0&beta=1', [], undef, 'c', 'query beta=1 among others'],
        ['GET', '/route/echo?beta=2', [], undef, 'a', 'query beta=2 -> default'],
        ['POST', '/route/echo', [], undef, 'd', 'method POST'],
        ['GET', '/route/echo', [], undef, 'a', 'no condition -> default'],
        ['GET', '/route/echo', [], 'api.test', 'e', 'host api.test'],
        ['GET', '/route/echo', [['X-Version', '2']], 'API.TEST:8080', 'e', 'host tier wins over other hosts\' routes'],
    );
    for my $c (@cases) {
        my ($m, $p, $h, $host, $want, $what) = @$c;
        my (undef, $j) = echo($m, $p, headers => $h, (defined $host ? (host => $host) : ()),
                              ($m eq 'POST' ? (body => '') : ()));
        is($j && $j->{backend}, $want, "routing: $what -> backend $want");
    }
}

# --- unix socket upstream ---------------------------------------------------------------------

{
    my ($r, $j) = echo('GET', '/unix/echo?z=1');
    is($r && $r->{status}, 200, 'unix socket upstream: 200');
    is($j && $j->{backend}, 'u', 'unix socket upstream reached');
    is($j && $j->{target}, '/unix/echo?z=1', 'unix socket upstream: target');
}

# --- nothing matches ---------------------------------------------------------------------------

{
    my $before = 0;
    $before += $be{$_}->stats->{requests} for keys %be;
    my ($r) = echo('GET', '/nothing/here');
    is($r && $r->{status}, 404, 'no route: 404');
    my $j = parse_json($r && $r->{body});
    ok($j && $j->{status} == 404 && defined $j->{error}, 'no route: JSON {"status":404,"error":...}')
        or diag($r && $r->{body});
    my $after = 0;
    $after += $be{$_}->stats->{requests} for keys %be;
    is($after, $before, 'no route: no backend saw a request');
}

done_testing();
