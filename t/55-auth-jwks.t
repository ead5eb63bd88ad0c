#!/usr/bin/perl
# JWT key sets fetched from a URL by the master (issue 15): a JWKS server this test runs (a tiny
# Perl HTTP server that counts the requests it answers), tokens minted by Debian's python3-jwt
# (t/helpers/jwt-mint.py), two workers:
#   1. a token verifies with the URL's set; the set is written to cache_file;
#   2. key rotation: a token with a new kid is accepted after exactly one refetch; a reload
#      keeps the set without fetching it;
#   3. a burst of 500 requests with another new kid, across both workers: exactly one fetch;
#   4. a kid that is nowhere: 401 "no key for the token" after at most `timeout`, one fetch per
#      kid_miss_interval for the node; while the server hangs, the request waits `timeout` and
#      the others are served meanwhile;
#   5. the JWKS server down during operation: the last good set still verifies, the failure is
#      counted (gateway_auth_jwks_fetches_total) and logged;
#   6. the JWKS server down at start: the cache file's set verifies tokens;
#   7. bad URLs and a CA without https:// are refused at load, -T round trip (https:// itself:
#      t/60-auth-jwks-https.t).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use Test::More;
use GatewayTest;
use JwtMint;

my $t = GatewayTest->new;
require_modules('auth');
JwtMint::skip_unless_available();
my ($keys_a, $keys_b) = map { JwtMint::keys($t->dir . "/keys-$_") } qw(a b);
sub mint { JwtMint::mint(@_) }

my $now = time;
my %claims = (iss => 'https://id.test/', aud => 'api', sub => 'alice', iat => int($now) - 10, exp => int($now) + 3600);

# The key sets the server serves: set A (kids rsa, ec, ed), then A plus B's keys under new kids.
my $json = JSON::PP->new->canonical;
my $set_a = $json->decode(slurp("$keys_a/jwks.json"));
my $set_b = $json->decode(slurp("$keys_b/jwks.json"));
sub set_with {
    my %kids = @_;
    my @b = map { { %$_, kid => $kids{ $_->{kid} } } } grep { $kids{ $_->{kid} } } @{ $set_b->{keys} };
    return { keys => [@{ $set_a->{keys} }, @b] };
}

my $srv_dir = $t->dir . '/jwks-server';
mkdir $srv_dir;
sub serve { my ($set) = @_; spew("$srv_dir/jwks.json.tmp", $json->encode($set)); rename "$srv_dir/jwks.json.tmp", "$srv_dir/jwks.json" }
sub fetches { my $l = slurp("$srv_dir/requests.log") // ''; scalar(() = $l =~ /\n/g) }

# The JWKS server: one process, one connection at a time; each request is logged (one line) and
# answered with the current jwks.json.
my $jwks_port = GatewayTest::free_port();
my $server_pid;
sub start_server {
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $jwks_port, Listen => 64, ReuseAddr => 1)
        or die "cannot listen on $jwks_port: $!";
    $server_pid = fork // die "fork: $!";
    if ($server_pid == 0) {
        while (my $c = $listen->accept) {
            my $head = '';
            while ($head !~ /\r\n\r\n/) { my $n = sysread($c, $head, 4096, length $head); last unless $n }
            my ($target) = $head =~ /^GET (\S+) HTTP/;
            open my $log, '>>', "$srv_dir/requests.log"; print $log ($target // '?'), "\n"; close $log;
            sleep 4 if -e "$srv_dir/hang";    # an identity provider that does not answer in time
            my $body = slurp("$srv_dir/jwks.json") // '';
            my $status = ($target // '') eq '/jwks.json' ? '200 OK' : '404 Not Found';
            print $c "HTTP/1.1 $status\r\nContent-Type: application/json\r\nContent-Length: " . length($body) .
                "\r\nConnection: close\r\n\r\n$body";
            close $c;
        }
        _exit(0);
    }
    close $listen;
}
sub stop_server { if ($server_pid) { kill 'KILL', $server_pid; waitpid $server_pid, 0; $server_pid = undef } }
END { stop_server() }

serve($set_a);
start_server();
$t->set_port('jwks', $jwks_port);
$t->write_conf(<<'CONF');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
auth:
  jwt:
    remote:
      issuer: https://id.test/
      audiences: [api]
      jwks: {url: "http://127.0.0.1:%%jwks%%/jwks.json", refresh: 1h, timeout: 1500ms, kid_miss_interval: 1s, cache_file: jwks-cache.json}
      algorithms: [RS256, ES256, EdDSA]
routes:
  - {name: r, match: {path_prefix: /}, auth: [remote], return: {body: "ok $consumer"}}
CONF
$t->start;
my $port = $t->port('http');
sub get { my ($token, %opt) = @_; http_get($port, '/x', { Authorization => "Bearer $token" }, %opt) }
sub status { my $r = shift; $r ? $r->{status} : 'no response' }
sub body { my $r = shift; $r ? $r->{body} : '' }
sub fetch_metric {
    my ($result) = @_;
    return metric_sum($t->metrics, 'gateway_auth_jwks_fetches_total', { provider => 'remote', result => $result }) // 0;
}

my ($a_rsa, $a_ec, $nowhere) = mint($keys_a,
    { alg => 'RS256', kid => 'rsa', key => 'rsa', claims => \%claims },
    { alg => 'ES256', kid => 'ec', key => 'ec', claims => { %claims, sub => 'bob' } },
    { alg => 'ES256', kid => 'nowhere', key => 'ec', claims => \%claims });
my ($b_rsa, $b_ec) = mint($keys_b,
    { alg => 'RS256', kid => 'rsa2', key => 'rsa', claims => { %claims, sub => 'carol' } },
    { alg => 'ES256', kid => 'ec3', key => 'ec', claims => { %claims, sub => 'dave' } });

# --- 1. a token verifies with the URL's set -----------------------------------------------------
ok(wait_until(sub { fetches() >= 1 }, 10), 'the master fetched the set at start');
is(status(my $r = get($a_rsa)), 200, 'a token verifies with the fetched set');
is(body($r), 'ok alice', '... as its subject');
ok(wait_until(sub { fetch_metric('ok') >= 1 }, 5), 'gateway_auth_jwks_fetches_total{result="ok"} counts it');
is(fetches(), 1, 'one fetch for the node (2 workers)');
ok(wait_until(sub { (slurp($t->path('jwks-cache.json')) // '') eq $json->encode($set_a) }, 5),
   'the set is written to cache_file');
ok(!-e $t->path('jwks-cache.json.tmp'), '... through a temporary file renamed over it');

# --- 2. rotation: a new kid after exactly one refetch ------------------------------------------
serve(set_with(rsa => 'rsa2'));
is(status(get($b_rsa)), 200, 'a token with a new kid: 200 once the set is fetched again');
is(fetches(), 2, '... after exactly one refetch');
is(status(get($b_rsa)), 200, 'the new kid again (the other worker too)') for 1 .. 4;
is(status(get($a_rsa)), 200, 'the old keys still verify');
is(fetches(), 2, '... without more fetches');

# --- 2b. a reload keeps the set (the zone and the master's fetcher live on) ----------------------
{
    my $gen = ($t->status_json // {})->{generation} // 0;
    $t->signal('HUP');
    ok(wait_until(sub { (($t->status_json // {})->{generation} // 0) > $gen }, 10), 'reloaded');
    is(status(get($b_rsa)), 200, 'the new workers verify with the set at once') for 1 .. 4;
    is(fetches(), 2, '... which the reload did not fetch again');
}

# --- 3. a burst with a new kid: one fetch for the node -----------------------------------------
sleep 1.1;    # kid_miss_interval (1s) since the last refetch for an unknown kid
serve(set_with(rsa => 'rsa2', ec => 'ec3'));
{
    my @conns;
    for (1 .. 500) {
        my $c = http_connect($port, timeout => 10) or last;
        $c->send("GET /burst HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $b_ec\r\n\r\n") or last;
        push @conns, $c;
    }
    is(scalar @conns, 500, '500 requests sent at once');
    my %statuses;
    for my $c (@conns) { my $x = $c->read_response; $statuses{ $x ? $x->{status} : 'none' }++; $c->close }
    is_deeply(\%statuses, { 200 => 500 }, 'all 500 verified with the new kid');
    is(fetches(), 3, '... after exactly one fetch for the node');
    my $workers = () = $t->workers;
    is($workers, 2, '(2 workers running)');
}

# --- 4. a kid that is nowhere -------------------------------------------------------------------
sleep 1.1;
{
    my $t0 = time;
    $r = get($nowhere);
    my $took = time - $t0;
    is(status($r), 401, 'a kid that is nowhere: 401');
    like($r ? $r->{headers}{'www-authenticate'} // '' : '', qr/error_description="no key for the token"/,
         '... "no key for the token"');
    ok($took < 1.5 + 0.5, sprintf('... within the timeout (%.2fs)', $took));
    is(fetches(), 4, '... after one refetch');
    is(status(get($nowhere)), 401, 'the same kid again (both workers): 401') for 1 .. 6;
    is(fetches(), 4, '... without another fetch within kid_miss_interval');
    sleep 1.1;
    is(status(get($nowhere)), 401, 'after kid_miss_interval: 401');
    is(fetches(), 5, '... after one more refetch');
}

# --- 4b. the server hangs: the waiting request gets its 401 after `timeout`, others go on -------
sleep 1.1;
{
    spew("$srv_dir/hang", '');
    my $t0 = time;
    my $c = http_connect($port, timeout => 10);
    $c->send("GET /hang HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $nowhere\r\n\r\n");
    ok(wait_until(sub { fetches() >= 6 }, 5), 'an unknown kid while the server hangs: a refetch starts');
    is(status(get($a_rsa)), 200, 'meanwhile other requests are served (both workers)') for 1 .. 4;
    my $x = $c->read_response;
    my $took = time - $t0;
    is(status($x), 401, 'the waiting request: 401');
    ok($took >= 1.2 && $took < 1.5 + 1.0, sprintf('... once the timeout (1500ms) passed (%.2fs)', $took));
    ok(wait_until(sub { fetch_metric('failed') >= 1 }, 5), 'the fetch that timed out is counted as failed');
    unlink "$srv_dir/hang";
}

# --- 5. the server down during operation: the stale set ----------------------------------------
stop_server();
sleep 1.1;
{
    my $failed = fetch_metric('failed');
    is(status(get($nowhere)), 401, 'server down, an unknown kid: 401');
    ok(wait_until(sub { fetch_metric('failed') > $failed }, 5), 'the failed fetch is counted');
    is(status(get($b_ec)), 200, 'the last good set still verifies (stale-if-error)');
    is(status(get($a_rsa)), 200, '... every key of it');
    like($t->error_log, qr/auth\.jwt\.remote: fetching http:\/\/127\.0\.0\.1:\d+\/jwks\.json failed \(connect[^)]*\); keeping the last good key set/,
         'the failure is logged');
}

# --- 6. the server down at start: the cache file ------------------------------------------------
$t->stop;
$t->start;
{
    is(status(get($b_ec)), 200, 'restarted while the server is down: the cache file\'s set verifies');
    is(status(get($a_rsa)), 200, '... every key of it');
    like($t->error_log, qr/the key set of cache file "[^"]*jwks-cache\.json" serves until the first fetch/,
         '... and the log says so');
}

# --- 7. bad URLs and -T ----------------------------------------------------------------------
{
    my $d = $t->run('-T', '-p', $t->dir, '-c', $t->conf);
    is($d->{exit}, 0, 'gatewayd -T') or diag($d->{out});
    like($d->{stdout}, qr/url: "http:\/\/127\.0\.0\.1:\d+\/jwks\.json"\n\s+refresh: 1h\n\s+timeout: 1500ms\n\s+kid_miss_interval: 1s\n\s+cache_file: /,
         '-T shows the remote set');
    spew($t->path('dumped.conf'), $d->{stdout});
    my $back = $t->run('-t', '-p', $t->dir, '-c', $t->path('dumped.conf'));
    is($back->{exit}, 0, 'the dump loads again') or diag($back->{out});

    my $bad = $t->path('bad.conf');
    spew($bad, <<'CONF');
listeners: [{address: 127.0.0.1:1}]
auth:
  jwt:
    a: {jwks: {url: "http://127.0.0.1:1/jwks.json", ca: ca.pem}, algorithms: [RS256]}
    b: {jwks: {url: "http://user:pw@id.test/jwks.json"}, algorithms: [RS256]}
    c: {jwks: {url: "http://127.0.0.1:99999/"}, algorithms: [RS256]}
routes:
  - {name: a, match: {path_prefix: /}, auth: [a, b, c], return: {body: x}}
CONF
    my $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
    isnt($e->{exit}, 0, 'gatewayd -t refuses bad URLs');
    like($e->{out}, qr/bad\.conf:4:\d+: auth\.jwt\.a\.jwks\.ca: only with an https:\/\/ url/, 'ca: without https://, at FILE:LINE:COL');
    like($e->{out}, qr/auth\.jwt\.b\.jwks\.url: user information in a URL is not supported/, 'user information is refused');
    unlike($e->{out}, qr/pw\@/, '... without repeating it');
    like($e->{out}, qr/auth\.jwt\.c\.jwks\.url: expected HOST or HOST:PORT/, 'a bad port is refused');
}

done_testing();
