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
#   3. gateway_grpc_responses_total by grpc-status.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use TestCerts;

my $PY = '/usr/bin/python3';
plan skip_all => 'no python3-grpcio for /usr/bin/python3 (Debian package python3-grpcio)'
    unless -x $PY && system("$PY -c 'import grpc' >/dev/null 2>&1") == 0;
plan skip_all => 'gatewayd built without the grpc module' unless has_modules('grpc');
my $TLS = has_modules('tls') && TestCerts::available();

my $t = GatewayTest->new;
my $dir = $t->dir;
my @children;
END { kill 'TERM', $_ for grep { $_ } @children; }

sub spawn {
    my ($log, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or _exit(126);
        open STDERR, '>&', \*STDOUT or _exit(126);
        exec { $cmd[0] } @cmd or _exit(127);
    }
    push @children, $pid;
    return $pid;
}

sub wait_port {
    my ($port) = @_;
    return wait_until(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1) ? 1 : 0 }, 10);
}

my $greeter_port = $t->port('greeter');
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
EOF
$conf .= "rate_limits:\n  once: {key: global, rate: 1/h, burst: 1, algorithm: token_bucket}\n" if has_modules('ratelimit');
$conf .= "routes:\n";
$conf .= <<'EOF';
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

    my ($seen) = calls($t->port('h2c'), 'unary:world:5');
    like($seen->{initial}{'x-seen-grpc-timeout'} // '', qr/^(4\d{3}|5000)ms$/, "the greeter saw the grpc-timeout ($seen->{initial}{'x-seen-grpc-timeout'})");

    # The upstream away: the gateway's 502 is UNAVAILABLE to the client.
    kill 'KILL', $greeter;
    waitpid $greeter, 0;
    @children = grep { $_ != $greeter } @children;
    my ($down) = calls($t->port('h2c'), 'unary:world');
    is($down->{code}, 'UNAVAILABLE', 'a stopped upstream: UNAVAILABLE');
    ok(count('grpc', 14) >= 1, 'gateway_grpc_responses_total{grpc_status="14"}');
    $greeter = spawn("$dir/greeter.log", $PY, "$FindBin::Bin/helpers/grpc_greeter.py", $greeter_port);
    ok(wait_port($greeter_port), 'the greeter is back');
    my ($again) = calls($t->port('h2c'), 'unary:again');
    is($again->{code}, 'OK', 'and calls succeed again');
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
