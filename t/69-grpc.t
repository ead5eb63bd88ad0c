#!/usr/bin/perl
# gRPC end to end (issue 17): python3-grpcio's client (t/helpers/grpc_client.py) -> gatewayd
# (an h2c listener, and a TLS one with ALPN h2) -> python3-grpcio's server
# (t/helpers/grpc_greeter.py) over h2c, on a `grpc: true` route:
#   1. unary calls with their metadata and trailers (grpc-status, a custom trailer), server
#      streaming, bidi streaming (first and later calls of a channel: the request's messages go
#      on upstream while replies come back), a 2 MB request and a 2 MB reply (flow control both
#      ways), over h2c and over TLS;
#   2. statuses: the upstream's own (status:8 -> RESOURCE_EXHAUSTED with its message), a deadline
#      (the client's 300 ms against a 2 s call: DEADLINE_EXCEEDED; the greeter saw the
#      grpc-timeout), the gateway's: a rate limit's 429 -> RESOURCE_EXHAUSTED, a stopped upstream
#      -> UNAVAILABLE;
#   3. gateway_grpc_responses_total by grpc-status;
#   4. gRPC-Web (a `grpc_web: true` route, the same greeter): binary and -text calls over
#      HTTP/1.1 (curl, as browsers send them) and over h2 (nghttp): the reply's message and its
#      trailers as the last frame of the body (flag 0x80), base64 for -text; an error status; the
#      gateway's own error as a gRPC-Web status; a CORS preflight and the exposed grpc-status.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Children;
use TestCerts;
use H2Client;

my $PY = '/usr/bin/python3';
plan skip_all => 'no python3-grpcio for /usr/bin/python3 (Debian package python3-grpcio)'
    unless -x $PY && system("$PY -c 'import grpc' >/dev/null 2>&1") == 0;
plan skip_all => 'gatewayd built without the grpc module' unless has_modules('grpc');
my $TLS = has_modules('tls') && TestCerts::available();

my $t = GatewayTest->new;
my $dir = $t->dir;

my $greeter_port = $t->port('greeter');
$t->set_port('dead', do { my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', Listen => 1); my $p = $s->sockport; close $s; $p });
my $greeter = spawn("$dir/greeter.log", $PY, "$FindBin::Bin/helpers/grpc_greeter.py", $greeter_port);
ok(wait_port($greeter_port), 'the gRPC greeter listens');

my ($cert, $key, $ca) = ('', '', '');
if ($TLS) {
    my $certs = TestCerts->new($dir);
    $certs->ca('ca');
    $certs->cert('srv', ca => 'ca', cn => 'localhost', san => 'DNS:localhost,IP:127.0.0.1');
    ($cert, $key, $ca) = ($certs->path('srv'), $certs->path('srv', 'key'), $certs->path('ca'));
}

my $conf = <<'EOF';
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
access_log: {path: logs/access.log, flush: 50ms}
http: {client_max_body_size: 16m}
listeners:
  - {address: 127.0.0.1:%%h2c%%, http2: prior_knowledge}
  - {address: 127.0.0.1:%%admin%%, admin: true}
EOF
$conf .= <<"EOF" if $TLS;
  - address: 127.0.0.1:%%https%%
    http2: true
    tls: {certificates: [{cert: $cert, key: $key}]}
EOF
$conf .= <<'EOF';
upstreams:
  greeter:
    servers: [{address: 127.0.0.1:%%greeter%%}]
    protocol: h2c
    max_fails: 0
  dead:
    servers: [{address: 127.0.0.1:%%dead%%}]
    protocol: h2c
    max_fails: 0
EOF
$conf .= "rate_limits:\n  once: {key: global, rate: 1/h, burst: 1, algorithm: token_bucket}\n" if has_modules('ratelimit');
$conf .= <<'EOF' if has_modules('cors');
cors:
  web:
    origins: ["https://app.example.com"]
    methods: [POST]
    headers: [content-type, x-grpc-web, x-user-agent, grpc-timeout]
    expose_headers: [grpc-status, grpc-message]
EOF
my $cors = has_modules('cors') ? ', cors: web' : '';
$conf .= <<"EOF";
routes:
  - {name: web, match: {path_prefix: /web/}, strip_prefix: /web, upstream: greeter, grpc_web: true$cors}
  - {name: web-dead, match: {path_prefix: /webdead/}, upstream: dead, grpc_web: true}
  - {name: grpc, match: {path_prefix: /helloworld.Greeter/}, upstream: greeter, grpc: true}
EOF
$t->write_conf($conf);
$t->start;

sub calls {
    my ($port, @calls) = @_;
    my @args = ("127.0.0.1:$port");
    if (ref $port) { @args = ("localhost:$port->{tls}", '--tls', $ca) }
    my $out = `$PY $FindBin::Bin/helpers/grpc_client.py @args @calls 2>&1`;
    my @r;
    for my $l (split /\n/, $out) {
        my $j = eval { decode_json($l) };
        push @r, $j if $j;
        diag("grpc_client: $l") unless $j;
    }
    return @r;
}

sub count {
    my ($route, $status) = @_;
    return metric_sum($t->metrics // {}, 'gateway_grpc_responses_total', { route => $route, grpc_status => $status }) // 0;
}

for my $via ('h2c', 'tls') {
    subtest "calls over $via" => sub {
        plan skip_all => 'no TLS (tls module or openssl)' if $via eq 'tls' && !$TLS;
        my $target = $via eq 'h2c' ? $t->port('h2c') : { tls => $t->port('https') };
        my ($b) = calls($target, 'bidi:a,b,c');  # (the first call of its channel)
        my ($u, $s, $up, $big) = calls($target, 'unary:world', 'stream:s', 'upload:2000000', 'unary:big:2000000');
        is($u->{code}, 'OK', 'unary: OK');
        is_deeply($u->{replies}, ['Hello world'], 'unary: the reply');
        is($u->{trailing}{'x-trailer'}, 't1', 'unary: the server\'s custom trailer arrives');
        ok(exists $u->{initial}{'x-seen-grpc-timeout'}, 'unary: initial metadata arrives');
        is($s->{code}, 'OK', 'server streaming: OK');
        is_deeply($s->{replies}, ['Hello s #0', 'Hello s #1', 'Hello s #2'], 'server streaming: 3 replies in order');
        is($b->{code}, 'OK', 'bidi: OK');
        is_deeply($b->{replies}, ['Hello a', 'Hello b', 'Hello c'], 'bidi: one reply per request');
        is($up->{code}, 'OK', 'a 2 MB request: OK');
        is_deeply($up->{replies}, [2000006], '... answered with its 2 MB (flow control upstream)');
        is($big->{code}, 'OK', 'a 2 MB reply: OK');
        is_deeply($big->{replies}, [2000000], '... of 2 MB (flow control downstream)');
        # The request's messages keep flowing upstream while the response streams back (the
        # proxy once stopped forwarding a request body when an HTTP/2 upstream began to answer).
        my (undef, $b2, $b3) = calls($target, 'unary:first', 'bidi:d,e', 'bidi:f,g,h,i');
        is($b2->{code}, 'OK', 'bidi as the second call of a channel: OK');
        is_deeply($b2->{replies}, ['Hello d', 'Hello e'], '... its replies');
        is_deeply($b3->{replies}, ['Hello f', 'Hello g', 'Hello h', 'Hello i'], 'and a third call, 4 messages');
    };
}

subtest 'statuses' => sub {
    my $before = count('grpc', 8);
    my ($st, $dl) = calls($t->port('h2c'), 'unary:status:8', 'unary:sleep:2000:0.3');
    is($st->{code}, 'RESOURCE_EXHAUSTED', 'the upstream\'s own status passes: RESOURCE_EXHAUSTED');
    is($st->{details}, 'asked for it', '... with its message');
    is($dl->{code}, 'DEADLINE_EXCEEDED', 'the client\'s 300 ms deadline on a 2 s call: DEADLINE_EXCEEDED');
    ok($dl->{secs} < 1.5, sprintf('... in about 300 ms (%.2f s)', $dl->{secs}));
    ok(wait_until(sub { count('grpc', 8) == $before + 1 }, 5), 'gateway_grpc_responses_total{grpc_status="8"} counts it');

    # (grpc-python sends its 5 s deadline rounded up to its header's units: the server may see
    # a few ms more than 5000)
    my ($seen) = calls($t->port('h2c'), 'unary:world:5');
    like($seen->{initial}{'x-seen-grpc-timeout'} // '', qr/^(4\d{3}|50\d\d)ms$/, "the greeter saw the grpc-timeout ($seen->{initial}{'x-seen-grpc-timeout'})");

    # The upstream away: the gateway's 502 is UNAVAILABLE to the client.
    stop_child($greeter);
    my ($down) = calls($t->port('h2c'), 'unary:world');
    is($down->{code}, 'UNAVAILABLE', 'a stopped upstream: UNAVAILABLE');
    ok(count('grpc', 14) >= 1, 'gateway_grpc_responses_total{grpc_status="14"}');
    $greeter = spawn("$dir/greeter.log", $PY, "$FindBin::Bin/helpers/grpc_greeter.py", $greeter_port);
    ok(wait_port($greeter_port), 'the greeter is back');
    my ($again) = calls($t->port('h2c'), 'unary:again');
    is($again->{code}, 'OK', 'and calls succeed again');
};

# gRPC-Web frames: [[flags, payload], ...] of a body.
sub web_frames {
    my ($b) = @_;
    my @f;
    while (length($b) >= 5) {
        my ($flags, $len) = unpack('C N', substr($b, 0, 5));
        push @f, [$flags, substr($b, 5, $len)];
        substr($b, 0, 5 + $len, '');
    }
    return @f;
}
sub hello { my $name = shift; my $m = "\x0a" . chr(length $name) . $name; return pack('C N', 0, length $m) . $m }

subtest 'gRPC-Web' => sub {
    require MIME::Base64;
    my $port = $t->port('h2c');
    my $req = "$dir/web.bin";
    open(my $fh, '>:raw', $req) or die;
    print $fh hello('web');
    close $fh;
    my $curl = sub {
        my ($type, $file, $path) = @_;
        my $r = run_cmd({ timeout => 10 }, 'curl', '-s', '--http1.1', '-D', "$dir/web.head", '-o', "$dir/web.out",
                        '-H', "content-type: $type", '-H', 'x-grpc-web: 1', '--data-binary', "\@$file",
                        "http://127.0.0.1:$port" . ($path // '/web/helloworld.Greeter/SayHello'));
        return (slurp("$dir/web.head") // '', slurp("$dir/web.out") // '');
    };
    my ($head, $body) = $curl->('application/grpc-web+proto', $req);
    like($head, qr{^HTTP/1\.1 200}, 'binary: 200');
    like($head, qr{\r\ncontent-type: application/grpc-web\+proto\r\n}i, 'binary: content-type application/grpc-web+proto');
    my @f = web_frames($body);
    is(scalar @f, 2, 'binary: a message frame and a trailer frame');
    is($f[0][1], "\x0a\x09Hello web", 'binary: the reply');
    is($f[1][0], 0x80, 'binary: the last frame is the trailers (flag 0x80)');
    like($f[1][1] // '', qr/^grpc-status:0\r\n/m, 'binary: grpc-status 0 in it');
    like($f[1][1] // '', qr/^x-trailer:t1\r\n/m, 'binary: the server\'s own trailer too');

    open($fh, '>', "$dir/web.b64") or die;
    print $fh MIME::Base64::encode_base64(hello('text'), '');
    close $fh;
    ($head, $body) = $curl->('application/grpc-web-text', "$dir/web.b64");
    like($head, qr{\r\ncontent-type: application/grpc-web-text\r\n}i, 'text: content-type application/grpc-web-text');
    my @t = web_frames(join '', map { MIME::Base64::decode_base64($_) } $body =~ /([A-Za-z0-9+\/]+=*)/g);
    is($t[0][1], "\x0a\x0aHello text", 'text: the base64 reply decodes to the message');
    like($t[1][1] // '', qr/^grpc-status:0\r\n/m, '... and the trailer frame');

    open($fh, '>:raw', "$dir/web8.bin") or die;
    print $fh hello('status:8');
    close $fh;
    ($head, $body) = $curl->('application/grpc-web', "$dir/web8.bin");
    my @e = web_frames($body);
    is($e[-1][0], 0x80, 'an error status: a trailer frame');
    like($e[-1][1] // '', qr/^grpc-status:8\r\n/m, '... with grpc-status 8');
    like($e[-1][1] // '', qr/^grpc-message:asked for it\r\n/m, '... and its message');
    ($head, $body) = $curl->('application/grpc-web', $req, '/webdead/helloworld.Greeter/SayHello');
    like($head, qr{\r\ncontent-type: application/grpc-web\r\n.*grpc-status: 14\r\n}s,
         'the gateway\'s own error: a gRPC-Web answer with grpc-status 14');

    # over h2, with nghttp
    my $r = run_cmd({ timeout => 10 }, 'nghttp', '-v', '-H', ':method: POST', '-H', 'content-type: application/grpc-web',
                    '-d', $req, "http://127.0.0.1:$port/web/helloworld.Greeter/SayHello");
    my @h = grep { $_->{dir} eq 'recv' && $_->{type} eq 'HEADERS' } @{ nghttp_frames($r->{out}) };
    is(scalar @h, 1, 'h2: one HEADERS (the trailers are in the body)');
    is(header_of($h[0]{headers}, 'content-type'), 'application/grpc-web', 'h2: content-type application/grpc-web');

  SKIP: {
        skip 'no cors module', 3 unless has_modules('cors');
        my $p = run_cmd({ timeout => 10 }, 'curl', '-s', '-D', '-', '-o', '/dev/null', '-X', 'OPTIONS',
                        '-H', 'origin: https://app.example.com', '-H', 'access-control-request-method: POST',
                        '-H', 'access-control-request-headers: content-type,x-grpc-web',
                        "http://127.0.0.1:$port/web/helloworld.Greeter/SayHello");
        like($p->{out}, qr{^HTTP/1\.1 204}, 'CORS: the preflight is answered');
        like($p->{out}, qr{access-control-allow-headers: [^\r]*x-grpc-web}i, '... allowing x-grpc-web');
        my $c = run_cmd({ timeout => 10 }, 'curl', '-s', '--http1.1', '-D', '-', '-o', '/dev/null', '-H', 'origin: https://app.example.com',
                        '-H', 'content-type: application/grpc-web', '--data-binary', "\@$req",
                        "http://127.0.0.1:$port/web/helloworld.Greeter/SayHello");
        like($c->{out}, qr{access-control-expose-headers: [^\r]*grpc-status}i, 'CORS: grpc-status is exposed to the page');
    }
};

SKIP: {
    skip 'no ratelimit module', 1 unless has_modules('ratelimit');
    subtest 'a rate limit is RESOURCE_EXHAUSTED' => sub {
        $t->write_conf($conf =~ s/(  - \{name: grpc, .*grpc: true)\}/$1, rate_limit: once}/r);
        my $gen = $t->status_json->{generation};
        $t->signal('HUP');
        ok(wait_until(sub { ($t->status_json // {})->{generation} > $gen }, 10), 'reloaded with the limit');
        my ($first, $second) = calls($t->port('h2c'), 'unary:one', 'unary:two');
        is($first->{code}, 'OK', 'the first call: OK');
        is($second->{code}, 'RESOURCE_EXHAUSTED', 'the second, over the limit: RESOURCE_EXHAUSTED');
        like($second->{details}, qr/rate limit|too many/i, "... with the gateway's message ($second->{details})");
    };
}

done_testing;
