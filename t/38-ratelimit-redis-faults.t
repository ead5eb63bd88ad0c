#!/usr/bin/perl
# Rate limits of scope global on a bad link to Redis: a real redis-server behind a FaultProxy
# (t/lib/FaultProxy.pm) that delays every byte or drops them all, switched during the test.
# One gatewayd, two workers, `timeout: 50ms`.
#   c. a link that passes handshakes but drops data (the probe on connect has the timeout too),
#      then heals: every worker decides with Redis again within its back-off, not 23 s;
#   d. `fallback: deny`: 503 while Redis is away, 200 again once it is back;
#   e. deadlines that came out early (TIME answered late on connecting) are noticed and the
#      clock read again, without counting Redis as away;
#   b. requests decided locally after a timeout are not counted in Redis when the late call
#      arrives there (the key is read in redis-server directly);
#   a. with 200 ms of delay, once a worker has seen a timeout no request waits for Redis:
#      nearly every request is answered at once, gateway_redis_up stays 0 (no reconnect makes
#      Redis "back" while it is slow), "lost" is logged once per worker and "back" never.
# In this order: a Redis that keeps failing is retried less and less often (the back-off grows),
# so the phase that measures a recovery comes first.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use RedisServer;
use FaultProxy;
require_modules('ratelimit');

plan skip_all => 'redis-server is not installed (make test installs it: auto/install-deps test)'
    unless RedisServer->available;

my $redis = RedisServer->new->start;
my $proxy = FaultProxy->new(to => $redis->port)->start;
my $pport = $proxy->port;

my $t = GatewayTest->new;
$t->write_conf(<<"EOF");
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
shutdown_timeout: 2s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
redis: {address: 127.0.0.1:$pport, timeout: 50ms, connect_timeout: 200ms, pool: 2, nodes: 2}
rate_limits:
  g:      {key: header:x-user, rate: 100000/d, scope: global}
  late:   {key: header:x-user, rate: 100/d, scope: global}
  strict: {key: header:x-user, rate: 100/d, scope: global, fallback: deny}
routes:
  - {name: g, match: {path: /g}, return: {body: "g\\n"}, rate_limit: g}
  - {name: late, match: {path: /late}, return: {body: "late\\n"}, rate_limit: late}
  - {name: strict, match: {path: /strict}, return: {body: "strict\\n"}, rate_limit: strict}
EOF
$t->start;

sub metric { metric_sum($t->metrics // {}, @_) // 0 }
sub redis_up { metric('gateway_redis_up') }
sub decisions { metric('gateway_ratelimit_decisions_total', { policy => $_[0], result => $_[1] }) }
sub count_log { my ($re) = @_; my $n = () = $t->error_log =~ /$re/g; $n }

ok(wait_until(sub { redis_up() == 2 }, 5), 'both workers connected to redis through the proxy');
is($t->get('/strict', { 'X-User' => 'sam' })->{status}, 200, 'decided by redis');
is(decisions('strict', 'allowed'), 1, '... as a global decision');

# --- c, d. black hole after connect, then healed; fallback: deny ---------------------------------

{
    $proxy->mode('blackhole');
    # The next request of each worker times out; the reconnections pass the handshake, and their
    # first commands (SCRIPT LOAD, TIME) are dropped.
    ok(wait_until(sub { $t->get('/g', { 'X-User' => 'x' }); redis_up() == 0 }, 5),
       'black hole: both workers mark redis down at their first timeout');
    my $r = $t->get('/strict', { 'X-User' => 'sam' });
    is($r->{status}, 503, 'fallback: deny answers 503 while redis is away');
    is($r->{headers}{'retry-after'}, 1, '... with Retry-After: 1');
    like($r->{body}, qr/"status":503/, '... and a JSON body');
    ok(decisions('strict', 'fallback_rejected') >= 1, '... counted as fallback_rejected');
    is($t->get('/g', { 'X-User' => 'x' })->{status}, 200, 'fallback: local (the default) allows the local share');
    my $conns = $proxy->connections;
    ok(wait_until(sub { $proxy->connections >= $conns + 2 }, 5), 'the workers keep reconnecting (the handshakes pass)');
    is(redis_up(), 0, '... and none is taken for up: the first commands had the timeout');
    $proxy->mode('pass');
    my $healed = time;
    ok(wait_until(sub { redis_up() == 2 }, 10, 0.01), 'healed: both workers decide with redis again');
    my $took = time - $healed;
    ok($took < 3, sprintf('... %.2f s after the path healed (within the back-off)', $took));
    is($t->get('/strict', { 'X-User' => 'sam' })->{status}, 200, 'fallback: deny: 200 again');
}

# --- e. deadlines that came out early (the TIME read on connecting was answered slowly) ---------

{
    # Replies 200 ms late: the next call times out and the workers reconnect; their first
    # commands are answered 35 ms late, in time, so the offset they read errs by 35 ms.
    $proxy->mode('delay_down', 200);
    ok(wait_until(sub { $t->get('/g', { 'X-User' => 'x' }); redis_up() == 0 }, 5), 'replies 200 ms late: both workers down');
    $proxy->mode('delay_down', 35);
    ok(wait_until(sub { redis_up() == 2 }, 10), 'replies 35 ms late: both workers back (in time)');
    # Now requests are 25 ms late and replies prompt: a call runs 25 ms after it was sent, past
    # a deadline 15 ms away, and its answer comes back in time.
    $proxy->mode('delay_up', 25);
    my $allowed = decisions('g', 'allowed');
    ok(wait_until(sub { $t->get('/g', { 'X-User' => 'y' }); decisions('g', 'allowed') > $allowed }, 5),
       'refused as late at first, then decided by redis again: the clock was read again');
    like($t->error_log, qr/\[warn\].*ran a rate limit call past its deadline although it answered in time/,
         'the early deadline is logged');
    is(redis_up(), 2, 'and redis never counted as away for it');
    $proxy->mode('pass');
}

# --- b. a late call counts nothing in Redis -------------------------------------------------------

{
    $proxy->mode('delay', 200);
    my $evalsha = $redis->calls('evalsha');
    # Six requests at once, on six connections: each worker sends the first it gets to Redis.
    my @c = map { http_connect($t->port('http')) } 1 .. 6;
    $_->send("GET /late HTTP/1.1\r\nHost: x\r\nX-User: lena\r\n\r\n") for @c;
    my @st = map { my $r = $_->read_response(timeout => 5); $r ? $r->{status} : 0 } @c;
    $_->close for @c;
    is("@st", '200 200 200 200 200 200', 'redis 200 ms away, timeout 50 ms: all six decided locally');
    is(decisions('late', 'fallback_allowed'), 6, '... as fallback decisions');
    ok(wait_until(sub { $redis->calls('evalsha') > $evalsha }, 5), 'the calls reached redis, late');
    # The six were sent within a few ms of each other, so their calls arrive together; a margin
    # for the stragglers (a call arriving later could only hide a count, not fake one).
    sleep 0.3;
    is($redis->command('EXISTS', 'gw:rl:late:tb/d:lena'), 0, 'redis counted none of them (the key does not exist)');
}

# --- a. a slow Redis keeps no request waiting -----------------------------------------------------

{
    $proxy->mode('pass');
    ok(wait_until(sub { redis_up() == 2 }, 10), 'the link is fast again: both workers back');
    my $lost0 = count_log(qr/redis \S+ lost/);
    my $back0 = count_log(qr/redis \S+ is back/);
    $proxy->mode('delay', 200);
    my $conns0 = $proxy->connections;
    my (@lat, @trace);
    my ($samples, $zero, $flaps) = (0, 0, 0);
    my $end = time + 3;
    # A new connection per request: the kernel spreads them over both workers.
    for (my $i = 0; time < $end; $i++) {
        my $t0 = time;
        my $r = $t->get('/g', { 'X-User' => "u$i" });
        push @lat, $r && $r->{status} == 200 ? time - $t0 : 99;
        next if $i % 5;
        my $up = redis_up();
        $samples++;
        push @trace, $up;
        $zero ||= $up == 0;
        $flaps++ if $zero && $up;
    }
    my $slow = grep { $_ >= 0.045 } @lat;
    ok(@lat > 100, scalar(@lat) . ' requests in 3 s against a redis 200 ms away');
    # The first request of each worker waits for the timeout; a little margin for a busy machine
    # (a Redis taken back at each reconnection made about 11 wait here).
    ok($slow <= 6, "$slow of them waited for the 50 ms timeout (the first of each worker)");
    ok($zero, 'gateway_redis_up fell to 0');
    is($flaps, 0, "... and stayed there ($samples samples): no flapping") or diag("@trace");
    ok($proxy->connections > $conns0, 'the workers kept probing in the background (' . ($proxy->connections - $conns0) . ' connections)');
    is(count_log(qr/redis \S+ lost/) - $lost0, 2, '"lost" logged once per worker');
    is(count_log(qr/redis \S+ is back/) - $back0, 0, '"back" never: a reconnect is not a recovery');
    ok(decisions('g', 'fallback_allowed') >= @lat - $slow, 'decided by the local fallback');
}

$t->stop;
done_testing;
