#!/usr/bin/perl
# A worker killed with SIGKILL is respawned at once; the master logs it and counts it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use GatewayTest;

my $t = GatewayTest->new;
$t->write_conf(<<'EOF');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: logs/error.log
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
    admin: true
routes:
  - name: hello
    match: {path: /hello}
    return: {status: 200, body: "alive\n"}
EOF
$t->start;
my $master = $t->pid;

my @w;
ok(wait_until(sub { @w = $t->workers; @w == 2 }, 5), 'two workers') or diag(explain \@w);
my $victim = $w[0]{pid};
my $survivor = $w[1]{pid};
my $m0 = $t->metrics;
is(metric_sum($m0, 'gateway_worker_restarts_total'), 0, 'gateway_worker_restarts_total 0 at start');

my $t0 = time;
ok(kill('KILL', $victim), "kill -9 worker $victim");

my @n;
my $ok = wait_until(sub {
    @n = $t->workers;
    @n == 2 && !grep { $_->{pid} == $victim } @n
}, 5, 0.01);
my $took = time - $t0;
ok($ok, 'two workers again after kill -9') or diag(explain \@n);
ok($ok && $took < 1.0, 'respawned within 1s') or diag("took $took s");
my ($new) = grep { $_ != $victim && $_ != $survivor } map { $_->{pid} } @n;
ok($new, 'a new worker pid');
isnt($new // 0, $victim, 'new pid differs from the killed one');
ok(proc_alive($survivor), 'the other worker was left alone');
# (a freshly forked worker sets its title right after the fork: allow it a moment)
ok(wait_until(sub { (proc_title($new // 0) // '') eq 'gatewayd: worker process (generation 1)' }, 2),
   'respawned worker title (same generation)') or diag(proc_title($new // 0));
ok(proc_alive($master), 'master alive');

my $fails = 0;
for (1 .. 20) {
    my $r = $t->get('/hello');
    $fails++ unless $r && $r->{status} == 200 && $r->{body} eq "alive\n";
}
is($fails, 0, 'requests keep succeeding after the respawn');

my $log = $t->error_log;
like($log, qr/\[alert\] $master#\d+: worker process $victim exited on signal 9/,
     'error log: worker process PID exited on signal 9');
like($log, qr/\[notice\] $master#\d+: started worker process $new \(slot [01], generation 1\)/,
     'error log: started worker process NEW (slot S, generation 1)') if $new;

my $m;
ok(wait_until(sub { $m = $t->metrics; ($m && metric_sum($m, 'gateway_worker_restarts_total') // -1) == 1 }, 3),
   'gateway_worker_restarts_total 1') or diag(explain [metric_samples($m, 'gateway_worker_restarts_total')]);

my $st;
ok(wait_until(sub {
    $st = $t->status_json;
    my %p = map { $_->{pid} => 1 } @{ $st->{workers} || [] };
    $p{$new // 0} && $p{$survivor} && !$p{$victim}
}, 3), '/status lists the new worker, not the killed one') or diag(explain $st);

done_testing();
