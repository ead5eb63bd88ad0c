#!/usr/bin/perl
# Crash safety.
#   1. kill -9 of a worker under proxied load: at most that worker's requests fail (one per
#      connection it held), it is respawned at once, every metrics counter stays monotonic, and
#      the shared gauges it was moving (requests in flight per server, which least_conn reads,
#      and upstream connections) come back to the truth once the load stops: the master takes
#      the dead worker's share back out of them.
#   2. kill -9 of the master: its workers notice, finish what is in flight (a slow proxied
#      request is still answered), and exit; nothing is left running. A new start afterwards
#      works, over the stale pid file.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;
use Load;

my $be_a = Backend->new(name => 'a')->start;
my $be_b = Backend->new(name => 'b')->start;
my $t = GatewayTest->new;
my $dir = $t->dir;
my $bin = eval { Load::build($dir) } or plan skip_all => "cannot build t/helpers/loadgen.c: $@";
$t->set_port('be_a', $be_a->port);
$t->set_port('be_b', $be_b->port);

$t->write_conf(<<'EOF');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
shutdown_timeout: 3s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  app:
    balance: least_conn
    keepalive: 16
    servers: [{address: 127.0.0.1:%%be_a%%}, {address: 127.0.0.1:%%be_b%%}]
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
EOF
$t->start;

sub counters {
    my $m = $t->metrics // {};
    my %c;
    for my $name (qw(gateway_http_requests_total gateway_upstream_requests_total)) {
        for my $s (metric_samples($m, $name)) {
            my $key = join ',', map { "$_=$s->{labels}{$_}" } sort keys %{ $s->{labels} };
            $c{"$name\{$key\}"} = $s->{value};
        }
    }
    return \%c;
}

# --- 1. kill -9 of a worker under load ---------------------------------------------------------
{
    my $lg = Load->start(bin => $bin, port => $t->port('http'), connections => 40, path => '/id', dir => $dir);
    ok($lg->wait_ok(300, 15), 'proxied load flowing') or diag(Load::summary($lg->progress));
    my @w = $t->workers;
    is(scalar @w, 2, 'two workers');
    my $victim = $w[0]{pid};
    my $status = $t->status_json;
    my ($slot) = grep { $_->{pid} == $victim } @{ $status->{workers} };
    my $held = $slot ? $slot->{connections} : 0;
    my $before = counters();
    my $p0 = $lg->progress;

    ok(kill('KILL', $victim), "kill -9 worker $victim (holding $held client connections)");
    ok(wait_until(sub { my @n = $t->workers; @n == 2 && !grep { $_->{pid} == $victim } @n }, 2),
       'respawned at once');
    ok($lg->wait_ok($p0->{ok} + 500, 15), 'load flows on');
    my $r = $lg->stop;
    ok($r->{failed} <= $held + 2, "failed requests ($r->{failed}) at most the victim's connections ($held)")
        or diag(Load::summary($r));
    my %kinds = %{ $r->{failure} };
    delete @kinds{qw(reset eof_before_response eof_mid_response)};
    is_deeply(\%kinds, {}, 'and only of the kinds a killed peer causes (reset, early close)')
        or diag(Load::summary($r));

    my $after = counters();
    my @back = grep { ($after->{$_} // -1) < $before->{$_} } keys %$before;
    is_deeply(\@back, [], 'no counter went backwards (' . scalar(keys %$before) . ' series)');

    # nothing in flight now: every shared gauge must say so, the dead worker's share included
    my $m;
    ok(wait_until(sub {
        $m = $t->metrics;
        (metric_sum($m, 'gateway_upstream_active_requests') // -1) == 0
            && (metric_sum($m, 'gateway_upstream_connections', { state => 'active' }) // -1) == 0;
    }, 5), 'gateway_upstream_active_requests and active upstream connections back to 0')
        or diag(join "\n", grep { /gateway_upstream_(active|connections)/ } split /\n/, ($t->admin_get('/metrics') // {})->{body} // '');
    my $idle = metric_sum($m, 'gateway_upstream_connections', { state => 'idle' }) // -1;
    ok($idle >= 0 && $idle <= 2 * 16, "idle upstream connections within the pools' bound: $idle");
    like($t->error_log, qr/worker process $victim exited on signal 9/, 'the crash is logged');
    is(metric_sum($t->metrics, 'gateway_worker_restarts_total'), 1, 'gateway_worker_restarts_total 1');

    # least_conn still spreads: a stale count would push everything to one server
    $be_a->reset_stats; $be_b->reset_stats;
    my $lg2 = Load->start(bin => $bin, port => $t->port('http'), connections => 8, path => '/slow-head/20', dir => $dir);
    ok($lg2->wait_ok(200, 20), 'slow requests flowing');
    my $r2 = $lg2->stop;
    is($r2->{failed}, 0, 'no failure');
    my ($na, $nb) = ($be_a->count_requests(qr{^/slow-head}), $be_b->count_requests(qr{^/slow-head}));
    ok($na > 0.25 * ($na + $nb) && $nb > 0.25 * ($na + $nb), "least_conn spreads after the crash: a=$na b=$nb");
}

# --- 2. kill -9 of the master ----------------------------------------------------------------------
{
    my $master = $t->pid;
    my @w = map { $_->{pid} } $t->workers;
    my $slow = http_connect($t->port('http'), timeout => 10);
    $slow->send("GET /slow-head/1500 HTTP/1.1\r\nHost: x\r\n\r\n");
    ok(wait_until(sub { $be_a->count_requests(qr{^/slow-head/1500}) + $be_b->count_requests(qr{^/slow-head/1500}) > 0 }, 5),
       'a slow request in flight');
    ok(kill('KILL', $master), "kill -9 master $master");
    $t->wait_exit(5);
    my $r = $slow->read_response(timeout => 10);
    is($r && $r->{status}, 200, 'the request in flight is still answered by its orphaned worker');
    is($r && lc($r->{headers}{connection} // ''), 'close', '... with Connection: close');
    ok(wait_until(sub { !grep { proc_alive($_) } @w }, 10), 'every worker exits (draining, bounded by shutdown_timeout)');
    like($t->error_log, qr/draining \((the master process exited|SIGQUIT received)\)/, 'the workers noticed the master die');
    ok(-e $t->pid_file, 'the stale pid file is still there');

    $t->start;
    isnt($t->pid, $master, 'a new start works over the stale pid file');
    is($t->get('/id')->{status}, 200, 'and serves');
}

$t->stop;
done_testing();
