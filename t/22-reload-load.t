#!/usr/bin/perl
# Zero-downtime reloads under load: 20 reloads in 10 s while 50 keep-alive connections send
# requests as fast as they can. Two configs alternate whose route bodies differ (and whose
# worker_processes differ, 2 and 3, so the change of worker count on reload is covered too).
# Every request must succeed (loadgen counts any reset, early close, timeout or non-2xx as a
# failure), both bodies must be observed, and every reload must have committed.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Load;

my $t = GatewayTest->new;
my $bin = eval { Load::build($t->dir) } or plan skip_all => "cannot build t/helpers/loadgen.c: $@";

sub config {
    my ($body, $workers) = @_;
    return <<"EOF";
worker_processes: $workers
pid: logs/gatewayd.pid
error_log: logs/error.log
shutdown_timeout: 10s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
routes:
  - name: body
    match: {path_prefix: /}
    return: {status: 200, body: "$body"}
EOF
}

sub generation { my $s = $t->status_json; $s ? $s->{generation} : 0 }

$t->write_conf(config('alpha', 2));
$t->start;
my $gen = generation();
is($gen, 1, 'generation 1 serves');

my $lg = Load->start(bin => $bin, port => $t->port('http'), connections => 50, dir => $t->dir);
ok($lg->wait_ok(500, 10), 'load is flowing before the first reload') or diag(Load::summary($lg->progress));

# 20 reloads in 10 s: one every 500 ms. Each must have committed (the generation went up)
# before the next is sent, so that none is merged into another by the reload queue.
my $t0 = time;
my $committed = 0;
for my $i (1 .. 20) {
    my $next = $t0 + $i * 0.5 - 0.5;
    sleep($next - time) if $next > time;
    $t->write_conf($i % 2 ? config('bravo', 3) : config('alpha', 2));
    $t->signal('HUP');
    my $want = $gen + $i;
    $committed++ if wait_until(sub { generation() >= $want }, 10, 0.01);
}
my $took = time - $t0;
is($committed, 20, '20 reloads committed');
ok($took < 12, sprintf('20 reloads took %.1f s (paced at one per 500 ms)', $took));

my $mid = $lg->progress;
ok($lg->wait_ok(($mid->{ok} // 0) + 500, 10), 'load still flows after the last reload');
my $r = $lg->stop;
is($r->{failed}, 0, 'no request failed during 20 reloads') or diag(Load::summary($r));
ok($r->{ok} > 2000, "requests answered: $r->{ok}");
ok(($r->{body}{alpha} // 0) > 0, 'body of config A observed: ' . ($r->{body}{alpha} // 0));
ok(($r->{body}{bravo} // 0) > 0, 'body of config B observed: ' . ($r->{body}{bravo} // 0));
is(($r->{body}{alpha} // 0) + ($r->{body}{bravo} // 0), $r->{ok}, 'every answer is one of the two bodies');

my $m = $t->metrics;
is(metric_sum($m, 'gateway_config_reloads_total', { result => 'ok' }), 20, 'gateway_config_reloads_total{result="ok"} 20');
is(metric_sum($m, 'gateway_config_reloads_total', { result => 'failed' }), 0, 'no reload failed');
is(metric_sum($m, 'gateway_config_generation'), 21, 'gateway_config_generation 21');

# The last config (i = 20) is A with 2 workers; every older worker finishes and exits.
ok(wait_until(sub { my @w = $t->workers; @w == 2 }, 15), 'old generations drained: 2 workers left')
    or diag(join "\n", map { "$_->{pid} $_->{title}" } $t->workers);

$t->stop;
done_testing();
