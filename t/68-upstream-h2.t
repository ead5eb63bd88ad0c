#!/usr/bin/perl
# HTTP/2 to upstreams (issue 17): `protocol: h2c` and `protocol: h2` (TLS, ALPN h2), HTTP/1.1
# clients in front, real HTTP/2 servers behind - nghttpd (Debian's nghttp2-server) and a
# python3-grpcio greeter (t/helpers/grpc_greeter.py).
#   1. h2c: GET (a 1.5 MB file) and POST bodies both ways (1.2 MB, Content-Length and chunked),
#      the response head as for HTTP/1 (reason phrase, x-request-id);
#   2. h2 over TLS: the same through nghttpd with a certificate of a private CA;
#   3. multiplexing: 50 concurrent calls with max_streams_per_connection: 10 use 5 upstream
#      connections (ss), all answered;
#   4. the upstream going away (nghttpd killed, restarted on the same port): 502 while it is
#      down, then served again on a new connection;
#   5. a gRPC-shaped unary call (HTTP/1.1 POST, application/grpc, te: trailers, a 5-byte framed
#      message): the reply message arrives, chunked (the trailers are not for HTTP/1.1);
#   6. health checks speak h2c and h2 (probes counted good; a killed server seen down, then up);
#   7. GOAWAY with two streams in flight (a python3-h2 server, t/helpers/h2_goaway_server.py):
#      the stream above last-stream-id (a POST) is retried on a new connection;
#   8. the request's fields as the server sees them (pseudo-headers, hop-by-hop fields gone,
#      X-Forwarded-For, x-request-id, traceparent, request_headers, te: trailers only when the
#      client's TE lists trailers); response_headers; retries on a 503 per stream; compress;
#   9. a circuit breaker in front of an h2c server: opened by connect failures, 503 at once;
#  10. -t: protocol: h2 without tls: is refused with FILE:LINE:COL.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Children;
use TestCerts;
use Backend;

my $NGHTTPD = (grep { -x } '/usr/sbin/nghttpd', '/usr/bin/nghttpd')[0];
plan skip_all => 'nghttpd is not installed (nghttp2-server)' unless $NGHTTPD;
my $PY = '/usr/bin/python3';
my $have_grpc = -x $PY && system("$PY -c 'import grpc' >/dev/null 2>&1") == 0;
my $have_tls = has_modules('tls') && TestCerts::available();

my $t = GatewayTest->new;
my $dir = $t->dir;

# Established TCP connections to 127.0.0.1:$port (the gateway's, from the upstream's side).
sub conns_to {
    my ($port) = @_;
    my @l = grep { /\S/ } `ss -Htn state established '( dport = :$port )' 2>/dev/null`;
    return scalar @l;
}

# --- the servers ---------------------------------------------------------------------------------

my $www = "$dir/www";
mkdir $www;
my $big = join '', map { chr(($_ * 7 + 3) % 256) } 0 .. 1_500_000 - 1;
spew("$www/big.bin", $big);
spew("$www/index.html", "hello h2\n");

my $h2c_port = $t->port('h2c');
my $h2c = spawn("$dir/nghttpd-h2c.log", $NGHTTPD, '--no-tls', '--echo-upload', '-d', $www, $h2c_port);
ok(wait_port($h2c_port), 'nghttpd (h2c) listens') or BAIL_OUT('no nghttpd');

my $certs;
my $tls_upstream = '';
if ($have_tls) {
    $certs = TestCerts->new($dir);
    $certs->ca('ca', cn => 'H2 CA');
    $certs->cert('srv', ca => 'ca', cn => 'backend.test', san => 'DNS:backend.test,IP:127.0.0.1');
    my $p = $t->port('h2tls');
    spawn("$dir/nghttpd-tls.log", $NGHTTPD, '--echo-upload', '-d', $www, $p, $certs->path('srv', 'key'),
          $certs->path('srv'));
    ok(wait_port($p), 'nghttpd (TLS) listens');
    $tls_upstream = <<"U";
  tls:
    servers: [{address: 127.0.0.1:%%h2tls%%}]
    protocol: h2
    tls: {ca: ca.pem, sni: backend.test}
    health_check: {path: /index.html, interval: 300ms, timeout: 250ms, fall: 1, rise: 1}
U
}

my $grpc_port = $t->port('grpc');
if ($have_grpc) {
    spawn("$dir/greeter.log", $PY, "$FindBin::Bin/helpers/grpc_greeter.py", $grpc_port);
    ok(wait_port($grpc_port), 'the gRPC greeter listens');
}

my $have_h2py = -x $PY && system("$PY -c 'import h2' >/dev/null 2>&1") == 0;
if ($have_h2py) {
    spawn("$dir/goaway.log", $PY, "$FindBin::Bin/helpers/h2_goaway_server.py", $t->port('goaway'));
    ok(wait_port($t->port('goaway')), 'the GOAWAY server listens');
}

my $dead = $t->port('dead');
$t->write_conf(conf_head(1) . <<"EOF");
http:
  client_max_body_size: 8m
upstreams:
  h2c:
    servers: [{address: 127.0.0.1:%%h2c%%}]
    protocol: h2c
    max_streams_per_connection: 10
$tls_upstream  greeter:
    servers: [{address: 127.0.0.1:%%grpc%%}]
    protocol: h2c
    max_streams_per_connection: 10
    max_fails: 0
  probed:
    servers: [{address: 127.0.0.1:%%h2c%%}]
    protocol: h2c
    health_check: {path: /index.html, interval: 300ms, timeout: 250ms, fall: 1, rise: 1}
  goaway:
    servers: [{address: 127.0.0.1:%%goaway%%}]
    protocol: h2c
  pair:
    servers: [{address: 127.0.0.1:%%goaway%%}, {address: 127.0.0.1:%%h2c%%}]
    protocol: h2c
  broken:
    servers: [{address: 127.0.0.1:%%dead%%}]
    protocol: h2c
    circuit_breaker: {consecutive_failures: 3, open_for: 1m}
    max_fails: 0
routes:
  - {name: grpcslow, match: {path_prefix: /slow/}, strip_prefix: /slow, upstream: greeter, timeout: {read: 400ms}}
  - {name: grpc, match: {path_prefix: /helloworld.Greeter/}, upstream: greeter}
  - {name: tls, match: {path_prefix: /tls/}, upstream: tls, strip_prefix: /tls}
  - {name: probed, match: {path_prefix: /probed/}, upstream: probed, strip_prefix: /probed}
  - name: fields
    match: {path_prefix: /fields/}
    upstream: goaway
    strip_prefix: /fields
    request_headers: {set: {x-route: r1}, remove: [x-secret]}
    response_headers: {set: {x-resp: r2}}
  - {name: goaway, match: {path_prefix: /goaway/}, upstream: goaway}
  - {name: retry, match: {path_prefix: /retry/}, upstream: pair, retries: {attempts: 2, on: [503], budget: 1}}
  - {name: noretry, match: {path_prefix: /noretry/}, upstream: pair}
  - name: gz
    match: {path_prefix: /gz/}
    strip_prefix: /gz
    upstream: h2c
    compress: {algorithms: [gzip], types: [text/*], min_length: 0}
  - {name: broken, match: {path_prefix: /broken/}, upstream: broken}
  - {name: h2c, match: {path_prefix: /}, upstream: h2c}
EOF
$t->write_conf(do {
    my $c = slurp($t->conf);
    $c =~ s/^  - \{name: tls.*\n//m unless $have_tls;
    $c =~ s/^    compress: .*\n//m unless has_modules('compress');
    $c
});
$t->start;
my $port = $t->port('http');

sub post {
    my ($path, $body, %opt) = @_;
    my $req = "POST $path HTTP/1.1\r\nHost: app.test\r\n";
    $req .= "$_: $opt{headers}{$_}\r\n" for sort keys %{ $opt{headers} // {} };
    if ($opt{chunked}) {
        $req .= "Transfer-Encoding: chunked\r\n\r\n";
        for (my $i = 0; $i < length $body; $i += 70000) {
            my $piece = substr($body, $i, 70000);
            $req .= sprintf("%x;ext=1\r\n%s\r\n", length $piece, $piece);
        }
        $req .= "0\r\nX-Trailer: dropped\r\n\r\n";
    } else {
        $req .= "Content-Length: " . length($body) . "\r\n\r\n$body";
    }
    return http_request($port, $req, timeout => 20);
}

# --- 1. h2c --------------------------------------------------------------------------------------

subtest 'h2c: GET and POST bodies both ways' => sub {
    my $r = $t->get('/index.html');
    is($r->{status}, 200, 'GET 200');
    is($r->{reason}, 'OK', 'with the standard reason phrase');
    is($r->{body}, "hello h2\n", 'the body');
    ok($r->{headers}{'x-request-id'}, 'x-request-id added');
    like($r->{headers}{server} // '', qr/nghttpd/, 'the upstream answered');
    $r = http_get($port, '/big.bin', {}, timeout => 20);
    is($r->{status}, 200, 'GET 1.5 MB');
    ok(defined $r->{body} && $r->{body} eq $big, '1.5 MB intact');
    my $up = substr($big, 0, 1_200_000);
    $r = post('/index.html', $up);
    is($r->{status}, 200, 'POST 1.2 MB (content-length)');
    ok(defined $r->{body} && $r->{body} eq $up, 'echoed intact');
    $r = post('/index.html', $up, chunked => 1);
    is($r->{status}, 200, 'POST 1.2 MB chunked');
    ok(defined $r->{body} && $r->{body} eq $up, 'unframed, echoed intact');
    $r = $t->get('/missing');
    is($r->{status}, 404, 'an upstream 404 passed on');
};

# --- 2. h2 over TLS -------------------------------------------------------------------------------

subtest 'h2 over TLS (ALPN h2)' => sub {
    plan skip_all => 'no tls module or openssl' unless $have_tls;
    my $r = http_get($port, '/tls/big.bin', {}, timeout => 20);
    is($r->{status}, 200, 'GET through TLS');
    ok(defined $r->{body} && $r->{body} eq $big, '1.5 MB intact');
    my $up = substr($big, 0, 1_100_000);
    $r = post('/tls/index.html', $up, chunked => 1);
    is($r->{status}, 200, 'chunked POST through TLS');
    ok(defined $r->{body} && $r->{body} eq $up, 'echoed intact');
};

# --- 3. gRPC --------------------------------------------------------------------------------------

my $msg = "\n\x05world";
my $grpc_body = "\0" . pack('N', length $msg) . $msg;

subtest 'gRPC unary call from an HTTP/1.1 client' => sub {
    plan skip_all => 'no python3-grpcio' unless $have_grpc;
    my $r = post('/helloworld.Greeter/SayHello', $grpc_body,
                 headers => {'Content-Type' => 'application/grpc', 'TE' => 'trailers'});
    is($r->{status}, 200, 'status 200');
    is($r->{headers}{'content-type'}, 'application/grpc', 'content-type');
    like($r->{headers}{'transfer-encoding'} // '', qr/chunked/, 'no length: chunked to the client');
    like($r->{body} // '', qr/Hello world/, 'the reply message');
    is(scalar @{ $r->{trailers} // [] }, 0, 'no trailers for an HTTP/1.1 client');
    like($r->{headers}{'x-seen-grpc-timeout'} // '', qr/none/, 'the greeter saw no deadline');
};

subtest 'gRPC: server streaming, a read timeout per stream' => sub {
    plan skip_all => 'no python3-grpcio' unless $have_grpc;
    my $r = post('/helloworld.Greeter/SayHelloStreamReply', $grpc_body,
                 headers => {'Content-Type' => 'application/grpc', 'TE' => 'trailers'});
    is($r->{status}, 200, 'streaming call answered');
    my @msgs = ($r->{body} // '') =~ /Hello world #(\d)/g;
    is("@msgs", '0 1 2', 'three messages in order');
    # A stream that times out is reset; the connection goes on with the others.
    my $m = "\n\x0asleep:1500";
    my $slow = "\0" . pack('N', length $m) . $m;
    my $c = http_connect($port, timeout => 10);
    $c->send("POST /slow/helloworld.Greeter/SayHello HTTP/1.1\r\nHost: g\r\nContent-Type: application/grpc\r\n"
             . "TE: trailers\r\nContent-Length: " . length($slow) . "\r\n\r\n$slow");
    my $t0 = time;
    $r = post('/helloworld.Greeter/SayHello', $grpc_body, headers => {'Content-Type' => 'application/grpc', 'TE' => 'trailers'});
    like($r->{body} // '', qr/Hello world/, 'another call meanwhile');
    # The greeter sends its headers at once: the head is out, the body is cut at the timeout.
    my $s = $c->read_response(timeout => 10);
    ok(!$s && $c->is_eof, 'the slow one: cut after the read timeout (its head had gone out)');
    ok(time - $t0 < 1.4, 'before the server would have answered');
    like($t->error_log, qr/upstream timed out while sending the body, route: "grpcslow"/, 'logged');
    $r = post('/helloworld.Greeter/SayHello', $grpc_body, headers => {'Content-Type' => 'application/grpc', 'TE' => 'trailers'});
    like($r->{body} // '', qr/Hello world/, 'the connection serves on');
};

# --- 4. multiplexing ------------------------------------------------------------------------------

subtest '50 concurrent calls, max_streams_per_connection 10: 5 connections' => sub {
    plan skip_all => 'no python3-grpcio' unless $have_grpc;
    my $m = "\n\x0asleep:1500";
    my $body = "\0" . pack('N', length $m) . $m;
    my @c;
    for (1 .. 50) {
        my $c = http_connect($port, timeout => 30) or last;
        $c->send("POST /helloworld.Greeter/SayHello HTTP/1.1\r\nHost: g\r\nContent-Type: application/grpc\r\n"
                 . "TE: trailers\r\nContent-Length: " . length($body) . "\r\n\r\n$body");
        push @c, $c;
    }
    is(scalar @c, 50, '50 clients sent');
    my $max = 0;
    wait_until(sub { my $n = conns_to($grpc_port); $max = $n if $n > $max; $max >= 5 }, 5);
    sleep 0.3;
    my $n = conns_to($grpc_port);
    $max = $n if $n > $max;
    is($max, 5, 'five upstream connections carry the 50 streams');
    my $ok = 0;
    for my $c (@c) {
        my $r = $c->read_response(timeout => 30);
        $ok++ if $r && $r->{status} == 200 && $r->{body} =~ /Hello sleep:1500/;
        $c->close;
    }
    is($ok, 50, 'all 50 answered');
    my $conns = sub { metric_sum($t->metrics // {}, 'gateway_upstream_connections', { upstream => 'greeter', state => $_[0] }) // -1 };
    ok(wait_until(sub { $conns->('idle') == 5 }, 5), 'then five idle connections (gateway_upstream_connections)')
        or diag('idle ' . $conns->('idle'));
    is($conns->('active'), 0, 'none active');
};

# --- health checks ------------------------------------------------------------------------------

sub probes {
    my ($upstream, $result) = @_;
    metric_sum($t->metrics // {}, 'gateway_health_checks_total', { upstream => $upstream, result => $result }) // 0;
}
sub server_up { metric_sum($t->metrics // {}, 'gateway_upstream_server_up', { upstream => $_[0] }) // -1 }

subtest 'health checks speak h2c / h2 to such upstreams' => sub {
    ok(wait_until(sub { probes('probed', 'good') >= 3 }, 5), 'h2c probes succeed');
    is(probes('probed', 'bad'), 0, 'none failed');
    is(server_up('probed'), 1, 'the server is up');
    if ($have_tls) {
        ok(wait_until(sub { probes('tls', 'good') >= 3 }, 5), 'h2 (TLS) probes succeed');
        is(probes('tls', 'bad'), 0, 'none failed');
    }
    is($t->get('/probed/index.html')->{status}, 200, 'served');
};

# --- 5. the upstream going away -------------------------------------------------------------------

subtest 'nghttpd killed and restarted' => sub {
    is($t->get('/index.html')->{status}, 200, 'served before');
    stop_child($h2c);
    ok(wait_until(sub { conns_to($h2c_port) == 0 }, 5), 'the pooled connection is gone');
    my $r = $t->get('/index.html');
    is($r->{status}, 502, '502 while it is down');
    ok(wait_until(sub { server_up('probed') == 0 }, 5), 'the health check sees it down');
    $h2c = spawn("$dir/nghttpd-h2c.log", $NGHTTPD, '--no-tls', '--echo-upload', '-d', $www, $h2c_port);
    ok(wait_port($h2c_port), 'restarted');
    $r = $t->get('/index.html');
    is($r->{status}, 200, 'served again');
    ok(wait_until(sub { server_up('probed') == 1 }, 5), 'and the health check up again');
    is($r->{body}, "hello h2\n", 'the body');
};

# --- GOAWAY with streams in flight ---------------------------------------------------------------

subtest 'GOAWAY: streams above its last-stream-id retried on a new connection' => sub {
    plan skip_all => 'no python3-h2' unless $have_h2py;
    my $r = $t->get('/goaway/warm');
    is($r->{status}, 200, 'a first request opens the connection');
    my ($n) = ($r->{body} // '') =~ /^conn (\d+) stream 1$/;
    ok($n, 'on a new connection (stream 1)');
    $n //= 0;
    # Two requests at once on the pooled connection: the server answers one and sends GOAWAY
    # naming it; the other (a POST: not idempotent, but never processed) goes on connection 2.
    my @c = map { http_connect($port, timeout => 10) } 1 .. 2;
    $c[0]->send("POST /goaway/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    $c[1]->send("POST /goaway/b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    my @r = map { $_->read_response(timeout => 10) } @c;
    is_deeply([map { $_ ? $_->{status} : 0 } @r], [200, 200], 'both answered');
    my @bodies = sort map { $_ ? $_->{body} : '' } @r;
    like($bodies[0], qr/^conn $n stream 3$/, 'one on the pooled connection (stream 3)');
    like($bodies[1], qr/^conn @{[ $n + 1 ]} stream 1$/, 'the refused one (stream 5) retried on a new connection');
    like($t->error_log, qr/upstream reset the HTTP\/2 stream \(REFUSED_STREAM\)/, 'the refusal is logged');
};

# --- the request's fields ------------------------------------------------------------------------

subtest 'the request fields sent over HTTP/2 follow the HTTP/1 rules' => sub {
    plan skip_all => 'no python3-h2' unless $have_h2py;
    my $r = http_request($port, "GET /fields/a/echo?q=1 HTTP/1.1\r\nHost: app.test:8080\r\nConnection: keep-alive, x-hop\r\n"
        . "X-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers, gzip\r\nX-Secret: s\r\nX-Custom: c\r\n"
        . "X-Forwarded-For: 10.9.9.9\r\nUpgrade: h2c\r\n\r\n");
    is($r->{status}, 200, 'answered');
    is($r->{headers}{'x-resp'}, 'r2', 'response_headers applied');
    my %f;
    my @names;
    for (split /\n/, $r->{body} // '') {
        my ($n, $v) = /^([^:]*|:[^:]+): (.*)$/ or next;
        push @names, $n;
        $f{$n} = $v;
    }
    is($f{':method'}, 'GET', ':method');
    is($f{':scheme'}, 'http', ':scheme');
    is($f{':authority'}, 'app.test:8080', ':authority from Host');
    is($f{':path'}, '/a/echo?q=1', ':path (strip_prefix, query kept)');
    ok(!exists $f{host}, 'no host field beside :authority');
    is($f{te}, 'trailers', 'te: trailers, as the client listed trailers');
    is($f{'x-custom'}, 'c', 'a client field passed');
    is($f{'x-route'}, 'r1', 'request_headers set');
    ok(!exists $f{'x-secret'}, 'request_headers remove');
    ok(!exists $f{$_}, "no $_") for qw(connection keep-alive x-hop upgrade transfer-encoding);
    is($f{'x-forwarded-for'}, '10.9.9.9, 127.0.0.1', 'X-Forwarded-For appended');
    ok($f{'x-request-id'}, 'x-request-id');
    like($f{traceparent} // '', qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'traceparent');
    ok(!grep({ /[A-Z]/ } @names), 'every name lower-case');
    my $c = http_connect($port, timeout => 5);
    $c->send("GET /fields/x/hints HTTP/1.1\r\nHost: h\r\n\r\n");
    my $i = $c->read_response;
    is($i && $i->{status}, 103, 'a 103 Early Hints passed on to the HTTP/1.1 client');
    is($i && $i->{headers}{link}, '</a.css>; rel=preload', 'with its fields');
    is($i && $i->{headers}{'x-resp'}, 'r2', 'and response_headers applied');
    my $f = $c->read_response;
    is($f && $f->{body}, "hinted\n", 'then the response');
    $c->close;
    $r = http_request($port, "POST /fields/b/echo HTTP/1.1\r\nHost: h\r\nTE: gzip\r\nContent-Length: 2\r\n\r\nab");
    my %g = map { /^([^:]*|:[^:]+): (.*)$/ ? ($1 => $2) : () } split /\n/, $r->{body} // '';
    ok(!exists $g{te}, 'no te when the client did not list trailers');
    is($g{'content-length'}, '2', 'content-length passed');
};

# --- retries and filters ------------------------------------------------------------------------

subtest 'retries on a status, per stream' => sub {
    plan skip_all => 'no python3-h2' unless $have_h2py;
    my %seen;
    $seen{ $t->get('/noretry/x/s503')->{status} }++ for 1 .. 4;
    is($seen{503}, 2, 'without retries: the 503 server answers every other request');
    %seen = ();
    $seen{ $t->get('/retry/x/s503')->{status} }++ for 1 .. 4;
    is($seen{503} // 0, 0, 'with retries on 503: retried on the other server');
    is($seen{404}, 4, '(which has no such file)');
};

subtest 'response body filters (compress)' => sub {
    plan skip_all => 'no compress module' unless has_modules('compress');
    my $text = join(' ', map { qw(alpha beta gamma delta)[$_ % 4] } 1 .. 100000);
    spew("$www/text.txt", $text);
    my $r = http_get($port, '/gz/text.txt', {'Accept-Encoding' => 'gzip'}, timeout => 10);
    is($r->{status}, 200, 'status 200');
    is($r->{headers}{'content-encoding'}, 'gzip', 'gzip');
    like($r->{headers}{'transfer-encoding'} // '', qr/chunked/, 'chunked (length unknown)');
    ok(length($r->{body}) < length($text) / 10, 'compressed');
    spew("$dir/gz.bin", $r->{body});
    is(scalar(`gzip -dc '$dir/gz.bin'`), $text, 'decodes to the file');
};

# --- 6. circuit breaker ---------------------------------------------------------------------------

subtest 'circuit breaker of an h2c upstream' => sub {
    my @st = map { $t->get('/broken/x')->{status} } 1 .. 3;
    is("@st", '502 502 502', 'three connect failures: 502');
    my $r = $t->get('/broken/x');
    is($r->{status}, 503, 'then the circuit is open: 503 at once');
    like($r->{body}, qr/circuit breaker open/, 'says why');
};

subtest '-t: protocol: h2 needs tls:' => sub {
    my $f = $t->write_conf(conf_head(1) . <<'EOF', 'h2-no-tls.conf');
upstreams:
  a:
    servers: [{address: 127.0.0.1:1}]
    protocol: h2
routes:
  - {name: a, match: {path_prefix: /}, upstream: a}
EOF
    my $r = $t->run('-t', '-p', $dir, '-c', $f);
    isnt($r->{exit}, 0, 'refused');
    like($r->{stderr}, qr{h2-no-tls\.conf:\d+:\d+: upstreams\.a\.protocol: h2 is HTTP/2 over TLS}, 'with FILE:LINE:COL');
};

unlike($t->error_log, qr/\[(crit|alert|emerg)\]/, 'no critical errors logged');
$t->stop;
done_testing;
