#!/usr/bin/perl
# Idempotency keys (issue 16): two gatewayd nodes (two workers each) share one redis-server
# started here; a backend counts what reaches it.
#   1. 100 concurrent duplicates (same key, same body) split over both nodes: exactly 1 reaches
#      the backend; the others get 409 (in flight) or the replay (Idempotent-Replayed: true);
#   2. the replay carries the stored status, fields and body; a changed body gets 422; a missing
#      key 400 (required); a bad key 400;
#   3. 5xx are not stored (a retry goes upstream again) unless store_5xx;
#   4. the fencing token reaches the upstream as Idempotency-Fence, a client's own is dropped;
#   5. INFO commandstats: one EVALSHA per new key's claim (and one to complete it), one per replay;
#   6. scope local across 2 workers of one node: 40 concurrent duplicates, 1 upstream request;
#      a worker killed with a claim in flight: the master releases the claim;
#   7. Redis killed: on_store_error reject -> 503, allow -> passes (a local-only claim); counted.
# No timing is assumed: every wait polls with a deadline.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;
use RedisServer;
require_modules('idempotency');

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
redis: {address: 127.0.0.1:$rport, timeout: 500ms, pool: 2}
upstreams:
  app: {servers: [{address: 127.0.0.1:$bport}]}
idempotency:
  pay:   {required: true, scope: global, ttl: 1h}
  allow: {scope: global, on_store_error: allow}
  s5:    {scope: global, store_5xx: true}
  local: {required: true, lease: 1h}
  warm:  {scope: global, required: true}
routes:
  - {name: warm, match: {path_prefix: /warm/}, upstream: app, strip_prefix: /warm, idempotency: warm}
  - {name: pay, match: {path_prefix: /pay/}, upstream: app, strip_prefix: /pay, idempotency: pay}
  - {name: allow, match: {path_prefix: /allow/}, upstream: app, strip_prefix: /allow, idempotency: allow}
  - {name: s5, match: {path_prefix: /s5/}, upstream: app, strip_prefix: /s5, idempotency: s5}
  - {name: local, match: {path_prefix: /local/}, upstream: app, strip_prefix: /local, idempotency: local}
EOF

my @gw = map { GatewayTest->new } 1 .. 2;
for my $t (@gw) {
    $t->write_conf($config);
    $t->start;
}
my ($ga, $gb) = @gw;
# Redis is up for a node's workers when new keys of a global policy (reject) are claimed: 8 in a
# row on each node (connections land on either worker). Down: 8 in a row refused with 503.
my $warm = 0;
sub redis_state {
    my ($want) = @_;
    for my $t (@gw) {
        for (1 .. 8) {
            my $r = post($t, '/warm/status/204', 'warm-' . ++$warm, '');
            return 0 unless $r && $r->{status} == $want;
        }
    }
    return 1;
}
ok(wait_until(sub { redis_state(204) }, 10), 'both nodes: every worker claims keys in redis');
sub outcomes {
    my ($policy, $result) = @_;
    my $sum = 0;
    $sum += metric_sum($_->metrics // {}, 'gateway_idempotency_requests_total', { policy => $policy, result => $result }) // 0
        for @gw;
    return $sum;
}
sub post_raw {
    my ($path, $key, $body, %extra) = @_;
    my $r = "POST $path HTTP/1.1\r\nHost: x\r\n";
    $r .= "Idempotency-Key: $key\r\n" if defined $key;
    $r .= "$_: $extra{$_}\r\n" for sort keys %extra;
    return $r . "Content-Length: " . length($body) . "\r\nContent-Type: application/json\r\n\r\n$body";
}
sub post {
    my ($t, @args) = @_;
    return http_request($t->port('http'), post_raw(@args), timeout => 10);
}
sub replayed { ($_[0]{headers}{'idempotent-replayed'} // '') eq 'true' }
sub fences {
    my ($r) = @_;
    my $seen = parse_json($r->{body}) // {};
    return map { $_->[1] } grep { lc $_->[0] eq 'idempotency-fence' } @{ $seen->{headers} // [] };
}

# --- 1. 100 concurrent duplicates over two nodes ---------------------------------------------------

{
    my $req = post_raw('/pay/slow-head/300', 'dup-1', '{"amount":1}');
    my @conns;
    for my $i (0 .. 99) { push @conns, http_connect($gw[$i % 2]->port('http'), timeout => 20) }
    is(scalar(grep { defined } @conns), 100, '100 connections, 50 to each node');
    $_->send($req) for @conns;
    my (%status, $replays, $fresh);
    for my $c (@conns) {
        my $r = $c->read_response(timeout => 20);
        $status{ $r ? $r->{status} : 'none' }++;
        next unless $r && $r->{status} == 200;
        if (replayed($r)) { $replays++ } else { $fresh++ }
    }
    $_->close for @conns;
    is($backend->count_requests(qr{^/slow-head/300}), 1, 'exactly 1 of the 100 reached the backend');
    is($fresh, 1, '... and its client got the upstream response');
    is(($status{409} // 0) + ($replays // 0), 99, 'the 99 others got 409 or the replay') or diag(explain(\%status));
    is(outcomes('pay', 'claimed'), 1, 'one claim counted');
    is(outcomes('pay', 'conflict') + outcomes('pay', 'replayed'), 99, 'conflicts and replays counted');
    my $r = post($gb, '/pay/slow-head/300', 'dup-1', '{"amount":1}');
    is($r->{status}, 200, 'a retry after completion: 200');
    ok(replayed($r), '... Idempotent-Replayed: true');
    is($r->{body}, 'slow', '... the stored body');
    is($r->{headers}{'x-backend'}, 'be', "... the upstream's fields");
    is($backend->count_requests(qr{^/slow-head/300}), 1, '... and the backend saw none of it');
}

# --- 2. replay, 422, 400 ------------------------------------------------------------------------

{
    my $r = post($ga, '/pay/status/201', 'k201', '{"a":1}');
    is($r->{status}, 201, 'a 201 from upstream');
    ok(!replayed($r), '... not a replay');
    $r = post($gb, '/pay/status/201', 'k201', '{"a":1}');
    is($r->{status}, 201, 'the same key on the other node: the stored status 201');
    ok(replayed($r), '... replayed');
    is($r->{body}, 'status 201', '... the stored body');
    is($backend->count_requests(qr{^/status/201}), 1, '... the backend saw one');
    $r = post($gb, '/pay/status/201', 'k201', '{"a":2}');
    is($r->{status}, 422, 'the same key with another body: 422');
    like($r->{body}, qr/another request/, '... a JSON error');
    $r = post($ga, '/pay/status/201', undef, '{"a":1}');
    is($r->{status}, 400, 'no key on a required route: 400');
    $r = post($ga, '/pay/status/201', '"unterminated', '{"a":1}');
    is($r->{status}, 400, 'a bad key: 400');
    $r = post($ga, '/allow/status/201', undef, '{"a":1}');
    is($r->{status}, 201, 'no key where not required: passes');
    $r = http_get($ga->port('http'), '/pay/status/201');
    is($r->{status}, 201, 'GET (not among the methods): passes without a key');
}

# --- 3. 5xx --------------------------------------------------------------------------------------

{
    my $a = post($ga, '/pay/status/503', 'k503', '{}');
    my $b = post($gb, '/pay/status/503', 'k503', '{}');
    is("$a->{status} $b->{status}", '503 503', 'a 503 is not stored: the retry goes upstream');
    ok(!replayed($b), '... not a replay');
    is($backend->count_requests(qr{^/status/503}), 2, '... the backend saw both');
    $a = post($ga, '/s5/status/500', 'k500', '{}');
    $b = post($gb, '/s5/status/500', 'k500', '{}');
    is("$a->{status} $b->{status}", '500 500', 'store_5xx: a 500 is stored');
    ok(replayed($b), '... and replayed');
    is($backend->count_requests(qr{^/status/500}), 1, '... the backend saw one');
}

# --- 4. the fencing token -------------------------------------------------------------------------

{
    my $r = post($ga, '/pay/echo', 'fence-1', '{}', 'Idempotency-Fence' => '999999');
    is($r->{status}, 200, 'echo');
    my @fence = fences($r);
    is(scalar @fence, 1, 'one Idempotency-Fence reached the upstream');
    like($fence[0] // '', qr/^\d+$/, "... the gateway's token");
    isnt($fence[0] // '', '999999', "... not the client's");
    my @fence2 = fences(post($gb, '/pay/echo', 'fence-2', '{}'));
    cmp_ok($fence2[0] // 0, '>', $fence[0] // 0, 'a later claim gets a larger token');
}

# --- 5. one round trip per claim -------------------------------------------------------------------

{
    my $before = $redis->calls('evalsha');
    my $r = post($ga, '/pay/status/202', 'rt-1', '{}');
    is($r->{status}, 202, 'a new key');
    ok(wait_until(sub { $redis->calls('evalsha') - $before >= 2 }, 5), 'its completion reached redis');
    is($redis->calls('evalsha') - $before, 2, 'INFO commandstats: one EVALSHA to claim, one to complete');
    $before = $redis->calls('evalsha');
    $r = post($gb, '/pay/status/202', 'rt-1', '{}');
    ok(replayed($r), 'a replay');
    is($redis->calls('evalsha') - $before, 1, '... one EVALSHA');
}

# --- 6. scope local across the workers of one node -------------------------------------------------

{
    my $req = post_raw('/local/slow-head/301', 'loc-1', 'x');
    my @conns = map { http_connect($ga->port('http'), timeout => 20) } 1 .. 40;
    $_->send($req) for @conns;
    my (%status, $replays);
    for my $c (@conns) {
        my $r = $c->read_response(timeout => 20);
        $status{ $r ? $r->{status} : 'none' }++;
        $replays++ if $r && replayed($r);
    }
    $_->close for @conns;
    is($backend->count_requests(qr{^/slow-head/301}), 1, 'scope local, 40 concurrent duplicates on 2 workers: 1 upstream request');
    is(($status{409} // 0) + ($replays // 0), 39, '... the others 409 or replayed') or diag(explain(\%status));
    my $r = post($gb, '/local/slow-head/301', 'loc-1', 'x');
    ok(!replayed($r), 'scope local: the other node does not know the key');

    # A worker killed while its claim is in flight: the master releases the claim, so the retry
    # goes upstream instead of getting 409 until the lease ends (1h here).
    my $c = http_connect($ga->port('http'), timeout => 20);
    $c->send(post_raw('/local/slow-head/3000', 'loc-dead', 'x'));
    ok(wait_until(sub { $backend->count_requests(qr{^/slow-head/3000}) == 1 }, 10), 'a slow request is in flight');
    my @old = map { $_->{pid} } $ga->workers;
    is(kill('KILL', @old), 2, 'both workers of the node killed (SIGKILL) with the claim in flight');
    ok(wait_until(sub {
        my @now = map { $_->{pid} } $ga->workers;
        @now == 2 && !grep({ my $o = $_; grep { $_ == $o } @now } @old)
    }, 10), '... and respawned');
    $c->close;
    my $retry = post($ga, '/local/slow-head/3000', 'loc-dead', 'x');
    is($retry && $retry->{status}, 200, 'the retry goes upstream (the dead worker\'s claim was released)');
    ok($retry && !replayed($retry), '... not a replay');
    is($backend->count_requests(qr{^/slow-head/3000}), 2, '... the backend saw it');
    like($ga->error_log, qr/idempotency: 1 key in flight of the exited worker \(slot \d+\) released/, '... and the master said so');
}

# --- 7. Redis away ----------------------------------------------------------------------------------

{
    $redis->kill9;
    ok(wait_until(sub { redis_state(503) }, 10), 'redis killed: every worker refuses new keys (503)');
    my $errors = outcomes('pay', 'store_error');
    my $r = post($ga, '/pay/echo', 'down-1', '{}');
    is($r->{status}, 503, 'on_store_error: reject -> 503');
    cmp_ok(outcomes('pay', 'store_error'), '>', $errors, '... counted as a store error');
    $r = post($ga, '/allow/echo', 'down-2', '{}');
    is($r->{status}, 200, 'on_store_error: allow -> passes (a local-only claim)');
    is(scalar(fences($r)), 0, '... without a fencing token');
    cmp_ok(outcomes('allow', 'store_error'), '>=', 1, '... counted');
}

$_->stop for @gw;
unlike(join('', map { $_->error_log } @gw), qr/\[(?:emerg|crit)\]/, 'no emerg or crit in the error logs');
done_testing;
