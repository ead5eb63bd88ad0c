#!/usr/bin/perl
# Rate limits of scope global: two gatewayd instances (two workers each) share one redis-server
# started here on a free port.
#   1. 600 concurrent requests spread over both against a global limit of 200: 200 allowed in
#      all, the rest 429, and the metrics of both nodes say so;
#   2. SCRIPT FLUSH between requests (NOSCRIPT): still decided by Redis;
#   3. a local policy of the route rejects first without a round trip to Redis, and a global
#      rejection gives the local count back;
#   4. a proxied route, and requests with a body, wait for Redis before going on;
#      a client that goes away while Redis decides (Redis stalled by SIGSTOP): nothing breaks;
#   5. Redis killed (SIGKILL) under load: no request fails or waits, every node marks Redis down
#      at once and decides with its fallback share (fallback_* metrics); Redis restarted on the
#      same port: the nodes reconnect and decide globally again.
#
# Deterministic: every limit here is a token bucket per day, so nothing refills during the test
# (one token in 432 s at 200/d).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;
use RedisServer;
require_modules('ratelimit');

plan skip_all => 'redis-server is not installed (make test installs it: auto/install-deps test)'
    unless RedisServer->available;

my $redis = RedisServer->new->start;
my $rport = $redis->port;
my $backend = Backend->new(name => 'be')->start;
my $bport = $backend->port;

my $config = <<"EOF";
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
shutdown_timeout: 5s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
redis: {address: 127.0.0.1:$rport, timeout: 500ms, pool: 2, nodes: 2}
upstreams:
  app: {servers: [{address: 127.0.0.1:$bport}]}
rate_limits:
  total: {key: global, rate: 200/d, scope: global}
  user:  {key: header:x-user, rate: 10/d, scope: global}
  bulk:  {key: ip, rate: 1000000/d, scope: global}
  l3:    {key: header:x-user, rate: 3/d}
  g5:    {key: header:x-user, rate: 5/d, scope: global}
  l5:    {key: header:x-user, rate: 5/d}
  g2:    {key: header:x-user, rate: 2/d, scope: global}
  proxy: {key: header:x-user, rate: 3/d, scope: global}
routes:
  - {name: proxied, match: {path_prefix: /app/}, upstream: app, strip_prefix: /app, rate_limit: proxy}
  - {name: total, match: {path: /total}, return: {body: "total\\n"}, rate_limit: total}
  - {name: user, match: {path: /user}, return: {body: "user\\n"}, rate_limit: user}
  - {name: bulk, match: {path: /bulk}, return: {body: "bulk\\n"}, rate_limit: bulk}
  - {name: local-first, match: {path: /local-first}, return: {body: "lf\\n"}, rate_limit: [g5, l3]}
  - {name: refund, match: {path: /refund}, return: {body: "r\\n"}, rate_limit: [l5, g2]}
  - {name: l5, match: {path: /l5}, return: {body: "l5\\n"}, rate_limit: l5}
EOF

my @gw = map { GatewayTest->new } 1 .. 2;
for my $t (@gw) {
    $t->write_conf($config);
    $t->start;
}
my ($ga, $gb) = @gw;
ok(wait_until(sub { redis_up() == 4 }, 5), 'both nodes: every worker connected to redis (gateway_redis_up 2 + 2)');

sub status_of {
    my ($t, $path, $user) = @_;
    my $r = http_get($t->port('http'), $path, $user ? { 'X-User' => $user } : {});
    return $r ? $r->{status} : 0;
}
sub statuses { my ($n, @args) = @_; join ' ', map { status_of(@args) } 1 .. $n }

# Sum over both nodes (each has its own metrics).
sub decisions {
    my ($policy, $result) = @_;
    my $sum = 0;
    $sum += metric_sum($_->metrics // {}, 'gateway_ratelimit_decisions_total', { policy => $policy, result => $result }) // 0
        for @gw;
    return $sum;
}
sub redis_up {
    my $sum = 0;
    $sum += metric_sum($_->metrics // {}, 'gateway_redis_up') // 0 for @gw;
    return $sum;
}

# --- 1. one limit for two nodes -------------------------------------------------------------------

{
    my @conns;
    for my $t (@gw) { push @conns, http_connect($t->port('http'), timeout => 20) for 1 .. 10 }
    is(scalar(grep { defined } @conns), 20, '20 connections, 10 to each node');
    $_->send(join '', map { "GET /total HTTP/1.1\r\nHost: x\r\n\r\n" } 1 .. 30) for @conns;
    my %status;
    for my $c (@conns) {
        for (1 .. 30) {
            my $r = $c->read_response(timeout => 20);
            $status{ $r ? $r->{status} : 'none' }++;
        }
    }
    $_->close for @conns;
    my $ok = $status{200} // 0;
    ok(abs($ok - 200) <= 2, "600 requests over two nodes, global limit 200: $ok allowed");
    is(($status{200} // 0) + ($status{429} // 0), 600, 'the others got 429') or diag(explain(\%status));
    is(decisions('total', 'allowed'), $ok, 'gateway_ratelimit_decisions_total{result="allowed"} over both nodes');
    is(decisions('total', 'rejected'), 600 - $ok, '... and {result="rejected"}');
    is(decisions('total', 'fallback_allowed') + decisions('total', 'fallback_rejected'), 0, 'no fallback decision');
    my $r = http_get($ga->port('http'), '/total');
    is($r->{status}, 429, 'node A: used up');
    is($r->{headers}{'ratelimit-limit'}, 200, '... RateLimit-Limit 200');
    ok(($r->{headers}{'retry-after'} // 0) >= 400, "... Retry-After about a token's time ($r->{headers}{'retry-after'} s)");
    is(status_of($gb, '/total'), 429, 'node B: used up too');
    like($redis->command('PTTL', 'gw:rl:total:tb/d:global'), qr/^\d+$/, 'the counter is in Redis as gw:rl:total:tb/d:global');
}

# --- 2. NOSCRIPT ----------------------------------------------------------------------------------

{
    is(statuses(3, $ga, '/user', 'ann'), '200 200 200', 'node A: 3 for ann');
    is($redis->command('SCRIPT', 'FLUSH'), 'OK', 'SCRIPT FLUSH: Redis forgets the script');
    my $before = decisions('user', 'allowed');
    is(statuses(3, $gb, '/user', 'ann') . ' ' . statuses(4, $ga, '/user', 'ann') . ' ' . status_of($gb, '/user', 'ann'),
       '200 200 200 200 200 200 200 429', 'node B then A: the 7 left of 10 for ann, then 429: still global');
    is(decisions('user', 'allowed') - $before, 7, 'decided by Redis');
    is(decisions('user', 'fallback_allowed') + decisions('user', 'fallback_rejected'), 0, 'not by the fallback');
    unlike(join('', map { $_->error_log } @gw), qr/answered the rate limit script with/, 'no error reply was logged');
}

# --- 3. local first; a global rejection gives the local count back -------------------------------

{
    my $before = $redis->calls('evalsha');
    is(statuses(5, $ga, '/local-first', 'bob'), '200 200 200 429 429', 'local 3/d before global 5/d');
    is($redis->calls('evalsha') - $before, 3, 'the two local rejections made no round trip to Redis');
    is(decisions('g5', 'allowed'), 3, 'g5: counted only the 3 let through');

    is(statuses(4, $ga, '/refund', 'carl'), '200 200 429 429', 'local 5/d and global 2/d: 2 allowed');
    is(statuses(4, $ga, '/l5', 'carl'), '200 200 200 429', 'the local policy alone: the 2 rejected by Redis were given back (3 left)');
}

# --- 4. proxied requests and bodies wait for the decision; a client that leaves meanwhile ---------

{
    my $before = $backend->stats->{requests};
    my @r = map { http_get($ga->port('http'), '/app/x', { 'X-User' => 'hal' }) } 1 .. 4;
    is(join(' ', map { $_ ? $_->{status} : 0 } @r), '200 200 200 429', 'proxied: 3 of 3/d, then 429');
    is($backend->stats->{requests} - $before, 3, 'the backend saw only the 3 allowed');
    is_deeply([@{ $r[2]{headers} }{qw(ratelimit-limit ratelimit-remaining)}], [3, 0],
              'the proxied response carries the global RateLimit-* headers');
    # A body sent with the head, and one sent after it (100-continue).
    my $c = http_connect($gb->port('http'));
    $c->send("POST /user HTTP/1.1\r\nHost: x\r\nX-User: ivy\r\nContent-Length: 5\r\n\r\nhello"
             . "POST /user HTTP/1.1\r\nHost: x\r\nX-User: ivy\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    my $r1 = $c->read_response;
    my $r2 = $c->read_response;
    is($r1 && $r1->{status}, 200, 'a POST with its body, pipelined: answered after the decision');
    is($r2 && $r2->{status}, 100, 'the next one gets 100 Continue once Redis has allowed it');
    $c->send('world');
    my $r3 = $c->read_response;
    is($r3 && $r3->{status}, 200, '... and its answer once the body is read');
    $c->close;
}

{
    $redis->signal('STOP');
    my $c = http_connect($ga->port('http'));
    $c->send("GET /user HTTP/1.1\r\nHost: x\r\nX-User: dan\r\n\r\n");
    sleep 0.1;
    $c->close;
    sleep 0.1;
    $redis->signal('CONT');
    ok(wait_until(sub { redis_up() == 4 }, 5), 'redis resumed: all connected');
    is(status_of($ga, '/user', 'dan'), 200, 'the node serves on');
    is(metric_sum($ga->metrics, 'gateway_worker_restarts_total') // 0, 0, 'no worker died');
}

# --- 5. Redis killed under load, then restarted -------------------------------------------------

{
    is(statuses(10, $ga, '/user', 'erin'), join(' ', (200) x 10), 'erin: 10 of 10 through Redis');
    my $fb_before = decisions('bulk', 'fallback_allowed');
    my $results = $ga->dir . '/load.txt';
    # A client on both nodes, keep-alive, for 1.5 s; Redis is killed after 0.3 s.
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my @c = map { http_connect($_->port('http'), timeout => 5) } @gw;
        my $out = '';
        my $end = time + 1.5;
        for (my $i = 0; time < $end; $i++) {
            my $j = $i % 2;
            $c[$j] //= http_connect($gw[$j]->port('http'), timeout => 5);
            my $t0 = time;
            my $r = $c[$j] && $c[$j]->send("GET /bulk HTTP/1.1\r\nHost: x\r\n\r\n") ? $c[$j]->read_response(timeout => 5) : undef;
            $out .= sprintf "%d %.4f\n", $r ? $r->{status} : 0, time - $t0;
            $c[$j] = undef if !$r || ($r->{headers}{connection} // '') eq 'close';
            sleep 0.002;
        }
        spew($results, $out);
        _exit(0);
    }
    sleep 0.3;
    $redis->kill9;
    my $killed = time;
    ok(wait_until(sub { redis_up() == 0 }, 5, 0.01), 'every worker of both nodes marked redis down');
    my $noticed = time - $killed;
    ok($noticed < 1, sprintf('... within %.3f s of the kill', $noticed));

    # Decided at once by each node alone: half of 10 (nodes: 2) for a new user.
    my ($slowest, @st) = (0);
    for (1 .. 7) {
        my $t0 = time;
        push @st, status_of($ga, '/user', 'fay');
        $slowest = time - $t0 if time - $t0 > $slowest;
    }
    is("@st", '200 200 200 200 200 429 429', 'redis away: node A allows fay its share, 5 of 10');
    ok($slowest < 1, sprintf('each answered at once (slowest %.3f s)', $slowest));
    is(status_of($gb, '/user', 'fay'), 200, 'node B has a share of its own');

    waitpid($pid, 0);
    my @lines = split /\n/, slurp($results) // '';
    my @bad = grep { !/^200 / } @lines;
    my ($max) = sort { $b <=> $a } map { (split ' ')[1] } @lines;
    ok(@lines > 50, scalar(@lines) . ' requests under load across the kill');
    ok(!@bad, 'none failed, none was a 5xx or a 429') or diag("@bad[0 .. ($#bad < 5 ? $#bad : 5)]");
    ok(defined $max && $max < 1, sprintf('the slowest took %.3f s', $max // -1));
    ok(decisions('bulk', 'fallback_allowed') > $fb_before, 'the load went on with fallback decisions');
    ok(decisions('user', 'fallback_allowed') == 6 && decisions('user', 'fallback_rejected') == 2,
       'fallback_allowed 6 and fallback_rejected 2 for fay');
    like($ga->error_log, qr/\[warn\].*redis 127\.0\.0\.1:$rport lost \(.*\): rate limits of scope global are decided by this node alone, with 50% of each limit/,
         'the loss is logged, with the share');
    my $lost = () = $ga->error_log =~ /redis \S+ lost/g;
    is($lost, 2, '... once per worker');

    # Restarted on the same port, empty: the nodes come back to it.
    $redis->start;
    ok(wait_until(sub { redis_up() == 4 }, 10, 0.05), 'redis restarted: every worker reconnected');
    like($ga->error_log, qr/\[notice\].*redis 127\.0\.0\.1:$rport is back: rate limits of scope global are decided by redis again/,
         'logged at notice');
    my $global = decisions('user', 'allowed');
    my $fallback = decisions('user', 'fallback_allowed') + decisions('user', 'fallback_rejected');
    is(statuses(12, $ga, '/user', 'gus'), join(' ', (200) x 10, 429, 429), 'gus: 10 of 10 on node A alone: the whole limit again');
    is(decisions('user', 'allowed') - $global, 10, 'global decisions rise again');
    is(decisions('user', 'fallback_allowed') + decisions('user', 'fallback_rejected'), $fallback, 'fallback decisions stopped');
}

$_->stop for @gw;
done_testing;
